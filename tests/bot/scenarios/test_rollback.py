"""A DEGRADED verification rolls a reversible action back and records the outcome."""

from __future__ import annotations

import json
from airra.categories import Category
from airra.execution.base import ActionRequest, ExecutionResult, ServiceState
from airra.execution.guards import GuardedExecutor
from airra.runtime import Runtime
from airra.sandbox.cluster import SandboxCluster
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    StartScenario,
    card_text,
)


class BreaksAfterExecuting:
    """Sandbox executor that injects a new fault right after each action, so the verification measures a degradation."""

    def __init__(self, cluster: SandboxCluster, service: str, category: Category) -> None:
        self.cluster = cluster
        self.service = service
        self.category = category
        self.rollbacks: list[ExecutionResult] = []

    async def service_state(self, service: str) -> ServiceState:
        return await self.cluster.service_state(service)

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        result = await self.cluster.execute(request)
        self.cluster.inject_fault(self.service, self.category, severity=1.0)
        return result

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        undo = await self.cluster.rollback(result)
        self.rollbacks.append(undo)
        return undo


async def test_degraded_outcome_rolls_back(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), runtime_wrapper=_breaking)
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    thread = scenario.thread_text(card)
    assert "Post-action verification: degraded" in thread
    assert "Rolled back automatically" in thread
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3
    rollbacks = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
                 if entry.kind is AuditKind.ROLLBACK]
    assert [entry.details["status"] for entry in rollbacks] == ["succeeded"]
    assert "rolled back automatically" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    [record] = [json.loads(line) for line in (scenario.data_dir / "confidence_tracking.jsonl").read_text().splitlines()]
    assert record["outcome_status"] == "degraded"
    assert record["outcome_success"] is False


def _breaking(runtime: Runtime) -> Runtime:
    cluster = runtime.sandbox
    assert isinstance(cluster, SandboxCluster)
    executor = BreaksAfterExecuting(cluster, "search", Category.ERROR_SPIKE)
    return Runtime(runtime.settings, runtime.topology, runtime.metrics, GuardedExecutor(executor, runtime.guards),
                   runtime.guards, sandbox=cluster)
