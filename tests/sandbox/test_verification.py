"""Post-action verification on the sandbox gives the verdict the true cause implies."""

from __future__ import annotations

import pytest

from airra.actions import (
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
from airra.sandbox import SandboxCluster, SandboxMetrics
from airra.verification import PostActionVerifier, VerificationStatus


async def _no_sleep(seconds: float) -> None:
    return None


def _scale(service: str, delta: int):
    return lambda cluster: ScaleParams(replicas=cluster.deployments[service].replicas + delta)


CASES = [
    ("orders", Category.MEMORY_LEAK, ActionType.RESTART_POD, lambda c: RestartParams(), {}, "success"),
    ("orders", Category.MEMORY_LEAK, ActionType.SCALE_UP, _scale("orders", 1), {}, "no_change"),
    ("orders", Category.CPU_SPIKE, ActionType.SCALE_UP, _scale("orders", 1), {}, "success"),
    ("frontend", Category.CPU_SPIKE, ActionType.SCALE_UP, _scale("frontend", 1), {}, "success"),
    ("orders", Category.CPU_SPIKE, ActionType.RESTART_POD, lambda c: RestartParams(), {}, "no_change"),
    ("orders", Category.CPU_SPIKE, ActionType.SCALE_DOWN, _scale("orders", -1), {}, "degraded"),
    ("catalog", Category.TRAFFIC_SPIKE, ActionType.SCALE_UP, _scale("catalog", 1), {}, "success"),
    ("orders", Category.DEPLOYMENT_REGRESSION, ActionType.ROLLBACK_DEPLOYMENT,
     lambda c: RollbackParams(to_revision=3), {}, "success"),
    ("orders", Category.DEPLOYMENT_REGRESSION, ActionType.RESTART_POD, lambda c: RestartParams(), {}, "no_change"),
    ("catalog", Category.CACHE_ISSUE, ActionType.CLEAR_CACHE, lambda c: ClearCacheParams(key_prefix="catalog:"), {},
     "success"),
    ("search", Category.ERROR_SPIKE, ActionType.TOGGLE_FEATURE_FLAG,
     lambda c: ToggleFeatureFlagParams(flag="semantic-search", enabled=False), {"flag": "semantic-search"}, "success"),
    ("orders", Category.NODE_FAILURE, ActionType.DRAIN_NODE, lambda c: DrainNodeParams(node=c.faults[0].node), {},
     "success"),
]


@pytest.mark.parametrize(("service", "category", "action", "params_for", "fault", "expected"), CASES,
                         ids=[f"{row[0]}-{row[1].value}-{row[2].value}" for row in CASES])
async def test_verdict_follows_true_cause(settings, topology, service, category, action, params_for, fault, expected):
    cluster = SandboxCluster(topology, seed=7)
    cluster.inject_fault(service, category, **fault)
    verifier = PostActionVerifier(SandboxMetrics(cluster), settings, sleep=_no_sleep)
    before = await verifier.take_baseline(service)

    result = await cluster.execute(ActionRequest(incident_id="inc-8", action_type=action, service=service,
                                                 params=params_for(cluster)))
    verdict = await verifier.verify_action(service, result, before)

    assert result.status is ExecutionStatus.SUCCEEDED
    assert verdict.status is VerificationStatus(expected)
