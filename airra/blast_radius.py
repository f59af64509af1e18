"""Blast radius: how far a failure of one service reaches, and how urgent it is.

The score adds four capped terms (documented in docs/formulas.md):

    S = 0.30·min(1, n/10) + 0.25·min(1, QPS/100) + 0.25·propagation + 0.20·weight

where n is the number of services that transitively depend on the failing
one, QPS its request rate, propagation the share of those downstream
services whose own error ratio is elevated, and weight the criticality's
blast weight. The level and the urgency multiplier follow from S.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, SkipValidation

from airra.criticality import Criticality
from airra.metrics import MetricsSource, Signal, SignalColumn, read_columns
from airra.topology import Topology

log = logging.getLogger(__name__)

DOWNSTREAM_WEIGHT = 0.30
VOLUME_WEIGHT = 0.25
PROPAGATION_WEIGHT = 0.25
CRITICALITY_WEIGHT = 0.20

DOWNSTREAM_SATURATION = 10  # services; from here on the downstream term is at its cap
VOLUME_SATURATION_RPS = 100.0  # requests per second; from here on the volume term is at its cap

# A downstream service counts as hit by the failure when its own error ratio
# is at least this, at a request rate high enough for the ratio to mean something.
ELEVATED_ERROR_RATIO = 0.01
MIN_RATE_FOR_ERROR_RATIO_RPS = 0.1

# Assumed request rate when the real one is unavailable: the rate at which the
# volume term reaches its cap, so a missing metric never makes a failure look smaller.
ASSUMED_REQUEST_RATE_RPS = VOLUME_SATURATION_RPS

DOWNSTREAM_SIGNALS = (Signal.ERROR_RATIO, Signal.REQUEST_RATE)

# Downstream services without an error ratio named one assumption each, up to
# this many per reason; more share one assumption that names the nearest.
MAX_NAMED_UNAVAILABLE = 3


class BlastLevel(StrEnum):
    """Blast level, from the score: MINIMAL < 0.2 ≤ LOW < 0.4 ≤ MEDIUM < 0.6 ≤ HIGH < 0.8 ≤ CRITICAL."""

    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# level -> (lower bound of the score, urgency base)
LEVEL_TABLE: dict[BlastLevel, tuple[float, float]] = {
    BlastLevel.MINIMAL: (0.0, 1.0),
    BlastLevel.LOW: (0.2, 1.5),
    BlastLevel.MEDIUM: (0.4, 2.5),
    BlastLevel.HIGH: (0.6, 3.5),
    BlastLevel.CRITICAL: (0.8, 5.0),
}

URGENCY_SCORE_FACTOR = 0.5
URGENCY_MIN = 1.0
URGENCY_MAX = 5.0

# Confidence needed to act now or soon, per level. Levels in neither table
# (LOW and MINIMAL) always observe.
ACT_NOW_MIN_CONFIDENCE = {BlastLevel.CRITICAL: 0.0, BlastLevel.HIGH: 0.70}
ACT_SOON_MIN_CONFIDENCE = {BlastLevel.MEDIUM: 0.80}


class BlastAssessment(BaseModel):
    """The blast radius of a failure of one service, with every term of its score."""

    service: str
    score: float = Field(ge=0, le=1)
    level: BlastLevel
    # Not validated entry by entry: the calculator takes it from the topology's
    # traversal. On a shared back end it lists thousands of services, and
    # validating them took longer than the rest of the assessment.
    downstream: SkipValidation[dict[str, int]] = Field(
        description="downstream service name -> hop distance, nearest first")
    affected_services_count: int = Field(ge=0)
    request_rate: float | None = Field(description="measured requests per second; None when unavailable")
    effective_request_rate: float = Field(description="request rate used in the score: measured or assumed")
    error_propagation: float = Field(ge=0, le=1, description="share of downstream services with elevated errors")
    elevated_downstream: list[str] = Field(default_factory=list, description="by hops, then name")
    criticality: Criticality
    estimated_users_impacted: int = Field(ge=0)
    revenue_impact_per_hour: float = Field(ge=0, description="dollars per hour")
    urgency_multiplier: float = Field(ge=URGENCY_MIN, le=URGENCY_MAX)
    assumptions: list[str] = Field(default_factory=list, description="unavailable metrics and the assumption used")
    downstream_term: float
    volume_term: float
    propagation_term: float
    criticality_term: float


class ActDecision(BaseModel):
    """Whether to act on an incident now, soon, or observe first."""

    act: bool
    timing: Literal["now", "soon", "observe"]
    reasoning: str


def blast_score(
    downstream_count: int, request_rate: float, propagation: float, criticality: Criticality
) -> tuple[float, tuple[float, float, float, float]]:
    """Return the blast score and its four terms (downstream, volume, propagation, criticality)."""
    downstream_term = DOWNSTREAM_WEIGHT * min(1.0, downstream_count / DOWNSTREAM_SATURATION)
    volume_term = VOLUME_WEIGHT * min(1.0, max(0.0, request_rate) / VOLUME_SATURATION_RPS)
    propagation_term = PROPAGATION_WEIGHT * min(1.0, max(0.0, propagation))
    criticality_term = CRITICALITY_WEIGHT * criticality.blast_weight

    # Rounding removes float noise such as 0.6000000000000001 so that a score
    # on a level boundary lands on the level the table shows.
    score = round(downstream_term + volume_term + propagation_term + criticality_term, 10)
    return score, (downstream_term, volume_term, propagation_term, criticality_term)


def blast_level(score: float) -> BlastLevel:
    """Return the level whose score band contains ``score``."""
    level = BlastLevel.MINIMAL
    for candidate, (lower_bound, _) in LEVEL_TABLE.items():
        if score >= lower_bound:
            level = candidate
    return level


def urgency_multiplier(score: float) -> float:
    """Return clamp(base + 0.5·S, 1, 5), where base is the level's urgency base."""
    base = LEVEL_TABLE[blast_level(score)][1]
    return min(URGENCY_MAX, max(URGENCY_MIN, base + URGENCY_SCORE_FACTOR * score))


def is_error_ratio_elevated(error_ratio: float, request_rate: float | None) -> bool:
    """Return True when an error ratio counts as elevated (≥ 0.01 at ≥ 0.1 req/s)."""
    if request_rate is not None and request_rate < MIN_RATE_FOR_ERROR_RATIO_RPS:
        return False
    return error_ratio >= ELEVATED_ERROR_RATIO


class BlastRadiusCalculator:
    """Computes blast assessments from the topology and current metrics."""

    def __init__(self, topology: Topology, metrics: MetricsSource) -> None:
        self.topology = topology
        self.metrics = metrics

    async def calculate_blast_radius(self, service: str, *, incident_id: str | None = None) -> BlastAssessment:
        """Assess the blast radius of a failure of ``service``.

        Raises:
            UnknownServiceError: when the service is not in the topology.
        """
        spec = self.topology.service(service)
        downstream = self.topology.downstream(service)

        # One read for the service and everything downstream, by signal. Against
        # Prometheus that is one query per signal instead of two per service. A
        # shared back end can have thousands of services downstream, and plain
        # floats cost far less than a snapshot for each.
        columns = await read_columns(self.metrics, [service, *downstream], DOWNSTREAM_SIGNALS)
        errors, rates = columns[Signal.ERROR_RATIO], columns[Signal.REQUEST_RATE]
        assumptions: list[str] = []

        # None also for a NaN or infinite rate, which would make the users and revenue estimates meaningless.
        request_rate = rates.value(service)
        if request_rate is None:
            effective_rate = ASSUMED_REQUEST_RATE_RPS
            assumptions.append(
                f"request rate of {service} unavailable ({rates.reason(service)}); assumed "
                f"{ASSUMED_REQUEST_RATE_RPS:g} req/s, which puts the volume term at its maximum "
                "and bases the user and revenue estimates on that rate"
            )
        else:
            effective_rate = max(0.0, request_rate)

        elevated, propagation_assumptions = _elevated_downstream(downstream, errors, rates)
        assumptions.extend(propagation_assumptions)
        propagation = len(elevated) / len(downstream) if downstream else 0.0

        score, terms = blast_score(len(downstream), effective_rate, propagation, spec.criticality)
        users = round(effective_rate * spec.users_per_rps)
        revenue = round(users * spec.revenue_per_user_hour, 2)

        assessment = BlastAssessment(
            service=service,
            score=score,
            level=blast_level(score),
            downstream=downstream,
            affected_services_count=len(downstream),
            request_rate=request_rate,
            effective_request_rate=effective_rate,
            error_propagation=propagation,
            elevated_downstream=elevated,
            criticality=spec.criticality,
            estimated_users_impacted=users,
            revenue_impact_per_hour=revenue,
            urgency_multiplier=urgency_multiplier(score),
            assumptions=assumptions,
            downstream_term=terms[0],
            volume_term=terms[1],
            propagation_term=terms[2],
            criticality_term=terms[3],
        )
        log.info("incident %s: blast radius of %s is %s (score %.4f, %d downstream)",
                 incident_id, service, assessment.level.value, score, len(downstream))
        return assessment

    def should_act_immediately(self, assessment: BlastAssessment, confidence: float) -> ActDecision:
        """Decide whether to act now, soon, or observe, from the blast level and the confidence."""
        return act_decision(assessment.level, confidence)


def act_decision(level: BlastLevel, confidence: float) -> ActDecision:
    """Apply the act-now table: CRITICAL always, HIGH at ≥ 0.70, MEDIUM soon at ≥ 0.80, else observe."""
    if level is BlastLevel.CRITICAL:
        return ActDecision(act=True, timing="now",
                           reasoning=f"critical blast radius: act now whatever the confidence ({confidence:.2f})")

    if level in ACT_NOW_MIN_CONFIDENCE:
        threshold = ACT_NOW_MIN_CONFIDENCE[level]
        if confidence >= threshold:
            return ActDecision(act=True, timing="now",
                               reasoning=f"{level.value} blast radius and confidence {confidence:.2f} ≥ {threshold:.2f}: act now")
        return ActDecision(act=False, timing="observe",
                           reasoning=f"{level.value} blast radius but confidence {confidence:.2f} < {threshold:.2f}: "
                                     "observe and gather evidence before acting")

    if level in ACT_SOON_MIN_CONFIDENCE:
        threshold = ACT_SOON_MIN_CONFIDENCE[level]
        if confidence >= threshold:
            return ActDecision(act=True, timing="soon",
                               reasoning=f"medium blast radius and confidence {confidence:.2f} ≥ {threshold:.2f}: act soon")
        return ActDecision(act=False, timing="observe",
                           reasoning=f"medium blast radius and confidence {confidence:.2f} < {threshold:.2f}: observe")

    return ActDecision(act=False, timing="observe",
                       reasoning=f"{level.value} blast radius: wait and observe")


def _elevated_downstream(downstream: Mapping[str, int], errors: SignalColumn,
                         rates: SignalColumn) -> tuple[list[str], list[str]]:
    """Return the downstream services with elevated errors, and the assumptions made, both by hops, then name.

    A downstream service whose error ratio is unavailable counts as elevated:
    assuming it is hit is the conservative choice for a blast estimate. A high
    error ratio with an unavailable request rate counts too: without the rate
    it cannot be dismissed as noise. The order does not depend on the order
    in which the source lists the services, nor on the traversal's.
    """
    # These loops run once per downstream service, thousands of times on a large
    # graph, so they compare plain floats and inline is_error_ratio_elevated
    # (the tests check that both give the same result).
    threshold, min_rate = ELEVATED_ERROR_RATIO, MIN_RATE_FOR_ERROR_RATIO_RPS
    ratios, rate_of = errors.values, rates.values.get

    # A NaN or an infinity makes a sum non-finite, so a finite sum proves every
    # value finite, at about a third of the cost of testing each (timed on 4,652
    # values). A sum that overflows only sends valid columns down the slow path,
    # which gives the same result.
    if (downstream.keys() <= ratios.keys() and math.isfinite(sum(ratios.values()))
            and math.isfinite(sum(rates.values.values()))):
        # Every downstream service has an error ratio and every value is finite.
        # Only the few elevated services need their hop distance, for the order.
        elevated = [name for name, ratio in ratios.items()
                    if ratio >= threshold and rate_of(name, min_rate) >= min_rate and name in downstream]
        _sort_by_hops(elevated, downstream)
        return elevated, []

    elevated = []
    unavailable = []
    for name in downstream:
        ratio = errors.value(name)
        if ratio is None:
            elevated.append(name)
            unavailable.append(name)
            continue
        # rates.value is None for an unavailable, missing or non-finite rate.
        rate = rates.value(name)
        if ratio >= threshold and (rate is None or rate >= min_rate):
            elevated.append(name)
    _sort_by_hops(elevated, downstream)
    _sort_by_hops(unavailable, downstream)
    return elevated, _unavailable_assumptions(unavailable, errors)


def _unavailable_assumptions(names: list[str], errors: SignalColumn) -> list[str]:
    """Name each downstream service without an error ratio; past a few with the same reason, one line for them.

    With Prometheus down every downstream service shares one reason, and a
    shared back end can have thousands of them.
    """
    by_reason: dict[str, list[str]] = {}
    for name in names:
        by_reason.setdefault(errors.reason(name), []).append(name)

    assumptions: list[str] = []
    for reason, group in by_reason.items():
        if len(group) <= MAX_NAMED_UNAVAILABLE:
            assumptions += [f"error ratio of downstream {name} unavailable ({reason}); counted as elevated"
                            for name in group]
            continue
        nearest = ", ".join(group[:MAX_NAMED_UNAVAILABLE])
        assumptions.append(f"error ratio of {len(group):,} downstream services unavailable ({reason}): {nearest} "
                           f"and {len(group) - MAX_NAMED_UNAVAILABLE:,} more, nearest first; all counted as elevated")
    return assumptions


def _sort_by_hops(names: list[str], downstream: Mapping[str, int]) -> None:
    """Sort ``names`` in place by hop distance, then name, whatever order the source or the traversal gave."""
    # Two sorts with C-level keys: the second is stable, so names stay in order within each distance.
    names.sort()
    names.sort(key=downstream.__getitem__)


def render_blast_report(assessment: BlastAssessment) -> str:
    """Render an assessment as text, with each score term so it can be checked by hand."""
    rate_text = "unavailable" if assessment.request_rate is None else f"{assessment.request_rate:.1f} req/s"
    terms = [
        ("downstream services", str(assessment.affected_services_count),
         f"0.30·min(1, {assessment.affected_services_count}/10)", assessment.downstream_term),
        ("request rate", rate_text,
         f"0.25·min(1, {assessment.effective_request_rate:.1f}/100)", assessment.volume_term),
        ("error propagation", f"{assessment.error_propagation:.0%}",
         f"0.25·{assessment.error_propagation:.4f}", assessment.propagation_term),
        ("criticality", assessment.criticality.value,
         f"0.20·{assessment.criticality.blast_weight:g}", assessment.criticality_term),
    ]
    lines = [
        f"Blast radius of {assessment.service}: {assessment.level.value.upper()} "
        f"(score {assessment.score:.4f}, urgency ×{assessment.urgency_multiplier:.2f})",
        "",
    ]
    lines += [f"  {label:<24}{value:>12}   {formula} = {term:.4f}" for label, value, formula, term in terms]

    lines.append("")
    lines.append(f"  {'users impacted (est.)':<24}{assessment.estimated_users_impacted:,}")
    lines.append(f"  {'revenue at risk':<24}${assessment.revenue_impact_per_hour:,.2f}/h")
    # The assessment keeps the traversal's order; a reader looks names up, so show them by hops, then name.
    by_hops = sorted(assessment.downstream.items(), key=lambda item: (item[1], item[0]))
    if by_hops:
        hops = ", ".join(f"{name} ({distance})" for name, distance in by_hops)
        lines.append(f"  {'downstream (hops)':<24}{hops}")
    if assessment.elevated_downstream:
        elevated = sorted(assessment.elevated_downstream, key=lambda name: (assessment.downstream.get(name, 0), name))
        lines.append(f"  {'elevated errors':<24}{', '.join(elevated)}")
    for assumption in assessment.assumptions:
        lines.append(f"  assumption: {assumption}")
    return "\n".join(lines)
