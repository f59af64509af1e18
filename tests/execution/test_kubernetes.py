"""Kubernetes executor against a loopback stand-in of the API server."""

from __future__ import annotations

import socket

import pytest
from kubernetes import client

from airra.actions import (
    ActionParams,
    ActionType,
    DrainNodeParams,
    RestartParams,
    RollbackParams,
    ScaleParams,
    ToggleFeatureFlagParams,
)
from airra.execution.base import ActionRequest, Executor, ExecutionStatus
from airra.execution.kubernetes import KubernetesExecutor

DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/orders"


def _executor(topology, standin, **kwargs) -> KubernetesExecutor:
    configuration = client.Configuration()
    configuration.host = standin.host
    return KubernetesExecutor(topology, api_client=client.ApiClient(configuration), rollout_poll_s=0.01, **kwargs)


def _request(action: ActionType, params: ActionParams, *, service: str = "orders",
             dry_run: bool = False) -> ActionRequest:
    return ActionRequest(incident_id="inc-9", action_type=action, service=service, params=params, dry_run=dry_run)


def test_implements_executor(topology):
    assert isinstance(KubernetesExecutor(topology), Executor)


async def test_scale_up_patches_scale_subresource(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5)))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.saved_state == {"replicas": 3}
    assert standin.mutating_requests() == [("PATCH", f"{DEPLOYMENT}/scale", {"spec": {"replicas": 5}})]
    assert standin.deployments[("shop", "orders")]["spec"]["replicas"] == 5

    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert undo.is_rollback
    assert standin.mutating_requests()[-1] == ("PATCH", f"{DEPLOYMENT}/scale", {"spec": {"replicas": 3}})
    assert standin.deployments[("shop", "orders")]["spec"]["replicas"] == 3


async def test_scale_outside_bounds_sends_nothing(topology, standin):
    executor = _executor(topology, standin)

    # orders allows 2..16 replicas in the sample topology.
    above = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=17)))
    down_is_up = await executor.execute(_request(ActionType.SCALE_DOWN, ScaleParams(replicas=4)))

    assert above.status is ExecutionStatus.FAILED
    assert "2..16" in above.error
    assert down_is_up.status is ExecutionStatus.FAILED
    assert "not below its 3 replicas" in down_is_up.error
    assert standin.mutating_requests() == []


async def test_restart_patches_restarted_at_and_waits(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.RESTART_POD, RestartParams(timeout_s=5)))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    [(method, path, body)] = standin.mutating_requests()
    assert (method, path) == ("PATCH", DEPLOYMENT)
    annotations = body["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    template = standin.deployments[("shop", "orders")]["spec"]["template"]
    assert template["metadata"]["annotations"] == annotations
    assert template["spec"]["containers"][0]["image"] == "orders:1.3"
    # The rollout was read after the patch.
    assert standin.requests[-1][:2] == ("GET", DEPLOYMENT)
    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.FAILED
    assert "nothing to restore" in undo.error


async def test_restart_rollout_timeout_fails(topology, standin):
    standin.rollouts_complete = False
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.RESTART_POD, RestartParams(timeout_s=0.05)))

    assert result.status is ExecutionStatus.FAILED
    assert "did not finish within 0.05 s" in result.error
    assert "updatedReplicas 1/3" in result.error
    assert "availableReplicas 2/3" in result.error
    assert len(standin.mutating_requests()) == 1


async def test_restart_progress_deadline_fails_early(topology, standin):
    standin.rollouts_complete = False
    standin.progress_deadline_exceeded = True
    executor = _executor(topology, standin)

    # The timeout is long: the controller's ProgressDeadlineExceeded ends the wait first.
    result = await executor.execute(_request(ActionType.RESTART_POD, RestartParams(timeout_s=600)))

    assert result.status is ExecutionStatus.FAILED
    assert "ProgressDeadlineExceeded" in result.error
    assert "updatedReplicas 1/3" in result.error


async def test_rollback_writes_previous_replica_set_template(topology, standin):
    executor = _executor(topology, standin)
    before = standin.deployments[("shop", "orders")]["spec"]["template"]

    result = await executor.execute(_request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(timeout_s=5)))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.saved_state == {"revision": 3, "template": before}
    replica_set_template = standin.replica_sets[("shop", "orders-hash2")]["spec"]["template"]
    expected = {"metadata": {"labels": {"app": "orders"}}, "spec": replica_set_template["spec"]}
    assert standin.mutating_requests() == [
        ("PATCH", DEPLOYMENT, [{"op": "replace", "path": "/spec/template", "value": expected}])
    ]
    template = standin.deployments[("shop", "orders")]["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "orders:1.2"
    assert "pod-template-hash" not in template["metadata"]["labels"]
    assert standin.requests[1][:2] == ("GET", "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dorders")

    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED, undo.error
    assert standin.deployments[("shop", "orders")]["spec"]["template"] == before


async def test_rollback_to_named_revision(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(to_revision=1)))
    unknown = await executor.execute(_request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(to_revision=99)))

    assert result.status is ExecutionStatus.SUCCEEDED
    assert standin.deployments[("shop", "orders")]["spec"]["template"]["spec"]["containers"][0]["image"] == "orders:1.1"
    # Revision 99 belongs to a ReplicaSet that the deployment does not own.
    assert unknown.status is ExecutionStatus.FAILED
    assert "no earlier revision 99" in unknown.error


async def test_rollback_without_change_fails(topology, standin):
    rs = standin.replica_sets[("shop", "orders-hash2")]
    rs["spec"]["template"]["spec"] = standin.deployments[("shop", "orders")]["spec"]["template"]["spec"]
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams()))

    assert result.status is ExecutionStatus.FAILED
    assert "already matches revision 2" in result.error
    assert standin.mutating_requests() == []


async def test_drain_cordons_and_evicts(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-1", timeout_s=5)))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.saved_state == {"node": "node-1", "was_unschedulable": False}
    assert standin.mutating_requests() == [
        ("PATCH", "/api/v1/nodes/node-1", {"spec": {"unschedulable": True}}),
        ("POST", "/api/v1/namespaces/shop/pods/orders-a/eviction",
         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "orders-a", "namespace": "shop"}}),
        ("POST", "/api/v1/namespaces/payments/pods/fraud-a/eviction",
         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "fraud-a", "namespace": "payments"}}),
    ]
    assert ("kube-system", "fluentd-x") in standin.pods
    assert ("kube-system", "kube-proxy-node-1") in standin.pods
    assert ("shop", "orders-a") not in standin.pods
    assert standin.nodes["node-1"]["spec"]["unschedulable"] is True

    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert standin.nodes["node-1"]["spec"]["unschedulable"] is False


async def test_drain_retries_pdb_rejection(topology, standin):
    standin.eviction_rejections[("shop", "orders-a")] = 2
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-1", timeout_s=5)))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    evictions = [r for r in standin.mutating_requests() if r[1].endswith("/orders-a/eviction")]
    assert len(evictions) == 3
    assert ("shop", "orders-a") not in standin.pods


async def test_drain_pdb_rejection_times_out(topology, standin):
    standin.eviction_rejections[("shop", "orders-a")] = 10**6
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-1", timeout_s=0.05)))

    assert result.status is ExecutionStatus.FAILED
    assert "shop/orders-a" in result.error
    assert "PodDisruptionBudget" in result.error
    assert ("shop", "orders-a") in standin.pods
    # The node is cordoned, and the saved state lets an undo uncordon it.
    assert standin.nodes["node-1"]["spec"]["unschedulable"] is True
    assert result.saved_state == {"node": "node-1", "was_unschedulable": False}
    assert result.changes[0] == "sent PATCH /api/v1/nodes/node-1"
    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert standin.nodes["node-1"]["spec"]["unschedulable"] is False


async def test_drain_keeps_one_schedulable_node(topology, standin):
    standin.nodes["node-1"]["spec"]["unschedulable"] = True
    executor = _executor(topology, standin)

    # node-1 is cordoned and node-3 is NotReady, so nothing could take node-2's pods.
    result = await executor.execute(_request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-2")))

    assert result.status is ExecutionStatus.FAILED
    assert "no other Ready, schedulable node" in result.error
    assert standin.mutating_requests() == []


async def test_dry_run_sends_no_mutating_request(topology, standin):
    executor = _executor(topology, standin, dry_run=True)

    results = [
        await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5))),
        await executor.execute(_request(ActionType.RESTART_POD, RestartParams())),
        await executor.execute(_request(ActionType.ROLLBACK_DEPLOYMENT, RollbackParams())),
        await executor.execute(_request(ActionType.DRAIN_NODE, DrainNodeParams(node="node-1"))),
    ]

    assert [r.status for r in results] == [ExecutionStatus.DRY_RUN] * 4
    assert standin.mutating_requests() == []
    assert results[0].changes == [f'would send PATCH {DEPLOYMENT}/scale {{"spec": {{"replicas": 5}}}}']
    assert results[2].changes[0].startswith(f'would send PATCH {DEPLOYMENT} [{{"op": "replace"')
    assert '"image": "orders:1.2"' in results[2].changes[0]
    assert [c.split(" {")[0] for c in results[3].changes] == [
        "would send PATCH /api/v1/nodes/node-1",
        "would send POST /api/v1/namespaces/shop/pods/orders-a/eviction",
        "would send POST /api/v1/namespaces/payments/pods/fraud-a/eviction",
    ]


async def test_request_dry_run_flag(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5), dry_run=True))

    assert result.status is ExecutionStatus.DRY_RUN
    assert standin.mutating_requests() == []


async def test_forbidden_request_fails(topology, standin):
    standin.forbidden.add(("PATCH", f"{DEPLOYMENT}/scale"))
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5)))

    assert result.status is ExecutionStatus.FAILED
    assert result.error.startswith("forbidden (403)")
    assert "deploy/rbac.yaml" in result.error


async def test_unreachable_cluster_fails(topology):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    executor = KubernetesExecutor(topology, api_client=client.ApiClient(configuration))

    result = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5)))

    assert result.status is ExecutionStatus.FAILED
    assert f"127.0.0.1:{port} is unreachable" in result.error


async def test_missing_config_fails(topology, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    executor = KubernetesExecutor(topology)

    result = await executor.execute(_request(ActionType.SCALE_UP, ScaleParams(replicas=5)))

    assert result.status is ExecutionStatus.FAILED
    assert result.error.startswith("no Kubernetes configuration")
    assert executor.check_config() is not None


async def test_flag_action_is_not_a_kubernetes_action(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.TOGGLE_FEATURE_FLAG,
                                             ToggleFeatureFlagParams(flag="x", enabled=False)))

    assert result.status is ExecutionStatus.FAILED
    assert "build_executor" in result.error


async def test_wrong_parameter_model_fails(topology, standin):
    executor = _executor(topology, standin)

    result = await executor.execute(_request(ActionType.RESTART_POD, ScaleParams(replicas=4)))

    assert result.status is ExecutionStatus.FAILED
    assert result.error.startswith("restart_pod takes RestartParams, got ScaleParams")
    assert standin.requests == []


async def test_service_state(topology, standin):
    executor = _executor(topology, standin)

    state = await executor.service_state("orders")

    assert state.replicas == 3
    assert state.ready_replicas == 3
    assert state.revision == 3
    assert state.previous_revision == 2
    assert state.nodes == ["node-1", "node-2"]
    assert state.ready_nodes == 2
