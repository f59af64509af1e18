"""What-if simulation: compare candidate actions before running one.

For each (category, action) pair the probability that the action fixes the
incident is a Beta-Binomial posterior:

    p0    = execution success prior × effectiveness(category, action)
    P_fix = (10·p0 + s) ÷ (10 + n)      once n ≥ 5 verified trials, else p0

and candidates are ranked by utility = P_fix − 0.5 × adjusted risk, so the
action that fits the category wins over the merely cheap one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from airra.actions import ActionType, Scope, profile_of
from airra.blast_radius import BlastAssessment
from airra.categories import Category
from airra.criticality import Criticality
from airra.execution.base import ServiceState
from airra.metrics import MetricsSnapshot
from airra.risk import ActionRiskRegistry, check_prerequisites, parse_criticality
from airra.topology import Service

log = logging.getLogger(__name__)

PRIOR_STRENGTH = 10.0  # pseudo-trials of the Beta prior
MIN_TRIALS_FOR_HISTORY = 5
RISK_PENALTY = 0.5
MIN_SUCCESS_PROBABILITY = 0.30
DEFAULT_EFFECTIVENESS = 0.15  # any pair not in the table: low, so unrelated cheap actions do not compete

EFFECTIVENESS: dict[Category, dict[ActionType, float]] = {
    Category.MEMORY_LEAK: {ActionType.RESTART_POD: 0.70, ActionType.SCALE_UP: 0.30},
    Category.CPU_SPIKE: {ActionType.SCALE_UP: 0.80, ActionType.RESTART_POD: 0.40},
    Category.ERROR_SPIKE: {ActionType.ROLLBACK_DEPLOYMENT: 0.85, ActionType.RESTART_POD: 0.50,
                           ActionType.TOGGLE_FEATURE_FLAG: 0.40},
    Category.DATABASE_ISSUE: {ActionType.RESTART_POD: 0.60},
    Category.CACHE_ISSUE: {ActionType.CLEAR_CACHE: 0.75, ActionType.RESTART_POD: 0.30},
    Category.TRAFFIC_SPIKE: {ActionType.SCALE_UP: 0.80, ActionType.TOGGLE_FEATURE_FLAG: 0.40},
    Category.DEPLOYMENT_REGRESSION: {ActionType.ROLLBACK_DEPLOYMENT: 0.90, ActionType.TOGGLE_FEATURE_FLAG: 0.50,
                                     ActionType.RESTART_POD: 0.20},
    Category.LATENCY_SPIKE: {ActionType.SCALE_UP: 0.50, ActionType.RESTART_POD: 0.40,
                             ActionType.CLEAR_CACHE: 0.25},
    Category.NETWORK_ISSUE: {ActionType.RESTART_POD: 0.30},
    Category.DISK_PRESSURE: {ActionType.DRAIN_NODE: 0.40, ActionType.RESTART_POD: 0.30},
    Category.NODE_FAILURE: {ActionType.DRAIN_NODE: 0.70},
    Category.UNKNOWN: {},
}


class OutcomeHistory(Protocol):
    """Verified outcomes of past actions, implemented by the learning loop."""

    def counts(self, category: Category, action: ActionType) -> tuple[int, int]:
        """Return (verified successes, verified trials) for the pair."""
        ...


def effectiveness(category: Category, action: ActionType) -> float:
    """Return how well an action addresses a category, from the effectiveness table."""
    return EFFECTIVENESS.get(category, {}).get(action, DEFAULT_EFFECTIVENESS)


def prior_probability(category: Category, action: ActionType) -> float:
    """Return p0 = execution success prior × effectiveness."""
    return profile_of(action).execution_success_prior * effectiveness(category, action)


def posterior_probability(prior: float, successes: int, trials: int) -> float:
    """Return the Beta-Binomial posterior mean (10·p0 + s) ÷ (10 + n), or p0 under 5 trials."""
    if trials < MIN_TRIALS_FOR_HISTORY:
        return prior
    return (PRIOR_STRENGTH * prior + successes) / (PRIOR_STRENGTH + trials)


class SimulatedAction(BaseModel):
    """The predicted outcome of one candidate action."""

    action_type: ActionType
    success_probability: float = Field(ge=0, le=1, description="P_fix")
    prior_probability: float = Field(ge=0, le=1, description="p0 = success prior × effectiveness")
    effectiveness: float
    history_successes: int = 0
    history_trials: int = 0
    uses_history: bool = Field(description="True when P_fix comes from ≥ 5 verified outcomes")
    expected_improvement: float = Field(description="share of the symptom expected to go: P_fix, "
                                        "assuming a successful action removes it fully")
    base_risk: float
    adjusted_risk: float
    utility: float = Field(description="P_fix − 0.5 × adjusted risk")
    expected_downtime_s: float
    worst_case_downtime_s: float
    recovery_time_s: float
    expected_cost: float
    worst_case_cost: float
    scope: Scope
    reversible: bool
    undo: str
    prerequisites_met: list[str] = Field(default_factory=list)
    prerequisites_missing: list[str] = Field(default_factory=list)
    prerequisites_unverified: list[str] = Field(default_factory=list)
    side_effects: list[str] = Field(default_factory=list)
    recommended: bool
    reasoning: str


class SimulationComparison(BaseModel):
    """All simulated candidates for one service and category, best first."""

    service: str
    category: Category
    blast: BlastAssessment | None
    criticality: Criticality
    blast_multiplier: float
    actions: list[SimulatedAction]
    best_action: ActionType | None
    best_action_reasoning: str


class WhatIfSimulator:
    """Simulates candidate actions and picks the best by utility."""

    def __init__(self, registry: ActionRiskRegistry, history: OutcomeHistory | None = None) -> None:
        self.registry = registry
        self.history = history

    async def simulate_actions(
        self,
        service_name: str,
        incident_category: Category | str,
        candidate_actions: Sequence[ActionType],
        current_metrics: MetricsSnapshot | None,
        blast_radius: BlastAssessment | None,
        service_criticality: Criticality | str,
        service_state: ServiceState | None = None,
        service: Service | None = None,
        *,
        current_downtime_seconds: float = 0,
        incident_id: str | None = None,
    ) -> SimulationComparison:
        """Simulate each candidate and rank them: recommended first, then utility, risk and name.

        ``current_metrics`` is accepted for callers that have it; the
        prediction depends only on the category, the catalogue, the history
        and the service state.
        """
        category = Category(incident_category)
        criticality = parse_criticality(service_criticality)
        multiplier = blast_radius.urgency_multiplier if blast_radius is not None else 1.0

        simulated = [
            self._simulate_one(action, category, criticality, multiplier, service_state, service,
                               current_downtime_seconds)
            for action in dict.fromkeys(candidate_actions)
        ]
        simulated.sort(key=lambda item: (not item.recommended, -item.utility, item.adjusted_risk,
                                         item.action_type.value))

        best = simulated[0] if simulated and simulated[0].recommended else None
        if best is not None:
            best_reasoning = best.reasoning
        elif not simulated:
            best_reasoning = "no candidate actions: escalate to a human"
        else:
            best_reasoning = "no candidate is recommended: escalate to a human"

        log.info("incident %s: simulated %d actions for %s (%s); best %s",
                 incident_id, len(simulated), service_name, category.value,
                 best.action_type.value if best else "none")
        return SimulationComparison(
            service=service_name,
            category=category,
            blast=blast_radius,
            criticality=criticality,
            blast_multiplier=multiplier,
            actions=simulated,
            best_action=best.action_type if best else None,
            best_action_reasoning=best_reasoning,
        )

    def _simulate_one(
        self,
        action: ActionType,
        category: Category,
        criticality: Criticality,
        multiplier: float,
        state: ServiceState | None,
        service: Service | None,
        downtime_s: float,
    ) -> SimulatedAction:
        profile = profile_of(action)
        prior = prior_probability(category, action)
        successes, trials = self.history.counts(category, action) if self.history is not None else (0, 0)
        probability = posterior_probability(prior, successes, trials)
        risk = self.registry.adjusted_risk(action, criticality, downtime_s)
        utility = round(probability - RISK_PENALTY * risk, 10)
        prerequisites = check_prerequisites(action, service, state)
        expected = self.registry.calculate_expected_cost(action, multiplier)
        worst = self.registry.calculate_worst_case_cost(action, multiplier)

        blockers: list[str] = []
        if service is not None and service.protected and profile.disruptive:
            blockers.append(f"{service.name} is a protected {service.kind.value}; disruptive actions are never proposed")
        if prerequisites.missing:
            blockers.append("prerequisites missing: " + "; ".join(prerequisites.missing))
        if probability < MIN_SUCCESS_PROBABILITY:
            blockers.append(f"success probability {probability:.0%} is below {MIN_SUCCESS_PROBABILITY:.0%}")
        if utility <= 0:
            blockers.append(f"utility {utility:.3f} is not above 0")

        facts = (f"success probability {probability:.0%}, adjusted risk {risk:.3f}, utility {utility:.3f}, "
                 f"expected cost ${expected:,.2f} (worst ${worst:,.2f}), "
                 f"{'reversible' if profile.reversible else 'not reversible'}")
        if blockers:
            reasoning = "Not recommended: " + "; ".join(blockers) + f". ({facts})"
        else:
            reasoning = "Recommended: " + facts
            if profile.expected_downtime_s == 0:
                reasoning += ", no expected downtime"

        return SimulatedAction(
            action_type=action,
            success_probability=probability,
            prior_probability=prior,
            effectiveness=effectiveness(category, action),
            history_successes=successes,
            history_trials=trials,
            uses_history=trials >= MIN_TRIALS_FOR_HISTORY,
            expected_improvement=probability,
            base_risk=profile.risk_score,
            adjusted_risk=risk,
            utility=utility,
            expected_downtime_s=profile.expected_downtime_s,
            worst_case_downtime_s=profile.worst_case_downtime_s,
            recovery_time_s=profile.recovery_time_s,
            expected_cost=expected,
            worst_case_cost=worst,
            scope=profile.scope,
            reversible=profile.reversible,
            undo=profile.undo,
            prerequisites_met=prerequisites.met,
            prerequisites_missing=prerequisites.missing,
            prerequisites_unverified=prerequisites.unverified,
            side_effects=list(profile.side_effects),
            recommended=not blockers,
            reasoning=reasoning,
        )

    def generate_comparison_report(self, comparison: SimulationComparison) -> str:
        """Render the comparison as the text report operators read."""
        return render_comparison_report(comparison)


RULE = "=" * 70
THIN_RULE = "-" * 70


def render_comparison_report(comparison: SimulationComparison) -> str:
    """Render a comparison: header, each simulated action, then the best action."""
    lines = [RULE, "WHAT-IF SIMULATION: ACTION COMPARISON", RULE, "",
             f"Service: {comparison.service}", f"Incident: {comparison.category.value}"]
    if comparison.blast is not None:
        blast = comparison.blast
        lines.append(f"Blast Radius: {blast.level.value.upper()} ({blast.affected_services_count} services, "
                     f"{blast.estimated_users_impacted:,} users, urgency ×{blast.urgency_multiplier:.2f})")
    else:
        lines.append("Blast Radius: not assessed (costs at urgency ×1.00)")
    lines += ["", THIN_RULE, "SIMULATED ACTIONS:", THIN_RULE]

    for index, action in enumerate(comparison.actions, start=1):
        lines.append("")
        lines += _render_action(index, action)

    lines += ["", RULE]
    best = comparison.best_action.value.upper() if comparison.best_action else "NONE"
    lines.append(f"BEST ACTION: {best}")
    lines.append(f"Reasoning: {comparison.best_action_reasoning}")
    lines.append(RULE)
    return "\n".join(lines)


def _render_action(index: int, action: SimulatedAction) -> list[str]:
    status = "✓ RECOMMENDED" if action.recommended else "✗ NOT RECOMMENDED"
    if action.uses_history:
        source = f"posterior from {action.history_successes}/{action.history_trials} verified outcomes"
    elif action.history_trials:
        source = f"prior: {action.history_trials} of the {MIN_TRIALS_FOR_HISTORY} verified outcomes needed so far"
    else:
        source = "prior, no history"
    lines = [
        f"{index}. {action.action_type.label.upper()}",
        f"   Status: {status}",
        f"   Success Probability: {action.success_probability:.0%} ({source})",
        f"   Expected Improvement: {action.expected_improvement:.1%}",
        f"   Expected Downtime: {action.expected_downtime_s:g}s (worst: {action.worst_case_downtime_s:g}s, "
        f"recovery if it fails: {action.recovery_time_s:g}s)",
        f"   Expected Cost: ${action.expected_cost:,.2f} (worst: ${action.worst_case_cost:,.2f})",
        f"   Risk Score: {action.adjusted_risk:.3f} (base {action.base_risk:.2f})",
        f"   Utility: {action.utility:.3f}",
        f"   Blast Radius: {action.scope.value}",
        f"   Undo: {action.undo}",
    ]
    if action.side_effects:
        lines.append("   Side Effects:")
        lines += [f"     - {effect}" for effect in action.side_effects]
    if action.prerequisites_missing:
        lines.append("   ⚠ Prerequisites Missing:")
        lines += [f"     - {item}" for item in action.prerequisites_missing]
    if action.prerequisites_unverified:
        lines.append("   Prerequisites Unverified:")
        lines += [f"     - {item}" for item in action.prerequisites_unverified]
    lines.append(f"   Reasoning: {action.reasoning}")
    return lines
