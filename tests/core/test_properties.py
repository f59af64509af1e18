"""Bounds and monotonicity of the formulas, over generated inputs."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from airra.actions import ActionType
from airra.alerts import Alert, AlertSource, AlertStatus
from airra.blast_radius import LEVEL_TABLE, blast_level, blast_score, urgency_multiplier
from airra.categories import Category
from airra.criticality import Criticality
from airra.diagnosis import Diagnoser, EvidenceSignal, confidence_terms, evidence_term
from airra.metrics import Signal
from airra.risk import ActionRiskRegistry, adjusted_risk
from airra.simulation import WhatIfSimulator, posterior_probability
from tests.core.conftest import make_topology
from tests.core.fakes import TableMetrics

CRITICALITIES = list(Criticality)  # in increasing order of weight and multiplier
counts = st.integers(min_value=0, max_value=50)
rates = st.floats(min_value=0, max_value=10_000, allow_nan=False)
shares = st.floats(min_value=0, max_value=1, allow_nan=False)
scores = st.floats(min_value=0, max_value=1, allow_nan=False)
signals = st.builds(
    EvidenceSignal,
    kind=st.sampled_from(["alert", "label", "annotation", "metric", "rollout", "dependency", "operator"]),
    text=st.just("x"),
    match_strength=shares,
    anomaly_confidence=shares,
    z=st.none() | st.floats(min_value=-50, max_value=50, allow_nan=False),
)


@given(counts, rates, shares, st.sampled_from(CRITICALITIES))
def test_blast_score_bounded(n: int, qps: float, propagation: float, criticality: Criticality) -> None:
    score, terms = blast_score(n, qps, propagation, criticality)
    assert 0.0 <= score <= 1.0
    assert terms[0] <= 0.30
    assert terms[1] <= 0.25
    assert terms[2] <= 0.25
    assert terms[3] <= 0.20


@given(counts, counts, rates, rates, shares, shares, st.sampled_from(CRITICALITIES), st.sampled_from(CRITICALITIES))
def test_blast_score_monotonic(n1: int, n2: int, q1: float, q2: float, p1: float, p2: float,
                               c1: Criticality, c2: Criticality) -> None:
    low = blast_score(min(n1, n2), min(q1, q2), min(p1, p2), min(c1, c2, key=CRITICALITIES.index))[0]
    high = blast_score(max(n1, n2), max(q1, q2), max(p1, p2), max(c1, c2, key=CRITICALITIES.index))[0]
    assert low <= high


@given(scores, scores)
def test_urgency_and_level_monotonic(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 1.0 <= urgency_multiplier(low) <= urgency_multiplier(high) <= 5.0
    levels = list(LEVEL_TABLE)
    assert levels.index(blast_level(low)) <= levels.index(blast_level(high))


@given(st.sampled_from(list(ActionType)), st.sampled_from(CRITICALITIES), rates, rates)
def test_adjusted_risk_falls_with_downtime(action: ActionType, criticality: Criticality, d1: float, d2: float) -> None:
    shorter, longer = sorted((d1, d2))
    early = adjusted_risk(action, criticality, shorter)
    late = adjusted_risk(action, criticality, longer)
    assert 0.0 <= late <= early <= 1.0


@given(st.sampled_from(list(ActionType)), rates)
def test_adjusted_risk_rises_with_criticality(action: ActionType, downtime: float) -> None:
    risks = [adjusted_risk(action, criticality, downtime) for criticality in CRITICALITIES]
    assert risks == sorted(risks)


@given(shares, st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_posterior_bounded_and_monotonic(prior: float, a: int, b: int) -> None:
    trials = max(a, b, 5)
    fewer, more = sorted((min(a, trials), min(b, trials)))
    low = posterior_probability(prior, fewer, trials)
    high = posterior_probability(prior, more, trials)
    assert 0.0 <= low <= high <= 1.0


@given(st.lists(signals, max_size=8), st.sampled_from(list(Category)),
       st.sampled_from([0.15, 0.08, 0.0, -0.05]), st.floats(min_value=-1, max_value=1, allow_nan=False))
def test_confidence_bounded(items: list[EvidenceSignal], category: Category, topology: float,
                            learned: float) -> None:
    terms = confidence_terms(category, items, topology, learned)
    assert 0.01 <= terms["confidence"] <= 0.99
    assert evidence_term(items) <= 0.85 + 1e-12
    assert -0.10 <= terms["learned"] <= 0.10


@settings(max_examples=30)
@given(st.permutations(list(ActionType)), st.sampled_from(list(Category)))
def test_simulation_ignores_candidate_order(order: list[ActionType], category: Category) -> None:
    simulator = WhatIfSimulator(ActionRiskRegistry())
    baseline = asyncio.run(simulator.simulate_actions("svc", category, list(ActionType), None, None, "medium"))
    shuffled = asyncio.run(simulator.simulate_actions("svc", category, order, None, None, "medium"))
    assert [a.action_type for a in shuffled.actions] == [a.action_type for a in baseline.actions]
    assert shuffled.best_action is baseline.best_action


ALERT_NAMES = ["KubePodCrashLooping", "CPUThrottlingHigh", "HighErrorRate", "NodeNotReady", "Watchdog",
               "PostgresqlDown", "KubeDeploymentReplicasMismatch", "NodeFilesystemSpaceFillingUp"]
METRIC_VALUES = st.dictionaries(
    st.sampled_from([s for s in Signal]),
    st.floats(min_value=0, max_value=5000, allow_nan=False),
    max_size=len(Signal),
)


@settings(max_examples=60)
@given(st.sampled_from(ALERT_NAMES), METRIC_VALUES, METRIC_VALUES)
def test_diagnosis_ranks_one_to_three(alertname: str, own: dict[Signal, float], dependency: dict[Signal, float]) -> None:
    topology = make_topology({"name": "api", "depends_on": ["db"]}, {"name": "db", "kind": "database"})
    metrics = TableMetrics({"api": own, "db": dependency})
    alert = Alert(source=AlertSource.MANUAL, status=AlertStatus.FIRING, alertname=alertname, service="api",
                  fingerprint="p")
    hypotheses = asyncio.run(Diagnoser(topology, metrics).diagnose(alert, incident_id="prop"))

    assert 1 <= len(hypotheses) <= 3
    confidences = [h.confidence for h in hypotheses]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.01 <= c <= 0.99 for c in confidences)
    assert len({h.category for h in hypotheses}) == len(hypotheses)
