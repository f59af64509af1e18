"""Operator feedback on AIRRA's diagnoses and actions, its analysis and the learned priors.

Every correction or confirmation an operator gives (usually a reply in the
incident's Slack thread) is one ``OperatorFeedback`` line in
``operator_feedback.jsonl``. The analysis over a time window counts what
operators reported and turns it into rates and suggestions:

- Hypothesis accuracy = confirmed ÷ (confirmed + corrected), from
  HYPOTHESIS_CORRECT and HYPOTHESIS_INCORRECT feedback.
- Action success rate = successful ÷ (successful + inappropriate), from
  ACTION_SUCCESSFUL and ACTION_INAPPROPRIATE feedback.
- A rate with no feedback behind it is None ("no data"), never 0 %, and no
  suggestion fires without enough feedback behind it.

Confirmed and corrected hypotheses also move the diagnosis's per-category
prior (``adjustment``), over all feedback, not only the window. For a
category with n judgements (k confirmed) whose stated confidences were c_i:

    adjustment = clamp((k − Σ c_i) ÷ (n + 5), −0.10, +0.10), and 0 while n < 5

This is the gap between the observed accuracy and the stated confidence,
shrunk towards 0 by five pseudo-judgements. Each c_i has the adjustment that
was applied when it was stated taken back out (``airra_prior_adjustment``),
so the learned value does not feed on itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airra.actions import ActionType
from airra.categories import Category
from airra.jsonl_store import JsonlStore, count_stored_lines

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Learned prior adjustments.
MAX_PRIOR_ADJUSTMENT = 0.10
MIN_PRIOR_SAMPLES = 5
PRIOR_PSEUDO_SAMPLES = 5

# Suggestion thresholds.
MIN_SUGGESTION_SAMPLES = 5
LOW_ACCURACY = 0.70
LOW_CATEGORY_ACCURACY = 0.50
RECURRING_MISTAKE_COUNT = 3
HIGH_ESCALATION_SHARE = 0.30
TOP_MISTAKES = 5


class FeedbackType(StrEnum):
    """Kind of operator feedback on an incident."""

    HYPOTHESIS_INCORRECT = "hypothesis_incorrect"
    HYPOTHESIS_CORRECT = "hypothesis_correct"
    ACTION_INAPPROPRIATE = "action_inappropriate"
    ACTION_SUCCESSFUL = "action_successful"
    INCIDENT_RESOLVED = "incident_resolved"
    INCIDENT_ESCALATED = "incident_escalated"
    GENERAL_COMMENT = "general_comment"


class IncidentOutcome(StrEnum):
    """Final outcome of an incident."""

    RESOLVED = "resolved"
    ESCALATED = "escalated"
    SELF_HEALED = "self_healed"


class OperatorFeedback(BaseModel):
    """One piece of operator feedback, with what AIRRA had decided.

    HYPOTHESIS_INCORRECT should name ``correct_hypothesis_category`` and
    ACTION_INAPPROPRIATE ``correct_action_type``. Without them the feedback
    still counts in the accuracy rates and the learned prior, but not in the
    list of common mistakes. INCIDENT_RESOLVED and INCIDENT_ESCALATED fill
    ``incident_outcome`` when it is not given.
    """

    model_config = ConfigDict(extra="ignore")

    feedback_id: str = Field(default_factory=lambda: uuid4().hex, description="unique; a retried write is stored once")
    schema_version: int = SCHEMA_VERSION
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    incident_id: str
    service_name: str
    operator_id: str = Field(min_length=1, description="Slack user id of the operator who sent the feedback")
    operator_name: str | None = None
    feedback_type: FeedbackType
    feedback_text: str = ""
    airra_hypothesis_category: Category | None = None
    airra_hypothesis_description: str | None = None
    airra_confidence: float | None = Field(default=None, ge=0, le=1)
    airra_prior_adjustment: float | None = Field(
        default=None, description="learned adjustment already inside airra_confidence when it was stated"
    )
    airra_action_type: ActionType | None = None
    correct_hypothesis_category: Category | None = None
    correct_action_type: ActionType | None = None
    incident_outcome: IncidentOutcome | None = None
    time_to_resolution_seconds: float | None = Field(default=None, ge=0)
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("timestamp")
    @classmethod
    def _assume_utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is newer than this AIRRA reads ({SCHEMA_VERSION}); upgrade AIRRA to read it"
            )
        return value

    @model_validator(mode="after")
    def _fill_outcome(self) -> OperatorFeedback:
        if self.incident_outcome is None:
            if self.feedback_type is FeedbackType.INCIDENT_RESOLVED:
                self.incident_outcome = IncidentOutcome.RESOLVED
            elif self.feedback_type is FeedbackType.INCIDENT_ESCALATED:
                self.incident_outcome = IncidentOutcome.ESCALATED
        return self


class Mistake(BaseModel):
    """A recurring correction: AIRRA's choice, the operator's correction and how often it occurred."""

    airra: str
    actual: str
    count: int


class CategoryFeedback(BaseModel):
    """Operator judgements of one hypothesis category and of the actions taken for it."""

    category: str
    confirmed: int
    corrected: int
    actions_successful: int = 0
    actions_inappropriate: int = 0

    @property
    def action_success_rate(self) -> float | None:
        """Share of rated actions marked successful, or None without ratings."""
        rated = self.actions_successful + self.actions_inappropriate
        return self.actions_successful / rated if rated else None

    @property
    def judged(self) -> int:
        """Confirmed plus corrected."""
        return self.confirmed + self.corrected

    @property
    def accuracy(self) -> float | None:
        """Share confirmed, or None without judgements."""
        return self.confirmed / self.judged if self.judged else None


class PriorAdjustment(BaseModel):
    """The learned prior adjustment of one category and the data behind it."""

    category: str
    judged: int = Field(description="confirmed + corrected hypotheses with a stated confidence")
    confirmed: int
    mean_confidence: float = Field(description="mean stated confidence, without the adjustment applied at the time")
    adjustment: float

    @property
    def in_use(self) -> bool:
        """True once there are enough judgements to move the prior."""
        return self.judged >= MIN_PRIOR_SAMPLES


class AccuracyMetrics(BaseModel):
    """The feedback analysis of one time window."""

    path: Path
    time_period_days: int
    start: datetime
    end: datetime
    total_records: int = Field(description="records in the whole store")
    total_feedback: int = Field(description="records inside the window")
    after_window: int = Field(default=0, description="records dated after the end of the window, e.g. by a fast clock")
    counts_by_type: dict[str, int]
    hypotheses_confirmed: int
    hypotheses_corrected: int
    hypothesis_accuracy: float | None
    actions_successful: int
    actions_inappropriate: int
    action_success_rate: float | None
    common_mistakes: list[Mistake]
    better_actions: list[Mistake]
    category_performance: list[CategoryFeedback]
    outcomes: dict[str, int]
    mean_time_to_resolution_s: float | None
    resolution_count: int
    suggestions: list[str]
    prior_adjustments: list[PriorAdjustment] = Field(description="learned over all feedback, not only the window")


_CATEGORY_COLUMNS = {
    FeedbackType.HYPOTHESIS_CORRECT: 0,
    FeedbackType.HYPOTHESIS_INCORRECT: 1,
    FeedbackType.ACTION_SUCCESSFUL: 2,
    FeedbackType.ACTION_INAPPROPRIATE: 3,
}


# Plain and slotted, because the pass updates it for every record (pydantic's __setattr__ is slow there).
@dataclass(slots=True)
class _PriorSums:
    judged: int = 0
    confirmed: int = 0
    confidence_sum: float = 0.0


class _FeedbackAccumulator:
    """Running counts over the records of one pass; memory bounded by the category and action sets."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end
        self.after_window = 0
        self.total_records = 0
        self.in_window = 0
        self.by_type: dict[str, int] = {}
        self.mistakes: dict[tuple[str, str], int] = {}
        self.better_actions: dict[tuple[str, str], int] = {}
        # category -> [confirmed, corrected, actions successful, actions inappropriate]
        self.categories: dict[str, list[int]] = {}
        self.outcomes: dict[str, int] = {}
        self.resolution_sum = 0.0
        self.resolution_count = 0
        self.priors: dict[str, _PriorSums] = {}

    def add(self, feedback: OperatorFeedback) -> None:
        self.total_records += 1
        _add_prior_evidence(self.priors, feedback)
        if feedback.timestamp < self.start:
            return
        if feedback.timestamp > self.end:
            self.after_window += 1
            return

        self.in_window += 1
        kind = feedback.feedback_type
        self.by_type[kind.value] = self.by_type.get(kind.value, 0) + 1

        airra_category = feedback.airra_hypothesis_category.value if feedback.airra_hypothesis_category else "(not recorded)"
        column = _CATEGORY_COLUMNS.get(kind)
        if column is not None:
            self.categories.setdefault(airra_category, [0, 0, 0, 0])[column] += 1

        if kind is FeedbackType.HYPOTHESIS_INCORRECT:
            if feedback.correct_hypothesis_category is not None:
                key = (airra_category, feedback.correct_hypothesis_category.value)
                self.mistakes[key] = self.mistakes.get(key, 0) + 1
        elif kind is FeedbackType.ACTION_INAPPROPRIATE and feedback.correct_action_type is not None:
            airra_action = feedback.airra_action_type.value if feedback.airra_action_type else "(not recorded)"
            key = (airra_action, feedback.correct_action_type.value)
            self.better_actions[key] = self.better_actions.get(key, 0) + 1

        if feedback.incident_outcome is not None:
            self.outcomes[feedback.incident_outcome.value] = self.outcomes.get(feedback.incident_outcome.value, 0) + 1
        if feedback.time_to_resolution_seconds is not None:
            self.resolution_sum += feedback.time_to_resolution_seconds
            self.resolution_count += 1

    def metrics(self, path: Path, days: int, end: datetime) -> AccuracyMetrics:
        confirmed = self.by_type.get(FeedbackType.HYPOTHESIS_CORRECT.value, 0)
        corrected = self.by_type.get(FeedbackType.HYPOTHESIS_INCORRECT.value, 0)
        successful = self.by_type.get(FeedbackType.ACTION_SUCCESSFUL.value, 0)
        inappropriate = self.by_type.get(FeedbackType.ACTION_INAPPROPRIATE.value, 0)
        categories = [
            CategoryFeedback(category=name, confirmed=counts[0], corrected=counts[1],
                             actions_successful=counts[2], actions_inappropriate=counts[3])
            for name, counts in sorted(self.categories.items(), key=lambda item: (-sum(item[1]), item[0]))
        ]
        metrics = AccuracyMetrics(
            path=path,
            time_period_days=days,
            start=self.start,
            end=end,
            total_records=self.total_records,
            total_feedback=self.in_window,
            after_window=self.after_window,
            counts_by_type=dict(sorted(self.by_type.items(), key=lambda item: (-item[1], item[0]))),
            hypotheses_confirmed=confirmed,
            hypotheses_corrected=corrected,
            hypothesis_accuracy=_rate(confirmed, confirmed + corrected),
            actions_successful=successful,
            actions_inappropriate=inappropriate,
            action_success_rate=_rate(successful, successful + inappropriate),
            common_mistakes=_top(self.mistakes),
            better_actions=_top(self.better_actions),
            category_performance=categories,
            outcomes=dict(sorted(self.outcomes.items())),
            mean_time_to_resolution_s=self.resolution_sum / self.resolution_count if self.resolution_count else None,
            resolution_count=self.resolution_count,
            suggestions=[],
            prior_adjustments=_prior_adjustments(self.priors),
        )
        return metrics.model_copy(update={"suggestions": suggest_improvements(metrics)})


def _window_start(end: datetime, days: int) -> datetime:
    """Return the start of a window of ``days`` days ending at ``end``, or year 1 when it reaches past it."""
    try:
        return end - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _add_prior_evidence(priors: dict[str, _PriorSums], feedback: OperatorFeedback) -> None:
    """Count a confirmed or corrected hypothesis that has a stated confidence."""
    if feedback.feedback_type not in (FeedbackType.HYPOTHESIS_CORRECT, FeedbackType.HYPOTHESIS_INCORRECT):
        return
    if feedback.airra_hypothesis_category is None or feedback.airra_confidence is None:
        return
    sums = priors.setdefault(feedback.airra_hypothesis_category.value, _PriorSums())
    sums.judged += 1
    sums.confirmed += int(feedback.feedback_type is FeedbackType.HYPOTHESIS_CORRECT)
    sums.confidence_sum += feedback.airra_confidence - (feedback.airra_prior_adjustment or 0.0)


def _prior_adjustments(priors: dict[str, _PriorSums]) -> list[PriorAdjustment]:
    return [
        PriorAdjustment(
            category=category,
            judged=sums.judged,
            confirmed=sums.confirmed,
            mean_confidence=sums.confidence_sum / sums.judged,
            adjustment=prior_adjustment(sums.confirmed, sums.judged, sums.confidence_sum),
        )
        for category, sums in sorted(priors.items())
    ]


def prior_adjustment(confirmed: int, judged: int, confidence_sum: float) -> float:
    """Return the learned prior adjustment, rounded to 0.001 (formula in the module docstring)."""
    if judged < MIN_PRIOR_SAMPLES:
        return 0.0
    gap = (confirmed - confidence_sum) / (judged + PRIOR_PSEUDO_SAMPLES)
    return round(max(-MAX_PRIOR_ADJUSTMENT, min(MAX_PRIOR_ADJUSTMENT, gap)), 3)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _top(counts: dict[tuple[str, str], int]) -> list[Mistake]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_MISTAKES]
    return [Mistake(airra=airra, actual=actual, count=count) for (airra, actual), count in ordered]


def suggest_improvements(metrics: AccuracyMetrics) -> list[str]:
    """Return suggestions backed by the window's data; each needs a minimum sample count."""
    suggestions = []

    judged = metrics.hypotheses_confirmed + metrics.hypotheses_corrected
    if judged >= MIN_SUGGESTION_SAMPLES and metrics.hypothesis_accuracy is not None and metrics.hypothesis_accuracy < LOW_ACCURACY:
        suggestions.append(
            f"Hypothesis accuracy is low ({metrics.hypothesis_accuracy:.1%}, {metrics.hypotheses_confirmed} of "
            f"{judged} confirmed). Review the diagnosis rules and evidence weights of the categories below."
        )

    if metrics.common_mistakes and metrics.common_mistakes[0].count >= RECURRING_MISTAKE_COUNT:
        top = metrics.common_mistakes[0]
        suggestions.append(
            f"Most common mistake: saying '{top.airra}' when it was '{top.actual}' ({top.count} times). "
            "Add or sharpen the evidence that tells these two apart."
        )

    for category in metrics.category_performance:
        if category.judged >= MIN_SUGGESTION_SAMPLES and (category.accuracy or 0.0) < LOW_CATEGORY_ACCURACY:
            suggestions.append(
                f"'{category.category}' hypotheses were confirmed only {category.accuracy:.1%} of the time "
                f"({category.confirmed} of {category.judged}). Lower its base confidence or tighten its rules."
            )

    rated = metrics.actions_successful + metrics.actions_inappropriate
    if rated >= MIN_SUGGESTION_SAMPLES and metrics.action_success_rate is not None and metrics.action_success_rate < LOW_ACCURACY:
        suggestions.append(
            f"Action success rate is low ({metrics.action_success_rate:.1%}, {metrics.actions_successful} of {rated}). "
            "Review the effectiveness of the actions operators rejected."
        )

    if metrics.better_actions and metrics.better_actions[0].count >= RECURRING_MISTAKE_COUNT:
        top = metrics.better_actions[0]
        suggestions.append(
            f"Operators preferred '{top.actual}' over '{top.airra}' {top.count} times. "
            f"Raise the effectiveness of '{top.actual}' for the categories involved, or lower that of '{top.airra}'."
        )

    outcomes = sum(metrics.outcomes.values())
    escalated = metrics.outcomes.get(IncidentOutcome.ESCALATED.value, 0)
    if outcomes >= MIN_SUGGESTION_SAMPLES and escalated / outcomes > HIGH_ESCALATION_SHARE:
        suggestions.append(
            f"{escalated} of {outcomes} incidents with a known outcome were escalated ({escalated / outcomes:.1%}). "
            "Look at what the escalated incidents have in common."
        )
    return suggestions


class FeedbackCollector:
    """The operator feedback store, its analysis and the learned category priors.

    Args:
        path: the ``operator_feedback.jsonl`` file.
        clock: returns the current time (UTC); the analysis window ends there.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = Path(path)
        self.store = JsonlStore(self.path, schema_version=SCHEMA_VERSION, id_field="feedback_id")
        self._clock = clock
        self._prior_cache: tuple[tuple[int, int, int], dict[str, float]] | None = None

    def record_feedback(self, feedback: OperatorFeedback) -> bool:
        """Append one feedback record; False when its id is already stored."""
        written = self.store.append(feedback.model_dump(mode="json"))
        self._prior_cache = None
        log.info(
            "incident %s: %s feedback from %s recorded%s",
            feedback.incident_id, feedback.feedback_type.value, feedback.operator_id,
            "" if written else "; already stored, not counted again",
        )
        return written

    def iter_feedback(self) -> Iterator[OperatorFeedback]:
        """Stream the valid records; a record that fails validation is skipped with a warning."""
        def skip(line_number: int, exc: ValidationError) -> None:
            error = exc.errors()[0]
            location = ".".join(str(part) for part in error["loc"]) or "record"
            log.warning(
                "%s:%d: skipped invalid feedback record (%s: %s); the other records are kept",
                self.path, line_number, location, error["msg"],
            )

        yield from self.store.iter_validated(OperatorFeedback, skip)

    def calculate_accuracy_metrics(self, time_period_days: int = 30) -> AccuracyMetrics:
        """Analyse the feedback of the last ``time_period_days`` days in one streaming pass.

        Raises:
            ValueError: ``time_period_days`` is below 1.
        """
        if time_period_days < 1:
            raise ValueError(f"time period must be at least 1 day, got {time_period_days}")
        end = self._clock()
        accumulator = _FeedbackAccumulator(_window_start(end, time_period_days), end)
        for feedback in self.iter_feedback():
            accumulator.add(feedback)
        metrics = accumulator.metrics(self.path, time_period_days, end)
        self._prior_cache = (self._file_state(), {p.category: p.adjustment for p in metrics.prior_adjustments})
        return metrics

    def generate_feedback_report(self, time_period_days: int = 30) -> str:
        """Render the feedback report of the last ``time_period_days`` days."""
        return render_feedback_report(self.calculate_accuracy_metrics(time_period_days))

    def adjustment(self, category: str) -> float:
        """Return the learned prior adjustment of a category, within ±0.10; 0 below 5 judgements.

        The table is rebuilt only when the file changed since the last pass.
        """
        state = self._file_state()
        if self._prior_cache is None or self._prior_cache[0] != state:
            self._prior_cache = (state, {p.category: p.adjustment for p in self.prior_adjustments()})
        return self._prior_cache[1].get(str(category), 0.0)

    def prior_adjustments(self) -> list[PriorAdjustment]:
        """Return the learned adjustment of every category with judgements, and the data behind it."""
        priors: dict[str, _PriorSums] = {}
        for feedback in self.iter_feedback():
            _add_prior_evidence(priors, feedback)
        return _prior_adjustments(priors)

    def _file_state(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


# --- report ------------------------------------------------------------------------

_WIDTH = 60


def render_feedback_report(metrics: AccuracyMetrics) -> str:
    """Render the feedback report in the fixed section layout."""
    rule = "-" * _WIDTH
    lines = [
        "=" * _WIDTH,
        "OPERATOR FEEDBACK REPORT",
        "=" * _WIDTH,
        "",
        f"Store: {metrics.path}",
        f"Time Period: {metrics.time_period_days} days",
        # isoformat pads the year to four digits (strftime's %Y prints year 1 as "1").
        f"Date Range: {metrics.start.date().isoformat()} to {metrics.end.date().isoformat()}",
    ]
    if metrics.total_records == 0:
        skipped = count_stored_lines(metrics.path)
        if skipped:
            # Every line was unreadable or invalid: the records exist, so "no records yet" would be wrong.
            lines += ["", f"No readable records in {metrics.path}: all {skipped} lines were skipped; "
                      "the warnings name each line and why.", "", "=" * _WIDTH]
        else:
            lines += ["", f"No records yet in {metrics.path}.",
                      "Operators add feedback by replying in an incident thread.", "", "=" * _WIDTH]
        return "\n".join(lines)

    lines.append(f"Total Feedback: {metrics.total_feedback} ({metrics.total_records} records in the store)")
    if metrics.after_window:
        records = "1 record" if metrics.after_window == 1 else f"{metrics.after_window} records"
        lines.append(f"Not in the window: {records} dated after the end of the window; "
                     f"check the clock of the host that wrote {'it' if metrics.after_window == 1 else 'them'}")
    if metrics.total_feedback:
        lines += ["", rule, "FEEDBACK BY TYPE:", rule]
        lines += [f"  {kind:<40}{count:>4}" for kind, count in metrics.counts_by_type.items()]
        lines += ["", rule, "ACCURACY METRICS:", rule]
        lines += _render_accuracy(metrics)
        lines += ["", rule, "COMMON MISTAKES:", rule]
        lines += [f"  AIRRA: '{m.airra}' → Actually: '{m.actual}' ({_times(m.count)})" for m in metrics.common_mistakes]
        lines += [] if metrics.common_mistakes else ["  none recorded"]
        if metrics.better_actions:
            lines += ["", rule, "BETTER ACTIONS NAMED BY OPERATORS:", rule]
            lines += [f"  AIRRA: '{m.airra}' → Better: '{m.actual}' ({_times(m.count)})" for m in metrics.better_actions]
        if metrics.category_performance:
            lines += ["", rule, "PERFORMANCE BY CATEGORY:", rule]
            lines += _render_categories(metrics)
        lines += ["", rule, "IMPROVEMENT SUGGESTIONS:", rule]
        lines += [f"  • {s}" for s in metrics.suggestions] or ["  none: nothing in this window crosses a threshold"]
    else:
        lines += ["", f"No feedback in the last {metrics.time_period_days} days."]

    lines += ["", rule, "LEARNED PRIOR ADJUSTMENTS (all feedback, used by the diagnosis):", rule]
    lines += _render_priors(metrics)
    lines += ["", "=" * _WIDTH]
    return "\n".join(lines)


def _render_accuracy(metrics: AccuracyMetrics) -> list[str]:
    judged = metrics.hypotheses_confirmed + metrics.hypotheses_corrected
    rated = metrics.actions_successful + metrics.actions_inappropriate
    hypothesis = (
        f"{metrics.hypothesis_accuracy:.1%} ({metrics.hypotheses_confirmed} of {judged} confirmed)"
        if metrics.hypothesis_accuracy is not None else "no data"
    )
    action = (
        f"{metrics.action_success_rate:.1%} ({metrics.actions_successful} of {rated} successful)"
        if metrics.action_success_rate is not None else "no data"
    )
    resolution = (
        f"{metrics.mean_time_to_resolution_s / 60:.1f}m (over {metrics.resolution_count})"
        if metrics.mean_time_to_resolution_s is not None else "no data"
    )
    outcomes = ", ".join(f"{name} {count}" for name, count in metrics.outcomes.items()) or "no data"
    return [
        f"  Hypothesis Accuracy: {hypothesis}",
        f"  Action Success Rate: {action}",
        f"  Mean Time to Resolution: {resolution}",
        f"  Incident Outcomes: {outcomes}",
    ]


def _render_categories(metrics: AccuracyMetrics) -> list[str]:
    lines = [f"  {'Category':<22}{'Confirmed':>10}{'Corrected':>10}{'Accuracy':>10}{'Actions OK':>12}"]
    for c in metrics.category_performance:
        accuracy = f"{c.accuracy:.1%}" if c.accuracy is not None else "no data"
        rated = c.actions_successful + c.actions_inappropriate
        actions = f"{c.actions_successful}/{rated}" if rated else "no data"
        lines.append(f"  {c.category:<22}{c.confirmed:>10}{c.corrected:>10}{accuracy:>10}{actions:>12}")
    return lines


def _render_priors(metrics: AccuracyMetrics) -> list[str]:
    active = [p for p in metrics.prior_adjustments if p.in_use]
    waiting = [p for p in metrics.prior_adjustments if not p.in_use]
    lines = []
    if active:
        lines.append(f"  {'Category':<24}{'Judged':>7}{'Accuracy':>10}{'Stated':>8}{'Adjustment':>12}")
        for p in active:
            lines.append(
                f"  {p.category:<24}{p.judged:>7}{p.confirmed / p.judged:>10.1%}{p.mean_confidence:>8.2f}{p.adjustment:>+12.3f}"
            )
    else:
        lines.append("  none yet: no category has enough judgements to move its prior")
    if waiting:
        pending = ", ".join(f"{p.category} {p.judged}/{MIN_PRIOR_SAMPLES}" for p in waiting)
        lines.append(f"  waiting for {MIN_PRIOR_SAMPLES} judgements: {pending}")
    lines.append(
        f"  (adjustment = clamp((confirmed − Σ stated confidence) / (judged + {PRIOR_PSEUDO_SAMPLES}), "
        f"±{MAX_PRIOR_ADJUSTMENT:.2f}); only judgements with a stated confidence count)"
    )
    return lines


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"
