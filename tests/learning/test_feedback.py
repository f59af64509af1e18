"""Operator feedback: validation, the windowed analysis, suggestions, learned priors and the report.

The clock is fixed, so windows are exact, and every rate below is counted by
hand from the records listed in each test.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from airra.actions import ActionType
from airra.categories import Category
from airra.feedback import FeedbackCollector, FeedbackType, IncidentOutcome, OperatorFeedback, prior_adjustment

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
F = FeedbackType


def _feedback(kind: FeedbackType, *, days_ago: float = 1, **fields: object) -> OperatorFeedback:
    return OperatorFeedback(
        timestamp=NOW - timedelta(days=days_ago),
        incident_id="inc-1",
        service_name="payment-service",
        operator_id="U012ABCDEF",
        feedback_type=kind,
        **fields,
    )


def _wrong(airra: Category, actual: Category, confidence: float | None = 0.8, **fields: object) -> OperatorFeedback:
    return _feedback(
        F.HYPOTHESIS_INCORRECT, airra_hypothesis_category=airra, correct_hypothesis_category=actual,
        airra_confidence=confidence, **fields,
    )


def _right(category: Category, confidence: float | None = 0.8, **fields: object) -> OperatorFeedback:
    return _feedback(F.HYPOTHESIS_CORRECT, airra_hypothesis_category=category, airra_confidence=confidence, **fields)


def _collector(tmp_path: Path, records: list[OperatorFeedback]) -> FeedbackCollector:
    collector = FeedbackCollector(tmp_path / "operator_feedback.jsonl", clock=lambda: NOW)
    for record in records:
        collector.record_feedback(record)
    return collector


def _mixed_month() -> list[OperatorFeedback]:
    return [
        _right(Category.MEMORY_LEAK), _right(Category.MEMORY_LEAK), _right(Category.MEMORY_LEAK),
        _wrong(Category.MEMORY_LEAK, Category.CPU_SPIKE), _wrong(Category.MEMORY_LEAK, Category.CPU_SPIKE),
        _wrong(Category.DATABASE_ISSUE, Category.NETWORK_ISSUE),
        _feedback(F.ACTION_SUCCESSFUL, airra_hypothesis_category=Category.MEMORY_LEAK),
        _feedback(F.ACTION_SUCCESSFUL, airra_hypothesis_category=Category.MEMORY_LEAK),
        _feedback(F.ACTION_INAPPROPRIATE, airra_hypothesis_category=Category.MEMORY_LEAK,
                  airra_action_type=ActionType.RESTART_POD, correct_action_type=ActionType.SCALE_UP),
        _feedback(F.INCIDENT_RESOLVED, time_to_resolution_seconds=300),
        _feedback(F.INCIDENT_ESCALATED, time_to_resolution_seconds=900),
        _feedback(F.GENERAL_COMMENT, feedback_text="thanks"),
        _right(Category.CPU_SPIKE, days_ago=40),
    ]


# --- model ---------------------------------------------------------------------------


def test_correction_without_answer_counts(tmp_path: Path) -> None:
    # Rejected without naming the real cause or a better action: both still
    # count in the rates, but there is no mistake pair to list.
    records = [
        _feedback(F.HYPOTHESIS_INCORRECT, airra_hypothesis_category=Category.MEMORY_LEAK),
        _feedback(F.ACTION_INAPPROPRIATE, airra_action_type=ActionType.RESTART_POD),
        _right(Category.MEMORY_LEAK),
    ]

    metrics = _collector(tmp_path, records).calculate_accuracy_metrics()

    assert metrics.hypothesis_accuracy == pytest.approx(0.5)
    assert metrics.action_success_rate == pytest.approx(0.0)
    assert metrics.common_mistakes == []
    assert metrics.better_actions == []


def test_operator_id_required() -> None:
    with pytest.raises(ValidationError, match="operator_id"):
        OperatorFeedback(incident_id="i", service_name="s", operator_id="", feedback_type=F.GENERAL_COMMENT)


def test_incident_types_fill_outcome() -> None:
    assert _feedback(F.INCIDENT_RESOLVED).incident_outcome is IncidentOutcome.RESOLVED
    assert _feedback(F.INCIDENT_ESCALATED).incident_outcome is IncidentOutcome.ESCALATED
    assert _feedback(F.INCIDENT_RESOLVED, incident_outcome="self_healed").incident_outcome is IncidentOutcome.SELF_HEALED


def test_retried_feedback_stored_once(tmp_path: Path) -> None:
    collector = _collector(tmp_path, [])
    record = _right(Category.MEMORY_LEAK, feedback_id="Ev0123:U012ABCDEF")

    assert collector.record_feedback(record) is True
    assert collector.record_feedback(record) is False
    assert collector.calculate_accuracy_metrics().total_records == 1


# --- analysis ------------------------------------------------------------------------


def test_metrics_of_mixed_month(tmp_path: Path) -> None:
    metrics = _collector(tmp_path, _mixed_month()).calculate_accuracy_metrics(30)

    assert metrics.total_records == 13
    assert metrics.total_feedback == 12
    assert metrics.counts_by_type == {
        "hypothesis_correct": 3, "hypothesis_incorrect": 3, "action_successful": 2,
        "action_inappropriate": 1, "general_comment": 1, "incident_escalated": 1, "incident_resolved": 1,
    }
    assert metrics.hypothesis_accuracy == pytest.approx(3 / 6)
    assert metrics.action_success_rate == pytest.approx(2 / 3)
    assert [(m.airra, m.actual, m.count) for m in metrics.common_mistakes] == [
        ("memory_leak", "cpu_spike", 2), ("database_issue", "network_issue", 1),
    ]
    assert [(m.airra, m.actual, m.count) for m in metrics.better_actions] == [("restart_pod", "scale_up", 1)]
    assert metrics.outcomes == {"escalated": 1, "resolved": 1}
    assert metrics.mean_time_to_resolution_s == pytest.approx(600.0)
    assert [
        (c.category, c.confirmed, c.corrected, c.actions_successful, c.actions_inappropriate)
        for c in metrics.category_performance
    ] == [("memory_leak", 3, 2, 2, 1), ("database_issue", 0, 1, 0, 0)]
    assert metrics.category_performance[0].action_success_rate == pytest.approx(2 / 3)
    assert metrics.category_performance[1].action_success_rate is None


def test_window_excludes_old_feedback(tmp_path: Path) -> None:
    metrics = _collector(tmp_path, _mixed_month()).calculate_accuracy_metrics(60)

    assert metrics.total_feedback == 13
    assert metrics.hypothesis_accuracy == pytest.approx(4 / 7)
    assert metrics.start == NOW - timedelta(days=60)


def test_only_low_accuracy_suggestion_fires(tmp_path: Path) -> None:
    # 3 of 6 hypotheses confirmed (< 70 %, 6 ≥ 5 judged); mistakes recur only twice,
    # memory_leak is at 60 %, 3 rated actions and 2 outcomes are under the minimum.
    metrics = _collector(tmp_path, _mixed_month()).calculate_accuracy_metrics(30)

    assert metrics.suggestions == [
        "Hypothesis accuracy is low (50.0%, 3 of 6 confirmed). "
        "Review the diagnosis rules and evidence weights of the categories below."
    ]


def test_recurring_mistake_suggestions(tmp_path: Path) -> None:
    records = [_wrong(Category.MEMORY_LEAK, Category.CPU_SPIKE) for _ in range(8)] + [
        _feedback(F.ACTION_INAPPROPRIATE, airra_action_type=ActionType.RESTART_POD, correct_action_type=ActionType.SCALE_UP)
        for _ in range(5)
    ] + [_feedback(F.INCIDENT_ESCALATED) for _ in range(2)] + [_feedback(F.INCIDENT_RESOLVED) for _ in range(3)]

    suggestions = _collector(tmp_path, records).calculate_accuracy_metrics().suggestions

    assert suggestions == [
        "Hypothesis accuracy is low (0.0%, 0 of 8 confirmed). Review the diagnosis rules and evidence weights of the categories below.",
        "Most common mistake: saying 'memory_leak' when it was 'cpu_spike' (8 times). Add or sharpen the evidence that tells these two apart.",
        "'memory_leak' hypotheses were confirmed only 0.0% of the time (0 of 8). Lower its base confidence or tighten its rules.",
        "Action success rate is low (0.0%, 0 of 5). Review the effectiveness of the actions operators rejected.",
        "Operators preferred 'scale_up' over 'restart_pod' 5 times. Raise the effectiveness of 'scale_up' for the categories involved, or lower that of 'restart_pod'.",
        "2 of 5 incidents with a known outcome were escalated (40.0%). Look at what the escalated incidents have in common.",
    ]


def test_empty_window_has_no_data(tmp_path: Path) -> None:
    metrics = _collector(tmp_path, [_right(Category.CPU_SPIKE, days_ago=40)]).calculate_accuracy_metrics(30)

    assert metrics.total_feedback == 0
    assert metrics.hypothesis_accuracy is None
    assert metrics.action_success_rate is None
    assert metrics.mean_time_to_resolution_s is None
    assert metrics.suggestions == []


def test_invalid_window_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 day, got 0"):
        _collector(tmp_path, []).calculate_accuracy_metrics(0)


# --- learned priors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confirmed", "judged", "confidence_sum", "expected"),
    [
        (3, 4, 2.4, 0.0),  # under 5 judgements: no adjustment
        (4, 5, 3.5, 0.05),  # (4 − 3.5) / 10
        (3, 5, 4.0, -0.1),  # (3 − 4.0) / 10
        (7, 8, 4.8, 0.1),  # (7 − 4.8) / 13 = 0.169, clamped
        (0, 20, 17.0, -0.1),  # −17 / 25, clamped
        (6, 10, 6.0, 0.0),  # calibrated
    ],
)
def test_prior_adjustment_formula(confirmed: int, judged: int, confidence_sum: float, expected: float) -> None:
    assert prior_adjustment(confirmed, judged, confidence_sum) == pytest.approx(expected)


def test_adjustment_from_store(tmp_path: Path) -> None:
    # memory_leak: 3 confirmed of 5 at 0.8 → (3 − 4.0) / 10 = −0.10.
    collector = _collector(tmp_path, _mixed_month())

    assert collector.adjustment(Category.MEMORY_LEAK) == pytest.approx(-0.1)
    assert collector.adjustment("database_issue") == 0.0
    assert collector.adjustment(Category.TRAFFIC_SPIKE) == 0.0


def test_adjustment_needs_five_judgements(tmp_path: Path) -> None:
    collector = _collector(tmp_path, [_right(Category.CPU_SPIKE, 0.5) for _ in range(4)])
    assert collector.adjustment(Category.CPU_SPIKE) == 0.0

    collector.record_feedback(_right(Category.CPU_SPIKE, 0.5))

    # (5 − 2.5) / 10 = 0.25, clamped to 0.10.
    assert collector.adjustment(Category.CPU_SPIKE) == pytest.approx(0.1)


def test_adjustment_ignores_unconfidenced_feedback(tmp_path: Path) -> None:
    collector = _collector(tmp_path, [_right(Category.CPU_SPIKE, None) for _ in range(6)])

    assert collector.adjustment(Category.CPU_SPIKE) == 0.0


def test_adjustment_removes_applied_adjustment(tmp_path: Path) -> None:
    # Stated 0.75 of which 0.05 was learned: the base 0.70 is compared with 4 of 5.
    records = [_right(Category.CPU_SPIKE, 0.75, airra_prior_adjustment=0.05) for _ in range(4)]
    records.append(_wrong(Category.CPU_SPIKE, Category.MEMORY_LEAK, 0.75, airra_prior_adjustment=0.05))

    collector = _collector(tmp_path, records)

    assert collector.adjustment(Category.CPU_SPIKE) == pytest.approx(0.05)


def test_adjustment_uses_all_time(tmp_path: Path) -> None:
    collector = _collector(tmp_path, [_right(Category.CPU_SPIKE, 0.5, days_ago=400) for _ in range(5)])

    assert collector.adjustment(Category.CPU_SPIKE) == pytest.approx(0.1)


# --- report --------------------------------------------------------------------------


def test_report_empty_store(tmp_path: Path) -> None:
    report = FeedbackCollector(tmp_path / "operator_feedback.jsonl", clock=lambda: NOW).generate_feedback_report()

    assert f"No records yet in {tmp_path / 'operator_feedback.jsonl'}." in report
    assert "Hypothesis Accuracy" not in report


def test_report_layout(tmp_path: Path) -> None:
    lines = _collector(tmp_path, _mixed_month()).generate_feedback_report(30).splitlines()

    assert lines[1] == "OPERATOR FEEDBACK REPORT"
    assert "Time Period: 30 days" in lines
    assert "Date Range: 2026-11-04 to 2026-12-04" in lines
    assert "Total Feedback: 12 (13 records in the store)" in lines
    assert "  hypothesis_correct                         3" in lines
    assert "  Hypothesis Accuracy: 50.0% (3 of 6 confirmed)" in lines
    assert "  Action Success Rate: 66.7% (2 of 3 successful)" in lines
    assert "  Mean Time to Resolution: 10.0m (over 2)" in lines
    assert "  Incident Outcomes: escalated 1, resolved 1" in lines
    assert "  AIRRA: 'memory_leak' → Actually: 'cpu_spike' (2 times)" in lines
    assert "  AIRRA: 'database_issue' → Actually: 'network_issue' (1 time)" in lines
    assert "  AIRRA: 'restart_pod' → Better: 'scale_up' (1 time)" in lines
    assert "  Category               Confirmed Corrected  Accuracy  Actions OK" in lines
    assert "  memory_leak                    3         2     60.0%         2/3" in lines
    assert "  database_issue                 0         1      0.0%     no data" in lines
    assert "  memory_leak                   5     60.0%    0.80      -0.100" in lines
    assert "  waiting for 5 judgements: cpu_spike 1/5, database_issue 1/5" in lines


def test_report_empty_window(tmp_path: Path) -> None:
    report = _collector(tmp_path, [_right(Category.CPU_SPIKE, days_ago=40)]).generate_feedback_report(7)

    assert "No feedback in the last 7 days." in report
    assert "none yet: no category has enough judgements to move its prior" in report
    assert "IMPROVEMENT SUGGESTIONS" not in report


# --- hand-written lines ---------------------------------------------------------------


def _line(feedback_id: str, kind: str, **fields: object) -> str:
    record = {"feedback_id": feedback_id, "incident_id": "inc-1", "service_name": "payment-service",
              "operator_id": "U012ABCDEF", "feedback_type": kind, **fields}
    return json.dumps(record)


def test_report_applies_model_rules_to_lines(tmp_path: Path) -> None:
    path = tmp_path / "operator_feedback.jsonl"
    lines = [
        # No zone: read as UTC, one day before NOW.
        _line("a", "hypothesis_correct", airra_hypothesis_category="cpu_spike", airra_confidence=0.6,
              timestamp="2026-12-03T12:00:00"),
        # No outcome: INCIDENT_RESOLVED implies "resolved".
        _line("b", "incident_resolved", time_to_resolution_seconds=600, timestamp="2026-12-02T12:00:00Z"),
        # A lone surrogate escape: json.loads reads it, pydantic's JSON parser rejects it.
        _line("c\ud800", "hypothesis_incorrect", airra_hypothesis_category="cpu_spike",
              correct_hypothesis_category="memory_leak", airra_confidence=0.9, timestamp="2026-12-03T00:00:00Z"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    metrics = FeedbackCollector(path, clock=lambda: NOW).calculate_accuracy_metrics(30)

    assert metrics.total_records == 3
    assert metrics.total_feedback == 3
    assert metrics.counts_by_type == {"hypothesis_correct": 1, "hypothesis_incorrect": 1, "incident_resolved": 1}
    assert metrics.outcomes == {"resolved": 1}
    assert metrics.mean_time_to_resolution_s == pytest.approx(600.0)
    assert [(m.airra, m.actual, m.count) for m in metrics.common_mistakes] == [("cpu_spike", "memory_leak", 1)]
    # cpu_spike: judged 2, confirmed 1, stated (0.6 + 0.9) / 2 = 0.75. Under 5 judgements there is no adjustment.
    assert [(p.category, p.judged, p.confirmed, p.adjustment) for p in metrics.prior_adjustments] == [
        ("cpu_spike", 2, 1, 0.0)
    ]
    assert metrics.prior_adjustments[0].mean_confidence == pytest.approx(0.75)


def test_line_without_timestamp_read_as_now(tmp_path: Path) -> None:
    # The model's default timestamp is the time of reading, after a window that ends in 2001.
    path = tmp_path / "operator_feedback.jsonl"
    path.write_text(_line("a", "general_comment") + "\n", encoding="utf-8")

    metrics = FeedbackCollector(path, clock=lambda: datetime(2001, 1, 1, tzinfo=UTC)).calculate_accuracy_metrics(30)

    assert metrics.total_records == 1
    assert metrics.total_feedback == 0
    assert metrics.after_window == 1


def test_bad_lines_reported_with_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "operator_feedback.jsonl"
    lines = [
        _line("a", "hypothesis_correct", timestamp="2026-12-03T12:00:00Z"),
        _line("b", "hypothesis_correct", operator_id="", timestamp="2026-12-03T12:00:00Z"),
        _line("c", "hypothesis_correct", schema_version=2, timestamp="2026-12-03T12:00:00Z"),
        "not json",
        '{"feedback_id":"d","incid',
    ]
    path.write_text("\n".join(lines), encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        metrics = FeedbackCollector(path, clock=lambda: NOW).calculate_accuracy_metrics(30)

    assert metrics.total_records == 1
    assert metrics.counts_by_type == {"hypothesis_correct": 1}
    assert (f"{path}:2: skipped invalid feedback record (operator_id: String should have at least 1 character)"
            in caplog.text)
    assert (f"{path}:3: skipped invalid feedback record (schema_version: Value error, schema_version 2 is newer "
            "than this AIRRA reads (1); upgrade AIRRA to read it)") in caplog.text
    assert f"{path}:4: skipped unreadable line (not a JSON object)" in caplog.text
    assert f"{path}:5: skipped unreadable line (an incomplete last line" in caplog.text


def test_overlong_integer_line_skipped_in_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # pydantic reads the line but rejects the confidence, and json.loads raises
    # ValueError for the integer, which is longer than Python converts.
    path = tmp_path / "operator_feedback.jsonl"
    overlong = "9" * (sys.get_int_max_str_digits() + 1)
    lines = [
        _line("a", "hypothesis_correct", timestamp="2026-12-03T12:00:00Z"),
        _line("b", "hypothesis_correct", timestamp="2026-12-03T12:00:00Z")[:-1] + f', "airra_confidence": {overlong}}}',
        _line("c", "general_comment", timestamp="2026-12-03T12:00:00Z"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    collector = FeedbackCollector(path, clock=lambda: NOW)

    with caplog.at_level(logging.WARNING):
        metrics = collector.calculate_accuracy_metrics(30)

    assert metrics.total_records == 2
    assert metrics.counts_by_type == {"general_comment": 1, "hypothesis_correct": 1}
    assert f"{path}:2: skipped unreadable line (an integer of more than" in caplog.text
    assert collector.record_feedback(_feedback(F.GENERAL_COMMENT, feedback_id="d")) is True
    assert collector.calculate_accuracy_metrics(30).total_records == 3


def test_feedback_with_lone_surrogate_recorded(tmp_path: Path) -> None:
    # A message cut inside an emoji leaves half of its surrogate pair in the text.
    collector = _collector(tmp_path, [_feedback(F.GENERAL_COMMENT, feedback_text="thanks \ud83d")])

    metrics = collector.calculate_accuracy_metrics(30)

    assert metrics.total_records == 1
    assert metrics.counts_by_type == {"general_comment": 1}
    assert [f.feedback_text for f in collector.iter_feedback()] == ["thanks \ud83d"]
