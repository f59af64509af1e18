"""Adjusted risk, costs, ranking, selection and prerequisites, against hand-worked values."""

from __future__ import annotations

import pytest

from airra.actions import CATALOGUE, ActionType
from airra.criticality import Criticality
from airra.execution.base import ServiceState
from airra.risk import ActionRiskRegistry, adjusted_risk, check_prerequisites, expected_cost, worst_case_cost
from airra.topology import Topology

A = ActionType


@pytest.fixture
def registry() -> ActionRiskRegistry:
    return ActionRiskRegistry()


def test_restart_on_critical_service() -> None:
    assert adjusted_risk(A.RESTART_POD, Criticality.CRITICAL) == 0.525


def test_restart_after_four_minutes_down() -> None:
    # 0.35 × 1.5 − min(0.30, 4 ÷ 20) = 0.525 − 0.20
    assert adjusted_risk(A.RESTART_POD, "critical", current_downtime_seconds=240) == 0.325


def test_downtime_credit_caps_at_030() -> None:
    # 60 minutes would be a credit of 3.0; it stops at 0.30. 0.50 × 1.2 − 0.30 = 0.30
    assert adjusted_risk(A.ROLLBACK_DEPLOYMENT, "high", current_downtime_seconds=3600) == 0.30


def test_adjusted_risk_clamps_at_zero() -> None:
    assert adjusted_risk(A.SCALE_UP, "low", current_downtime_seconds=600) == 0.0


@pytest.mark.parametrize(("action", "expected", "worst"), [
    (A.SCALE_UP, 0.0, 15.0),
    (A.CLEAR_CACHE, 0.0, 60.0),
    (A.TOGGLE_FEATURE_FLAG, 0.0, 75.0),
    (A.SCALE_DOWN, 0.0, 350.0),
    (A.RESTART_POD, 16.67, 800.0),
    (A.ROLLBACK_DEPLOYMENT, 500.0, 20_000.0),
    (A.DRAIN_NODE, 0.0, 90_000.0),
])
def test_costs_at_multiplier_one(action: ActionType, expected: float, worst: float) -> None:
    assert round(expected_cost(action, 1.0), 2) == expected
    assert round(worst_case_cost(action, 1.0), 2) == worst


def test_restart_costs_at_multiplier_two(registry: ActionRiskRegistry) -> None:
    assert round(registry.calculate_expected_cost(A.RESTART_POD, 2.0), 2) == 33.33
    assert registry.calculate_worst_case_cost(A.RESTART_POD, 2.0) == pytest.approx(1600.0)


def test_select_best_quotes_risk_and_costs(registry: ActionRiskRegistry) -> None:
    best, reasoning = registry.select_best_action([A.RESTART_POD, A.SCALE_UP], "high", 2.5, min_confidence=0.6)
    assert best is A.SCALE_UP
    assert reasoning == "Selected scale_up (adjusted risk 0.06, expected cost $0.00, worst case $37.50)"


def test_select_best_gates_on_confidence(registry: ActionRiskRegistry) -> None:
    best, reasoning = registry.select_best_action([A.SCALE_UP], "medium", 1.0, min_confidence=0.6, confidence=0.59)
    assert best is None
    assert "confidence 0.59 is below the minimum 0.60" in reasoning
    best, _ = registry.select_best_action([A.SCALE_UP], "medium", 1.0, min_confidence=0.6, confidence=0.60)
    assert best is A.SCALE_UP


def test_min_confidence_filters_by_success_prior(registry: ActionRiskRegistry) -> None:
    # Without a diagnosis confidence, the success prior is the gate: clear_cache (0.65) fails 0.70.
    best, _ = registry.select_best_action([A.CLEAR_CACHE, A.ROLLBACK_DEPLOYMENT], "medium", 1.0, min_confidence=0.70)
    assert best is A.ROLLBACK_DEPLOYMENT
    best, reasoning = registry.select_best_action([A.CLEAR_CACHE, A.DRAIN_NODE], "medium", 1.0, min_confidence=0.70)
    assert best is None
    assert "below the minimum 0.70" in reasoning


def test_select_best_without_candidates(registry: ActionRiskRegistry) -> None:
    assert registry.select_best_action([], "medium", 1.0, min_confidence=0.0) == (
        None, "no action selected: there are no candidate actions")


def test_rank_ignores_input_order(registry: ActionRiskRegistry) -> None:
    forward = registry.rank_actions_by_risk(list(A), "high")
    backward = registry.rank_actions_by_risk(list(reversed(list(A))), "high")
    assert [r.action_type for r in forward] == [r.action_type for r in backward]
    assert [r.action_type for r in forward] == [
        A.SCALE_UP, A.CLEAR_CACHE, A.TOGGLE_FEATURE_FLAG, A.SCALE_DOWN, A.RESTART_POD,
        A.ROLLBACK_DEPLOYMENT, A.DRAIN_NODE]
    assert [r.adjusted_risk for r in forward] == [0.06, 0.12, 0.24, 0.30, 0.42, 0.60, 0.72]


def test_rank_ties_break_by_base_risk_then_name(registry: ActionRiskRegistry) -> None:
    # After 10 minutes on a low service, scale_up, clear_cache and toggle all clamp to 0.
    ranked = registry.rank_actions_by_risk([A.TOGGLE_FEATURE_FLAG, A.CLEAR_CACHE, A.SCALE_UP], "low", 600)
    assert [r.adjusted_risk for r in ranked] == [0.0, 0.0, 0.0]
    assert [r.action_type for r in ranked] == [A.SCALE_UP, A.CLEAR_CACHE, A.TOGGLE_FEATURE_FLAG]


def test_unknown_criticality_word(registry: ActionRiskRegistry) -> None:
    with pytest.raises(ValueError, match="unknown criticality 'severe'; use one of: low, medium, high, critical"):
        registry.rank_actions_by_risk([A.SCALE_UP], "severe")


def test_catalogue_numbers_are_consistent() -> None:
    risks = [CATALOGUE[a].risk_score for a in A]
    assert risks == [0.05, 0.10, 0.20, 0.25, 0.35, 0.50, 0.60]
    for profile in CATALOGUE.values():
        assert profile.expected_downtime_s <= profile.worst_case_downtime_s
        assert profile.undo
        if not profile.reversible:
            assert profile.undo.startswith("none")


def test_prerequisites_from_state(topology: Topology) -> None:
    service = topology.service("payment-service")  # max_replicas 12, min 3
    state = ServiceState(service="payment-service", replicas=12, ready_replicas=1, previous_revision=None)

    scale_up = check_prerequisites(A.SCALE_UP, service, state)
    assert scale_up.missing == ["replicas below max_replicas: already at max_replicas (12)"]
    assert scale_up.unverified == ["spare cluster capacity"]
    assert not scale_up.all_met

    restart = check_prerequisites(A.RESTART_POD, service, state)
    assert restart.missing == ["at least 2 ready replicas: only 1 ready replica(s)"]

    rollback = check_prerequisites(A.ROLLBACK_DEPLOYMENT, service, state)
    assert rollback.missing == ["previous revision exists: no earlier revision to roll back to"]

    toggle = check_prerequisites(A.TOGGLE_FEATURE_FLAG, service, state)
    assert toggle.met == ["feature flag exists"]


def test_prerequisites_met(topology: Topology) -> None:
    service = topology.service("payment-service")
    state = ServiceState(service="payment-service", replicas=3, ready_replicas=3, previous_revision=6)
    assert check_prerequisites(A.SCALE_UP, service, state).met == ["replicas below max_replicas"]
    assert check_prerequisites(A.SCALE_DOWN, service, state).missing == [
        "replicas above min_replicas: already at min_replicas (3)"]
    assert check_prerequisites(A.ROLLBACK_DEPLOYMENT, service, state).met == ["previous revision exists"]


def test_prerequisites_without_state_are_unverified(topology: Topology) -> None:
    check = check_prerequisites(A.RESTART_POD, topology.service("orders"), None)
    assert check.met == []
    assert check.missing == []
    assert check.unverified == ["at least 2 ready replicas", "readiness probes configured"]


def test_clear_cache_needs_a_prefix(topology: Topology) -> None:
    check = check_prerequisites(A.CLEAR_CACHE, topology.service("orders"), ServiceState(service="orders"))
    assert check.missing == ["cache key prefix or clear hook configured: "
                             "set cache_key_prefix or cache_clear_url in the services file"]
