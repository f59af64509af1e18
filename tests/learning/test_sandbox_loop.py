"""The learning loop against the sandbox cluster: real metrics, real actions, real verdicts.

The sandbox's faults react to actions the way the incident categories do, so
the right action must verify as a success, a wrong one must not, and only the
verified trials may reach the simulator's counts.
"""

from __future__ import annotations

from airra.actions import ActionParams, ActionType, ClearCacheParams, RestartParams
from airra.categories import Category
from airra.execution.base import ActionRequest
from airra.learning import LearningStores, outcome_record
from airra.sandbox.cluster import SandboxCluster
from airra.sandbox.metrics import SandboxMetrics
from airra.settings import Settings
from airra.topology import Topology
from airra.verification import PostActionVerifier, Recommendation, VerificationResult, VerificationStatus
from tests.learning.doubles import RecordingSleep

SERVICE = "payment-service"


async def _run(topology: Topology, settings: Settings, action: ActionType, params: ActionParams) -> VerificationResult:
    cluster = SandboxCluster(topology, seed=7)
    cluster.inject_fault(SERVICE, Category.MEMORY_LEAK)
    verifier = PostActionVerifier(SandboxMetrics(cluster), settings, sleep=RecordingSleep())

    before = await verifier.take_baseline(SERVICE, incident_id="inc-sandbox")
    executed = await cluster.execute(
        ActionRequest(incident_id="inc-sandbox", action_type=action, service=SERVICE, params=params)
    )
    result = await verifier.verify_action(SERVICE, executed, before)

    stores = LearningStores.from_settings(settings)
    stores.confidence.record_outcome(outcome_record(
        verification=result, execution=executed, hypothesis_category=Category.MEMORY_LEAK,
        hypothesis_description="memory leak in payment-service", confidence=0.7,
    ))
    return result


async def test_right_action_verifies(topology: Topology, settings: Settings) -> None:
    result = await _run(topology, settings, ActionType.RESTART_POD, RestartParams())

    assert result.status is VerificationStatus.SUCCESS
    assert result.recommendation is Recommendation.CONTINUE
    assert result.overall_improvement_pct is not None
    assert result.overall_improvement_pct >= 20.0


async def test_wrong_action_does_not_verify(topology: Topology, settings: Settings) -> None:
    result = await _run(topology, settings, ActionType.CLEAR_CACHE, ClearCacheParams(key_prefix="payment:"))

    assert result.status is VerificationStatus.NO_CHANGE
    assert result.recommendation is Recommendation.ESCALATE


async def test_sandbox_outcomes_reach_counts(topology: Topology, settings: Settings) -> None:
    await _run(topology, settings, ActionType.RESTART_POD, RestartParams())
    await _run(topology, settings, ActionType.CLEAR_CACHE, ClearCacheParams(key_prefix="payment:"))

    tracker = LearningStores.from_settings(settings).confidence
    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 1)
    assert tracker.counts(Category.MEMORY_LEAK, ActionType.CLEAR_CACHE) == (0, 1)
