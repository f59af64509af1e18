"""Risk-weighted actions: adjusted risk, costs, ranking and prerequisite checks.

    adjusted risk  = clamp01(risk × criticality multiplier − min(0.30, downtime minutes ÷ 20))
    expected cost  = expected downtime (min) × $/min × m
    worst-case cost = (worst-case downtime + recovery) (min) × $/min × m

where m is the blast urgency multiplier. The base numbers come from the
action catalogue; the formulas are documented in docs/formulas.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from airra.actions import ActionProfile, ActionType, Scope, profile_of
from airra.criticality import Criticality
from airra.execution.base import ServiceState
from airra.topology import Service

log = logging.getLogger(__name__)

# Each minute of ongoing downtime lowers the adjusted risk by 1/20, up to 0.30:
# the longer a service is down, the more risk an action is worth taking.
DOWNTIME_CREDIT_MINUTES = 20.0
MAX_DOWNTIME_CREDIT = 0.30


class RankedAction(BaseModel):
    """One action with its risk adjusted for the service and the ongoing downtime."""

    action_type: ActionType
    base_risk: float
    risk_multiplier: float
    downtime_credit: float = Field(description="risk subtracted for the ongoing downtime")
    adjusted_risk: float = Field(ge=0, le=1)
    reversible: bool
    scope: Scope


class PrerequisiteCheck(BaseModel):
    """Prerequisites of one action, split by what the service's known state shows."""

    action_type: ActionType
    met: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="each with the reason it is not met")
    unverified: list[str] = Field(default_factory=list, description="cannot be checked from the known state")

    @property
    def all_met(self) -> bool:
        """True when no prerequisite is known to be missing (unverified ones do not block)."""
        return not self.missing


def parse_criticality(value: Criticality | str) -> Criticality:
    """Parse a criticality word such as ``"high"``; a Criticality passes through unchanged.

    Raises:
        ValueError: naming the word and the valid ones.
    """
    if isinstance(value, Criticality):
        return value
    try:
        return Criticality(value.strip().lower())
    except ValueError:
        valid = ", ".join(c.value for c in Criticality)
        raise ValueError(f"unknown criticality {value!r}; use one of: {valid}") from None


def adjusted_risk(action: ActionType, criticality: Criticality | str, current_downtime_seconds: float = 0) -> float:
    """Return clamp01(risk × multiplier − min(0.30, downtime minutes ÷ 20))."""
    return _rank_one(action, parse_criticality(criticality), current_downtime_seconds).adjusted_risk


def expected_cost(action: ActionType, blast_multiplier: float) -> float:
    """Return expected downtime (min) × $/min × blast multiplier, in dollars."""
    profile = profile_of(action)
    return profile.expected_downtime_s / 60 * profile.cost_per_minute * blast_multiplier


def worst_case_cost(action: ActionType, blast_multiplier: float) -> float:
    """Return (worst-case downtime + recovery) (min) × $/min × blast multiplier, in dollars."""
    profile = profile_of(action)
    minutes = (profile.worst_case_downtime_s + profile.recovery_time_s) / 60
    return minutes * profile.cost_per_minute * blast_multiplier


def _rank_one(action: ActionType, criticality: Criticality, current_downtime_seconds: float) -> RankedAction:
    profile = profile_of(action)
    multiplier = criticality.risk_multiplier
    credit = min(MAX_DOWNTIME_CREDIT, max(0.0, current_downtime_seconds) / 60 / DOWNTIME_CREDIT_MINUTES)
    raw = profile.risk_score * multiplier - credit
    return RankedAction(
        action_type=action,
        base_risk=profile.risk_score,
        risk_multiplier=multiplier,
        downtime_credit=credit,
        # Rounding removes float noise (0.35 × 1.5 = 0.5249999…) so printed values and ties are exact.
        adjusted_risk=round(min(1.0, max(0.0, raw)), 10),
        reversible=profile.reversible,
        scope=profile.scope,
    )


class ActionRiskRegistry:
    """Ranks and selects actions by risk, from the action catalogue."""

    def profile(self, action: ActionType) -> ActionProfile:
        """Return the catalogue profile of an action."""
        return profile_of(action)

    def adjusted_risk(
        self, action: ActionType, criticality: Criticality | str, current_downtime_seconds: float = 0
    ) -> float:
        """Return the action's risk adjusted for criticality and ongoing downtime."""
        return adjusted_risk(action, criticality, current_downtime_seconds)

    def rank_actions_by_risk(
        self,
        action_types: Iterable[ActionType],
        service_criticality: Criticality | str,
        current_downtime_seconds: float = 0,
    ) -> list[RankedAction]:
        """Rank actions by adjusted risk, ties by base risk then name (never by input order)."""
        criticality = parse_criticality(service_criticality)
        ranked = [_rank_one(action, criticality, current_downtime_seconds) for action in set(action_types)]
        return sorted(ranked, key=lambda item: (item.adjusted_risk, item.base_risk, item.action_type.value))

    def select_best_action(
        self,
        candidate_actions: Sequence[ActionType],
        service_criticality: Criticality | str,
        blast_radius_multiplier: float,
        min_confidence: float,
        confidence: float | None = None,
    ) -> tuple[ActionType | None, str]:
        """Select the lowest-risk candidate, with reasoning quoting its risk and costs.

        When ``confidence`` is given and below ``min_confidence``, nothing is
        selected. Without it, each action's execution success prior is used
        as its confidence, so candidates whose prior is below
        ``min_confidence`` are left out.
        """
        if not candidate_actions:
            return None, "no action selected: there are no candidate actions"
        if confidence is not None and confidence < min_confidence:
            return None, (f"no action selected: confidence {confidence:.2f} is below the minimum "
                          f"{min_confidence:.2f}; investigate by hand")

        eligible = list(candidate_actions)
        if confidence is None:
            eligible = [a for a in candidate_actions if profile_of(a).execution_success_prior >= min_confidence]
            if not eligible:
                return None, (f"no action selected: every candidate's success prior is below the minimum "
                              f"{min_confidence:.2f}")

        best = self.rank_actions_by_risk(eligible, service_criticality)[0]
        expected = self.calculate_expected_cost(best.action_type, blast_radius_multiplier)
        worst = self.calculate_worst_case_cost(best.action_type, blast_radius_multiplier)
        reasoning = (f"Selected {best.action_type.value} (adjusted risk {best.adjusted_risk:.2f}, "
                     f"expected cost ${expected:,.2f}, worst case ${worst:,.2f})")
        return best.action_type, reasoning

    def calculate_expected_cost(self, action_type: ActionType, blast_multiplier: float) -> float:
        """Return the expected cost in dollars at the given blast multiplier."""
        return expected_cost(action_type, blast_multiplier)

    def calculate_worst_case_cost(self, action_type: ActionType, blast_multiplier: float) -> float:
        """Return the worst-case cost in dollars at the given blast multiplier."""
        return worst_case_cost(action_type, blast_multiplier)


def check_prerequisites(
    action: ActionType, service: Service | None, state: ServiceState | None
) -> PrerequisiteCheck:
    """Check an action's prerequisites against the service's configuration and known state.

    Prerequisites that no known value can confirm (spare capacity, readiness
    probes, schema compatibility) are listed as unverified, never as met.
    """
    check = PrerequisiteCheck(action_type=action)
    for prerequisite in profile_of(action).prerequisites:
        verdict = _check_one(prerequisite, service, state)
        if verdict is None:
            check.unverified.append(prerequisite)
        elif verdict == "":
            check.met.append(prerequisite)
        else:
            check.missing.append(f"{prerequisite}: {verdict}")
    return check


def _check_one(prerequisite: str, service: Service | None, state: ServiceState | None) -> str | None:
    """Return "" when met, the reason when missing, None when it cannot be checked."""
    replicas = state.replicas if state else None
    match prerequisite:
        case "replicas below max_replicas":
            if replicas is None or service is None:
                return None
            return "" if replicas < service.max_replicas else f"already at max_replicas ({service.max_replicas})"
        case "replicas above min_replicas":
            if replicas is None or service is None:
                return None
            return "" if replicas > service.min_replicas else f"already at min_replicas ({service.min_replicas})"
        case "cache key prefix or clear hook configured":
            if service is None:
                return None
            configured = service.cache_key_prefix or service.cache_clear_url
            return "" if configured else "set cache_key_prefix or cache_clear_url in the services file"
        case "feature flag exists":
            if service is None:
                return None
            if not service.feature_flags:
                return "the service has no feature_flags in the services file"
            if state is not None and state.feature_flags and service.feature_flags[0] not in state.feature_flags:
                return f"flag {service.feature_flags[0]!r} is not known to the flag store"
            return ""
        case "at least 2 ready replicas":
            if state is None or state.ready_replicas is None:
                return None
            return "" if state.ready_replicas >= 2 else f"only {state.ready_replicas} ready replica(s)"
        case "previous revision exists":
            if state is None:
                return None
            return "" if state.previous_revision is not None else "no earlier revision to roll back to"
        case "not the last Ready node":
            if state is None or state.ready_nodes is None:
                return None
            if not state.nodes:
                return "no node is known to run the service"
            return "" if state.ready_nodes >= 2 else f"only {state.ready_nodes} Ready node(s)"
    return None
