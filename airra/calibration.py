"""Confidence versus verified outcome: the record, the calibration report and the learned counts.

Every executed action appends one ``ConfidenceOutcomeRecord`` to
``confidence_tracking.jsonl``. The calibration report compares AIRRA's
stated confidence with how often its actions verifiably worked:

- Only *verified trials* count: records of executed actions whose outcome is
  SUCCESS, PARTIAL_SUCCESS, NO_CHANGE, DEGRADED or UNSTABLE. An execution
  failure, a dry run or insufficient data carries no evidence about the
  diagnosis.
- A trial is a success when its status is SUCCESS, or PARTIAL_SUCCESS when
  ``partial_success_counts`` is set. Success is derived from the stored status
  at read time, so changing the setting reinterprets the history consistently.
- Bin of confidence c = min(9, ⌊10·c + 10⁻⁹⌋). The 10⁻⁹ absorbs binary
  rounding, so 0.3 (10·0.3 = 3.0000000000000004) and 0.7 land in 0.3–0.4
  and 0.7–0.8, and 1.0 joins 0.9–1.0.
- ECE = Σ_b (n_b ÷ N)·|mean confidence_b − success rate_b| over the bins.
- Brier score = mean of (c − y)², y = 1 for a success and 0 otherwise.
- A bin with fewer than 10 trials is flagged: its rate is too noisy to read.

The same file feeds the what-if simulator: ``counts(category, action)``
returns the verified successes and trials of a (category, action) pair.
Everything is aggregated while the file streams, so memory does not grow
with the number of records.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from typing_extensions import NotRequired, TypedDict

from airra.actions import ActionType
from airra.categories import Category
from airra.jsonl_store import JsonlStore, count_stored_lines, enum_values
from airra.simulation import posterior_probability, prior_probability
from airra.verification import VerificationStatus

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BIN_COUNT = 10
BIN_EPSILON = 1e-9
MIN_BIN_SAMPLES = 10
# Verified trials a (category, action) pair needs before the simulator uses
# its observed counts instead of the prior alone.
MIN_OUTCOME_TRIALS = 5

VERIFIED_OUTCOMES = frozenset(
    {
        VerificationStatus.SUCCESS,
        VerificationStatus.PARTIAL_SUCCESS,
        VerificationStatus.NO_CHANGE,
        VerificationStatus.DEGRADED,
        VerificationStatus.UNSTABLE,
    }
)


def confidence_bin(confidence: float) -> int:
    """Return the calibration bin (0–9) of a confidence in [0, 1]."""
    return max(0, min(BIN_COUNT - 1, math.floor(BIN_COUNT * confidence + BIN_EPSILON)))


class ConfidenceOutcomeRecord(BaseModel):
    """One executed (or proposed) action: how confident AIRRA was and what happened."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=lambda: uuid4().hex, description="unique; a retried write with the same id is stored once")
    schema_version: int = SCHEMA_VERSION
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    incident_id: str
    service_name: str
    hypothesis_category: Category
    hypothesis_description: str = ""
    confidence_score: float = Field(ge=0, le=1)
    action_type: ActionType | None = None
    action_executed: bool
    outcome_status: VerificationStatus | None = Field(default=None, description="None when nothing was verified")
    outcome_success: bool = Field(default=False, description="whether it counted as a success when written")
    before_metrics: dict[str, float | None] = Field(default_factory=dict)
    after_metrics: dict[str, float | None] = Field(default_factory=dict)
    verification_metrics: dict[str, float | None] = Field(
        default_factory=dict, description="improvement percentage of each scored metric"
    )
    time_to_resolution_seconds: float | None = Field(default=None, ge=0)
    blast_radius_level: str | None = None
    risk_level: str | None = None

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

    @property
    def is_verified_trial(self) -> bool:
        """True when the action ran and its outcome was measured."""
        return self.action_executed and self.outcome_status in VERIFIED_OUTCOMES


class StoredOutcome(TypedDict):
    """A ``ConfidenceOutcomeRecord`` line as the reports read it: a plain dict, enum fields as their string values.

    It has the model's fields and constraints, all checked inside
    pydantic-core, so it accepts the same lines as the model, at less
    cost per line. The model's ``_assume_utc`` does not run, because the
    calibration report does not read the timestamp. A field with a default
    in the model may be absent.
    """

    id: NotRequired[str]
    # The model's _known_schema as a constraint. A line that fails it is
    # validated again by the model, whose error message names the version and recommends upgrading AIRRA.
    schema_version: NotRequired[Annotated[int, Field(le=SCHEMA_VERSION)]]
    timestamp: NotRequired[datetime]
    incident_id: str
    service_name: str
    hypothesis_category: Annotated[str, enum_values(Category)]
    hypothesis_description: NotRequired[str]
    confidence_score: Annotated[float, Field(ge=0, le=1)]
    action_type: NotRequired[Annotated[str, enum_values(ActionType)] | None]
    action_executed: bool
    outcome_status: NotRequired[Annotated[str, enum_values(VerificationStatus)] | None]
    outcome_success: NotRequired[bool]
    before_metrics: NotRequired[dict[str, float | None]]
    after_metrics: NotRequired[dict[str, float | None]]
    verification_metrics: NotRequired[dict[str, float | None]]
    time_to_resolution_seconds: NotRequired[Annotated[float, Field(ge=0)] | None]
    blast_radius_level: NotRequired[str | None]
    risk_level: NotRequired[str | None]


STORED_OUTCOME = TypeAdapter(StoredOutcome)


class CalibrationBin(BaseModel):
    """Verified trials whose confidence fell in one tenth of [0, 1]."""

    index: int
    lower: float
    upper: float
    count: int = 0
    mean_confidence: float | None = None
    success_rate: float | None = None
    abs_error: float | None = None
    too_few: bool = Field(default=True, description="fewer than MIN_BIN_SAMPLES trials")

    @property
    def label(self) -> str:
        """Range label, e.g. ``0.3-0.4``."""
        return f"{self.lower:.1f}-{self.upper:.1f}"


class CategoryPerformance(BaseModel):
    """Verified outcomes of one hypothesis category."""

    category: str
    count: int
    successes: int
    success_rate: float
    mean_confidence: float
    mean_time_to_resolution_s: float | None = Field(default=None, description="over records that have one")
    resolution_count: int = 0


class OutcomeCount(BaseModel):
    """Verified successes and trials of one (category, action) pair."""

    category: str
    action: str
    successes: int
    trials: int

    @property
    def in_use(self) -> bool:
        """True once the simulator uses these counts."""
        return self.trials >= MIN_OUTCOME_TRIALS


class CalibrationSummary(BaseModel):
    """Everything the calibration report shows."""

    path: Path
    total_records: int
    verified_records: int
    unverified_by_reason: dict[str, int] = Field(default_factory=dict)
    partial_success_counts: bool
    overall_accuracy: float | None = None
    ece: float | None = None
    brier_score: float | None = None
    bins: list[CalibrationBin]
    categories: list[CategoryPerformance]
    outcome_counts: list[OutcomeCount]


# A plain slotted class: the pass updates these sums for every record, and pydantic's
# validated __setattr__ made that the slowest part of a report over a large store.
@dataclass(slots=True)
class _Sums:
    count: int = 0
    successes: int = 0
    confidence_sum: float = 0.0
    resolution_sum: float = 0.0
    resolution_count: int = 0


class _CalibrationAccumulator:
    """Running sums over the records of one pass; constant memory."""

    def __init__(self, partial_success_counts: bool) -> None:
        self.partial_success_counts = partial_success_counts
        self.total = 0
        self.unverified: dict[str, int] = {}
        self.bins = [_Sums() for _ in range(BIN_COUNT)]
        self.categories: dict[str, _Sums] = {}
        self.pairs: dict[tuple[str, str], _Sums] = {}
        self.squared_error_sum = 0.0

    def add_all(self, records: Iterable[StoredOutcome]) -> None:
        """Add every record, in one loop over local names because it runs once per stored record."""
        successes = _success_statuses(partial_success_counts=self.partial_success_counts)
        bins, categories, pairs = self.bins, self.categories, self.pairs
        total = 0
        squared_error_sum = self.squared_error_sum

        for record in records:
            total += 1
            status = record.get("outcome_status")
            if not record["action_executed"] or status not in VERIFIED_OUTCOMES:
                reason = _unverified_reason(record["action_executed"], status)
                self.unverified[reason] = self.unverified.get(reason, 0) + 1
                continue

            success = status in successes
            confidence = record["confidence_score"]
            resolution = record.get("time_to_resolution_seconds")
            squared_error_sum += (confidence - (1.0 if success else 0.0)) ** 2
            _add(bins[confidence_bin(confidence)], confidence, resolution, success)
            category = record["hypothesis_category"]
            sums = categories.get(category)
            if sums is None:
                sums = categories[category] = _Sums()
            _add(sums, confidence, resolution, success)
            action = record.get("action_type")
            if action is not None:
                key = (category, action)
                sums = pairs.get(key)
                if sums is None:
                    sums = pairs[key] = _Sums()
                _add(sums, confidence, resolution, success)

        self.total += total
        self.squared_error_sum = squared_error_sum

    def summary(self, path: Path) -> CalibrationSummary:
        verified = sum(b.count for b in self.bins)
        bins = [_bin_of(index, sums) for index, sums in enumerate(self.bins)]
        ece = None
        accuracy = None
        brier = None
        if verified:
            ece = sum(b.count / verified * b.abs_error for b in bins if b.abs_error is not None)
            accuracy = sum(b.successes for b in self.bins) / verified
            brier = self.squared_error_sum / verified

        categories = [
            CategoryPerformance(
                category=name,
                count=sums.count,
                successes=sums.successes,
                success_rate=sums.successes / sums.count,
                mean_confidence=sums.confidence_sum / sums.count,
                mean_time_to_resolution_s=sums.resolution_sum / sums.resolution_count if sums.resolution_count else None,
                resolution_count=sums.resolution_count,
            )
            for name, sums in sorted(self.categories.items(), key=lambda item: (-item[1].count, item[0]))
        ]
        pairs = [
            OutcomeCount(category=category, action=action, successes=sums.successes, trials=sums.count)
            for (category, action), sums in sorted(self.pairs.items())
        ]
        return CalibrationSummary(
            path=path,
            total_records=self.total,
            verified_records=verified,
            unverified_by_reason=dict(sorted(self.unverified.items())),
            partial_success_counts=self.partial_success_counts,
            overall_accuracy=accuracy,
            ece=ece,
            brier_score=brier,
            bins=bins,
            categories=categories,
            outcome_counts=pairs,
        )


def _add(sums: _Sums, confidence: float, resolution: float | None, success: bool) -> None:
    sums.count += 1
    sums.successes += success
    sums.confidence_sum += confidence
    if resolution is not None:
        sums.resolution_sum += resolution
        sums.resolution_count += 1


def _bin_of(index: int, sums: _Sums) -> CalibrationBin:
    calibration_bin = CalibrationBin(
        index=index, lower=index / BIN_COUNT, upper=(index + 1) / BIN_COUNT, count=sums.count,
        too_few=sums.count < MIN_BIN_SAMPLES,
    )
    if sums.count:
        mean = sums.confidence_sum / sums.count
        rate = sums.successes / sums.count
        calibration_bin.mean_confidence = mean
        calibration_bin.success_rate = rate
        calibration_bin.abs_error = abs(mean - rate)
    return calibration_bin


def _unverified_reason(action_executed: bool, status: str | None) -> str:
    if not action_executed:
        return "not executed"
    if status is None:
        return "not verified"
    return status


def counts_as_success(status: VerificationStatus | str | None, *, partial_success_counts: bool) -> bool:
    """Return True when an outcome status (a ``VerificationStatus`` or its value) counts as a success."""
    return status in _success_statuses(partial_success_counts=partial_success_counts)


def _success_statuses(*, partial_success_counts: bool) -> frozenset[VerificationStatus]:
    # A StrEnum member hashes and compares as its value, so plain strings find it too.
    if partial_success_counts:
        return frozenset({VerificationStatus.SUCCESS, VerificationStatus.PARTIAL_SUCCESS})
    return frozenset({VerificationStatus.SUCCESS})


class ConfidenceTracker:
    """The confidence-versus-outcome store and its reports.

    Args:
        path: the ``confidence_tracking.jsonl`` file.
        partial_success_counts: count PARTIAL_SUCCESS as a success.
    """

    def __init__(self, path: Path, *, partial_success_counts: bool = False) -> None:
        self.path = Path(path)
        self.partial_success_counts = partial_success_counts
        self.store = JsonlStore(self.path, schema_version=SCHEMA_VERSION)
        self._pair_cache: tuple[tuple[int, int, int], dict[tuple[str, str], tuple[int, int]]] | None = None

    def record_outcome(self, record: ConfidenceOutcomeRecord) -> bool:
        """Append a record; False when a record with its id is already stored."""
        written = self.store.append(record.model_dump(mode="json"))
        self._pair_cache = None
        log.info(
            "incident %s: outcome %s of %s on %s recorded (confidence %.2f)%s",
            record.incident_id,
            record.outcome_status.value if record.outcome_status else "unverified",
            record.action_type.value if record.action_type else "no action",
            record.service_name,
            record.confidence_score,
            "" if written else "; already stored, not counted again",
        )
        return written

    def iter_outcomes(self) -> Iterator[ConfidenceOutcomeRecord]:
        """Stream the valid records; a record that fails validation is skipped with a warning."""
        yield from self.store.iter_validated(ConfidenceOutcomeRecord, self._skip_invalid)

    def iter_stored(self) -> Iterator[StoredOutcome]:
        """Stream the valid records as ``StoredOutcome``, skipping the same records as ``iter_outcomes``.

        The calibration report reads the store this way. A line that
        ``StoredOutcome`` rejects is validated again by
        ``ConfidenceOutcomeRecord``, so the warning names the model's error,
        and a record only the model accepts (one that ``json.loads`` reads but
        pydantic's JSON parser does not) is still counted.
        """
        def validate_record(line_number: int, record: dict[str, Any]) -> StoredOutcome | None:
            try:
                return STORED_OUTCOME.validate_python(ConfidenceOutcomeRecord.model_validate(record).model_dump())
            except ValidationError as exc:
                self._skip_invalid(line_number, exc)
                return None

        return self.store.iter_parsed(STORED_OUTCOME.validator.validate_json, validate_record)

    def _skip_invalid(self, line_number: int, exc: ValidationError) -> None:
        log.warning(
            "%s:%d: skipped invalid outcome record (%s); the other records are kept",
            self.path, line_number, _first_error(exc),
        )

    def calculate_calibration(self) -> CalibrationSummary:
        """Aggregate the whole store in one streaming pass."""
        accumulator = _CalibrationAccumulator(self.partial_success_counts)
        accumulator.add_all(self.iter_stored())
        summary = accumulator.summary(self.path)
        self._pair_cache = (self._file_state(), {
            (c.category, c.action): (c.successes, c.trials) for c in summary.outcome_counts
        })
        return summary

    def generate_calibration_report(self) -> str:
        """Render the calibration report of the whole store."""
        return render_calibration_report(self.calculate_calibration())

    def counts(self, category: str, action: str) -> tuple[int, int]:
        """Return (verified successes, verified trials) of a (category, action) pair.

        The table is rebuilt only when the file changed since the last pass,
        so the simulator can ask about every candidate action cheaply.
        """
        state = self._file_state()
        if self._pair_cache is None or self._pair_cache[0] != state:
            self.calculate_calibration()
        assert self._pair_cache is not None
        return self._pair_cache[1].get((str(category), str(action)), (0, 0))

    def _file_state(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "record"
    return f"{location}: {error['msg']}"


# --- report ------------------------------------------------------------------------

_WIDTH = 60


def render_calibration_report(summary: CalibrationSummary) -> str:
    """Render the calibration report: totals, ECE, Brier, bins, categories and learned counts."""
    rule = "-" * _WIDTH
    lines = ["=" * _WIDTH, "CONFIDENCE CALIBRATION REPORT", "=" * _WIDTH, "", f"Store: {summary.path}"]

    if summary.total_records == 0:
        lines += ["", *_no_records(summary.path), "=" * _WIDTH]
        return "\n".join(lines)

    lines += _render_totals(summary)
    if summary.verified_records:
        lines += ["", rule, "CALIBRATION BY CONFIDENCE BIN:", rule]
        lines += _render_bins(summary)
        lines += ["", rule, "PERFORMANCE BY CATEGORY:", rule]
        lines += _render_categories(summary)
    lines += ["", rule, "LEARNED SUCCESS COUNTS (what-if simulator):", rule]
    lines += _render_outcome_counts(summary)
    lines += ["", "=" * _WIDTH]
    return "\n".join(lines)


def _no_records(path: Path) -> list[str]:
    """Explain an empty report: a new store, or one whose every line was skipped (the warnings give the reasons)."""
    skipped = count_stored_lines(path)
    if skipped:
        return [f"No readable records in {path}: all {skipped} lines were skipped; the warnings name each line and why."]
    return [f"No records yet in {path}.",
            "A record is added after every executed action, once its outcome is verified."]


def _render_totals(summary: CalibrationSummary) -> list[str]:
    unverified = summary.total_records - summary.verified_records
    lines = ["", f"Total Records: {summary.total_records} ({summary.verified_records} verified outcomes, {unverified} not counted)"]
    if summary.unverified_by_reason:
        reasons = ", ".join(f"{reason} {count}" for reason, count in summary.unverified_by_reason.items())
        lines.append(f"Not counted: {reasons}")
    if summary.verified_records == 0:
        lines.append("No verified outcomes yet, so there is nothing to calibrate.")
        return lines

    assert summary.overall_accuracy is not None
    assert summary.ece is not None
    assert summary.brier_score is not None
    success_rule = (
        "SUCCESS and PARTIAL_SUCCESS count as successes"
        if summary.partial_success_counts
        else "only SUCCESS counts as a success (AIRRA_PARTIAL_SUCCESS_COUNTS=true adds PARTIAL_SUCCESS)"
    )
    lines += [
        f"Overall Accuracy: {summary.overall_accuracy:.1%}",
        f"Expected Calibration Error (ECE): {summary.ece:.3f}",
        "(Lower ECE = better calibrated. Perfect calibration = 0.0)",
        f"Brier Score: {summary.brier_score:.3f}",
        "(Mean squared gap between confidence and outcome. 0.0 is perfect; a constant 0.5 scores 0.250)",
        f"Success rule: {success_rule}",
    ]
    return lines


def _render_bins(summary: CalibrationSummary) -> list[str]:
    lines = [f"{'Range':>10}{'Predicted':>14}{'Actual':>13}{'Samples':>11}{'Error':>12}", "-" * _WIDTH]
    flagged = False
    for b in summary.bins:
        if b.count == 0:
            continue
        assert b.mean_confidence is not None
        assert b.success_rate is not None
        assert b.abs_error is not None
        flag = "  (few samples)" if b.too_few else ""
        flagged = flagged or b.too_few
        lines.append(
            f"{b.label:>10}{b.mean_confidence:>14.1%}{b.success_rate:>13.1%}{b.count:>11}{b.abs_error:>12.3f}{flag}"
        )
    if flagged:
        lines.append(f"(few samples: under {MIN_BIN_SAMPLES} verified outcomes, so the actual rate is noisy)")
    return lines


def _render_categories(summary: CalibrationSummary) -> list[str]:
    lines = [f"{'Category':>22}{'Count':>8}{'Success':>10}{'Avg Conf':>10}{'Avg MTTR':>10}", "-" * _WIDTH]
    for c in summary.categories:
        mttr = f"{c.mean_time_to_resolution_s / 60:.1f}m" if c.mean_time_to_resolution_s is not None else "-"
        lines.append(f"{c.category:>22}{c.count:>8}{c.success_rate:>10.1%}{c.mean_confidence:>10.2f}{mttr:>10}")
    return lines


def _render_outcome_counts(summary: CalibrationSummary) -> list[str]:
    if not summary.outcome_counts:
        return ["No verified outcomes yet: the simulator uses its prior success probabilities."]
    lines = [f"{'Category':>22}  {'Action':<20}{'Success/Trials':>14}{'p0':>7}{'P_fix':>7}  Status"]
    for pair in summary.outcome_counts:
        prior = prior_probability(Category(pair.category), ActionType(pair.action))
        p_fix = posterior_probability(prior, pair.successes, pair.trials)
        status = "in use" if pair.in_use else f"prior only, {MIN_OUTCOME_TRIALS - pair.trials} more trial(s) needed"
        counts = f"{pair.successes}/{pair.trials}"
        lines.append(f"{pair.category:>22}  {pair.action:<20}{counts:>14}{prior:>7.3f}{p_fix:>7.3f}  {status}")
    lines.append(
        f"(Once a pair has {MIN_OUTCOME_TRIALS} verified trials the simulator uses "
        "P_fix = (10·p0 + successes) / (10 + trials) instead of the prior p0.)"
    )
    return lines
