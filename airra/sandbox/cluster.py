"""An in-memory cluster that executes actions and hosts injected faults.

The sandbox keeps one deployment per service of the topology, three nodes,
feature flags and a shared cache keyspace. ``execute`` changes that state
the way the Kubernetes executor changes a real cluster, with the same
saved state for undo, and the injected faults react to the new state
(``airra.sandbox.faults``). ``SandboxMetrics`` turns the result into metric
readings, so verification measures the right action working and a wrong one
failing.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from airra.actions import (
    ActionType,
    ClearCacheParams,
    DrainNodeParams,
    RollbackParams,
    ScaleParams,
    ToggleFeatureFlagParams,
    profile_of,
)
from airra.categories import Category
from airra.errors import ExecutionError
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, ServiceState
from airra.sandbox.faults import (
    CAPACITY_FAULTS,
    NODE_FAULTS,
    RELEASE_FAULTS,
    RESIDUAL,
    Fault,
    capacity_intensity,
)
from airra.topology import Topology

log = logging.getLogger(__name__)

NODE_NAMES = ("node-1", "node-2", "node-3")

# Revisions every deployment starts with; the last one is running.
INITIAL_REVISIONS = 3

# The sandbox's deployments were last rolled out three days before start-up.
INITIAL_ROLLOUT_AGE_S = 3 * 24 * 3600.0

# A regression is injected as a rollout this many seconds ago.
REGRESSION_ROLLOUT_AGE_S = 420.0

CACHE_KEYS_PER_SERVICE = 40


class Pod(BaseModel):
    """One pod of a deployment and the node it runs on."""

    name: str
    node: str


class Revision(BaseModel):
    """One ReplicaSet revision of a deployment: its number and image."""

    number: int
    image: str


class Deployment(BaseModel):
    """The sandbox's state of one service's deployment."""

    service: str
    namespace: str
    name: str
    replicas: int
    min_replicas: int
    max_replicas: int
    revisions: list[Revision] = Field(description="ascending by number; the last one is running")
    pods: list[Pod] = Field(default_factory=list)
    feature_flags: dict[str, bool] = Field(default_factory=dict)
    rollout_started_at: float
    pod_generation: int = 0

    @property
    def revision(self) -> Revision:
        return self.revisions[-1]

    @property
    def previous_revision(self) -> Revision | None:
        return self.revisions[-2] if len(self.revisions) > 1 else None

    @property
    def image(self) -> str:
        return self.revision.image

    def revision_number(self, number: int) -> Revision | None:
        """Return the revision with ``number``, or None."""
        return next((revision for revision in self.revisions if revision.number == number), None)


class Node(BaseModel):
    """One node of the sandbox cluster."""

    name: str
    unschedulable: bool = False


class SandboxEvent(BaseModel):
    """One executed action or undo, as the event log keeps it."""

    at: float
    incident_id: str
    action_type: ActionType
    service: str
    status: ExecutionStatus
    changes: list[str]
    is_rollback: bool = False
    error: str | None = None


class _ClusterState(BaseModel):
    """Everything an action can change; copied whole for a dry run."""

    deployments: dict[str, Deployment]
    nodes: dict[str, Node]
    cache: dict[str, str]
    faults: list[Fault] = Field(default_factory=list)


class SandboxCluster:
    """In-memory cluster implementing the ``Executor`` protocol.

    Args:
        topology: one deployment is created per service.
        seed: fixes pod placement here and the noise of ``SandboxMetrics``.
        clock: monotonic seconds, for rollout ages and the event log.
    """

    def __init__(self, topology: Topology, *, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topology = topology
        self.seed = seed
        self.clock = clock
        self.events: list[SandboxEvent] = []
        self._state = self._initial_state(random.Random(seed))

    # --- Inspectable state ------------------------------------------------------

    @property
    def deployments(self) -> dict[str, Deployment]:
        return self._state.deployments

    @property
    def nodes(self) -> dict[str, Node]:
        return self._state.nodes

    @property
    def cache(self) -> dict[str, str]:
        """The shared cache keyspace, as Redis would hold it."""
        return self._state.cache

    @property
    def faults(self) -> list[Fault]:
        return self._state.faults

    def _initial_state(self, rng: random.Random) -> _ClusterState:
        now = self.clock()
        nodes = {name: Node(name=name) for name in NODE_NAMES}
        deployments: dict[str, Deployment] = {}
        cache: dict[str, str] = {}

        for service in self.topology:
            # One replica above the minimum, so scale down is possible at the start.
            replicas = min(service.max_replicas, max(service.min_replicas + 1, 2))
            revisions = [
                Revision(number=number, image=f"{service.name}:1.{number}.0")
                for number in range(1, INITIAL_REVISIONS + 1)
            ]
            deployment = Deployment(
                service=service.name,
                namespace=service.namespace,
                name=service.deployment_name,
                replicas=replicas,
                min_replicas=service.min_replicas,
                max_replicas=service.max_replicas,
                revisions=revisions,
                feature_flags={flag: True for flag in service.feature_flags},
                rollout_started_at=now - INITIAL_ROLLOUT_AGE_S,
            )
            offset = rng.randrange(len(NODE_NAMES))
            deployment.pods = [
                Pod(name=f"{deployment.name}-0-{index}", node=NODE_NAMES[(offset + index) % len(NODE_NAMES)])
                for index in range(replicas)
            ]
            deployments[service.name] = deployment

            if service.cache_key_prefix:
                for index in range(CACHE_KEYS_PER_SERVICE):
                    cache[f"{service.cache_key_prefix}{index}"] = f"{service.name}-value-{index}"

        return _ClusterState(deployments=deployments, nodes=nodes, cache=cache)

    # --- Faults -------------------------------------------------------------------

    def inject_fault(self, service: str, category: Category, *, severity: float = 1.0,
                     flag: str | None = None, node: str | None = None) -> None:
        """Start a fault on ``service``: the incident's true cause.

        A deployment regression rolls out a new, bad revision. An error spike
        is tied to ``flag`` when given (switching it off fixes it), otherwise
        to the running image. Node faults hit ``node``, by default the node
        of the service's first pod.

        Raises:
            UnknownServiceError: when the service is not in the topology.
            ExecutionError: naming the flag or node that does not exist.
        """
        self.topology.service(service)
        deployment = self.deployments[service]
        if flag is not None and flag not in deployment.feature_flags:
            known = ", ".join(deployment.feature_flags) or "none"
            raise ExecutionError(f"service {service!r} has no feature flag {flag!r}; its flags: {known}")
        if node is not None and node not in self.nodes:
            raise ExecutionError(f"unknown node {node!r}; the sandbox nodes are {', '.join(self.nodes)}")

        fault = Fault(service=service, category=category, severity=severity, injected_at=self.clock(),
                      baseline_replicas=deployment.replicas, flag=flag)

        if category is Category.DEPLOYMENT_REGRESSION:
            self._release_bad_revision(deployment)
            fault.bad_image = deployment.image
        elif category is Category.ERROR_SPIKE and flag is None:
            fault.bad_image = deployment.image
        elif category in NODE_FAULTS:
            fault.node = node or (deployment.pods[0].node if deployment.pods else NODE_NAMES[0])

        self.faults.append(fault)
        log.info("sandbox: injected %s on %s (severity %.2f)", category.value, service, severity)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def _release_bad_revision(self, deployment: Deployment) -> None:
        number = deployment.revision.number + 1
        deployment.revisions.append(Revision(number=number, image=f"{deployment.service}:1.{number}.0"))
        deployment.rollout_started_at = self.clock() - REGRESSION_ROLLOUT_AGE_S
        self._replace_pods(self._state, deployment)

    def intensity(self, fault: Fault, service: str) -> float:
        """Return how strongly ``fault`` hurts ``service`` now: 0 for not at all, 1 at the start."""
        deployment = self.deployments[service]

        if fault.category in NODE_FAULTS:
            if not deployment.pods:
                return 0.0
            on_node = sum(1 for pod in deployment.pods if pod.node == fault.node)
            return fault.severity * on_node / len(deployment.pods)

        if service != fault.service:
            return 0.0

        if fault.category in CAPACITY_FAULTS:
            return fault.severity * capacity_intensity(fault, deployment.replicas)

        if fault.category in RELEASE_FAULTS:
            image_bad = fault.bad_image is None or deployment.image == fault.bad_image
            flag_on = fault.flag is None or deployment.feature_flags.get(fault.flag, False)
            return fault.severity * (1.0 if image_bad and flag_on else RESIDUAL)

        return fault.severity * fault.level

    def traffic_factor(self, service: str) -> float:
        """Return the request-rate multiplier of active traffic spikes on ``service``."""
        factor = 1.0
        for fault in self.faults:
            if fault.category is Category.TRAFFIC_SPIKE and fault.service == service:
                factor += 2.0 * fault.severity
        return factor

    # --- Executor protocol ----------------------------------------------------------

    async def service_state(self, service: str) -> ServiceState:
        """Return the replicas, revisions, flags and nodes of ``service``."""
        self.topology.service(service)
        deployment = self.deployments[service]
        previous = deployment.previous_revision
        return ServiceState(
            service=service,
            replicas=deployment.replicas,
            ready_replicas=sum(1 for pod in deployment.pods if self._node_ready(pod.node)),
            revision=deployment.revision.number,
            previous_revision=previous.number if previous else None,
            feature_flags=dict(deployment.feature_flags),
            nodes=sorted({pod.node for pod in deployment.pods}),
            ready_nodes=sum(1 for name in self.nodes if self._node_ready(name)),
        )

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Apply the action to the sandbox state; a dry run applies it to a copy."""
        started = datetime.now(UTC)
        state = self._state.model_copy(deep=True) if request.dry_run else self._state
        try:
            changes, saved_state = self._apply(state, request)
        except ExecutionError as exc:
            return self._finish(request, ExecutionStatus.FAILED, [], {}, started, error=str(exc))

        status = ExecutionStatus.DRY_RUN if request.dry_run else ExecutionStatus.SUCCEEDED
        return self._finish(request, status, changes, saved_state, started)

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Restore the state saved by ``result``; the returned status is the undo's own."""
        started = datetime.now(UTC)
        request = result.request
        if result.is_rollback:
            return self._finish(request, ExecutionStatus.FAILED, [], {}, started, is_rollback=True,
                                error="this result is already an undo; execute the action again instead")
        if result.status is not ExecutionStatus.SUCCEEDED:
            return self._finish(request, ExecutionStatus.FAILED, [], {}, started, is_rollback=True,
                                error=f"nothing to undo: the action's status is {result.status.value}")
        try:
            changes = self._undo(request, result.saved_state)
        except ExecutionError as exc:
            return self._finish(request, ExecutionStatus.FAILED, [], {}, started, is_rollback=True, error=str(exc))
        return self._finish(request, ExecutionStatus.SUCCEEDED, changes, {}, started, is_rollback=True)

    def _finish(self, request: ActionRequest, status: ExecutionStatus, changes: list[str],
                saved_state: dict[str, Any], started: datetime, *, error: str | None = None,
                is_rollback: bool = False) -> ExecutionResult:
        result = ExecutionResult(request=request, status=status, changes=changes, saved_state=saved_state,
                                 started_at=started, finished_at=datetime.now(UTC), error=error,
                                 is_rollback=is_rollback)
        self.events.append(SandboxEvent(at=self.clock(), incident_id=request.incident_id,
                                        action_type=request.action_type, service=request.service,
                                        status=status, changes=changes, is_rollback=is_rollback, error=error))
        verb = "undo of" if is_rollback else "execution of"
        log.info("incident %s: sandbox %s %s on %s: %s%s", request.incident_id, verb,
                 request.action_type.value, request.service, status.value, f" ({error})" if error else "")
        return result

    # --- Actions ------------------------------------------------------------------------

    def _apply(self, state: _ClusterState, request: ActionRequest) -> tuple[list[str], dict[str, Any]]:
        deployment = state.deployments.get(request.service)
        if deployment is None:
            raise ExecutionError(f"unknown service {request.service!r}; the sandbox has no deployment for it")

        expected = profile_of(request.action_type).params_model
        if not isinstance(request.params, expected):
            raise ExecutionError(
                f"{request.action_type.value} takes {expected.__name__}, got {type(request.params).__name__}"
            )

        params = request.params
        match request.action_type:
            case ActionType.SCALE_UP | ActionType.SCALE_DOWN:
                assert isinstance(params, ScaleParams)
                outcome = self._scale(state, deployment, request.action_type, params.replicas)
            case ActionType.RESTART_POD:
                outcome = self._restart(state, deployment)
            case ActionType.ROLLBACK_DEPLOYMENT:
                assert isinstance(params, RollbackParams)
                outcome = self._rollback_deployment(state, deployment, params.to_revision)
            case ActionType.DRAIN_NODE:
                assert isinstance(params, DrainNodeParams)
                outcome = self._drain(state, params.node)
            case ActionType.TOGGLE_FEATURE_FLAG:
                assert isinstance(params, ToggleFeatureFlagParams)
                outcome = self._toggle(deployment, params.flag, params.enabled)
            case ActionType.CLEAR_CACHE:
                assert isinstance(params, ClearCacheParams)
                outcome = self._clear_cache(state, request.service, params)

        for fault in state.faults:
            if fault.service == request.service:
                fault.relieve(request.action_type)
        return outcome

    def _scale(self, state: _ClusterState, deployment: Deployment, action: ActionType,
               target: int) -> tuple[list[str], dict[str, Any]]:
        current = deployment.replicas
        if not deployment.min_replicas <= target <= deployment.max_replicas:
            raise ExecutionError(
                f"{action.value} of {deployment.service} to {target} replicas is outside its bounds "
                f"{deployment.min_replicas}..{deployment.max_replicas}; pick a count within them"
            )
        if action is ActionType.SCALE_UP and target <= current:
            raise ExecutionError(f"scale_up of {deployment.service} to {target} is not above its {current} replicas")
        if action is ActionType.SCALE_DOWN and target >= current:
            raise ExecutionError(f"scale_down of {deployment.service} to {target} is not below its {current} replicas")

        self._set_replicas(state, deployment, target)
        return [f"scaled deployment {deployment.namespace}/{deployment.name} from {current} to {target} replicas"], {
            "replicas": current
        }

    def _set_replicas(self, state: _ClusterState, deployment: Deployment, target: int) -> None:
        if target < len(deployment.pods):
            del deployment.pods[target:]
        while len(deployment.pods) < target:
            deployment.pods.append(self._new_pod(state, deployment, len(deployment.pods)))
        deployment.replicas = target

    def _restart(self, state: _ClusterState, deployment: Deployment) -> tuple[list[str], dict[str, Any]]:
        self._replace_pods(state, deployment)
        deployment.rollout_started_at = self.clock()
        return [f"rollout restart of deployment {deployment.namespace}/{deployment.name}: "
                f"{deployment.replicas} pods replaced"], {}

    def _rollback_deployment(self, state: _ClusterState, deployment: Deployment,
                             to_revision: int | None) -> tuple[list[str], dict[str, Any]]:
        current = deployment.revision
        if to_revision is None:
            target = deployment.previous_revision
            if target is None:
                raise ExecutionError(f"deployment {deployment.name} has no previous revision to roll back to")
        else:
            target = deployment.revision_number(to_revision)
            if target is None or target.number == current.number:
                known = ", ".join(str(revision.number) for revision in deployment.revisions[:-1]) or "none"
                raise ExecutionError(
                    f"deployment {deployment.name} has no earlier revision {to_revision}; earlier revisions: {known}"
                )

        new = self._roll_to(state, deployment, target)
        change = (f"rolled back deployment {deployment.namespace}/{deployment.name} from revision "
                  f"{current.number} ({current.image}) to the template of revision {target.number} "
                  f"({target.image}), now revision {new.number}")
        return [change], {"revision": current.number, "image": current.image}

    def _roll_to(self, state: _ClusterState, deployment: Deployment, target: Revision) -> Revision:
        # As in Kubernetes, the ReplicaSet rolled back to takes the next revision number.
        deployment.revisions.remove(target)
        new = Revision(number=deployment.revision.number + 1, image=target.image)
        deployment.revisions.append(new)
        deployment.rollout_started_at = self.clock()
        self._replace_pods(state, deployment)
        return new

    def _drain(self, state: _ClusterState, node_name: str) -> tuple[list[str], dict[str, Any]]:
        node = state.nodes.get(node_name)
        if node is None:
            raise ExecutionError(f"unknown node {node_name!r}; the sandbox nodes are {', '.join(state.nodes)}")
        others = [name for name in state.nodes if name != node_name and self._schedulable(state, name)]
        if not others:
            raise ExecutionError(f"cannot drain {node_name}: no other schedulable node would take its pods")

        was_unschedulable = node.unschedulable
        node.unschedulable = True
        evicted = 0
        for deployment in state.deployments.values():
            for index, pod in enumerate(deployment.pods):
                if pod.node == node_name:
                    deployment.pods[index] = self._new_pod(state, deployment, index)
                    evicted += 1
        return [f"cordoned node {node_name}", f"evicted {evicted} pods from {node_name}"], {
            "node": node_name,
            "was_unschedulable": was_unschedulable,
        }

    @staticmethod
    def _toggle(deployment: Deployment, flag: str, enabled: bool) -> tuple[list[str], dict[str, Any]]:
        if flag not in deployment.feature_flags:
            known = ", ".join(deployment.feature_flags) or "none"
            raise ExecutionError(f"service {deployment.service} has no feature flag {flag!r}; its flags: {known}")
        previous = deployment.feature_flags[flag]
        deployment.feature_flags[flag] = enabled
        return [f"set feature flag {flag} of {deployment.service} from {_on_off(previous)} to {_on_off(enabled)}"], {
            "flag": flag,
            "enabled": previous,
        }

    def _clear_cache(self, state: _ClusterState, service: str,
                     params: ClearCacheParams) -> tuple[list[str], dict[str, Any]]:
        prefix = params.key_prefix or self.topology.service(service).cache_key_prefix
        if prefix is None and params.hook_url is None:
            raise ExecutionError(
                f"service {service} has no cache key prefix or clear hook; set cache_key_prefix "
                "or cache_clear_url in the services file"
            )
        changes: list[str] = []
        if prefix is not None:
            doomed = [key for key in state.cache if key.startswith(prefix)]
            for key in doomed:
                del state.cache[key]
            changes.append(f"deleted {len(doomed)} cache keys under {prefix!r}")
        if params.hook_url is not None:
            # The sandbox sends no HTTP request; the hook stands for the in-memory cache.
            changes.append(f"cache clear hook {params.hook_url} recorded (not called in the sandbox)")
        return changes, {"deleted_prefix": prefix}

    # --- Undo ------------------------------------------------------------------------------

    def _undo(self, request: ActionRequest, saved: dict[str, Any]) -> list[str]:
        state = self._state
        deployment = state.deployments[request.service]

        match request.action_type:
            case ActionType.SCALE_UP | ActionType.SCALE_DOWN:
                current = deployment.replicas
                self._set_replicas(state, deployment, int(saved["replicas"]))
                return [f"scaled deployment {deployment.namespace}/{deployment.name} back from {current} "
                        f"to {saved['replicas']} replicas"]
            case ActionType.ROLLBACK_DEPLOYMENT:
                target = deployment.revision_number(int(saved["revision"]))
                if target is None or target.image != saved["image"]:
                    target = next((rev for rev in deployment.revisions[:-1] if rev.image == saved["image"]), None)
                if target is None:
                    raise ExecutionError(
                        f"cannot roll {deployment.name} forward: its revision history no longer has "
                        f"image {saved['image']}"
                    )
                new = self._roll_to(state, deployment, target)
                return [f"rolled deployment {deployment.namespace}/{deployment.name} forward to "
                        f"{target.image}, now revision {new.number}"]
            case ActionType.DRAIN_NODE:
                node = state.nodes[saved["node"]]
                node.unschedulable = bool(saved["was_unschedulable"])
                return [f"uncordoned node {node.name}; evicted pods stay where they were rescheduled"]
            case ActionType.TOGGLE_FEATURE_FLAG:
                flag, previous = saved["flag"], bool(saved["enabled"])
                deployment.feature_flags[flag] = previous
                return [f"restored feature flag {flag} of {deployment.service} to {_on_off(previous)}"]
            case _:
                raise ExecutionError(
                    f"{request.action_type.value} cannot be undone: {profile_of(request.action_type).undo}"
                )

    # --- Scheduling -------------------------------------------------------------------------

    def _node_ready(self, name: str) -> bool:
        return not any(f.category is Category.NODE_FAILURE and f.node == name for f in self.faults)

    def _schedulable(self, state: _ClusterState, name: str) -> bool:
        # Failed nodes and nodes under disk pressure carry NoSchedule taints in Kubernetes.
        if state.nodes[name].unschedulable:
            return False
        return not any(f.category in NODE_FAULTS and f.node == name for f in state.faults)

    def _new_pod(self, state: _ClusterState, deployment: Deployment, index: int) -> Pod:
        """Schedule one pod on the schedulable node with the fewest pods of this deployment."""
        candidates = [name for name in state.nodes if self._schedulable(state, name)] or list(state.nodes)
        load = {name: sum(1 for pod in deployment.pods if pod.node == name) for name in candidates}
        node = min(candidates, key=lambda name: (load[name], name))
        deployment.pod_generation += 1
        return Pod(name=f"{deployment.name}-{deployment.pod_generation}-{index}", node=node)

    def _replace_pods(self, state: _ClusterState, deployment: Deployment) -> None:
        old = deployment.pods
        deployment.pods = []
        for index in range(len(old)):
            deployment.pods.append(self._new_pod(state, deployment, index))

    def copy_state(self) -> dict[str, Any]:
        """Return a deep copy of the inspectable state, for comparisons in tests and demos."""
        return copy.deepcopy(self._state.model_dump())


def _on_off(enabled: bool) -> str:
    return "on" if enabled else "off"
