"""Blast score, levels, urgency and act-now decisions, against hand-worked values."""

from __future__ import annotations

import pytest

from airra.blast_radius import (
    BlastLevel,
    BlastRadiusCalculator,
    act_decision,
    blast_level,
    blast_score,
    render_blast_report,
    urgency_multiplier,
)
from airra.criticality import Criticality
from airra.errors import UnknownServiceError
from airra.metrics import Signal
from airra.topology import Topology
from tests.core.conftest import make_topology
from tests.core.fakes import TableMetrics

# n, QPS, propagation, criticality -> score, level, urgency (2 dp), users, $/h at 10 users/rps and $0.01/user/h
GOLDEN = [
    (0, 10, 0.0, Criticality.HIGH, 0.1650, BlastLevel.MINIMAL, 1.08, 100, 1.0),
    (3, 50, 1 / 3, Criticality.CRITICAL, 0.4983, BlastLevel.MEDIUM, 2.75, 500, 5.0),
    (5, 120, 0.4, Criticality.HIGH, 0.6400, BlastLevel.HIGH, 3.82, 1200, 12.0),
    (8, 200, 0.75, Criticality.CRITICAL, 0.8775, BlastLevel.CRITICAL, 5.00, 2000, 20.0),
]


@pytest.mark.parametrize(("n", "qps", "propagation", "criticality", "score", "level", "urgency", "users", "revenue"),
                         GOLDEN)
def test_blast_golden_vectors(n, qps, propagation, criticality, score, level, urgency, users, revenue) -> None:
    computed, _ = blast_score(n, qps, propagation, criticality)
    assert round(computed, 4) == score
    assert blast_level(computed) is level
    assert round(urgency_multiplier(computed), 2) == urgency


def test_blast_terms_are_capped_at_their_weights() -> None:
    score, terms = blast_score(40, 5000, 1.0, Criticality.CRITICAL)
    assert terms == (0.30, 0.25, 0.25, 0.20)
    assert score == 1.0


@pytest.mark.parametrize(("score", "level"), [
    (0.0, BlastLevel.MINIMAL), (0.1999, BlastLevel.MINIMAL), (0.2, BlastLevel.LOW), (0.3999, BlastLevel.LOW),
    (0.4, BlastLevel.MEDIUM), (0.6, BlastLevel.HIGH), (0.7999, BlastLevel.HIGH), (0.8, BlastLevel.CRITICAL),
])
def test_blast_level_boundaries(score: float, level: BlastLevel) -> None:
    assert blast_level(score) is level


def test_level_boundary_survives_float_noise() -> None:
    # 0.30·(2/10) + 0.20·0.7 is 0.19999999999999998 in floating point, but the table puts 0.2 in LOW.
    score, _ = blast_score(2, 0, 0.0, Criticality.HIGH)
    assert score == 0.2
    assert blast_level(score) is BlastLevel.LOW


def test_urgency_at_level_edges() -> None:
    assert urgency_multiplier(0.0) == 1.0
    assert urgency_multiplier(0.2) == pytest.approx(1.6)
    assert urgency_multiplier(0.6) == pytest.approx(3.8)
    assert urgency_multiplier(0.8) == 5.0
    assert urgency_multiplier(1.0) == 5.0


async def test_calculator_medium_golden_vector(star_topology: Topology) -> None:
    metrics = TableMetrics({
        "core": {Signal.REQUEST_RATE: 50},
        "mid": {Signal.ERROR_RATIO: 0.05, Signal.REQUEST_RATE: 5},
        "edge": {Signal.ERROR_RATIO: 0.002, Signal.REQUEST_RATE: 5},
        "side": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 2},
    })
    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")

    assert assessment.downstream == {"mid": 1, "side": 1, "edge": 2}
    assert assessment.affected_services_count == 3
    assert assessment.elevated_downstream == ["mid"]
    assert assessment.error_propagation == pytest.approx(1 / 3)
    assert round(assessment.score, 4) == 0.4983
    assert assessment.level is BlastLevel.MEDIUM
    assert round(assessment.urgency_multiplier, 2) == 2.75
    assert assessment.estimated_users_impacted == 500
    assert assessment.revenue_impact_per_hour == 5.0
    assert assessment.assumptions == []


async def test_elevated_error_ratio_needs_traffic(star_topology: Topology) -> None:
    # 50 % errors at 0.05 req/s is one failed request in 40 s: not counted.
    metrics = TableMetrics({
        "core": {Signal.REQUEST_RATE: 0},
        "mid": {Signal.ERROR_RATIO: 0.5, Signal.REQUEST_RATE: 0.05},
        "edge": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 1},
        "side": {Signal.ERROR_RATIO: 0.01, Signal.REQUEST_RATE: 0.1},
    })
    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")
    assert assessment.elevated_downstream == ["side"]


async def test_unavailable_metrics_are_stated_and_assumed(star_topology: Topology) -> None:
    metrics = TableMetrics({"mid": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 3},
                            "side": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 3}})
    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")

    assert assessment.request_rate is None
    assert assessment.effective_request_rate == 100.0
    assert assessment.volume_term == 0.25
    assert assessment.elevated_downstream == ["edge"]
    assert len(assessment.assumptions) == 2
    assert "request rate of core unavailable (no series)" in assessment.assumptions[0]
    assert "downstream edge unavailable (no series); counted as elevated" in assessment.assumptions[1]
    # 0.30·0.3 + 0.25 + 0.25·(1/3) + 0.20 = 0.62333
    assert round(assessment.score, 4) == 0.6233
    assert assessment.estimated_users_impacted == 1000


async def test_leaf_service_has_no_propagation() -> None:
    topology = make_topology({"name": "solo", "criticality": "high"})
    metrics = TableMetrics({"solo": {Signal.REQUEST_RATE: 10}})
    assessment = await BlastRadiusCalculator(topology, metrics).calculate_blast_radius("solo")
    assert assessment.downstream == {}
    assert assessment.error_propagation == 0.0
    assert round(assessment.score, 4) == 0.1650
    assert assessment.level is BlastLevel.MINIMAL


async def test_cycle_terminates_with_hop_counts() -> None:
    topology = make_topology(
        {"name": "a", "depends_on": ["b"]},
        {"name": "b", "depends_on": ["c"]},
        {"name": "c", "depends_on": ["a"]},
    )
    metrics = TableMetrics()
    assessment = await BlastRadiusCalculator(topology, metrics).calculate_blast_radius("a")
    assert assessment.downstream == {"c": 1, "b": 2}


async def test_unknown_service_raises(star_topology: Topology) -> None:
    calculator = BlastRadiusCalculator(star_topology, TableMetrics())
    with pytest.raises(UnknownServiceError, match="'cor'.*Did you mean: core"):
        await calculator.calculate_blast_radius("cor")


async def test_sample_topology_payment_downstream(topology: Topology) -> None:
    downstream = topology.downstream("payment-service")
    assert downstream == {"orders": 1, "api-gateway": 2, "frontend": 3, "mobile-bff": 3}


@pytest.mark.parametrize(("level", "confidence", "act", "timing"), [
    (BlastLevel.CRITICAL, 0.05, True, "now"),
    (BlastLevel.HIGH, 0.70, True, "now"),
    (BlastLevel.HIGH, 0.69, False, "observe"),
    (BlastLevel.MEDIUM, 0.80, True, "soon"),
    (BlastLevel.MEDIUM, 0.79, False, "observe"),
    (BlastLevel.LOW, 0.99, False, "observe"),
    (BlastLevel.MINIMAL, 0.99, False, "observe"),
])
def test_act_decision_table(level: BlastLevel, confidence: float, act: bool, timing: str) -> None:
    decision = act_decision(level, confidence)
    assert decision.act is act
    assert decision.timing == timing
    assert level.value in decision.reasoning


async def test_blast_report_shows_terms(star_topology: Topology) -> None:
    metrics = TableMetrics({"core": {Signal.REQUEST_RATE: 50},
                            "mid": {Signal.ERROR_RATIO: 0.05, Signal.REQUEST_RATE: 5},
                            "edge": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 5},
                            "side": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 5}})
    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")
    report = render_blast_report(assessment)
    assert "MEDIUM (score 0.4983, urgency ×2.75)" in report
    assert "= 0.0900" in report
    assert "= 0.1250" in report
    assert "= 0.0833" in report
    assert "= 0.2000" in report
    assert "$5.00/h" in report
