"""A loopback stand-in for the Kubernetes REST paths the executor calls.

It keeps deployments, ReplicaSets, pods and nodes as raw JSON, applies
strategic-merge and JSON patches the way the API server does for the
fields involved, records every request (method, path with query, body). It
can reject evictions with 429 as a PodDisruptionBudget would, stall a
rollout, or return 403 for chosen paths.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web


JSON_BODY = web.RequestKey("json_body", object)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for operation in operations:
        assert operation["op"] == "replace", operation
        *parents, last = operation["path"].strip("/").split("/")
        node = target
        for part in parents:
            node = node[part]
        node[last] = copy.deepcopy(operation["value"])


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}
    return web.json_response(body, status=code)


def _labels_match(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    pairs = dict(part.split("=", 1) for part in selector.split(","))
    return all(labels.get(key) == value for key, value in pairs.items())


class KubeStandIn:
    """State and handlers of the stand-in API server."""

    def __init__(self) -> None:
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.replica_sets: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.rollouts_complete = True
        self.progress_deadline_exceeded = False
        self.eviction_rejections: dict[tuple[str, str], int] = {}
        self.forbidden: set[tuple[str, str]] = set()

    # --- Fixtures -----------------------------------------------------------------

    def add_deployment(self, namespace: str, name: str, *, replicas: int, revisions: dict[int, str],
                       current: int) -> None:
        """Add a deployment whose ReplicaSets run the given image per revision."""
        labels = {"app": name}
        uid = f"uid-{name}"
        self.deployments[(namespace, name)] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "generation": 5,
                         "annotations": {"deployment.kubernetes.io/revision": str(current)}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": self._template(labels, revisions[current], f"hash{current}", drop_hash=True)},
            "status": {"observedGeneration": 5, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": replicas, "availableReplicas": replicas},
        }
        for revision, image in revisions.items():
            rs_name = f"{name}-hash{revision}"
            self.replica_sets[(namespace, rs_name)] = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": namespace, "labels": {**labels, "pod-template-hash": f"hash{revision}"},
                             "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                                  "uid": uid, "controller": True}]},
                "spec": {"replicas": replicas if revision == current else 0, "selector": {"matchLabels": labels},
                         "template": self._template(labels, image, f"hash{revision}")},
            }
        # A ReplicaSet with matching labels but another owner must be ignored.
        self.replica_sets[(namespace, f"{name}-orphan")] = {
            "metadata": {"name": f"{name}-orphan", "namespace": namespace, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": "99"}, "ownerReferences": []},
            "spec": {"template": self._template(labels, "evil:latest", "orphan")},
        }

    @staticmethod
    def _template(labels: dict[str, str], image: str, pod_hash: str, *, drop_hash: bool = False) -> dict[str, Any]:
        template_labels = dict(labels) if drop_hash else {**labels, "pod-template-hash": pod_hash}
        return {"metadata": {"labels": template_labels},
                "spec": {"containers": [{"name": "app", "image": image, "env": [{"name": "IMAGE", "value": image}]}]}}

    def add_node(self, name: str, *, ready: bool = True) -> None:
        self.nodes[name] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {},
                            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}

    def add_pod(self, namespace: str, name: str, node: str, *, labels: dict[str, str] | None = None,
                owner_kind: str = "ReplicaSet", mirror: bool = False) -> None:
        annotations = {"kubernetes.io/config.mirror": "abc"} if mirror else {}
        self.pods[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels or {},
                         "annotations": annotations,
                         "ownerReferences": [{"kind": owner_kind, "name": "owner", "controller": True}]},
            "spec": {"nodeName": node}, "status": {"phase": "Running"},
        }

    def mutating_requests(self) -> list[tuple[str, str, Any]]:
        return [request for request in self.requests if request[0] != "GET"]

    # --- Server ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        deployment = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
        app.router.add_route("GET", deployment, self.get_deployment)
        app.router.add_route("PATCH", deployment, self.patch_deployment)
        app.router.add_route("GET", deployment + "/scale", self.get_scale)
        app.router.add_route("PATCH", deployment + "/scale", self.patch_scale)
        app.router.add_route("GET", "/apis/apps/v1/namespaces/{ns}/replicasets", self.list_replica_sets)
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods", self.list_namespaced_pods)
        app.router.add_route("GET", "/api/v1/pods", self.list_all_pods)
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}", self.get_pod)
        app.router.add_route("POST", "/api/v1/namespaces/{ns}/pods/{name}/eviction", self.evict)
        app.router.add_route("GET", "/api/v1/nodes", self.list_nodes)
        app.router.add_route("GET", "/api/v1/nodes/{name}", self.get_node)
        app.router.add_route("PATCH", "/api/v1/nodes/{name}", self.patch_node)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append((request.method, request.path_qs, body))
        if (request.method, request.path) in self.forbidden:
            return _status(403, "Forbidden", f'{request.path} is forbidden: User "system:serviceaccount:airra:airra" '
                                             "cannot do this")
        request[JSON_BODY] = body
        return await handler(request)

    async def get_deployment(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.deployments:
            return _status(404, "NotFound", f'deployments.apps "{key[1]}" not found')
        return web.json_response(self.deployments[key])

    async def patch_deployment(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        deployment = self.deployments[key]
        before = copy.deepcopy(deployment["spec"])
        if request.content_type == "application/json-patch+json":
            _json_patch(deployment, request[JSON_BODY])
        else:
            assert request.content_type == "application/strategic-merge-patch+json", request.content_type
            _merge(deployment, request[JSON_BODY])
        if deployment["spec"] != before:
            deployment["metadata"]["generation"] += 1
            self._start_rollout(deployment)
        return web.json_response(deployment)

    def _start_rollout(self, deployment: dict[str, Any]) -> None:
        replicas = deployment["spec"]["replicas"]
        if self.rollouts_complete:
            deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
                                    "updatedReplicas": replicas, "readyReplicas": replicas,
                                    "availableReplicas": replicas}
        else:
            deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"],
                                    "replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas,
                                    "availableReplicas": replicas - 1}
            if self.progress_deadline_exceeded:
                deployment["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                                       "reason": "ProgressDeadlineExceeded"}]

    def _scale(self, namespace: str, name: str) -> dict[str, Any]:
        replicas = self.deployments[(namespace, name)]["spec"]["replicas"]
        return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": replicas}, "status": {"replicas": replicas}}

    async def get_scale(self, request: web.Request) -> web.Response:
        return web.json_response(self._scale(request.match_info["ns"], request.match_info["name"]))

    async def patch_scale(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        self.deployments[(namespace, name)]["spec"]["replicas"] = request[JSON_BODY]["spec"]["replicas"]
        return web.json_response(self._scale(namespace, name))

    async def list_replica_sets(self, request: web.Request) -> web.Response:
        namespace, selector = request.match_info["ns"], request.query.get("labelSelector")
        items = [rs for (ns, _), rs in self.replica_sets.items()
                 if ns == namespace and _labels_match(rs["metadata"].get("labels", {}), selector)]
        return web.json_response({"kind": "ReplicaSetList", "items": items})

    async def list_namespaced_pods(self, request: web.Request) -> web.Response:
        namespace, selector = request.match_info["ns"], request.query.get("labelSelector")
        items = [pod for (ns, _), pod in self.pods.items()
                 if ns == namespace and _labels_match(pod["metadata"].get("labels", {}), selector)]
        return web.json_response({"kind": "PodList", "items": items})

    async def list_all_pods(self, request: web.Request) -> web.Response:
        field = request.query.get("fieldSelector", "")
        node = field.removeprefix("spec.nodeName=")
        items = [pod for pod in self.pods.values() if pod["spec"]["nodeName"] == node]
        return web.json_response({"kind": "PodList", "items": items})

    async def get_pod(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.pods:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        return web.json_response(self.pods[key])

    async def evict(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        remaining = self.eviction_rejections.get(key, 0)
        if remaining > 0:
            self.eviction_rejections[key] = remaining - 1
            return _status(429, "TooManyRequests",
                           "Cannot evict pod as it would violate the pod's disruption budget.")
        self.pods.pop(key, None)
        return web.json_response({"kind": "Status", "status": "Success"}, status=201)

    async def list_nodes(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "NodeList", "items": list(self.nodes.values())})

    async def get_node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.nodes:
            return _status(404, "NotFound", f'nodes "{name}" not found')
        return web.json_response(self.nodes[name])

    async def patch_node(self, request: web.Request) -> web.Response:
        node = self.nodes[request.match_info["name"]]
        _merge(node, request[JSON_BODY])
        return web.json_response(node)
