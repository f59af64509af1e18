"""Before/after verification of an executed action.

The verifier reads a baseline before the action and several samples after a
stabilisation wait, compares them metric by metric and returns a verdict with
a recommendation. Fractions and seconds are stored; the report shows
percentages and milliseconds. Every improvement is a percentage.

Rules (the numbers are the module constants below):

- **Judged quantity.** Error ratio, p95 and p99 latency are judged as they are
  (lower is better). Availability is judged on unavailability, 1 − availability,
  so 95 % → 99.5 % is (0.05 − 0.005) / 0.05 = 90 % better, and recovering from
  a full outage (0 % → 100 %) is 100 % better. Request rate is shown for
  context and never scored.
- **After value.** The mean of the post-action samples that have a value.
- **Improvement** of a metric = (before − after) / before × 100 on the judged
  quantity, rounded to 0.1 %, and never below −100 % (so a worsening from a
  before value of zero is shown as −100 %).
- **Floors.** A metric is *judged* only when it has data in both windows and,
  for error ratio and latency, the request rate is at least 0.1 req/s in both
  windows (when it is known). A judged metric is *scored* only when its
  absolute change reaches its floor: 0.005 for error ratio and
  unavailability, 25 ms for latency. Smaller changes are treated as noise
  and left out, so they do not dilute the mean.
- **Overall improvement** = mean of the scored improvements exactly as the
  report prints them, rounded to 0.1 %, so the report agrees with itself.

Verdict, first match wins:

1. EXECUTION_FAILED: the execution FAILED or was BLOCKED (no sampling).
2. DEGRADED: a scored metric's improvement is below −10 % (more than 10 %
   worse, past its floor). Rollback when the action has an undo, else
   escalate.
3. UNSTABLE: a judged metric's post-action samples fluctuate. That needs at
   least two samples and a population standard deviation of at least the
   metric's floor, because smaller swings are noise even when the mean is
   near zero. It also needs a coefficient of variation (standard deviation ÷
   mean, rounded to 0.01) above 0.5.
4. SUCCESS: overall improvement ≥ 20 %.
5. PARTIAL_SUCCESS: overall improvement ≥ 10 % and < 20 %.
6. INSUFFICIENT_DATA: some key metric was not judged (no data, or traffic
   under the floor), so "no change" cannot be claimed.
7. NO_CHANGE: every key metric was judged and the overall improvement is
   below 10 % (or nothing moved past its floor).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from airra.actions import ActionType, profile_of
from airra.errors import MetricQueryError
from airra.execution.base import ExecutionResult, ExecutionStatus
from airra.metrics import MetricsSnapshot, MetricsSource, Reading, Signal
from airra.settings import Settings

log = logging.getLogger(__name__)

SUCCESS_MIN_PCT = 20.0
PARTIAL_SUCCESS_MIN_PCT = 10.0
DEGRADED_WORSE_PCT = 10.0
MIN_TRAFFIC_RPS = 0.1
ERROR_RATIO_FLOOR = 0.005
UNAVAILABILITY_FLOOR = 0.005
LATENCY_FLOOR_S = 0.025
UNSTABLE_MAX_CV = 0.5

# Absolute changes are compared with a tolerance because 0.105 − 0.1 is
# 0.004999999999999893 in binary floating point.
_FLOOR_TOLERANCE = 1e-9

KEY_SIGNALS: tuple[Signal, ...] = (
    Signal.ERROR_RATIO,
    Signal.LATENCY_P95,
    Signal.LATENCY_P99,
    Signal.AVAILABILITY,
)
VERIFIED_SIGNALS: tuple[Signal, ...] = (*KEY_SIGNALS, Signal.REQUEST_RATE)

_FLOORS: dict[Signal, float] = {
    Signal.ERROR_RATIO: ERROR_RATIO_FLOOR,
    Signal.LATENCY_P95: LATENCY_FLOOR_S,
    Signal.LATENCY_P99: LATENCY_FLOOR_S,
    Signal.AVAILABILITY: UNAVAILABILITY_FLOOR,
}
_TRAFFIC_DEPENDENT = {Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99}

LABELS: dict[Signal, str] = {
    Signal.ERROR_RATIO: "Error Rate",
    Signal.LATENCY_P95: "Latency P95",
    Signal.LATENCY_P99: "Latency P99",
    Signal.AVAILABILITY: "Availability",
    Signal.REQUEST_RATE: "Request Rate",
}


class VerificationStatus(StrEnum):
    """Verdict of a before/after verification."""

    SUCCESS = "success"
    PARTIAL_SUCCESS = "partial_success"
    NO_CHANGE = "no_change"
    DEGRADED = "degraded"
    UNSTABLE = "unstable"
    INSUFFICIENT_DATA = "insufficient_data"
    EXECUTION_FAILED = "execution_failed"


class Recommendation(StrEnum):
    """Next step after a verification."""

    CONTINUE = "continue"
    KEEP_WATCHING = "keep_watching"
    ESCALATE = "escalate"
    ROLLBACK = "rollback"


class MetricComparison(BaseModel):
    """Before and after values of one metric, in the metric's stored unit.

    ``before``, ``after`` and ``delta`` are fractions for ratios and seconds
    for latencies. ``delta_pct`` is the relative change of the raw value.
    ``improvement_pct`` is the relative change of the judged quantity in the
    good direction. Both are in percent, rounded to 0.1.
    """

    signal: Signal
    unit: str
    before: float | None
    after: float | None
    delta: float | None
    delta_pct: float | None
    improvement_pct: float | None = None
    scored: bool = False
    note: str = ""
    judged: bool = Field(default=False, description="data in both windows and traffic above the floor")
    degraded: bool = Field(default=False, description="more than 10 % worse, past the floor")
    fluctuation_cv: float | None = Field(default=None, description="coefficient of variation of the post-action samples")
    unstable: bool = False
    after_values: list[float] = Field(default_factory=list, description="post-action samples that had a value")

    @property
    def label(self) -> str:
        """Display name, e.g. ``Latency P95``."""
        return LABELS[self.signal]


class VerificationResult(BaseModel):
    """Verdict, recommendation and evidence of one verification."""

    service: str
    status: VerificationStatus
    recommendation: Recommendation
    comparisons: list[MetricComparison] = Field(default_factory=list)
    overall_improvement_pct: float | None = None
    message: str = Field(default="", description="the full before/after report")
    before: MetricsSnapshot
    after_samples: list[MetricsSnapshot] = Field(default_factory=list)
    reason: str = Field(default="", description="one sentence on why this verdict")
    incident_id: str | None = None
    action_type: ActionType | None = None
    dry_run: bool = False
    verified_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def comparison(self, signal: Signal) -> MetricComparison | None:
        """Return the comparison of one signal, or None when it was not read."""
        return next((c for c in self.comparisons if c.signal is signal), None)

    def improvements(self) -> dict[str, float | None]:
        """Return the improvement percentage of each scored metric, by signal name."""
        return {c.signal.value: c.improvement_pct for c in self.comparisons if c.scored}

    def before_values(self) -> dict[str, float | None]:
        """Return the baseline value of each compared signal, by signal name."""
        return {c.signal.value: c.before for c in self.comparisons}

    def after_values(self) -> dict[str, float | None]:
        """Return the post-action value of each compared signal, by signal name."""
        return {c.signal.value: c.after for c in self.comparisons}


# --- comparing ---------------------------------------------------------------------


def compare_metrics(
    service: str,
    before: MetricsSnapshot,
    after_samples: Sequence[MetricsSnapshot],
    *,
    action_type: ActionType | None = None,
    incident_id: str | None = None,
    dry_run: bool = False,
) -> VerificationResult:
    """Compare a baseline with post-action samples and return the verdict.

    Pure function of its inputs: the verifier calls it after sampling, and
    tests call it with hand-built snapshots.
    """
    traffic_before = before.value(Signal.REQUEST_RATE)
    traffic_after = _mean([s.value(Signal.REQUEST_RATE) for s in after_samples])

    comparisons = [
        _compare_key_signal(signal, before, after_samples, traffic_before, traffic_after)
        for signal in KEY_SIGNALS
    ]
    comparisons.append(_compare_request_rate(before, after_samples))

    scored = [c.improvement_pct for c in comparisons if c.scored and c.improvement_pct is not None]
    overall = round(sum(scored) / len(scored), 1) if scored else None

    status, reason = _verdict(comparisons, overall)
    result = VerificationResult(
        service=service,
        status=status,
        recommendation=_recommendation(status, action_type),
        comparisons=comparisons,
        overall_improvement_pct=overall,
        before=before,
        after_samples=list(after_samples),
        reason=reason,
        incident_id=incident_id,
        action_type=action_type,
        dry_run=dry_run,
    )
    return result.model_copy(update={"message": render_verification_report(result)})


def _compare_key_signal(
    signal: Signal,
    before: MetricsSnapshot,
    after_samples: Sequence[MetricsSnapshot],
    traffic_before: float | None,
    traffic_after: float | None,
) -> MetricComparison:
    before_value = before.value(signal)
    after_values = [v for v in (s.value(signal) for s in after_samples) if v is not None]
    after_value = _mean(after_values)
    comparison = _raw_comparison(signal, before_value, after_value, after_values)

    missing = _missing_note(signal, before, after_samples, before_value, after_value)
    if missing:
        return comparison.model_copy(update={"note": missing})

    if signal in _TRAFFIC_DEPENDENT and _below_traffic_floor(traffic_before, traffic_after):
        return comparison.model_copy(
            update={"note": f"not scored: traffic below {MIN_TRAFFIC_RPS} req/s, too little to judge"}
        )

    assert before_value is not None and after_value is not None
    floor = _FLOORS[signal]
    judged_before = _judged(signal, before_value)
    judged_after = _judged(signal, after_value)
    judged_samples = [_judged(signal, v) for v in after_values]
    update: dict[str, object] = {"judged": True}

    cv = _fluctuation_cv(judged_samples, floor)
    update["fluctuation_cv"] = cv
    update["unstable"] = cv is not None and cv > UNSTABLE_MAX_CV

    if abs(judged_after - judged_before) + _FLOOR_TOLERANCE < floor:
        update["note"] = f"not scored: change below the {_format_floor(signal, floor)} noise floor"
        return comparison.model_copy(update=update)

    improvement = _improvement_pct(judged_before, judged_after)
    update.update(scored=True, improvement_pct=improvement, degraded=improvement < -DEGRADED_WORSE_PCT)
    if signal is Signal.AVAILABILITY:
        update["note"] = f"judged on unavailability {_percent(judged_before)} → {_percent(judged_after)}"
    return comparison.model_copy(update=update)


def _compare_request_rate(before: MetricsSnapshot, after_samples: Sequence[MetricsSnapshot]) -> MetricComparison:
    before_value = before.value(Signal.REQUEST_RATE)
    after_values = [v for v in (s.value(Signal.REQUEST_RATE) for s in after_samples) if v is not None]
    comparison = _raw_comparison(Signal.REQUEST_RATE, before_value, _mean(after_values), after_values)
    missing = _missing_note(Signal.REQUEST_RATE, before, after_samples, before_value, comparison.after)
    return comparison.model_copy(update={"note": missing or "shown for context, not scored"})


def _raw_comparison(
    signal: Signal, before: float | None, after: float | None, after_values: list[float]
) -> MetricComparison:
    delta = after - before if before is not None and after is not None else None
    delta_pct = round(delta / before * 100, 1) if delta is not None and before else None
    return MetricComparison(
        signal=signal,
        unit=signal.unit,
        before=before,
        after=after,
        delta=delta,
        delta_pct=delta_pct,
        after_values=after_values,
    )


def _missing_note(
    signal: Signal,
    before: MetricsSnapshot,
    after_samples: Sequence[MetricsSnapshot],
    before_value: float | None,
    after_value: float | None,
) -> str:
    parts = []
    if before_value is None:
        parts.append(f"no data before ({_reason(before, signal)})")
    if after_value is None:
        reason = _reason(after_samples[-1], signal) if after_samples else "no samples taken"
        parts.append(f"no data after ({reason})")
    return "not scored: " + ", ".join(parts) if parts else ""


def _reason(snapshot: MetricsSnapshot, signal: Signal) -> str:
    reading = snapshot.readings.get(signal)
    if reading is None:
        return "not read"
    return reading.unavailable_reason or "not read"


def _below_traffic_floor(traffic_before: float | None, traffic_after: float | None) -> bool:
    """Return True when a known request rate is under the floor in either window.

    An unknown request rate does not block judging, because an error ratio or
    a latency with a value already implies some traffic.
    """
    return any(t is not None and t < MIN_TRAFFIC_RPS for t in (traffic_before, traffic_after))


def _judged(signal: Signal, value: float) -> float:
    """Return the quantity that is judged, where lower is always better."""
    return 1.0 - value if signal is Signal.AVAILABILITY else value


def _improvement_pct(before: float, after: float) -> float:
    if before <= 0:
        return -100.0
    return round(max(-100.0, (before - after) / before * 100), 1)


def _fluctuation_cv(samples: list[float], floor: float) -> float | None:
    """Return the samples' coefficient of variation when it can mean anything.

    None when there are fewer than two samples, their mean is zero, or their
    standard deviation is under the metric's floor: near zero, swings of a
    few tenths of a percent give a large CV and are still only noise.
    """
    if len(samples) < 2:
        return None
    mean = statistics.fmean(samples)
    deviation = statistics.pstdev(samples)
    if mean <= 0 or deviation + _FLOOR_TOLERANCE < floor:
        return None
    return round(deviation / mean, 2)


def _verdict(comparisons: list[MetricComparison], overall: float | None) -> tuple[VerificationStatus, str]:
    key = [c for c in comparisons if c.signal in KEY_SIGNALS]

    degraded = [c for c in key if c.degraded]
    if degraded:
        worst = min(degraded, key=lambda c: c.improvement_pct or 0.0)
        return VerificationStatus.DEGRADED, (
            f"{worst.label} got {-(worst.improvement_pct or 0.0):.1f}% worse, past its floor and the "
            f"{DEGRADED_WORSE_PCT:.0f}% limit"
        )

    unstable = [c for c in key if c.unstable]
    if unstable:
        first = unstable[0]
        return VerificationStatus.UNSTABLE, (
            f"{first.label} fluctuates after the action: coefficient of variation "
            f"{first.fluctuation_cv:.2f} > {UNSTABLE_MAX_CV:.2f}"
        )

    if overall is not None and overall >= SUCCESS_MIN_PCT:
        return VerificationStatus.SUCCESS, f"overall improvement {overall:+.1f}% ≥ {SUCCESS_MIN_PCT:.0f}%"
    if overall is not None and overall >= PARTIAL_SUCCESS_MIN_PCT:
        return VerificationStatus.PARTIAL_SUCCESS, (
            f"overall improvement {overall:+.1f}% is between {PARTIAL_SUCCESS_MIN_PCT:.0f}% and {SUCCESS_MIN_PCT:.0f}%"
        )

    not_judged = [c for c in key if not c.judged]
    if not_judged:
        names = ", ".join(c.label for c in not_judged)
        return VerificationStatus.INSUFFICIENT_DATA, f"not enough data to judge {names}"

    if overall is None:
        return VerificationStatus.NO_CHANGE, "no metric moved past its noise floor"
    return VerificationStatus.NO_CHANGE, f"overall improvement {overall:+.1f}% < {PARTIAL_SUCCESS_MIN_PCT:.0f}%"


def _recommendation(status: VerificationStatus, action_type: ActionType | None) -> Recommendation:
    """Map a verdict to the next step.

    DEGRADED recommends a rollback only when the catalogue marks the action
    ``reversible``. A restart or a cache clear has nothing to restore, so
    DEGRADED after one escalates to a human instead.
    """
    if status is VerificationStatus.SUCCESS:
        return Recommendation.CONTINUE
    if status is VerificationStatus.PARTIAL_SUCCESS:
        return Recommendation.KEEP_WATCHING
    if status is VerificationStatus.DEGRADED:
        if action_type is None or profile_of(action_type).reversible:
            return Recommendation.ROLLBACK
        return Recommendation.ESCALATE
    return Recommendation.ESCALATE


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


# --- rendering ---------------------------------------------------------------------


def render_verification_report(result: VerificationResult) -> str:
    """Render the before/after report: per metric before, after, Δ and improvement, then the verdict."""
    lines = [f"Post-action verification: {result.status.value}"]
    action = result.action_type.label if result.action_type else "action"
    lines.append(f"Service: {result.service} · {action}" + (f" · incident {result.incident_id}" if result.incident_id else ""))
    if result.dry_run:
        lines.append("Dry run: nothing was changed, so any difference below is not caused by the action.")

    if result.status is VerificationStatus.EXECUTION_FAILED:
        lines += ["", result.reason, "", f"Recommendation: {result.recommendation.value}"]
        return "\n".join(lines)

    samples = len(result.after_samples)
    lines += [
        f"Before: one reading before the action. After: mean of {samples} sample{'s' if samples != 1 else ''} after it.",
        "",
        "=== Before-After Metrics Comparison ===",
        "",
    ]
    for comparison in result.comparisons:
        lines += _render_comparison(comparison)
        lines.append("")

    lines.append("=" * 40)
    lines.append("")
    if result.overall_improvement_pct is None:
        lines.append("Overall improvement: n/a (no metric scored)")
    else:
        scored = sum(1 for c in result.comparisons if c.scored)
        lines.append(
            f"Overall improvement: {result.overall_improvement_pct:+.1f}% "
            f"(mean of {scored} scored metric{'s' if scored != 1 else ''})"
        )
    lines.append(f"Verdict: {result.status.value}: {result.reason}")
    lines.append(f"Recommendation: {result.recommendation.value}")
    return "\n".join(lines)


def _render_comparison(c: MetricComparison) -> list[str]:
    lines = [f"{c.label}:"]
    lines.append(f"  Before: {_format_value(c.signal, c.before)}")
    lines.append(f"  After:  {_format_value(c.signal, c.after)}")
    if c.delta is not None:
        relative = f"{c.delta_pct:+.1f}%" if c.delta_pct is not None else "from zero"
        lines.append(f"  Δ = {_format_delta(c.signal, c.delta)} ({relative})")
    if c.scored and c.improvement_pct is not None:
        suffix = f" ({c.note})" if c.note else ""
        lines.append(f"  Improvement: {c.improvement_pct:+.1f}%{suffix}")
    elif c.note:
        lines.append(f"  {c.note[0].upper()}{c.note[1:]}")
    if c.unstable:
        lines.append(f"  Fluctuating: coefficient of variation {c.fluctuation_cv:.2f} > {UNSTABLE_MAX_CV:.2f}")
    return lines


def _format_value(signal: Signal, value: float | None) -> str:
    if value is None:
        return "unavailable"
    if signal in (Signal.LATENCY_P95, Signal.LATENCY_P99):
        return f"{value * 1000:.1f}ms"
    if signal is Signal.REQUEST_RATE:
        # Two decimals under 1 req/s, so a rate under the 0.1 req/s floor does not print as 0.1.
        return f"{value:.2f} req/s" if value < 1 else f"{value:.1f} req/s"
    return _percent(value)


def _format_delta(signal: Signal, delta: float) -> str:
    if signal in (Signal.LATENCY_P95, Signal.LATENCY_P99):
        return f"{delta * 1000:+.1f}ms"
    if signal is Signal.REQUEST_RATE:
        return f"{delta:+.1f} req/s"
    return f"{delta * 100:+.2f} pp"


def _format_floor(signal: Signal, floor: float) -> str:
    if signal in (Signal.LATENCY_P95, Signal.LATENCY_P99):
        return f"{floor * 1000:.0f} ms"
    return f"{floor * 100:.1f} pp"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"


# --- sampling ----------------------------------------------------------------------


class PostActionVerifier:
    """Takes the baseline, samples after the action and returns the verdict.

    Args:
        metrics: where readings come from.
        settings: ``verify_wait_s`` (stabilisation wait), ``verify_samples``
            and ``verify_interval_s`` (gap between samples).
        sleep: awaited for every wait; tests pass a no-op.
    """

    def __init__(
        self,
        metrics: MetricsSource,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self._sleep = sleep

    async def take_baseline(self, service: str, *, incident_id: str | None = None) -> MetricsSnapshot:
        """Read the verified signals once, before the action.

        The queries behind each signal already average over the rate window
        (``AIRRA_RATE_WINDOW``), so one reading covers a window of history.
        """
        snapshot = await self._read(service)
        log.info("incident %s: baseline taken for %s (%d signals unavailable)",
                 incident_id, service, len(snapshot.unavailable()))
        return snapshot

    async def verify_action(
        self,
        service_name: str,
        execution_result: ExecutionResult,
        before_metrics: MetricsSnapshot,
        *,
        incident_id: str | None = None,
    ) -> VerificationResult:
        """Wait, sample the verified signals and compare them with the baseline.

        A FAILED or BLOCKED execution is reported as EXECUTION_FAILED without
        sampling: nothing ran, so there is nothing to verify.
        """
        incident_id = incident_id or execution_result.request.incident_id
        action_type = execution_result.request.action_type

        if execution_result.status in (ExecutionStatus.FAILED, ExecutionStatus.BLOCKED):
            result = _execution_failed(service_name, execution_result, before_metrics, incident_id)
            log.info("incident %s: verification of %s on %s skipped: execution %s",
                     incident_id, action_type.value, service_name, execution_result.status.value)
            return result

        await self._sleep(self.settings.verify_wait_s)
        samples: list[MetricsSnapshot] = []
        for index in range(self.settings.verify_samples):
            if index > 0:
                await self._sleep(self.settings.verify_interval_s)
            samples.append(await self._read(service_name))

        result = compare_metrics(
            service_name,
            before_metrics,
            samples,
            action_type=action_type,
            incident_id=incident_id,
            dry_run=execution_result.status is ExecutionStatus.DRY_RUN,
        )
        log.info("incident %s: verification of %s on %s: %s, overall %s%%, %s",
                 incident_id, action_type.value, service_name, result.status.value,
                 result.overall_improvement_pct, result.recommendation.value)
        return result

    async def _read(self, service: str) -> MetricsSnapshot:
        """Read the verified signals; a failed query becomes unavailable readings."""
        try:
            return await self.metrics.read(service, VERIFIED_SIGNALS)
        except MetricQueryError as exc:
            log.warning("metrics read for %s failed: %s; its signals count as unavailable", service, exc)
            return MetricsSnapshot(
                service=service,
                readings={s: Reading.unavailable(service, s, f"query failed: {exc}") for s in VERIFIED_SIGNALS},
            )


def _execution_failed(
    service: str, execution: ExecutionResult, before: MetricsSnapshot, incident_id: str | None
) -> VerificationResult:
    action_type = execution.request.action_type
    cause = execution.error or (f"blocked by {execution.blocked_by}" if execution.blocked_by else "no reason given")
    reason = (
        f"The {action_type.label} action on {service} did not run ({execution.status.value}: {cause}), "
        "so it was not verified."
    )
    result = VerificationResult(
        service=service,
        status=VerificationStatus.EXECUTION_FAILED,
        recommendation=Recommendation.ESCALATE,
        before=before,
        reason=reason,
        incident_id=incident_id,
        action_type=action_type,
    )
    return result.model_copy(update={"message": render_verification_report(result)})

