"""Each fault recovers with its right action and not with a wrong one.

The improvement score below is the mean relative improvement over error
ratio, p95, p99 and availability, as post-action verification computes it:
at least 0.20 is a success, and a wrong action must stay far below 0.10.
"""

from __future__ import annotations

import statistics

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
from airra.execution.base import ActionRequest, ExecutionStatus
from airra.metrics import Signal
from airra.sandbox import SandboxCluster, SandboxMetrics

SCORED = (Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99, Signal.AVAILABILITY)
SAMPLES = 3


async def _means(metrics: SandboxMetrics, service: str) -> dict[Signal, float]:
    samples = [await metrics.read(service, SCORED) for _ in range(SAMPLES)]
    return {signal: statistics.fmean(s.value(signal) for s in samples) for signal in SCORED}


def _improvement(before: dict[Signal, float], after: dict[Signal, float]) -> float:
    changes = []
    for signal in SCORED:
        if signal is Signal.AVAILABILITY:
            changes.append((after[signal] - before[signal]) / before[signal])
        else:
            changes.append((before[signal] - after[signal]) / before[signal])
    return statistics.fmean(changes)


def _request(service: str, action: ActionType, params: ActionParams) -> ActionRequest:
    return ActionRequest(incident_id="inc-1", action_type=action, service=service, params=params)


async def _score(topology, service: str, category: Category, action: ActionType, params_for,
                 **fault) -> tuple[float, dict[Signal, float], dict[Signal, float]]:
    cluster = SandboxCluster(topology, seed=11)
    metrics = SandboxMetrics(cluster)
    cluster.inject_fault(service, category, **fault)
    before = await _means(metrics, service)

    result = await cluster.execute(_request(service, action, params_for(cluster)))
    assert result.status is ExecutionStatus.SUCCEEDED, result.error

    after = await _means(metrics, service)
    return _improvement(before, after), before, after


def _replicas(service: str, delta: int):
    return lambda cluster: ScaleParams(replicas=cluster.deployments[service].replicas + delta)


def _first_node(service: str):
    return lambda cluster: DrainNodeParams(node=cluster.faults[0].node)


RIGHT_ACTIONS = [
    ("orders", Category.MEMORY_LEAK, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
    ("orders", Category.CPU_SPIKE, ActionType.SCALE_UP, _replicas("orders", 1), {}),
    ("catalog", Category.TRAFFIC_SPIKE, ActionType.SCALE_UP, _replicas("catalog", 1), {}),
    ("orders", Category.DEPLOYMENT_REGRESSION, ActionType.ROLLBACK_DEPLOYMENT, lambda c: RollbackParams(), {}),
    ("orders", Category.ERROR_SPIKE, ActionType.ROLLBACK_DEPLOYMENT, lambda c: RollbackParams(), {}),
    ("search", Category.ERROR_SPIKE, ActionType.TOGGLE_FEATURE_FLAG,
     lambda c: ToggleFeatureFlagParams(flag="semantic-search", enabled=False), {"flag": "semantic-search"}),
    ("catalog", Category.CACHE_ISSUE, ActionType.CLEAR_CACHE, lambda c: ClearCacheParams(key_prefix="catalog:"), {}),
    ("orders", Category.NODE_FAILURE, ActionType.DRAIN_NODE, _first_node("orders"), {}),
    ("postgres-orders", Category.DATABASE_ISSUE, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
]


@pytest.mark.parametrize(("service", "category", "action", "params_for", "fault"), RIGHT_ACTIONS,
                         ids=[f"{row[1].value}-{row[2].value}" for row in RIGHT_ACTIONS])
async def test_right_action_recovers(topology, service, category, action, params_for, fault):
    improvement, before, after = await _score(topology, service, category, action, params_for, **fault)

    assert improvement >= 0.30
    assert before[Signal.ERROR_RATIO] - after[Signal.ERROR_RATIO] >= 0.01


WRONG_ACTIONS = [
    ("orders", Category.MEMORY_LEAK, ActionType.SCALE_UP, _replicas("orders", 1), {}),
    ("orders", Category.CPU_SPIKE, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
    ("orders", Category.DEPLOYMENT_REGRESSION, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
    ("catalog", Category.CACHE_ISSUE, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
    ("search", Category.ERROR_SPIKE, ActionType.ROLLBACK_DEPLOYMENT, lambda c: RollbackParams(),
     {"flag": "semantic-search"}),
    ("orders", Category.UNKNOWN, ActionType.RESTART_POD, lambda c: RestartParams(), {}),
]


@pytest.mark.parametrize(("service", "category", "action", "params_for", "fault"), WRONG_ACTIONS,
                         ids=[f"{row[1].value}-{row[2].value}" for row in WRONG_ACTIONS])
async def test_wrong_action_changes_nothing(topology, service, category, action, params_for, fault):
    improvement, before, after = await _score(topology, service, category, action, params_for, **fault)

    assert abs(improvement) < 0.05
    assert abs(before[Signal.ERROR_RATIO] - after[Signal.ERROR_RATIO]) < 0.005


async def test_scale_down_worsens_cpu_spike(topology):
    improvement, before, after = await _score(topology, "orders", Category.CPU_SPIKE, ActionType.SCALE_DOWN,
                                              _replicas("orders", -1))

    # orders starts at 3 replicas and needs 4; at 2 the excess doubles.
    assert improvement < -0.20
    assert after[Signal.LATENCY_P95] - before[Signal.LATENCY_P95] > 0.5
    assert after[Signal.ERROR_RATIO] - before[Signal.ERROR_RATIO] > 0.02


async def test_post_action_samples_are_stable(topology):
    cluster = SandboxCluster(topology, seed=5)
    metrics = SandboxMetrics(cluster)
    cluster.inject_fault("orders", Category.MEMORY_LEAK)
    await cluster.execute(_request("orders", ActionType.RESTART_POD, RestartParams()))

    samples = [await metrics.read("orders", SCORED) for _ in range(5)]
    for signal in SCORED:
        values = [s.value(signal) for s in samples]
        assert statistics.pstdev(values) / statistics.fmean(values) < 0.05


async def test_memory_leak_signals(topology):
    cluster = SandboxCluster(topology, seed=2)
    metrics = SandboxMetrics(cluster)
    signals = (Signal.MEMORY_UTILIZATION, Signal.MEMORY_GROWTH, Signal.RESTARTS)
    healthy = await metrics.read("cart", signals)
    cluster.inject_fault("cart", Category.MEMORY_LEAK)

    leaking = await metrics.read("cart", signals)

    assert leaking.value(Signal.MEMORY_UTILIZATION) > 0.85
    assert leaking.value(Signal.MEMORY_GROWTH) > 0.5
    assert leaking.value(Signal.RESTARTS) == 5
    assert healthy.value(Signal.RESTARTS) == 0

    await cluster.execute(_request("cart", ActionType.RESTART_POD, RestartParams()))
    restarted = await metrics.read("cart", signals)
    # The restart leaves 5 % of the leak, as the residual of every fixed fault.
    assert restarted.value(Signal.MEMORY_UTILIZATION) < 0.55
    assert restarted.value(Signal.RESTARTS) == 0


async def test_regression_rollout_age_is_small(topology):
    cluster = SandboxCluster(topology, seed=2, clock=lambda: 10_000.0)
    metrics = SandboxMetrics(cluster)

    before = await metrics.read("orders", [Signal.ROLLOUT_AGE])
    cluster.inject_fault("orders", Category.DEPLOYMENT_REGRESSION)
    after = await metrics.read("orders", [Signal.ROLLOUT_AGE])

    assert before.value(Signal.ROLLOUT_AGE) == 3 * 24 * 3600
    assert after.value(Signal.ROLLOUT_AGE) == 420
    assert cluster.deployments["orders"].revision.number == 4
