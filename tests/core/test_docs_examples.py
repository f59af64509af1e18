"""docs/formulas.md: every table and worked example there is rendered here from the code.

Run this module as a script to print the blocks when the doc needs updating:
``python -m tests.core.test_docs_examples``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from airra.actions import CATALOGUE, ActionType
from airra.blast_radius import (
    ACT_NOW_MIN_CONFIDENCE,
    ACT_SOON_MIN_CONFIDENCE,
    LEVEL_TABLE,
    BlastLevel,
    BlastRadiusCalculator,
    act_decision,
    blast_level,
    blast_score,
    render_blast_report,
    urgency_multiplier,
)
from airra.categories import Category
from airra.criticality import CRITICALITY_TABLE, Criticality
from airra.diagnosis import (
    ALERT_RULES,
    BASE_CONFIDENCE,
    METRIC_BASELINES,
    EvidenceSignal,
    confidence_terms,
)
from airra.execution.base import ServiceState
from airra.metrics import Signal
from airra.proposal import approval_for
from airra.risk import ActionRiskRegistry, adjusted_risk, expected_cost, worst_case_cost
from airra.settings import Settings
from airra.simulation import (
    DEFAULT_EFFECTIVENESS,
    EFFECTIVENESS,
    WhatIfSimulator,
    posterior_probability,
    prior_probability,
)

from tests.core.conftest import make_topology
from tests.core.fakes import TableMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "formulas.md"
READY = ServiceState(service="svc", replicas=3, ready_replicas=3, revision=5, previous_revision=4,
                     nodes=["node-a", "node-b"], ready_nodes=3)


def money(value: float) -> str:
    return f"${value:,.2f}"


def render_criticality_table() -> str:
    rows = ["| Criticality | Blast weight | Risk multiplier |", "|---|---|---|"]
    rows += [f"| {c.value} | {weight:g} | {multiplier:g} |" for c, (weight, multiplier) in CRITICALITY_TABLE.items()]
    return "\n".join(rows)


def render_catalogue_table() -> str:
    rows = ["| Action | Risk | Expected down (s) | Worst down (s) | Recovery (s) | Scope | $/min "
            "| Expected / worst cost at m = 1 | Success prior | Disruptive | Undo |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for action, profile in CATALOGUE.items():
        rows.append(
            f"| {action.value} | {profile.risk_score:.2f} | {profile.expected_downtime_s:g} "
            f"| {profile.worst_case_downtime_s:g} | {profile.recovery_time_s:g} | {profile.scope.value} "
            f"| {profile.cost_per_minute:g} | {money(expected_cost(action, 1))} / {money(worst_case_cost(action, 1))} "
            f"| {profile.execution_success_prior:.2f} | {'yes' if profile.disruptive else 'no'} | {profile.undo} |")
    return "\n".join(rows)


def render_prerequisite_table() -> str:
    rows = ["| Action | Prerequisites | Side effects |", "|---|---|---|"]
    rows += [f"| {action.value} | {'; '.join(profile.prerequisites)} | {'; '.join(profile.side_effects)} |"
             for action, profile in CATALOGUE.items()]
    return "\n".join(rows)


def render_level_table() -> str:
    rows = ["| Level | Score | Urgency base | Urgency range | Act |", "|---|---|---|---|---|"]
    levels = list(LEVEL_TABLE.items())
    for index, (level, (lower, base)) in enumerate(levels):
        upper = levels[index + 1][1][0] if index + 1 < len(levels) else 1.0
        band = f"≥ {lower:g}" if index + 1 == len(levels) else f"{lower:g} to < {upper:g}"
        start = f"{urgency_multiplier(lower):.2f}"
        end = f"{urgency_multiplier(upper if index + 1 == len(levels) else upper - 1e-9):.2f}"
        span = start if start == end else f"{start} to {end}"
        if level in ACT_NOW_MIN_CONFIDENCE:
            act = (f"now, if confidence ≥ {ACT_NOW_MIN_CONFIDENCE[level]:.2f}" if ACT_NOW_MIN_CONFIDENCE[level]
                   else "now, at any confidence")
        elif level in ACT_SOON_MIN_CONFIDENCE:
            act = f"soon, if confidence ≥ {ACT_SOON_MIN_CONFIDENCE[level]:.2f}"
        else:
            act = "observe"
        rows.append(f"| {level.value} | {band} | {base:g} | {span} | {act} |")
    return "\n".join(rows)


BLAST_EXAMPLES = [
    (0, 10.0, 0.0, Criticality.HIGH),
    (3, 50.0, 1 / 3, Criticality.CRITICAL),
    (5, 120.0, 0.4, Criticality.HIGH),
    (8, 200.0, 0.75, Criticality.CRITICAL),
]


def render_blast_examples() -> str:
    rows = ["| n | QPS | Propagation | Criticality | Terms | S | Level | Urgency | Users | $/h |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for n, qps, propagation, criticality in BLAST_EXAMPLES:
        score, terms = blast_score(n, qps, propagation, criticality)
        users = round(qps * 10)
        rows.append(f"| {n} | {qps:g} | {propagation:.4f} | {criticality.value} "
                    f"| {' + '.join(f'{t:.4f}' for t in terms)} | {score:.4f} | {blast_level(score).value} "
                    f"| {urgency_multiplier(score):.2f} | {users:,} | {money(users * 0.01)} |")
    return "\n".join(rows)


def render_blast_report_example() -> str:
    topology = make_topology(
        {"name": "orders", "criticality": "critical"},
        {"name": "checkout", "depends_on": ["orders"]},
        {"name": "web", "depends_on": ["checkout"]},
        {"name": "mobile", "depends_on": ["checkout"]},
    )
    metrics = TableMetrics({
        "orders": {Signal.REQUEST_RATE: 50.0},
        "checkout": {Signal.ERROR_RATIO: 0.04, Signal.REQUEST_RATE: 30.0},
        "web": {Signal.ERROR_RATIO: 0.002, Signal.REQUEST_RATE: 20.0},
    })
    assessment = asyncio.run(BlastRadiusCalculator(topology, metrics).calculate_blast_radius("orders"))
    return "```\n" + render_blast_report(assessment) + "\n```"


def render_act_examples() -> str:
    cases = [(BlastLevel.CRITICAL, 0.20), (BlastLevel.HIGH, 0.75), (BlastLevel.HIGH, 0.65),
             (BlastLevel.MEDIUM, 0.85), (BlastLevel.LOW, 0.95)]
    return "\n".join(f"- {level.value}, confidence {confidence:.2f} → {act_decision(level, confidence).reasoning}"
                     for level, confidence in cases)


def render_risk_examples() -> str:
    registry = ActionRiskRegistry()
    _, reasoning = registry.select_best_action([ActionType.RESTART_POD, ActionType.SCALE_UP], "high", 2.5, 0.6)
    return "\n".join([
        f"- restart_pod on a critical service: 0.35 × 1.5 = {adjusted_risk(ActionType.RESTART_POD, 'critical'):.3f}",
        f"- the same after 4 minutes down: 0.525 − min(0.30, 4 ÷ 20) = "
        f"{adjusted_risk(ActionType.RESTART_POD, 'critical', 240):.3f}",
        f"- rollback_deployment on a high service after 60 minutes down: 0.50 × 1.2 − 0.30 = "
        f"{adjusted_risk(ActionType.ROLLBACK_DEPLOYMENT, 'high', 3600):.3f}",
        f"- restart_pod at m = 2: expected 10/60 × 100 × 2 = {money(expected_cost(ActionType.RESTART_POD, 2))}, "
        f"worst case (300 + 180)/60 × 100 × 2 = {money(worst_case_cost(ActionType.RESTART_POD, 2))}",
        f"- select_best_action([restart_pod, scale_up], high, m = 2.5): {reasoning}",
    ])


def render_base_table() -> str:
    rows = ["| Category | Base |", "|---|---|"]
    rows += [f"| {category.value} | {base:.2f} |" for category, base in BASE_CONFIDENCE.items()]
    return "\n".join(rows)


def render_baseline_table() -> str:
    rows = ["| Signal | Baseline | Spread (one z) | Evidence from |", "|---|---|---|---|"]
    for signal, (baseline, spread) in METRIC_BASELINES.items():
        direction = "below" if baseline == 1.0 and signal.value == "availability" else "above"
        threshold = baseline - 2 * spread if direction == "below" else baseline + 2 * spread
        rows.append(f"| {signal.value} ({signal.unit}) | {baseline:g} | {spread:g} | {direction} {threshold:g} |")
    return "\n".join(rows)


def render_alert_rules() -> str:
    rows = ["| Alert name matches (first wins, case-insensitive) | Categories (match strength) |", "|---|---|"]
    for pattern, rule in ALERT_RULES:
        text = pattern.pattern.replace("(?-i:OOM)", "OOM (case-sensitive)").replace("|", " \\| ")
        rows.append(f"| `{text}` | {', '.join(f'{c.value} ({s:.1f})' for c, s in rule)} |")
    return "\n".join(rows)


def memory_leak_signals() -> list[EvidenceSignal]:
    return [
        EvidenceSignal(kind="alert", text="alert ContainerOOMKilled (warning)", match_strength=0.9,
                       anomaly_confidence=0.7),
        EvidenceSignal(kind="metric", text="memory_growth 0.08/h", match_strength=0.9, anomaly_confidence=1.0, z=4.0),
        EvidenceSignal(kind="metric", text="memory_utilization 0.92", match_strength=0.5, anomaly_confidence=0.8,
                       z=3.2),
        EvidenceSignal(kind="metric", text="restarts 3", match_strength=0.4, anomaly_confidence=0.75, z=3.0),
    ]


def render_confidence_example() -> str:
    terms = confidence_terms(Category.MEMORY_LEAK, memory_leak_signals(), 0.0, 0.0)
    return "\n".join([
        f"- evidence = 0.6 × mean(0.9, 0.9, 0.5, 0.4) + min(0.15, 0.05 × 2) + min(0.10, 0.03 × 4) "
        f"= {terms['evidence']:.4f}",
        f"- anomaly = 0.7 × mean(0.7, 1.0, 0.8, 0.75) + 0.3 × min(1, 4 ÷ 6) = {terms['anomaly']:.5f}",
        f"- confidence = 0.40 × 0.70 + 0.35 × {terms['evidence']:.4f} + 0.25 × {terms['anomaly']:.5f} + 0 + 0 "
        f"= {terms['confidence']:.4f}",
    ])


def render_effectiveness_table() -> str:
    rows = ["| Category | Effectiveness (action: value) |", "|---|---|"]
    for category, table in EFFECTIVENESS.items():
        cells = ", ".join(f"{action.value} {value:.2f}" for action, value in table.items()) or "none"
        rows.append(f"| {category.value} | {cells} |")
    rows.append(f"| any other pair | {DEFAULT_EFFECTIVENESS:.2f} |")
    return "\n".join(rows)


def render_posterior_examples() -> str:
    prior = prior_probability(Category.MEMORY_LEAK, ActionType.RESTART_POD)
    return "\n".join([
        f"- memory_leak / restart_pod: p0 = 0.70 × 0.70 = {prior:.2f}",
        f"- after 4 successes in 4 trials (under 5 trials, history unused): P_fix = {posterior_probability(prior, 4, 4):.3f}",
        f"- after 8 successes in 10 trials: P_fix = (10 × 0.49 + 8) ÷ (10 + 10) = "
        f"{posterior_probability(prior, 8, 10):.3f}",
        f"- after 2 successes in 10 trials: P_fix = (4.9 + 2) ÷ 20 = {posterior_probability(prior, 2, 10):.3f}",
    ])


def simulate_all(category: Category):
    simulator = WhatIfSimulator(ActionRiskRegistry())
    return asyncio.run(simulator.simulate_actions("svc", category, list(ActionType), None, None, "medium",
                                                  service_state=READY))


def render_winner_table() -> str:
    rows = ["| Category | Winner | P_fix | Adjusted risk | Utility |", "|---|---|---|---|---|"]
    for category in Category:
        comparison = simulate_all(category)
        if comparison.best_action is None:
            top = comparison.actions[0]
            rows.append(f"| {category.value} | none (best: {top.action_type.value}, P_fix "
                        f"{top.success_probability:.4f}) | | | |")
            continue
        best = comparison.actions[0]
        rows.append(f"| {category.value} | {best.action_type.value} | {best.success_probability:.4f} "
                    f"| {best.adjusted_risk:.3f} | {best.utility:.4f} |")
    return "\n".join(rows)


def render_comparison_example() -> str:
    simulator = WhatIfSimulator(ActionRiskRegistry())
    comparison = asyncio.run(simulator.simulate_actions(
        "svc", Category.MEMORY_LEAK, [ActionType.SCALE_UP, ActionType.RESTART_POD], None, None, "medium",
        service_state=READY))
    return "```\n" + simulator.generate_comparison_report(comparison) + "\n```"


def render_policy_table() -> str:
    settings = Settings()
    rows = ["| Action | Worst case at m = 1 | medium service, confidence 0.90, act now | "
            "critical service, m = 5 |", "|---|---|---|---|"]
    decision = act_decision(BlastLevel.HIGH, 0.90)
    simulator = WhatIfSimulator(ActionRiskRegistry())
    for action in ActionType:
        medium = asyncio.run(simulator.simulate_actions("svc", Category.UNKNOWN, [action], None, None, "medium",
                                                        service_state=READY)).actions[0]
        critical = medium.model_copy(update={
            "adjusted_risk": adjusted_risk(action, "critical"), "worst_case_cost": worst_case_cost(action, 5.0)})
        first, _ = approval_for(medium, Criticality.MEDIUM, 0.90, decision, settings)
        second, _ = approval_for(critical, Criticality.CRITICAL, 0.90, decision, settings)
        rows.append(f"| {action.value} | {money(medium.worst_case_cost)} | {first.value} | {second.value} |")
    return "\n".join(rows)


BLOCKS = {
    "criticality table": render_criticality_table,
    "catalogue table": render_catalogue_table,
    "prerequisite table": render_prerequisite_table,
    "level table": render_level_table,
    "blast examples": render_blast_examples,
    "blast report example": render_blast_report_example,
    "act examples": render_act_examples,
    "risk examples": render_risk_examples,
    "base table": render_base_table,
    "baseline table": render_baseline_table,
    "alert rules": render_alert_rules,
    "confidence example": render_confidence_example,
    "effectiveness table": render_effectiveness_table,
    "posterior examples": render_posterior_examples,
    "winner table": render_winner_table,
    "comparison example": render_comparison_example,
    "policy table": render_policy_table,
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_doc_contains_block(name: str) -> None:
    block = BLOCKS[name]()
    assert block in DOC.read_text(encoding="utf-8"), f"docs/formulas.md is missing or has a stale {name}"


def test_policy_defaults_match_doc() -> None:
    defaults = Settings()
    doc = DOC.read_text(encoding="utf-8")
    assert f"`AIRRA_MIN_CONFIDENCE` ({defaults.min_confidence:.2f})" in doc
    assert f"`AIRRA_TWO_APPROVER_COST_USD` ({money(defaults.two_approver_cost_usd)[:-3]})" in doc
    assert f"`AIRRA_AUTO_MAX_RISK` ({defaults.auto_max_risk:.2f})" in doc
    assert f"`AIRRA_AUTO_MIN_CONFIDENCE` ({defaults.auto_min_confidence:.2f})" in doc


def test_confidence_example_matches_golden() -> None:
    assert confidence_terms(Category.MEMORY_LEAK, memory_leak_signals(), 0.0, 0.0)["confidence"] == pytest.approx(
        0.6839375)


if __name__ == "__main__":
    for block_name, render in BLOCKS.items():
        print(f"<!-- {block_name} -->\n{render()}\n")
