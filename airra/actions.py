"""The action catalogue: the single source of truth for every remediation.

Each action type has one risk profile and one parameter model. The decision
core builds the parameters, the executors take the same model, so the two
cannot disagree about a key. The numbers are documented in docs/formulas.md.
"""

from __future__ import annotations

from enum import StrEnum
from pydantic import BaseModel, ConfigDict, Field


class ActionType(StrEnum):
    """A remediation AIRRA can propose and execute."""

    SCALE_UP = "scale_up"
    CLEAR_CACHE = "clear_cache"
    TOGGLE_FEATURE_FLAG = "toggle_feature_flag"
    SCALE_DOWN = "scale_down"
    RESTART_POD = "restart_pod"
    ROLLBACK_DEPLOYMENT = "rollback_deployment"
    DRAIN_NODE = "drain_node"

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``restart pod``."""
        return self.value.replace("_", " ")


class Scope(StrEnum):
    """Part of the system an action touches."""

    POD = "pod"
    DEPLOYMENT = "deployment"
    CLUSTER = "cluster"


# --- Parameter models: what an executor receives --------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScaleParams(_Params):
    """Scale a deployment to an absolute replica count."""

    replicas: int = Field(ge=0, description="target replica count")


class ClearCacheParams(_Params):
    """Delete a service's cache keys under a prefix, or call an HTTP hook."""

    key_prefix: str | None = Field(default=None, description="Redis key prefix, e.g. 'payment:'")
    hook_url: str | None = Field(default=None, description="HTTP endpoint that clears the cache")


class ToggleFeatureFlagParams(_Params):
    """Set a feature flag to a value."""

    flag: str = Field(min_length=1)
    enabled: bool = Field(description="value to set; usually False to switch a feature off")


class RestartParams(_Params):
    """Rollout restart of a deployment."""

    timeout_s: float = Field(default=300.0, gt=0, description="how long to wait for the rollout")


class RollbackParams(_Params):
    """Roll a deployment back to an earlier ReplicaSet revision."""

    to_revision: int | None = Field(
        default=None, ge=1, description="target revision; None means the previous one"
    )
    timeout_s: float = Field(default=300.0, gt=0)


class DrainNodeParams(_Params):
    """Cordon a node and evict its pods through the Eviction API."""

    node: str = Field(min_length=1)
    timeout_s: float = Field(default=600.0, gt=0)


ActionParams = (
    ScaleParams
    | ClearCacheParams
    | ToggleFeatureFlagParams
    | RestartParams
    | RollbackParams
    | DrainNodeParams
)


# --- Risk profiles ---------------------------------------------------------------


class ActionProfile(BaseModel):
    """Risk profile of one action type."""

    model_config = ConfigDict(frozen=True)

    action_type: ActionType
    risk_score: float = Field(ge=0, le=1, description="probability of making things worse")
    expected_downtime_s: float = Field(ge=0)
    worst_case_downtime_s: float = Field(ge=0)
    recovery_time_s: float = Field(ge=0, description="time to recover if the action fails")
    reversible: bool
    undo: str = Field(description="how the action is undone, or why it cannot be")
    scope: Scope
    cost_per_minute: float = Field(ge=0, description="dollars per minute of downtime")
    prerequisites: tuple[str, ...]
    side_effects: tuple[str, ...]
    disruptive: bool = Field(description="never proposed on protected services")
    leaves_lasting_change: bool = Field(
        default=True,
        description="False when nothing outlasts the action (a restart or a cache clear), "
        "so having no undo does not call for a second approver",
    )
    params_model: type[_Params]
    execution_success_prior: float = Field(ge=0, le=1)


def _profile(**kwargs: object) -> ActionProfile:
    return ActionProfile.model_validate(kwargs)


CATALOGUE: dict[ActionType, ActionProfile] = {
    ActionType.SCALE_UP: _profile(
        action_type=ActionType.SCALE_UP,
        risk_score=0.05,
        expected_downtime_s=0,
        worst_case_downtime_s=30,
        recovery_time_s=60,
        reversible=True,
        undo="scale back to the saved replica count",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=10,
        prerequisites=("replicas below max_replicas", "spare cluster capacity"),
        side_effects=("more resources in use", "higher infrastructure spend"),
        disruptive=False,
        params_model=ScaleParams,
        execution_success_prior=0.85,
    ),
    ActionType.CLEAR_CACHE: _profile(
        action_type=ActionType.CLEAR_CACHE,
        risk_score=0.10,
        expected_downtime_s=0,
        worst_case_downtime_s=120,
        recovery_time_s=60,
        reversible=False,
        undo="none: deleted keys are gone; the effect fades as the cache refills",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=20,
        prerequisites=("cache key prefix or clear hook configured", "backend can absorb misses"),
        side_effects=("extra database load", "slow responses until the cache is warm"),
        disruptive=False,
        leaves_lasting_change=False,
        params_model=ClearCacheParams,
        execution_success_prior=0.65,
    ),
    ActionType.TOGGLE_FEATURE_FLAG: _profile(
        action_type=ActionType.TOGGLE_FEATURE_FLAG,
        risk_score=0.20,
        expected_downtime_s=0,
        worst_case_downtime_s=60,
        recovery_time_s=30,
        reversible=True,
        undo="restore the saved previous flag value",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=50,
        prerequisites=("feature flag exists", "switching the flag off is safe"),
        side_effects=("the feature is unavailable while off",),
        disruptive=False,
        params_model=ToggleFeatureFlagParams,
        execution_success_prior=0.75,
    ),
    ActionType.SCALE_DOWN: _profile(
        action_type=ActionType.SCALE_DOWN,
        risk_score=0.25,
        expected_downtime_s=0,
        worst_case_downtime_s=300,
        recovery_time_s=120,
        reversible=True,
        undo="scale back to the saved replica count",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=50,
        prerequisites=("replicas above min_replicas", "current load allows fewer replicas"),
        side_effects=("less headroom for traffic peaks",),
        disruptive=True,
        params_model=ScaleParams,
        execution_success_prior=0.75,
    ),
    ActionType.RESTART_POD: _profile(
        action_type=ActionType.RESTART_POD,
        risk_score=0.35,
        expected_downtime_s=10,
        worst_case_downtime_s=300,
        recovery_time_s=180,
        reversible=False,
        undo="none: pods are replaced and the spec is unchanged, so there is nothing to restore",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=100,
        prerequisites=("at least 2 ready replicas", "readiness probes configured"),
        side_effects=("dropped connections", "in-flight requests lost", "cold caches"),
        disruptive=True,
        leaves_lasting_change=False,
        params_model=RestartParams,
        execution_success_prior=0.70,
    ),
    ActionType.ROLLBACK_DEPLOYMENT: _profile(
        action_type=ActionType.ROLLBACK_DEPLOYMENT,
        risk_score=0.50,
        expected_downtime_s=60,
        worst_case_downtime_s=1800,
        recovery_time_s=600,
        reversible=True,
        undo="roll forward to the saved revision; data written meanwhile stays",
        scope=Scope.DEPLOYMENT,
        cost_per_minute=500,
        prerequisites=("previous revision exists", "database schema compatible with it"),
        side_effects=("features of the newer version are gone", "risk of data mismatch"),
        disruptive=True,
        params_model=RollbackParams,
        execution_success_prior=0.80,
    ),
    ActionType.DRAIN_NODE: _profile(
        action_type=ActionType.DRAIN_NODE,
        risk_score=0.60,
        expected_downtime_s=0,
        worst_case_downtime_s=3600,
        recovery_time_s=1800,
        reversible=True,
        undo="uncordon the node; evicted pods stay where they were rescheduled",
        scope=Scope.CLUSTER,
        cost_per_minute=1000,
        prerequisites=(
            "spare capacity on other nodes",
            "not the last Ready node",
            "PodDisruptionBudgets allow evictions",
        ),
        side_effects=("every pod on the node restarts elsewhere",),
        disruptive=True,
        params_model=DrainNodeParams,
        execution_success_prior=0.60,
    ),
}


def profile_of(action_type: ActionType) -> ActionProfile:
    """Return the risk profile of an action type."""
    return CATALOGUE[action_type]


def parse_action_type(text: str) -> ActionType:
    """Parse an action name such as ``scale_up``, ``scale-up`` or ``rollback``.

    Raises:
        ValueError: naming the input and listing the valid action types.
    """
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {"restart": "restart_pod", "rollback": "rollback_deployment", "drain": "drain_node",
               "toggle_flag": "toggle_feature_flag", "feature_flag": "toggle_feature_flag",
               "rollout_restart": "restart_pod"}
    key = aliases.get(key, key)
    try:
        return ActionType(key)
    except ValueError:
        valid = ", ".join(a.value for a in ActionType)
        raise ValueError(f"unknown action {text!r}; use one of: {valid}") from None

