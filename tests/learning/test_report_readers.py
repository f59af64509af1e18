"""The reports' plain-dict readers count exactly what the record models count.

The calibration and feedback reports read the stores as ``StoredOutcome`` and
``StoredFeedback`` dicts and sum them in tight loops. Each test here writes a
random store and counts it a second time the plain way, one validated model
object at a time through ``iter_outcomes`` and ``iter_feedback``. It then
checks that the report's figures equal that count. The lines include some
that only ``json.loads`` reads (a byte order mark or a lone surrogate), which
take the readers' slow path, and lines that are not records at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airra.actions import ActionType
from airra.calibration import ConfidenceTracker, confidence_bin
from airra.categories import Category
from airra.feedback import FeedbackCollector, FeedbackType, IncidentOutcome
from airra.verification import VerificationStatus

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAYS = 7

CONFIDENCES = [0.0, 0.05, 0.3, 0.1 + 0.2, 0.55, 0.7, 0.95, 1.0, 1.5, None]
DURATIONS = [0, 60.5, 3600, -1, None]
TIMESTAMPS = ["2026-12-04T10:00:00Z", "2026-12-04T10:00:00", "2026-11-27T12:00:00Z", "2026-11-27T11:59:59Z",
              "2026-12-04T12:00:01Z", "2026-12-04T14:00:00+02:00", "2026-12-04T13:00:00+02:00", "2026-11-01T00:00:00Z"]


def _values(enum_type: Any) -> list[Any]:
    return [member.value for member in enum_type] + [None]


FEEDBACK_FIELDS = {
    "feedback_type": st.sampled_from([kind.value for kind in FeedbackType]),
    "timestamp": st.sampled_from(TIMESTAMPS),
    "airra_hypothesis_category": st.sampled_from(_values(Category)),
    "airra_confidence": st.sampled_from(CONFIDENCES),
    "airra_prior_adjustment": st.sampled_from([0.05, -0.1, 0.0, None]),
    "airra_action_type": st.sampled_from(_values(ActionType)),
    "correct_hypothesis_category": st.sampled_from(_values(Category)),
    "correct_action_type": st.sampled_from(_values(ActionType)),
    "incident_outcome": st.sampled_from(_values(IncidentOutcome)),
    "time_to_resolution_seconds": st.sampled_from(DURATIONS),
}
OUTCOME_FIELDS = {
    "hypothesis_category": st.sampled_from([category.value for category in Category][:4]),
    "confidence_score": st.sampled_from(CONFIDENCES),
    "action_type": st.sampled_from(_values(ActionType)[:3] + [None]),
    "action_executed": st.booleans(),
    "outcome_status": st.sampled_from(_values(VerificationStatus)),
    "time_to_resolution_seconds": st.sampled_from(DURATIONS),
}


@st.composite
def store_lines(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]], required: dict[str, Any]) -> list[str]:
    """Draw the lines of a store, which are records with random fields, some that only json.loads reads, and junk."""
    lines = []
    for index in range(draw(st.integers(min_value=0, max_value=30))):
        record = {"id": f"r{index}", "feedback_id": f"r{index}", **required}
        for name, values in fields.items():
            if draw(st.booleans()) or name in ("feedback_type", "action_executed"):
                record[name] = draw(values)
        line = json.dumps(record)
        variant = draw(st.sampled_from(["plain"] * 6 + ["bom", "surrogate", "junk"]))
        if variant == "bom":
            line = "\ufeff" + line
        elif variant == "surrogate":
            line = line[:-1] + ', "note": "\\ud83d"}'
        elif variant == "junk":
            line = line[: len(line) // 2]
        lines.append(line)
    return lines


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class _FeedbackCount:
    total: int = 0
    in_window: int = 0
    after_window: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    categories: dict[str, list[int]] = field(default_factory=dict)
    mistakes: dict[tuple[str, str], int] = field(default_factory=dict)
    better_actions: dict[tuple[str, str], int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    resolutions: list[float] = field(default_factory=list)
    priors: dict[str, list[float]] = field(default_factory=dict)


def _count_feedback(collector: FeedbackCollector, start: datetime, end: datetime) -> _FeedbackCount:
    """Count the feedback the plain way, from each validated OperatorFeedback."""
    count = _FeedbackCount()
    columns = {FeedbackType.HYPOTHESIS_CORRECT: 0, FeedbackType.HYPOTHESIS_INCORRECT: 1,
               FeedbackType.ACTION_SUCCESSFUL: 2, FeedbackType.ACTION_INAPPROPRIATE: 3}
    for feedback in collector.iter_feedback():
        count.total += 1
        kind = feedback.feedback_type
        category = feedback.airra_hypothesis_category.value if feedback.airra_hypothesis_category else None
        if kind in (FeedbackType.HYPOTHESIS_CORRECT, FeedbackType.HYPOTHESIS_INCORRECT) and category is not None \
                and feedback.airra_confidence is not None:
            sums = count.priors.setdefault(category, [0, 0, 0.0])
            sums[0] += 1
            sums[1] += kind is FeedbackType.HYPOTHESIS_CORRECT
            sums[2] += feedback.airra_confidence - (feedback.airra_prior_adjustment or 0.0)

        if feedback.timestamp < start:
            continue
        if feedback.timestamp > end:
            count.after_window += 1
            continue
        count.in_window += 1
        count.by_type[kind.value] = count.by_type.get(kind.value, 0) + 1
        category_label = category or "(not recorded)"
        if kind in columns:
            count.categories.setdefault(category_label, [0, 0, 0, 0])[columns[kind]] += 1
        if kind is FeedbackType.HYPOTHESIS_INCORRECT and feedback.correct_hypothesis_category is not None:
            key = (category_label, feedback.correct_hypothesis_category.value)
            count.mistakes[key] = count.mistakes.get(key, 0) + 1
        if kind is FeedbackType.ACTION_INAPPROPRIATE and feedback.correct_action_type is not None:
            action = feedback.airra_action_type.value if feedback.airra_action_type else "(not recorded)"
            key = (action, feedback.correct_action_type.value)
            count.better_actions[key] = count.better_actions.get(key, 0) + 1
        if feedback.incident_outcome is not None:
            count.outcomes[feedback.incident_outcome.value] = count.outcomes.get(feedback.incident_outcome.value, 0) + 1
        if feedback.time_to_resolution_seconds is not None:
            count.resolutions.append(feedback.time_to_resolution_seconds)
    return count


def _top(counts: dict[tuple[str, str], int]) -> list[tuple[str, str, int]]:
    """Return the five most frequent pairs, ties in name order, as the report lists them."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    return [(airra, actual, count) for (airra, actual), count in ordered]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(store_lines(FEEDBACK_FIELDS, {"incident_id": "inc-1", "service_name": "api", "operator_id": "U1"}))
def test_feedback_report_matches_model_count(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "operator_feedback.jsonl"
    _write(path, lines)
    collector = FeedbackCollector(path, clock=lambda: NOW)
    logging.disable(logging.WARNING)
    try:
        metrics = collector.calculate_accuracy_metrics(DAYS)
        expected = _count_feedback(collector, metrics.start, metrics.end)
    finally:
        logging.disable(logging.NOTSET)

    assert metrics.total_records == expected.total
    assert metrics.total_feedback == expected.in_window
    assert metrics.after_window == expected.after_window
    assert metrics.counts_by_type == expected.by_type
    assert {c.category: [c.confirmed, c.corrected, c.actions_successful, c.actions_inappropriate]
            for c in metrics.category_performance} == expected.categories
    assert [(m.airra, m.actual, m.count) for m in metrics.common_mistakes] == _top(expected.mistakes)
    assert [(m.airra, m.actual, m.count) for m in metrics.better_actions] == _top(expected.better_actions)
    assert metrics.outcomes == expected.outcomes
    assert metrics.resolution_count == len(expected.resolutions)
    if expected.resolutions:
        assert metrics.mean_time_to_resolution_s == sum(expected.resolutions) / len(expected.resolutions)
    assert {p.category: (p.judged, p.confirmed, p.mean_confidence) for p in metrics.prior_adjustments} == {
        category: (judged, confirmed, confidence_sum / judged)
        for category, (judged, confirmed, confidence_sum) in expected.priors.items()}
    assert [p.model_dump() for p in collector.prior_adjustments()] == [p.model_dump() for p in metrics.prior_adjustments]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(store_lines(OUTCOME_FIELDS, {"incident_id": "inc-1", "service_name": "api"}), st.booleans())
def test_calibration_matches_model_count(tmp_path: Path, lines: list[str], partial_success_counts: bool) -> None:
    path = tmp_path / "confidence_tracking.jsonl"
    _write(path, lines)
    tracker = ConfidenceTracker(path, partial_success_counts=partial_success_counts)
    successes = {VerificationStatus.SUCCESS} | ({VerificationStatus.PARTIAL_SUCCESS} if partial_success_counts else set())
    logging.disable(logging.WARNING)
    try:
        summary = tracker.calculate_calibration()
        records = list(tracker.iter_outcomes())
    finally:
        logging.disable(logging.NOTSET)

    verified = [r for r in records if r.is_verified_trial]
    unverified: dict[str, int] = {}
    for record in records:
        if not record.is_verified_trial:
            reason = "not executed" if not record.action_executed else (
                record.outcome_status.value if record.outcome_status else "not verified")
            unverified[reason] = unverified.get(reason, 0) + 1
    assert summary.total_records == len(records)
    assert summary.verified_records == len(verified)
    assert summary.unverified_by_reason == unverified

    bins = [[r for r in verified if confidence_bin(r.confidence_score) == index] for index in range(10)]
    assert [b.count for b in summary.bins] == [len(in_bin) for in_bin in bins]
    expected_rates = [round(sum(r.outcome_status in successes for r in in_bin) / len(in_bin), 12) if in_bin else None
                      for in_bin in bins]
    assert [round(b.success_rate, 12) if b.success_rate is not None else None for b in summary.bins] == expected_rates

    categories: dict[str, tuple[int, int]] = {}
    for record in verified:
        trials, category_successes = categories.get(record.hypothesis_category.value, (0, 0))
        categories[record.hypothesis_category.value] = (trials + 1,
                                                        category_successes + (record.outcome_status in successes))
    assert {c.category: (c.count, c.successes) for c in summary.categories} == categories

    pairs: dict[tuple[str, str], tuple[int, int]] = {}
    for record in verified:
        if record.action_type is not None:
            key = (record.hypothesis_category.value, record.action_type.value)
            successes_so_far, trials = pairs.get(key, (0, 0))
            pairs[key] = (successes_so_far + (record.outcome_status in successes), trials + 1)
    assert {(c.category, c.action): (c.successes, c.trials) for c in summary.outcome_counts} == pairs
    if verified:
        brier = sum((r.confidence_score - (r.outcome_status in successes)) ** 2 for r in verified) / len(verified)
        assert summary.brier_score == brier
