"""Sandbox cluster state, actions, undo, dry runs and repeatability."""

from __future__ import annotations

import pytest

from airra.actions import (
    ActionParams,
    ActionType,
    ClearCacheParams,
    DrainNodeParams,
    RestartParams,
    RollbackParams,
    ScaleParams,
    ToggleFeatureFlagParams,
)
from airra.categories import Category
from airra.errors import ExecutionError, UnknownServiceError
from airra.execution.base import ActionRequest, Executor, ExecutionStatus
from airra.metrics import MetricsSource, Signal
from airra.sandbox import SandboxCluster, SandboxMetrics


def _request(service: str, action: ActionType, params: ActionParams, *, dry_run: bool = False) -> ActionRequest:
    return ActionRequest(incident_id="inc-7", action_type=action, service=service, params=params, dry_run=dry_run)


def test_implements_protocols(topology):
    cluster = SandboxCluster(topology)

    assert isinstance(cluster, Executor)
    assert isinstance(SandboxMetrics(cluster), MetricsSource)


async def test_initial_state(topology):
    cluster = SandboxCluster(topology)

    frontend = await cluster.service_state("frontend")
    notifications = await cluster.service_state("notifications")

    # frontend has min_replicas 3, notifications 1: both start one above the minimum, at least 2.
    assert frontend.replicas == 4
    assert notifications.replicas == 2
    assert frontend.revision == 3
    assert frontend.previous_revision == 2
    assert frontend.feature_flags == {"new-checkout-ui": True}
    assert frontend.ready_nodes == 3
    assert len(cluster.deployments) == len(topology)
    assert sorted(key for key in cluster.cache if key.startswith("catalog:")) == sorted(
        f"catalog:{i}" for i in range(40)
    )


async def test_scale_up_and_undo(topology):
    cluster = SandboxCluster(topology)

    result = await cluster.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=6)))
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.saved_state == {"replicas": 3}
    assert cluster.deployments["cart"].replicas == 6
    assert len(cluster.deployments["cart"].pods) == 6

    undo = await cluster.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert undo.is_rollback
    assert cluster.deployments["cart"].replicas == 3
    assert len(cluster.deployments["cart"].pods) == 3


async def test_scale_outside_bounds_fails(topology):
    cluster = SandboxCluster(topology)

    above = await cluster.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=11)))
    below = await cluster.execute(_request("cart", ActionType.SCALE_DOWN, ScaleParams(replicas=1)))
    wrong_way = await cluster.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=2)))

    assert above.status is ExecutionStatus.FAILED
    assert "2..10" in above.error
    assert below.status is ExecutionStatus.FAILED
    assert wrong_way.status is ExecutionStatus.FAILED
    assert cluster.deployments["cart"].replicas == 3


async def test_rollback_and_roll_forward(topology):
    cluster = SandboxCluster(topology)
    cluster.inject_fault("orders", Category.DEPLOYMENT_REGRESSION)
    assert cluster.deployments["orders"].image == "orders:1.4.0"

    result = await cluster.execute(_request("orders", ActionType.ROLLBACK_DEPLOYMENT, RollbackParams()))
    deployment = cluster.deployments["orders"]
    assert result.saved_state == {"revision": 4, "image": "orders:1.4.0"}
    # As in Kubernetes, revision 3's template becomes revision 5.
    assert deployment.image == "orders:1.3.0"
    assert [r.number for r in deployment.revisions] == [1, 2, 4, 5]
    assert cluster.intensity(cluster.faults[0], "orders") == 0.05

    undo = await cluster.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert deployment.image == "orders:1.4.0"
    assert [r.number for r in deployment.revisions] == [1, 2, 5, 6]
    assert cluster.intensity(cluster.faults[0], "orders") == 1.0


async def test_rollback_to_named_revision(topology):
    cluster = SandboxCluster(topology)

    result = await cluster.execute(_request("cart", ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(to_revision=1)))
    missing = await cluster.execute(_request("cart", ActionType.ROLLBACK_DEPLOYMENT, RollbackParams(to_revision=9)))

    assert result.status is ExecutionStatus.SUCCEEDED
    assert cluster.deployments["cart"].image == "cart:1.1.0"
    assert missing.status is ExecutionStatus.FAILED
    assert "no earlier revision 9" in missing.error


async def test_toggle_flag_and_undo(topology):
    cluster = SandboxCluster(topology)
    params = ToggleFeatureFlagParams(flag="semantic-search", enabled=False)

    result = await cluster.execute(_request("search", ActionType.TOGGLE_FEATURE_FLAG, params))
    assert result.saved_state == {"flag": "semantic-search", "enabled": True}
    assert cluster.deployments["search"].feature_flags["semantic-search"] is False

    await cluster.rollback(result)
    assert cluster.deployments["search"].feature_flags["semantic-search"] is True

    unknown = ToggleFeatureFlagParams(flag="dark-mode", enabled=False)
    failed = await cluster.execute(_request("search", ActionType.TOGGLE_FEATURE_FLAG, unknown))
    assert failed.status is ExecutionStatus.FAILED
    assert "semantic-search" in failed.error


async def test_drain_and_uncordon(topology):
    cluster = SandboxCluster(topology)

    result = await cluster.execute(_request("orders", ActionType.DRAIN_NODE, DrainNodeParams(node="node-2")))
    assert result.status is ExecutionStatus.SUCCEEDED
    assert cluster.nodes["node-2"].unschedulable
    assert all(pod.node != "node-2" for d in cluster.deployments.values() for pod in d.pods)

    await cluster.rollback(result)
    assert not cluster.nodes["node-2"].unschedulable


async def test_clear_cache_deletes_only_prefix(topology):
    cluster = SandboxCluster(topology)
    total = len(cluster.cache)

    result = await cluster.execute(_request("catalog", ActionType.CLEAR_CACHE, ClearCacheParams()))

    assert result.changes == ["deleted 40 cache keys under 'catalog:'"]
    assert not any(key.startswith("catalog:") for key in cluster.cache)
    assert len(cluster.cache) == total - 40
    undo = await cluster.rollback(result)
    assert undo.status is ExecutionStatus.FAILED
    assert "cannot be undone" in undo.error


async def test_restart_cannot_be_undone(topology):
    cluster = SandboxCluster(topology)
    old_pods = [pod.name for pod in cluster.deployments["cart"].pods]

    result = await cluster.execute(_request("cart", ActionType.RESTART_POD, RestartParams()))
    undo = await cluster.rollback(result)

    assert result.status is ExecutionStatus.SUCCEEDED
    assert not set(old_pods) & {pod.name for pod in cluster.deployments["cart"].pods}
    assert undo.status is ExecutionStatus.FAILED


async def test_dry_run_changes_nothing(topology):
    cluster = SandboxCluster(topology)
    cluster.inject_fault("orders", Category.MEMORY_LEAK)
    before = cluster.copy_state()

    scale = await cluster.execute(_request("orders", ActionType.SCALE_UP, ScaleParams(replicas=5), dry_run=True))
    restart = await cluster.execute(_request("orders", ActionType.RESTART_POD, RestartParams(), dry_run=True))

    assert scale.status is ExecutionStatus.DRY_RUN
    assert scale.changes == ["scaled deployment shop/orders from 3 to 5 replicas"]
    assert restart.status is ExecutionStatus.DRY_RUN
    assert cluster.copy_state() == before
    assert cluster.faults[0].level == 1.0


async def test_undo_of_failed_action_fails(topology):
    cluster = SandboxCluster(topology)
    failed = await cluster.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=99)))

    undo = await cluster.rollback(failed)

    assert undo.status is ExecutionStatus.FAILED
    assert "nothing to undo" in undo.error


async def test_event_log(topology):
    cluster = SandboxCluster(topology, clock=lambda: 50.0)

    result = await cluster.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=4)))
    await cluster.rollback(result)

    assert [(e.action_type, e.status, e.is_rollback) for e in cluster.events] == [
        (ActionType.SCALE_UP, ExecutionStatus.SUCCEEDED, False),
        (ActionType.SCALE_UP, ExecutionStatus.SUCCEEDED, True),
    ]
    assert cluster.events[0].incident_id == "inc-7"


async def test_seed_makes_reads_repeatable(topology):
    signals = list(Signal)

    async def run(seed: int) -> list[dict]:
        cluster = SandboxCluster(topology, seed=seed, clock=lambda: 1000.0)
        metrics = SandboxMetrics(cluster)
        cluster.inject_fault("payment-service", Category.CPU_SPIKE)
        return [(await metrics.read("payment-service", signals)).model_dump() for _ in range(3)]

    first, again, other = await run(3), await run(3), await run(4)

    assert first == again
    assert first != other


async def test_errors_propagate_downstream_by_hops(topology):
    cluster = SandboxCluster(topology, seed=1)
    metrics = SandboxMetrics(cluster)
    cluster.inject_fault("postgres-orders", Category.DATABASE_ISSUE)

    own = metrics.effect("postgres-orders").error_ratio
    orders = metrics.effect("orders").error_ratio
    gateway = metrics.effect("api-gateway").error_ratio
    catalog = metrics.effect("catalog").error_ratio

    assert own == 0.15
    # Effects halve per hop on the shortest path: orders is 1 hop away, api-gateway 2.
    assert orders == 0.075
    assert gateway == 0.0375
    assert catalog == 0.0
    reading = await metrics.read("api-gateway", [Signal.ERROR_RATIO])
    assert reading.value(Signal.ERROR_RATIO) >= 0.01


async def test_unknown_service_reads_unavailable(topology):
    metrics = SandboxMetrics(SandboxCluster(topology))

    snapshot = await metrics.read("nope", [Signal.ERROR_RATIO])

    assert snapshot.value(Signal.ERROR_RATIO) is None
    assert "unknown service 'nope'" in snapshot.unavailable()[Signal.ERROR_RATIO]


async def test_node_failure_hits_every_service_on_node(topology):
    cluster = SandboxCluster(topology, seed=3)
    cluster.inject_fault("orders", Category.NODE_FAILURE, node="node-1")
    fault = cluster.faults[0]
    on_node = [name for name, d in cluster.deployments.items() if any(p.node == "node-1" for p in d.pods)]

    # Deployments of three or more replicas have a pod on every node.
    assert {"orders", "cart"} <= set(on_node)
    assert all(cluster.intensity(fault, name) > 0.0 for name in on_node)
    assert (await cluster.service_state("orders")).ready_nodes == 2

    await cluster.execute(_request("cart", ActionType.RESTART_POD, RestartParams()))
    # A restart reschedules only cart's pods away from the failed node.
    assert cluster.intensity(fault, "cart") == 0.0
    assert cluster.intensity(fault, "orders") > 0.0

    await cluster.execute(_request("orders", ActionType.DRAIN_NODE, DrainNodeParams(node="node-1")))
    assert all(cluster.intensity(fault, name) == 0.0 for name in cluster.deployments)


def test_inject_fault_rejects_unknown_flag_and_node(topology):
    cluster = SandboxCluster(topology)

    with pytest.raises(ExecutionError, match="has no feature flag 'nope'"):
        cluster.inject_fault("search", Category.ERROR_SPIKE, flag="nope")
    with pytest.raises(ExecutionError, match="unknown node 'node-9'"):
        cluster.inject_fault("search", Category.NODE_FAILURE, node="node-9")
    with pytest.raises(UnknownServiceError):
        cluster.inject_fault("nope", Category.CPU_SPIKE)
    assert cluster.faults == []


async def test_flag_undo_brings_error_spike_back(topology):
    cluster = SandboxCluster(topology)
    metrics = SandboxMetrics(cluster)
    cluster.inject_fault("search", Category.ERROR_SPIKE, flag="semantic-search")
    params = ToggleFeatureFlagParams(flag="semantic-search", enabled=False)

    result = await cluster.execute(_request("search", ActionType.TOGGLE_FEATURE_FLAG, params))
    fixed = metrics.effect("search").error_ratio
    await cluster.rollback(result)
    returned = metrics.effect("search").error_ratio

    assert fixed == pytest.approx(0.12 * 0.05)
    assert returned == pytest.approx(0.12)
