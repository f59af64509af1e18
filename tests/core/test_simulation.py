"""P_fix, utility and the winner per category, against hand-worked values."""

from __future__ import annotations

import pytest

from airra.actions import ActionType
from airra.categories import Category
from airra.execution.base import ServiceState
from airra.risk import ActionRiskRegistry
from airra.simulation import WhatIfSimulator, posterior_probability, prior_probability
from airra.topology import Topology
from tests.core.fakes import FixedHistory

A = ActionType
C = Category
ALL_ACTIONS = list(A)
READY = ServiceState(service="svc", replicas=3, ready_replicas=3, revision=5, previous_revision=4,
                     nodes=["node-a", "node-b"], ready_nodes=3)

# Winner and its utility, medium criticality, no history, every prerequisite met.
GOLDEN_WINNERS = [
    (C.MEMORY_LEAK, A.RESTART_POD, 0.315),
    (C.CPU_SPIKE, A.SCALE_UP, 0.655),
    (C.TRAFFIC_SPIKE, A.SCALE_UP, 0.655),
    (C.ERROR_SPIKE, A.ROLLBACK_DEPLOYMENT, 0.43),
    (C.DEPLOYMENT_REGRESSION, A.ROLLBACK_DEPLOYMENT, 0.47),
    (C.LATENCY_SPIKE, A.SCALE_UP, 0.40),
    (C.CACHE_ISSUE, A.CLEAR_CACHE, 0.4375),
    (C.DATABASE_ISSUE, A.RESTART_POD, 0.245),
    (C.NODE_FAILURE, A.DRAIN_NODE, 0.12),
]


@pytest.fixture
def simulator() -> WhatIfSimulator:
    return WhatIfSimulator(ActionRiskRegistry())


def test_prior_memory_leak_restart() -> None:
    assert prior_probability(C.MEMORY_LEAK, A.RESTART_POD) == pytest.approx(0.49)


def test_posterior_with_eight_of_ten() -> None:
    assert posterior_probability(0.49, 8, 10) == pytest.approx(0.645)


def test_posterior_ignores_fewer_than_five_trials() -> None:
    assert posterior_probability(0.49, 4, 4) == 0.49
    assert posterior_probability(0.49, 5, 5) == pytest.approx((4.9 + 5) / 15)


@pytest.mark.parametrize(("category", "winner", "utility"), GOLDEN_WINNERS)
async def test_golden_winner(simulator: WhatIfSimulator, category: Category, winner: ActionType,
                             utility: float) -> None:
    comparison = await simulator.simulate_actions("svc", category, ALL_ACTIONS, None, None, "medium",
                                                  service_state=READY)
    assert comparison.best_action is winner
    assert comparison.actions[0].utility == pytest.approx(utility)


@pytest.mark.parametrize("category", [C.NETWORK_ISSUE, C.DISK_PRESSURE, C.UNKNOWN])
async def test_no_winner(simulator: WhatIfSimulator, category: Category) -> None:
    comparison = await simulator.simulate_actions("svc", category, ALL_ACTIONS, None, None, "medium",
                                                  service_state=READY)
    assert comparison.best_action is None
    assert comparison.best_action_reasoning == "no candidate is recommended: escalate to a human"
    assert not any(action.recommended for action in comparison.actions)


async def test_memory_leak_does_not_pick_cheapest(simulator: WhatIfSimulator) -> None:
    comparison = await simulator.simulate_actions("svc", C.MEMORY_LEAK, [A.SCALE_UP, A.RESTART_POD], None, None,
                                                  "medium", service_state=READY)
    scale_up = next(a for a in comparison.actions if a.action_type is A.SCALE_UP)
    assert scale_up.success_probability == pytest.approx(0.255)
    assert not scale_up.recommended
    assert "success probability 26% is below 30%" in scale_up.reasoning
    assert comparison.best_action is A.RESTART_POD


async def test_history_changes_the_winner() -> None:
    # scale_up for a memory leak worked in 9 of 10 verified cases: (2.55 + 9) / 20 = 0.5775.
    history = FixedHistory({(C.MEMORY_LEAK, A.SCALE_UP): (9, 10)})
    simulator = WhatIfSimulator(ActionRiskRegistry(), history)
    comparison = await simulator.simulate_actions("svc", C.MEMORY_LEAK, [A.SCALE_UP, A.RESTART_POD], None, None,
                                                  "medium", service_state=READY)
    top = comparison.actions[0]
    assert top.action_type is A.SCALE_UP
    assert top.uses_history
    assert top.success_probability == pytest.approx(0.5775)
    assert top.utility == pytest.approx(0.5525)


async def test_missing_prerequisite_blocks(simulator: WhatIfSimulator) -> None:
    state = ServiceState(service="svc", replicas=3, ready_replicas=3, previous_revision=None)
    comparison = await simulator.simulate_actions("svc", C.DEPLOYMENT_REGRESSION,
                                                  [A.ROLLBACK_DEPLOYMENT, A.TOGGLE_FEATURE_FLAG], None, None,
                                                  "medium", service_state=state)
    rollback = next(a for a in comparison.actions if a.action_type is A.ROLLBACK_DEPLOYMENT)
    assert not rollback.recommended
    assert rollback.prerequisites_missing == ["previous revision exists: no earlier revision to roll back to"]
    # toggle: 0.75 × 0.5 = 0.375 − 0.5 × 0.20 = 0.275
    assert comparison.best_action is A.TOGGLE_FEATURE_FLAG
    assert comparison.actions[0].utility == pytest.approx(0.275)


async def test_protected_service_gets_no_disruptive_action(simulator: WhatIfSimulator, topology: Topology) -> None:
    redis = topology.service("redis")
    comparison = await simulator.simulate_actions("redis", C.CACHE_ISSUE, [A.RESTART_POD, A.CLEAR_CACHE], None, None,
                                                  redis.criticality, service_state=READY, service=redis)
    restart = next(a for a in comparison.actions if a.action_type is A.RESTART_POD)
    assert not restart.recommended
    assert "protected cache" in restart.reasoning
    assert comparison.best_action is A.CLEAR_CACHE


async def test_costs_use_blast_multiplier(simulator: WhatIfSimulator) -> None:
    from airra.blast_radius import BlastAssessment, BlastLevel
    from airra.criticality import Criticality

    blast = BlastAssessment(service="svc", score=0.5, level=BlastLevel.MEDIUM, downstream={},
                            affected_services_count=0, request_rate=1.0, effective_request_rate=1.0,
                            error_propagation=0.0, criticality=Criticality.HIGH, estimated_users_impacted=10,
                            revenue_impact_per_hour=0.1, urgency_multiplier=2.0, downstream_term=0.0,
                            volume_term=0.0, propagation_term=0.0, criticality_term=0.0)
    comparison = await simulator.simulate_actions("svc", C.MEMORY_LEAK, [A.RESTART_POD], None, blast, "high",
                                                  service_state=READY)
    restart = comparison.actions[0]
    assert round(restart.expected_cost, 2) == 33.33
    assert restart.worst_case_cost == pytest.approx(1600.0)
    # 0.49 − 0.5 × 0.42
    assert restart.utility == pytest.approx(0.28)


async def test_report_layout(simulator: WhatIfSimulator) -> None:
    comparison = await simulator.simulate_actions("svc", C.MEMORY_LEAK, [A.SCALE_UP, A.RESTART_POD], None, None,
                                                  "medium", service_state=READY)
    report = simulator.generate_comparison_report(comparison)
    lines = report.splitlines()
    assert lines[1] == "WHAT-IF SIMULATION: ACTION COMPARISON"
    assert "Service: svc" in lines
    assert "Incident: memory_leak" in lines
    assert "1. RESTART POD" in lines
    assert "   Status: ✓ RECOMMENDED" in lines
    assert "2. SCALE UP" in lines
    assert "   Status: ✗ NOT RECOMMENDED" in lines
    assert "BEST ACTION: RESTART_POD" in lines
    assert "   Expected Cost: $16.67 (worst: $800.00)" in lines
