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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from typing_extensions import NotRequired, TypedDict

from airra.actions import ActionType
from airra.categories import Category
from airra.jsonl_store import JsonlStore, count_stored_lines, enum_values

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
            implied = _IMPLIED_OUTCOMES.get(self.feedback_type)
            if implied is not None:
                self.incident_outcome = IncidentOutcome(implied)
        return self


# The outcome that INCIDENT_RESOLVED and INCIDENT_ESCALATED feedback imply when it names none.
_IMPLIED_OUTCOMES: dict[str, str] = {
    FeedbackType.INCIDENT_RESOLVED.value: IncidentOutcome.RESOLVED.value,
    FeedbackType.INCIDENT_ESCALATED.value: IncidentOutcome.ESCALATED.value,
}


class StoredFeedback(TypedDict):
    """An ``OperatorFeedback`` line as the reports read it: a plain dict, enum fields as their string values.

    It has the model's fields and constraints, all checked inside
    pydantic-core, so it accepts the same lines as the model, at less
    cost per line. It runs none of the model's Python validators, so a
    reader applies them itself: a timestamp without zone is UTC, a missing
    one is the time of reading, and ``_IMPLIED_OUTCOMES`` fills a missing
    outcome. A field with a default in the model may be absent.
    """

    feedback_id: NotRequired[str]
    # The model's _known_schema as a constraint. A line that fails it is
    # validated again by the model, whose error message names the version and recommends upgrading AIRRA.
    schema_version: NotRequired[Annotated[int, Field(le=SCHEMA_VERSION)]]
    timestamp: NotRequired[datetime]
    incident_id: str
    service_name: str
    operator_id: Annotated[str, Field(min_length=1)]
    operator_name: NotRequired[str | None]
    feedback_type: Annotated[str, enum_values(FeedbackType)]
    feedback_text: NotRequired[str]
    airra_hypothesis_category: NotRequired[Annotated[str, enum_values(Category)] | None]
    airra_hypothesis_description: NotRequired[str | None]
    airra_confidence: NotRequired[Annotated[float, Field(ge=0, le=1)] | None]
    airra_prior_adjustment: NotRequired[float | None]
    airra_action_type: NotRequired[Annotated[str, enum_values(ActionType)] | None]
    correct_hypothesis_category: NotRequired[Annotated[str, enum_values(Category)] | None]
    correct_action_type: NotRequired[Annotated[str, enum_values(ActionType)] | None]
    incident_outcome: NotRequired[Annotated[str, enum_values(IncidentOutcome)] | None]
    time_to_resolution_seconds: NotRequired[Annotated[float, Field(ge=0)] | None]
    notes: NotRequired[str | None]
    tags: NotRequired[list[str]]


STORED_FEEDBACK = TypeAdapter(StoredFeedback)


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


# Feedback type -> column of the per-category counts.
_CATEGORY_COLUMNS = {
    FeedbackType.HYPOTHESIS_CORRECT.value: 0,
    FeedbackType.HYPOTHESIS_INCORRECT.value: 1,
    FeedbackType.ACTION_SUCCESSFUL.value: 2,
    FeedbackType.ACTION_INAPPROPRIATE.value: 3,
}
# Feedback type that judges a hypothesis -> 1 when it confirms it, 0 when it corrects it.
_JUDGEMENTS = {FeedbackType.HYPOTHESIS_CORRECT.value: 1, FeedbackType.HYPOTHESIS_INCORRECT.value: 0}
_NOT_RECORDED = "(not recorded)"

# (feedback type, AIRRA's category, correct category, AIRRA's action, correct action, incident outcome)
_Combination = tuple[str, str | None, str | None, str | None, str | None, str | None]


# Plain and slotted, because the pass updates it for every record (pydantic's __setattr__ is slow there).
@dataclass(slots=True)
class _PriorSums:
    judged: int = 0
    confirmed: int = 0
    confidence_sum: float = 0.0


@dataclass
class _WindowTables:
    """The per-type, per-category, mistake and outcome counts of one window."""

    by_type: dict[str, int]
    # category -> [confirmed, corrected, actions successful, actions inappropriate]
    categories: dict[str, list[int]]
    mistakes: dict[tuple[str, str], int]
    better_actions: dict[tuple[str, str], int]
    outcomes: dict[str, int]


class _FeedbackAccumulator:
    """Running counts over the records of one pass; memory bounded by the category and action sets.

    Each record in the window adds 1 to the count of its combination of
    categorical fields, and ``metrics`` sums those counts into the report's
    tables. That keeps the work per record to a few dict operations.
    """

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end
        self.after_window = 0
        self.total_records = 0
        self.in_window = 0
        self.combinations: dict[_Combination, int] = {}
        self.resolution_sum = 0.0
        self.resolution_count = 0
        self.priors: dict[str, _PriorSums] = {}

    def add_all(self, records: Iterable[StoredFeedback]) -> None:
        """Count every record, in one loop over local names because it runs once per stored record."""
        start, end = self.start, self.end
        priors = self.priors
        combinations = self.combinations
        total = in_window = after_window = resolution_count = 0
        resolution_sum = self.resolution_sum

        for record in records:
            total += 1
            kind = record["feedback_type"]
            confirmed = _JUDGEMENTS.get(kind)
            if confirmed is not None:
                _add_prior_evidence(priors, record, confirmed)

            # OperatorFeedback's timestamp rules: the default is the time of
            # reading, and a timestamp without zone is UTC.
            timestamp = record.get("timestamp")
            if timestamp is None:
                timestamp = datetime.now(UTC)
            elif timestamp.tzinfo is None:
                timestamp = timestamp.replace(tzinfo=UTC)
            if timestamp < start:
                continue
            if timestamp > end:
                after_window += 1
                continue

            in_window += 1
            combination = (
                kind,
                record.get("airra_hypothesis_category"),
                record.get("correct_hypothesis_category"),
                record.get("airra_action_type"),
                record.get("correct_action_type"),
                record.get("incident_outcome") or _IMPLIED_OUTCOMES.get(kind),
            )
            combinations[combination] = combinations.get(combination, 0) + 1
            resolution = record.get("time_to_resolution_seconds")
            if resolution is not None:
                resolution_sum += resolution
                resolution_count += 1

        self.total_records += total
        self.in_window += in_window
        self.after_window += after_window
        self.resolution_sum = resolution_sum
        self.resolution_count += resolution_count

    def tables(self) -> _WindowTables:
        """Sum the combination counts into the report's tables."""
        tables = _WindowTables(by_type={}, categories={}, mistakes={}, better_actions={}, outcomes={})
        for (kind, category, correct_category, action, correct_action, outcome), count in self.combinations.items():
            tables.by_type[kind] = tables.by_type.get(kind, 0) + count
            airra_category = category or _NOT_RECORDED
            column = _CATEGORY_COLUMNS.get(kind)
            if column is not None:
                tables.categories.setdefault(airra_category, [0, 0, 0, 0])[column] += count

            if kind == FeedbackType.HYPOTHESIS_INCORRECT and correct_category is not None:
                key = (airra_category, correct_category)
                tables.mistakes[key] = tables.mistakes.get(key, 0) + count
            elif kind == FeedbackType.ACTION_INAPPROPRIATE and correct_action is not None:
                key = (action or _NOT_RECORDED, correct_action)
                tables.better_actions[key] = tables.better_actions.get(key, 0) + count

            if outcome is not None:
                tables.outcomes[outcome] = tables.outcomes.get(outcome, 0) + count
        return tables

    def metrics(self, path: Path, days: int, end: datetime) -> AccuracyMetrics:
        tables = self.tables()
        confirmed = tables.by_type.get(FeedbackType.HYPOTHESIS_CORRECT.value, 0)
        corrected = tables.by_type.get(FeedbackType.HYPOTHESIS_INCORRECT.value, 0)
        successful = tables.by_type.get(FeedbackType.ACTION_SUCCESSFUL.value, 0)
        inappropriate = tables.by_type.get(FeedbackType.ACTION_INAPPROPRIATE.value, 0)
        categories = [
            CategoryFeedback(category=name, confirmed=counts[0], corrected=counts[1],
                             actions_successful=counts[2], actions_inappropriate=counts[3])
            for name, counts in sorted(tables.categories.items(), key=lambda item: (-sum(item[1]), item[0]))
        ]
        metrics = AccuracyMetrics(
            path=path,
            time_period_days=days,
            start=self.start,
            end=end,
            total_records=self.total_records,
            total_feedback=self.in_window,
            after_window=self.after_window,
            counts_by_type=dict(sorted(tables.by_type.items(), key=lambda item: (-item[1], item[0]))),
            hypotheses_confirmed=confirmed,
            hypotheses_corrected=corrected,
            hypothesis_accuracy=_rate(confirmed, confirmed + corrected),
            actions_successful=successful,
            actions_inappropriate=inappropriate,
            action_success_rate=_rate(successful, successful + inappropriate),
            common_mistakes=_top(tables.mistakes),
            better_actions=_top(tables.better_actions),
            category_performance=categories,
            outcomes=dict(sorted(tables.outcomes.items())),
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


def _add_prior_evidence(priors: dict[str, _PriorSums], record: StoredFeedback, confirmed: int) -> None:
    """Count a confirmed (1) or corrected (0) hypothesis when it has a category and a stated confidence."""
    category = record.get("airra_hypothesis_category")
    confidence = record.get("airra_confidence")
    if category is None or confidence is None:
        return
    sums = priors.get(category)
    if sums is None:
        sums = priors[category] = _PriorSums()
    sums.judged += 1
    sums.confirmed += confirmed
    sums.confidence_sum += confidence - (record.get("airra_prior_adjustment") or 0.0)


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
        yield from self.store.iter_validated(OperatorFeedback, self._skip_invalid)

    def iter_stored(self) -> Iterator[StoredFeedback]:
        """Stream the valid records as ``StoredFeedback``, skipping the same records as ``iter_feedback``.

        The reports read the store this way. A line that ``StoredFeedback``
        rejects is validated again by ``OperatorFeedback``, so the warning
        names the model's error, and a record only the model accepts (one
        that ``json.loads`` reads but pydantic's JSON parser does not) is
        still counted.
        """
        def validate_record(line_number: int, record: dict[str, Any]) -> StoredFeedback | None:
            try:
                return STORED_FEEDBACK.validate_python(OperatorFeedback.model_validate(record).model_dump())
            except ValidationError as exc:
                self._skip_invalid(line_number, exc)
                return None

        return self.store.iter_parsed(STORED_FEEDBACK.validator.validate_json, validate_record)

    def _skip_invalid(self, line_number: int, exc: ValidationError) -> None:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"]) or "record"
        log.warning(
            "%s:%d: skipped invalid feedback record (%s: %s); the other records are kept",
            self.path, line_number, location, error["msg"],
        )

    def calculate_accuracy_metrics(self, time_period_days: int = 30) -> AccuracyMetrics:
        """Analyse the feedback of the last ``time_period_days`` days in one streaming pass.

        Raises:
            ValueError: ``time_period_days`` is below 1.
        """
        if time_period_days < 1:
            raise ValueError(f"time period must be at least 1 day, got {time_period_days}")
        end = self._clock()
        accumulator = _FeedbackAccumulator(_window_start(end, time_period_days), end)
        accumulator.add_all(self.iter_stored())
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
        for record in self.iter_stored():
            confirmed = _JUDGEMENTS.get(record["feedback_type"])
            if confirmed is not None:
                _add_prior_evidence(priors, record, confirmed)
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
