"""deploy/rbac.yaml grants exactly the requests the Kubernetes executor sends."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from kubernetes import client

from airra.actions import ActionType, DrainNodeParams, RestartParams, RollbackParams, ScaleParams
from airra.execution.base import ActionRequest, ExecutionStatus
from airra.execution.kubernetes import KubernetesExecutor

RBAC_FILE = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}

# (path pattern, API group, resource); a path without a name is a list.
ROUTES = [
    (r"/apis/apps/v1/namespaces/[^/]+/deployments/[^/]+/scale", "apps", "deployments/scale"),
    (r"/apis/apps/v1/namespaces/[^/]+/deployments/[^/]+", "apps", "deployments"),
    (r"/apis/apps/v1/namespaces/[^/]+/replicasets", "apps", "replicasets"),
    (r"/api/v1/namespaces/[^/]+/pods/[^/]+/eviction", "", "pods/eviction"),
    (r"/api/v1/namespaces/[^/]+/pods/[^/]+", "", "pods"),
    (r"/api/v1/namespaces/[^/]+/pods", "", "pods"),
    (r"/api/v1/pods", "", "pods"),
    (r"/api/v1/nodes/[^/]+", "", "nodes"),
    (r"/api/v1/nodes", "", "nodes"),
]
COLLECTIONS = {r"/apis/apps/v1/namespaces/[^/]+/replicasets", r"/api/v1/namespaces/[^/]+/pods", r"/api/v1/pods",
               r"/api/v1/nodes"}


def _permission(method: str, path_qs: str) -> tuple[str, str, str]:
    path = path_qs.split("?")[0]
    for pattern, group, resource in ROUTES:
        if re.fullmatch(pattern, path):
            verb = "list" if pattern in COLLECTIONS and method == "GET" else VERBS[method]
            return group, resource, verb
    raise AssertionError(f"no RBAC route for {method} {path}")


def _granted() -> set[tuple[str, str, str]]:
    granted = set()
    for document in yaml.safe_load_all(RBAC_FILE.read_text(encoding="utf-8")):
        for rule in document.get("rules", []):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb))
    return granted


async def test_rbac_matches_requests(topology, standin):
    configuration = client.Configuration()
    configuration.host = standin.host
    executor = KubernetesExecutor(topology, api_client=client.ApiClient(configuration), rollout_poll_s=0.01)

    def request(action: ActionType, params) -> ActionRequest:
        return ActionRequest(incident_id="inc-1", action_type=action, service="orders", params=params)

    await executor.service_state("orders")
    results = [
        await executor.execute(request(ActionType.SCALE_UP, ScaleParams(replicas=4))),
        await executor.execute(request(ActionType.RESTART_POD, RestartParams(timeout_s=5))),
        await executor.execute(request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(timeout_s=5))),
        await executor.execute(request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-1", timeout_s=5))),
    ]
    assert all(r.status is ExecutionStatus.SUCCEEDED for r in results), [r.error for r in results]

    used = {_permission(method, path) for method, path, _ in standin.requests}

    assert used == _granted()
