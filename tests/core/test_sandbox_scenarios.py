"""Proposals for injected faults on the sandbox cluster: the category's fix wins.

These run the whole decision core against the sandbox's executor state and
metrics, with no test double in between.
"""

from __future__ import annotations

import pytest

from airra.actions import ActionType
from airra.alerts import Alert, AlertSource, AlertStatus
from airra.categories import Category
from airra.proposal import ApprovalRequirement, Proposer
from airra.runtime import Runtime
from airra.settings import Settings

C = Category
A = ActionType

# service, injected fault (on another service when given), alert name, expected category, expected action
SCENARIOS = [
    ("catalog", C.MEMORY_LEAK, None, "KubeContainerOOMKilled", C.MEMORY_LEAK, A.RESTART_POD),
    ("search", C.CPU_SPIKE, None, "CPUThrottlingHigh", C.CPU_SPIKE, A.SCALE_UP),
    ("orders", C.DEPLOYMENT_REGRESSION, None, "HighErrorRate", C.DEPLOYMENT_REGRESSION, A.ROLLBACK_DEPLOYMENT),
    ("frontend", C.NODE_FAILURE, None, "KubeNodeNotReady", C.NODE_FAILURE, A.DRAIN_NODE),
    ("auth", C.DATABASE_ISSUE, "postgres-users", "HighLatency", C.DATABASE_ISSUE, A.RESTART_POD),
]


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize(("service", "fault", "fault_service", "alertname", "category", "action"), SCENARIOS)
async def test_sandbox_fault_gets_its_fix(settings: Settings, seed: int, service: str, fault: Category,
                                          fault_service: str | None, alertname: str, category: Category,
                                          action: ActionType) -> None:
    runtime = Runtime.build(settings, sandbox=True, seed=seed)
    runtime.sandbox.inject_fault(fault_service or service, fault)
    proposer = Proposer(runtime.topology, runtime.metrics, runtime.executor.service_state, settings)
    alert = Alert(source=AlertSource.MANUAL, status=AlertStatus.FIRING, alertname=alertname, service=service,
                  severity="warning", fingerprint=f"{service}-{alertname}")

    proposal = await proposer.propose(alert, incident_id=f"inc-{service}")

    assert proposal.hypotheses[0].category is category
    assert proposal.proposed_action is action
    assert proposal.params is not None
    assert proposal.approval is not ApprovalRequirement.NOT_PROPOSED


async def test_sandbox_rollback_targets_previous_revision(settings: Settings) -> None:
    runtime = Runtime.build(settings, sandbox=True, seed=0)
    runtime.sandbox.inject_fault("orders", C.DEPLOYMENT_REGRESSION)
    state = await runtime.executor.service_state("orders")
    proposer = Proposer(runtime.topology, runtime.metrics, runtime.executor.service_state, settings)
    alert = Alert(source=AlertSource.MANUAL, status=AlertStatus.FIRING, alertname="HighErrorRate", service="orders",
                  fingerprint="orders-errors")

    proposal = await proposer.propose(alert, incident_id="inc-rollback")

    assert proposal.params is not None
    assert proposal.params.model_dump()["to_revision"] == state.previous_revision
    assert proposal.approval is ApprovalRequirement.TWO_APPROVERS


@pytest.mark.parametrize(("service", "fault", "fault_service", "alertname", "category", "action"), SCENARIOS)
async def test_proposal_json_round_trip(settings: Settings, service: str, fault: Category, fault_service: str | None,
                                        alertname: str, category: Category, action: ActionType) -> None:
    runtime = Runtime.build(settings, sandbox=True, seed=0)
    runtime.sandbox.inject_fault(fault_service or service, fault)
    proposer = Proposer(runtime.topology, runtime.metrics, runtime.executor.service_state, settings)
    alert = Alert(source=AlertSource.MANUAL, status=AlertStatus.FIRING, alertname=alertname, service=service,
                  fingerprint="round-trip")
    proposal = await proposer.propose(alert, incident_id="inc-json")

    restored = type(proposal).model_validate_json(proposal.model_dump_json())

    assert restored == proposal
    assert type(restored.params) is type(proposal.params)
