"""Kubernetes actions through the official ``kubernetes`` client.

Scale, rollout restart, rollback to an earlier ReplicaSet revision and node
drain, each with the state it needs for undo. The client is synchronous, so
every call runs in a worker thread. Responses are read as raw JSON
(``_preload_content=False``) so that a ReplicaSet's pod template can be
written back byte for byte, as ``kubectl rollout undo`` does.

Live mode fails closed: no configuration, an unreachable API server or a
403 gives a FAILED result with the reason. Dry-run mode still reads (GET)
to compute the exact requests, then logs them and sends no mutating request.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import urllib3
from pydantic import BaseModel

from airra.actions import ActionType, DrainNodeParams, RestartParams, RollbackParams, ScaleParams, profile_of
from airra.errors import UnknownServiceError
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, ServiceState
from airra.topology import Service, Topology

log = logging.getLogger(__name__)

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"

KUBERNETES_ACTIONS = frozenset({
    ActionType.SCALE_UP,
    ActionType.SCALE_DOWN,
    ActionType.RESTART_POD,
    ActionType.ROLLBACK_DEPLOYMENT,
    ActionType.DRAIN_NODE,
})

# The client sends through urllib3: its errors, and OSError beneath them, mean
# the API server could not be reached.
_UNREACHABLE = (urllib3.exceptions.HTTPError, OSError)


class KubeRequest(BaseModel):
    """One mutating request to the API server, as sent or, in dry-run mode, as planned."""

    method: str
    path: str
    body: Any = None

    def describe(self) -> str:
        """Return ``METHOD path body`` on one line."""
        return f"{self.method} {self.path} {json.dumps(self.body, sort_keys=True)}"


class ActionFailed(Exception):
    """An action that cannot go on; carries the state saved so far for undo."""

    def __init__(self, message: str, *, saved_state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.saved_state = saved_state or {}


class _Apis(BaseModel):
    """The client's API groups used here."""

    model_config = {"arbitrary_types_allowed": True}

    apps: Any
    core: Any
    host: str


class _Plan:
    """Mutating requests of one action: sent in live mode, only recorded in dry-run mode."""

    def __init__(self, *, dry_run: bool, incident_id: str) -> None:
        self.dry_run = dry_run
        self.incident_id = incident_id
        self.requests: list[KubeRequest] = []

    async def send(self, request: KubeRequest, call: Callable[[], Any]) -> dict[str, Any] | None:
        """Send ``request`` through ``call``; in dry-run mode log it and return None."""
        self.requests.append(request)
        if self.dry_run:
            log.info("incident %s: dry run, would send %s", self.incident_id, request.describe())
            return None
        log.info("incident %s: sending %s %s", self.incident_id, request.method, request.path)
        return await _call_json(call)


async def _call_json(call: Callable[[], Any]) -> dict[str, Any]:
    response = await asyncio.to_thread(call)
    data = response.data if hasattr(response, "data") else response
    if isinstance(data, bytes | str):
        return json.loads(data) if data else {}
    return data


class KubernetesExecutor:
    """Executes the Kubernetes actions of the catalogue on a real cluster.

    Args:
        topology: namespace, deployment and replica bounds of each service.
        api_client: a ``kubernetes.client.ApiClient``; None loads the in-cluster
            configuration, else the kubeconfig, on first use.
        dry_run: plan and log every mutating request without sending it.
        rollout_poll_s: interval between rollout status reads.
        request_timeout_s: timeout of each API request, so a silent API server
            cannot hang an action.
    """

    def __init__(self, topology: Topology, *, api_client: Any = None, dry_run: bool = False,
                 rollout_poll_s: float = 1.0, request_timeout_s: float = 30.0) -> None:
        self.topology = topology
        self.dry_run = dry_run
        self.rollout_poll_s = rollout_poll_s
        self.request_timeout_s = request_timeout_s
        # Keyword arguments of every client call: raw JSON back, bounded wait.
        self._raw: dict[str, Any] = {"_preload_content": False, "_request_timeout": request_timeout_s}
        self._api_client = api_client
        self._apis_cache: _Apis | None = None

    # --- Client -------------------------------------------------------------------

    def _apis(self) -> _Apis:
        """Return the API groups, loading the configuration the first time.

        Raises:
            ActionFailed: when the client cannot be imported or no configuration loads.
        """
        if self._apis_cache is not None:
            return self._apis_cache
        try:
            from kubernetes import client
        except ImportError as exc:
            raise ActionFailed(f"the kubernetes client library is not installed ({exc}); "
                               "install it with `pip install kubernetes`") from None

        api_client = self._api_client
        if api_client is None:
            api_client = load_api_client()
        self._apis_cache = _Apis(apps=client.AppsV1Api(api_client), core=client.CoreV1Api(api_client),
                                 host=api_client.configuration.host)
        return self._apis_cache

    def check_config(self) -> str | None:
        """Return why no cluster configuration can be loaded, or None when one can."""
        try:
            self._apis()
        except ActionFailed as exc:
            return str(exc)
        return None

    # --- Executor protocol ------------------------------------------------------------

    async def service_state(self, service: str) -> ServiceState:
        """Read replicas, revisions and nodes of the service's deployment.

        Raises:
            UnknownServiceError: for a service not in the topology.
            ActionFailed, ApiException, OSError: when the cluster cannot be read.
        """
        svc = self.topology.service(service)
        apis = self._apis()
        deployment = await _call_json(lambda: apis.apps.read_namespaced_deployment(
            svc.deployment_name, svc.namespace, **self._raw))
        replica_sets = await self._replica_sets(apis, svc.namespace, deployment)
        selector = _label_selector(deployment)
        pods = await _call_json(lambda: apis.core.list_namespaced_pod(
            svc.namespace, label_selector=selector, **self._raw))
        nodes = await _call_json(lambda: apis.core.list_node(**self._raw))

        current = _revision(deployment)
        earlier = sorted(r for r in (_revision(rs) for rs in replica_sets) if r is not None and r != current)
        return ServiceState(
            service=service,
            replicas=deployment.get("spec", {}).get("replicas"),
            ready_replicas=deployment.get("status", {}).get("readyReplicas", 0),
            revision=current,
            previous_revision=earlier[-1] if earlier else None,
            nodes=sorted({p["spec"]["nodeName"] for p in pods.get("items", []) if p.get("spec", {}).get("nodeName")}),
            ready_nodes=sum(1 for node in nodes.get("items", []) if _node_ready(node)),
        )

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Carry out one action; never raises for a failed action."""
        started = datetime.now(UTC)
        dry_run = self.dry_run or request.dry_run
        plan = _Plan(dry_run=dry_run, incident_id=request.incident_id)

        try:
            service = self.topology.service(request.service)
        except UnknownServiceError as exc:
            return _result(request, ExecutionStatus.FAILED, started, plan, error=str(exc))
        if request.action_type not in KUBERNETES_ACTIONS:
            return _result(request, ExecutionStatus.FAILED, started, plan, error=(
                f"{request.action_type.value} is not a Kubernetes action; build the executor with "
                "airra.execution.router.build_executor, which sends it to the flag provider or cache clearer"))

        expected = profile_of(request.action_type).params_model
        if not isinstance(request.params, expected):
            return _result(request, ExecutionStatus.FAILED, started, plan, error=(
                f"{request.action_type.value} takes {expected.__name__}, got {type(request.params).__name__}; "
                "build the parameters from the action catalogue"))

        handlers: dict[ActionType, Callable[..., Awaitable[tuple[list[str], dict[str, Any]]]]] = {
            ActionType.SCALE_UP: self._scale,
            ActionType.SCALE_DOWN: self._scale,
            ActionType.RESTART_POD: self._restart,
            ActionType.ROLLBACK_DEPLOYMENT: self._rollback_deployment,
            ActionType.DRAIN_NODE: self._drain,
        }
        try:
            apis = self._apis()
            changes, saved_state = await handlers[request.action_type](request, service, apis, plan)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a FAILED result
            saved = exc.saved_state if isinstance(exc, ActionFailed) else {}
            # Requests sent before the failure did change the cluster, so they are reported.
            sent = [] if dry_run else [f"sent {r.method} {r.path}" for r in plan.requests]
            return _result(request, ExecutionStatus.FAILED, started, plan, changes=sent, saved_state=saved,
                           error=self._describe_error(exc, request))

        status = ExecutionStatus.DRY_RUN if dry_run else ExecutionStatus.SUCCEEDED
        if dry_run:
            changes = [f"would send {r.describe()}" for r in plan.requests]
        return _result(request, status, started, plan, changes=changes, saved_state=saved_state)

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Restore ``result.saved_state``; the returned status is the undo's own outcome.

        A FAILED result with saved state can be undone too: a drain that a
        PodDisruptionBudget stopped halfway still left its node cordoned.
        """
        started = datetime.now(UTC)
        request = result.request
        plan = _Plan(dry_run=self.dry_run or request.dry_run, incident_id=request.incident_id)

        if result.is_rollback or result.status not in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
            kind = "an undo" if result.is_rollback else result.status.value
            return _result(request, ExecutionStatus.FAILED, started, plan, is_rollback=True,
                           error=f"nothing to undo: the result is {kind}")
        if not result.saved_state:
            reason = ("it saved no state to restore" if result.status is ExecutionStatus.FAILED
                      else profile_of(request.action_type).undo)
            return _result(request, ExecutionStatus.FAILED, started, plan, is_rollback=True,
                           error=f"{request.action_type.value} cannot be undone: {reason}")

        try:
            service = self.topology.service(request.service)
            apis = self._apis()
            changes = await self._undo(request, service, result.saved_state, apis, plan)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a FAILED result
            return _result(request, ExecutionStatus.FAILED, started, plan, is_rollback=True,
                           error=self._describe_error(exc, request))

        status = ExecutionStatus.DRY_RUN if plan.dry_run else ExecutionStatus.SUCCEEDED
        if plan.dry_run:
            changes = [f"would send {r.describe()}" for r in plan.requests]
        return _result(request, status, started, plan, changes=changes, is_rollback=True)

    def _describe_error(self, exc: Exception, request: ActionRequest) -> str:
        try:
            from kubernetes.client.exceptions import ApiException
        except ImportError:  # pragma: no cover
            ApiException = ()  # type: ignore[assignment,misc]  # noqa: N806

        if isinstance(exc, ActionFailed):
            return str(exc)
        if isinstance(exc, ApiException):
            return describe_api_exception(exc)
        if isinstance(exc, _UNREACHABLE):
            host = self._apis_cache.host if self._apis_cache else "the configured API server"
            return f"Kubernetes API server {host} is unreachable: {exc}; check the kubeconfig or the network"
        log.exception("incident %s: unexpected error in %s", request.incident_id, request.action_type.value)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    # --- Scale -----------------------------------------------------------------------------

    async def _scale(self, request: ActionRequest, service: Service, apis: _Apis,
                     plan: _Plan) -> tuple[list[str], dict[str, Any]]:
        assert isinstance(request.params, ScaleParams)
        namespace, name = _target(request, service)
        target = request.params.replicas

        scale = await _call_json(lambda: apis.apps.read_namespaced_deployment_scale(
            name, namespace, **self._raw))
        current = int(scale.get("spec", {}).get("replicas", 0))

        if not service.min_replicas <= target <= service.max_replicas:
            raise ActionFailed(f"{request.action_type.value} of {namespace}/{name} to {target} replicas is outside "
                               f"its bounds {service.min_replicas}..{service.max_replicas}; pick a count within them")
        if request.action_type is ActionType.SCALE_UP and target <= current:
            raise ActionFailed(f"scale_up of {namespace}/{name} to {target} is not above its {current} replicas")
        if request.action_type is ActionType.SCALE_DOWN and target >= current:
            raise ActionFailed(f"scale_down of {namespace}/{name} to {target} is not below its {current} replicas")

        await self._patch_scale(apis, plan, namespace, name, target)
        return [f"scaled deployment {namespace}/{name} from {current} to {target} replicas"], {"replicas": current}

    async def _patch_scale(self, apis: _Apis, plan: _Plan, namespace: str, name: str, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
        await plan.send(KubeRequest(method="PATCH", path=path, body=body),
                        lambda: apis.apps.patch_namespaced_deployment_scale(name, namespace, body,
                                                                            **self._raw))

    # --- Restart -------------------------------------------------------------------------------

    async def _restart(self, request: ActionRequest, service: Service, apis: _Apis,
                       plan: _Plan) -> tuple[list[str], dict[str, Any]]:
        assert isinstance(request.params, RestartParams)
        namespace, name = _target(request, service)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}}
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

        patched = await plan.send(KubeRequest(method="PATCH", path=path, body=body),
                                  lambda: apis.apps.patch_namespaced_deployment(name, namespace, body,
                                                                                **self._raw))
        change = f"rollout restart of deployment {namespace}/{name} (restartedAt {now})"
        if patched is not None:
            await self._wait_for_rollout(apis, namespace, name, patched, request.params.timeout_s, change)
        return [change, f"rollout of {namespace}/{name} finished"], {}

    async def _wait_for_rollout(self, apis: _Apis, namespace: str, name: str, patched: dict[str, Any],
                                timeout_s: float, change: str) -> None:
        """Poll the deployment until the new pods are updated and available.

        Raises:
            ActionFailed: naming what was observed when the timeout passes first.
        """
        generation = patched.get("metadata", {}).get("generation", 0)
        deadline = time.monotonic() + timeout_s
        while True:
            deployment = await _call_json(lambda: apis.apps.read_namespaced_deployment(
                name, namespace, **self._raw))
            progress = _rollout_progress(deployment, generation)
            if progress is None:
                return
            if _progress_deadline_exceeded(deployment):
                raise ActionFailed(f"{change} was applied, but the deployment reports ProgressDeadlineExceeded: "
                                   f"{progress}; check the new pods' events and logs")
            if time.monotonic() >= deadline:
                raise ActionFailed(f"{change} was applied, but the rollout did not finish within {timeout_s:g} s: "
                                   f"{progress}; check `kubectl rollout status deployment/{name} -n {namespace}`")
            await asyncio.sleep(self.rollout_poll_s)

    # --- Rollback --------------------------------------------------------------------------------

    async def _rollback_deployment(self, request: ActionRequest, service: Service, apis: _Apis,
                                   plan: _Plan) -> tuple[list[str], dict[str, Any]]:
        assert isinstance(request.params, RollbackParams)
        namespace, name = _target(request, service)

        deployment = await _call_json(lambda: apis.apps.read_namespaced_deployment(
            name, namespace, **self._raw))
        current = _revision(deployment)
        replica_sets = await self._replica_sets(apis, namespace, deployment)
        target_rs = _pick_revision(replica_sets, current, request.params.to_revision, f"{namespace}/{name}")
        target_revision = _revision(target_rs)

        template = _template_without_hash(target_rs)
        old_template = deployment["spec"]["template"]
        if _template_without_hash({"spec": {"template": old_template}}) == template:
            raise ActionFailed(f"rollback of {namespace}/{name} skipped: the running template already matches "
                               f"revision {target_revision}, so rolling back would change nothing")

        saved = {"revision": current, "template": old_template}
        change = (f"rolled back deployment {namespace}/{name} from revision {current} to the pod template "
                  f"of revision {target_revision} ({_images(template)})")
        patched = await self._patch_template(apis, plan, namespace, name, template)
        if patched is not None:
            if _template_without_hash({"spec": {"template": patched["spec"]["template"]}}) != template:
                raise ActionFailed(f"rollback of {namespace}/{name} sent, but the deployment's template did not "
                                   "change to the target revision's", saved_state=saved)
            await self._wait_for_rollout(apis, namespace, name, patched, request.params.timeout_s, change)
        return [change], saved

    async def _replica_sets(self, apis: _Apis, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the deployment's ReplicaSets: those matching its selector that it controls."""
        selector = _label_selector(deployment)
        listing = await _call_json(lambda: apis.apps.list_namespaced_replica_set(
            namespace, label_selector=selector, **self._raw))
        uid = deployment.get("metadata", {}).get("uid")
        return [
            rs for rs in listing.get("items", [])
            if any(ref.get("uid") == uid and ref.get("controller", False)
                   for ref in rs.get("metadata", {}).get("ownerReferences", []))
        ]

    async def _patch_template(self, apis: _Apis, plan: _Plan, namespace: str, name: str,
                              template: dict[str, Any]) -> dict[str, Any] | None:
        # A JSON patch replaces the whole template; a strategic merge would keep
        # fields (env vars, containers) that only the newer template has.
        body = [{"op": "replace", "path": "/spec/template", "value": template}]
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        return await plan.send(KubeRequest(method="PATCH", path=path, body=body),
                               lambda: apis.apps.patch_namespaced_deployment(name, namespace, body,
                                                                             **self._raw))

    # --- Drain -------------------------------------------------------------------------------------

    async def _drain(self, request: ActionRequest, service: Service, apis: _Apis,
                     plan: _Plan) -> tuple[list[str], dict[str, Any]]:
        assert isinstance(request.params, DrainNodeParams)
        node_name = request.params.node
        deadline = time.monotonic() + request.params.timeout_s

        node = await _call_json(lambda: apis.core.read_node(node_name, **self._raw))
        was_unschedulable = bool(node.get("spec", {}).get("unschedulable", False))
        saved = {"node": node_name, "was_unschedulable": was_unschedulable}

        nodes = await _call_json(lambda: apis.core.list_node(**self._raw))
        others = [n["metadata"]["name"] for n in nodes.get("items", [])
                  if n["metadata"]["name"] != node_name and _node_ready(n)
                  and not n.get("spec", {}).get("unschedulable", False)]
        if not others:
            raise ActionFailed(f"drain of {node_name} rejected: no other Ready, schedulable node would take its "
                               "pods; add capacity or uncordon a node first")

        changes: list[str] = []
        if not was_unschedulable:
            await self._patch_unschedulable(apis, plan, node_name, True)
        changes.append(f"cordoned node {node_name}")

        listing = await _call_json(lambda: apis.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node_name}", **self._raw))
        evictable, skipped = _split_evictable(listing.get("items", []))
        if skipped:
            changes.append(f"skipped {len(skipped)} DaemonSet or mirror pods: {', '.join(skipped)}")

        for pod in evictable:
            meta = pod["metadata"]
            try:
                await self._evict(apis, plan, meta["namespace"], meta["name"], deadline, node_name)
            except ActionFailed as exc:
                raise ActionFailed(str(exc), saved_state=saved) from None
            changes.append(f"evicted pod {meta['namespace']}/{meta['name']}")

        if not plan.dry_run:
            for pod in evictable:
                meta = pod["metadata"]
                await self._wait_for_pod_gone(apis, meta["namespace"], meta["name"], meta.get("uid"), deadline,
                                              saved, node_name)
        return changes, saved

    async def _patch_unschedulable(self, apis: _Apis, plan: _Plan, node_name: str, unschedulable: bool) -> None:
        body = {"spec": {"unschedulable": unschedulable}}
        await plan.send(KubeRequest(method="PATCH", path=f"/api/v1/nodes/{node_name}", body=body),
                        lambda: apis.core.patch_node(node_name, body, **self._raw))

    async def _evict(self, apis: _Apis, plan: _Plan, namespace: str, pod: str, deadline: float,
                     node_name: str) -> None:
        """Evict one pod, retrying while a PodDisruptionBudget rejects it (429) until the deadline."""
        from kubernetes.client.exceptions import ApiException

        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
        request = KubeRequest(method="POST", path=f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", body=body)
        rejections = 0
        while True:
            try:
                await plan.send(request, lambda: apis.core.create_namespaced_pod_eviction(
                    pod, namespace, body, **self._raw))
                return
            except ApiException as exc:
                if exc.status == 404:
                    return  # the pod is already gone
                if exc.status != 429:
                    raise
                rejections += 1
                if time.monotonic() >= deadline:
                    raise ActionFailed(
                        f"drain of {node_name} stopped: eviction of pod {namespace}/{pod} was rejected "
                        f"{rejections} times by a PodDisruptionBudget (429: {_api_message(exc)}); the node stays "
                        "cordoned, so undo to uncordon it or wait for the budget to allow the eviction"
                    ) from None
                log.info("eviction of %s/%s rejected by a PodDisruptionBudget (429), retrying", namespace, pod)
                await asyncio.sleep(self.rollout_poll_s)

    async def _wait_for_pod_gone(self, apis: _Apis, namespace: str, pod: str, uid: str | None, deadline: float,
                                 saved: dict[str, Any], node_name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        while True:
            try:
                current = await _call_json(lambda: apis.core.read_namespaced_pod(pod, namespace,
                                                                                 **self._raw))
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            if uid is not None and current.get("metadata", {}).get("uid") != uid:
                return  # a new pod of the same name replaced the evicted one
            if time.monotonic() >= deadline:
                raise ActionFailed(f"drain of {node_name}: evicted pod {namespace}/{pod} was not deleted in time; "
                                   "check its terminationGracePeriodSeconds and finalizers", saved_state=saved)
            await asyncio.sleep(self.rollout_poll_s)

    # --- Undo --------------------------------------------------------------------------------------

    async def _undo(self, request: ActionRequest, service: Service, saved: dict[str, Any], apis: _Apis,
                    plan: _Plan) -> list[str]:
        namespace, name = _target(request, service)
        match request.action_type:
            case ActionType.SCALE_UP | ActionType.SCALE_DOWN:
                replicas = int(saved["replicas"])
                await self._patch_scale(apis, plan, namespace, name, replicas)
                return [f"scaled deployment {namespace}/{name} back to {replicas} replicas"]
            case ActionType.ROLLBACK_DEPLOYMENT:
                template = saved["template"]
                patched = await self._patch_template(apis, plan, namespace, name, template)
                if patched is not None and patched["spec"]["template"] != template:
                    raise ActionFailed(f"roll forward of {namespace}/{name} sent, but its template did not change "
                                       "back to the saved one")
                return [f"rolled deployment {namespace}/{name} forward to the template of revision "
                        f"{saved['revision']} ({_images(template)})"]
            case ActionType.DRAIN_NODE:
                node_name = saved["node"]
                if saved.get("was_unschedulable"):
                    return [f"node {node_name} was already cordoned before the drain; left cordoned"]
                await self._patch_unschedulable(apis, plan, node_name, False)
                return [f"uncordoned node {node_name}; evicted pods stay where they were rescheduled"]
            case _:
                raise ActionFailed(f"{request.action_type.value} cannot be undone by the Kubernetes executor")


def load_api_client() -> Any:
    """Return an ``ApiClient`` from the in-cluster configuration, else the kubeconfig.

    Raises:
        ActionFailed: naming both attempts when neither configuration loads.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config()
        return client.ApiClient()
    except ConfigException as in_cluster:
        try:
            # The client reads KUBECONFIG once at import; read it again so a later setting counts.
            return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG") or None)
        except (ConfigException, OSError) as kubeconfig:
            raise ActionFailed(
                f"no Kubernetes configuration: not running in a cluster ({in_cluster}) and no usable "
                f"kubeconfig ({kubeconfig}); set KUBECONFIG or run AIRRA in the cluster with deploy/rbac.yaml"
            ) from None


def describe_api_exception(exc: Any) -> str:
    """Turn an ``ApiException`` into a sentence with the status and what to do."""
    message = _api_message(exc)
    if exc.status == 403:
        return (f"forbidden (403): {message}; grant the bot's service account the verbs in deploy/rbac.yaml")
    if exc.status == 404:
        return f"not found (404): {message}; check the namespace and deployment in the services file"
    if exc.status == 409:
        return f"conflict (409): {message}; the object changed meanwhile, retry the action"
    return f"Kubernetes API error {exc.status} {exc.reason}: {message}"


def _api_message(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.body or exc.reason)


def _result(request: ActionRequest, status: ExecutionStatus, started: datetime, plan: _Plan, *,
            changes: list[str] | None = None, saved_state: dict[str, Any] | None = None,
            error: str | None = None, is_rollback: bool = False) -> ExecutionResult:
    result = ExecutionResult(request=request, status=status, changes=changes or [], saved_state=saved_state or {},
                             started_at=started, finished_at=datetime.now(UTC), error=error,
                             is_rollback=is_rollback)
    verb = "undo of" if is_rollback else "execution of"
    if error:
        log.warning("incident %s: %s %s on %s failed: %s", request.incident_id, verb, request.action_type.value,
                    request.service, error)
    else:
        log.info("incident %s: %s %s on %s: %s (%d requests)", request.incident_id, verb,
                 request.action_type.value, request.service, status.value, len(plan.requests))
    return result


def _target(request: ActionRequest, service: Service) -> tuple[str, str]:
    return request.namespace or service.namespace, request.deployment or service.deployment_name


def _label_selector(deployment: dict[str, Any]) -> str:
    labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _revision(obj: dict[str, Any]) -> int | None:
    value = obj.get("metadata", {}).get("annotations", {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _pick_revision(replica_sets: list[dict[str, Any]], current: int | None, to_revision: int | None,
                   target: str) -> dict[str, Any]:
    """Return the ReplicaSet to roll back to: ``to_revision``, else the newest one before ``current``."""
    by_revision = {rev: rs for rs in replica_sets if (rev := _revision(rs)) is not None}
    earlier = sorted(rev for rev in by_revision if rev != current)
    if to_revision is not None:
        if to_revision == current or to_revision not in by_revision:
            known = ", ".join(map(str, earlier)) or "none"
            raise ActionFailed(f"deployment {target} has no earlier revision {to_revision}; earlier revisions: {known}")
        return by_revision[to_revision]
    if not earlier:
        raise ActionFailed(f"deployment {target} has no previous revision to roll back to "
                           f"(current revision {current}, no older ReplicaSet found)")
    return by_revision[earlier[-1]]


def _template_without_hash(replica_set: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(replica_set.get("spec", {}).get("template", {}))
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return template


def _images(template: dict[str, Any]) -> str:
    containers = template.get("spec", {}).get("containers", [])
    return ", ".join(c.get("image", "?") for c in containers) or "no containers"


def _rollout_progress(deployment: dict[str, Any], generation: int) -> str | None:
    """Return what is still missing in a rollout, or None when it is complete.

    Complete means what ``kubectl rollout status`` checks: the controller saw
    the new generation, every replica is updated and available, and no old
    replica is left.
    """
    spec_replicas = deployment.get("spec", {}).get("replicas", 1)
    status = deployment.get("status", {})
    observed = status.get("observedGeneration", 0)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    if observed >= generation and updated >= spec_replicas and available >= spec_replicas and total <= updated:
        return None
    return (f"observedGeneration {observed} of {generation}, updatedReplicas {updated}/{spec_replicas}, "
            f"availableReplicas {available}/{spec_replicas}, replicas {total}")


def _progress_deadline_exceeded(deployment: dict[str, Any]) -> bool:
    """Return whether the controller gave up on the rollout (its progressDeadlineSeconds passed)."""
    conditions = deployment.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)


def _split_evictable(pods: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split a node's pods into those to evict and the DaemonSet or mirror pods to skip."""
    evictable: list[dict[str, Any]] = []
    skipped: list[str] = []
    for pod in pods:
        meta = pod.get("metadata", {})
        daemon = any(ref.get("kind") == "DaemonSet" for ref in meta.get("ownerReferences", []))
        mirror = MIRROR_POD_ANNOTATION in meta.get("annotations", {})
        if daemon or mirror:
            skipped.append(f"{meta.get('namespace')}/{meta.get('name')}")
        else:
            evictable.append(pod)
    return evictable, skipped


def _node_ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
