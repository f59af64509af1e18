"""Calibration: binning, ECE, Brier, per-category figures and the learned counts.

The record sets are small enough that every expected number is worked out by
hand in the comment next to it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import pytest

from airra.actions import ActionType
from airra.calibration import ConfidenceOutcomeRecord, ConfidenceTracker, confidence_bin, counts_as_success
from airra.categories import Category
from airra.verification import VerificationStatus

S = VerificationStatus


def _record(
    confidence: float,
    status: VerificationStatus | None,
    *,
    category: Category = Category.MEMORY_LEAK,
    action: ActionType | None = ActionType.RESTART_POD,
    executed: bool = True,
    resolution_s: float | None = None,
    record_id: str | None = None,
) -> ConfidenceOutcomeRecord:
    extra = {"id": record_id} if record_id else {}
    return ConfidenceOutcomeRecord(
        incident_id="inc-1",
        service_name="payment-service",
        hypothesis_category=category,
        confidence_score=confidence,
        action_type=action,
        action_executed=executed,
        outcome_status=status,
        outcome_success=status is S.SUCCESS,
        time_to_resolution_seconds=resolution_s,
        **extra,
    )


def _tracker(tmp_path: Path, records: list[ConfidenceOutcomeRecord], **kwargs: bool) -> ConfidenceTracker:
    tracker = ConfidenceTracker(tmp_path / "confidence_tracking.jsonl", **kwargs)
    for record in records:
        tracker.record_outcome(record)
    return tracker


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        (0.0, 0), (0.05, 0), (0.1, 1), (0.2, 2), (0.3, 3), (0.1 + 0.2, 3), (0.4, 4), (0.5, 5),
        (0.6, 6), (0.7, 7), (0.8, 8), (0.9, 9), (0.99, 9), (1.0, 9), (0.0999, 0), (0.6999, 6),
    ],
)
def test_confidence_bin(confidence: float, expected: int) -> None:
    assert confidence_bin(confidence) == expected


def test_ece_brier_accuracy_hand_computed(tmp_path: Path) -> None:
    # Bin 9: 0.9 ×3, two successes -> mean 0.9, rate 2/3, error 0.2333.
    # Bin 3: 0.3 ×2, one success -> mean 0.3, rate 0.5, error 0.2.
    # Bin 7: 0.75 ×1, a success -> error 0.25.
    # ECE = 3/6·0.2333 + 2/6·0.2 + 1/6·0.25 = 0.225.
    # Brier = (0.01 + 0.01 + 0.81 + 0.09 + 0.49 + 0.0625) / 6 = 0.2454166.
    tracker = _tracker(tmp_path, [
        _record(0.9, S.SUCCESS), _record(0.9, S.SUCCESS), _record(0.9, S.NO_CHANGE),
        _record(0.3, S.DEGRADED), _record(0.3, S.SUCCESS),
        _record(0.75, S.SUCCESS),
    ])

    summary = tracker.calculate_calibration()

    assert summary.verified_records == 6
    assert summary.ece == pytest.approx(0.225)
    assert summary.brier_score == pytest.approx(1.4725 / 6)
    assert summary.overall_accuracy == pytest.approx(4 / 6)
    bins = {b.index: b for b in summary.bins if b.count}
    assert set(bins) == {3, 7, 9}
    assert bins[9].mean_confidence == pytest.approx(0.9)
    assert bins[9].success_rate == pytest.approx(2 / 3)
    assert bins[9].abs_error == pytest.approx(0.7 / 3)
    assert bins[3].abs_error == pytest.approx(0.2)
    assert all(b.too_few for b in summary.bins)


def test_perfectly_calibrated_bin(tmp_path: Path) -> None:
    # Ten trials at 0.7, seven successes: ECE 0, Brier = (7·0.09 + 3·0.49) / 10 = 0.21.
    records = [_record(0.7, S.SUCCESS) for _ in range(7)] + [_record(0.7, S.NO_CHANGE) for _ in range(3)]
    summary = _tracker(tmp_path, records).calculate_calibration()

    assert summary.ece == pytest.approx(0.0)
    assert summary.brier_score == pytest.approx(0.21)
    assert summary.bins[7].too_few is False
    assert summary.bins[7].count == 10


def test_unverified_records_not_counted(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [
        _record(0.8, S.SUCCESS),
        _record(0.8, None, executed=False),
        _record(0.8, S.EXECUTION_FAILED),
        _record(0.8, S.INSUFFICIENT_DATA),
        _record(0.8, S.UNSTABLE),
    ])

    summary = tracker.calculate_calibration()

    assert summary.total_records == 5
    assert summary.verified_records == 2
    assert summary.overall_accuracy == pytest.approx(0.5)
    assert summary.unverified_by_reason == {"execution_failed": 1, "insufficient_data": 1, "not executed": 1}


def test_partial_success_setting(tmp_path: Path) -> None:
    records = [_record(0.6, S.PARTIAL_SUCCESS), _record(0.6, S.SUCCESS)]

    strict = _tracker(tmp_path / "strict", records).calculate_calibration()
    lenient = _tracker(tmp_path / "lenient", records, partial_success_counts=True).calculate_calibration()

    assert strict.overall_accuracy == pytest.approx(0.5)
    assert lenient.overall_accuracy == pytest.approx(1.0)


def test_category_performance(tmp_path: Path) -> None:
    # memory_leak: 3 trials, 2 successes, mean confidence 0.7, resolution known for 2: (120 + 300) / 2.
    tracker = _tracker(tmp_path, [
        _record(0.6, S.SUCCESS, resolution_s=120),
        _record(0.7, S.SUCCESS, resolution_s=300),
        _record(0.8, S.NO_CHANGE),
        _record(0.9, S.SUCCESS, category=Category.CPU_SPIKE, action=ActionType.SCALE_UP),
    ])

    categories = {c.category: c for c in tracker.calculate_calibration().categories}

    memory = categories["memory_leak"]
    assert (memory.count, memory.successes) == (3, 2)
    assert memory.mean_confidence == pytest.approx(0.7)
    assert memory.mean_time_to_resolution_s == pytest.approx(210.0)
    assert memory.resolution_count == 2
    assert categories["cpu_spike"].mean_time_to_resolution_s is None


def test_counts_per_category_and_action(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [
        _record(0.7, S.SUCCESS),
        _record(0.7, S.DEGRADED),
        _record(0.7, S.EXECUTION_FAILED),
        _record(0.7, S.SUCCESS, action=ActionType.SCALE_UP),
    ])

    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 2)
    assert tracker.counts("memory_leak", "scale_up") == (1, 1)
    assert tracker.counts(Category.CPU_SPIKE, ActionType.SCALE_UP) == (0, 0)


def test_counts_follow_new_records(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [_record(0.7, S.SUCCESS)])
    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 1)

    other_process = ConfidenceTracker(tmp_path / "confidence_tracking.jsonl")
    other_process.record_outcome(_record(0.7, S.NO_CHANGE))

    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 2)


def test_retried_record_counted_once(tmp_path: Path) -> None:
    tracker = ConfidenceTracker(tmp_path / "confidence_tracking.jsonl")
    record = _record(0.7, S.SUCCESS, record_id="inc-1:restart_pod")

    assert tracker.record_outcome(record) is True
    assert tracker.record_outcome(record) is False

    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 1)
    assert tracker.calculate_calibration().total_records == 1


def test_invalid_record_skipped_with_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "confidence_tracking.jsonl"
    tracker = _tracker(tmp_path, [_record(0.7, S.SUCCESS)])
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "bad", "confidence_score": 7}) + "\n")
    tracker.record_outcome(_record(0.7, S.SUCCESS))

    summary = tracker.calculate_calibration()

    assert summary.total_records == 2
    assert f"{path}:2" in caplog.text


def test_newer_schema_skipped_with_hint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "confidence_tracking.jsonl"
    tracker = _tracker(tmp_path, [_record(0.7, S.SUCCESS)])
    future = _record(0.7, S.SUCCESS).model_dump(mode="json") | {"schema_version": 2}
    tracker.store.append(future)

    assert tracker.calculate_calibration().total_records == 1
    assert f"{path}:2" in caplog.text
    assert "schema_version 2 is newer than this AIRRA reads (1)" in caplog.text


def test_surrogate_escape_line_counted(tmp_path: Path) -> None:
    # A lone surrogate escape: pydantic's JSON parser rejects the line, json.loads and the model accept it.
    path = tmp_path / "confidence_tracking.jsonl"
    tracker = _tracker(tmp_path, [_record(0.7, S.SUCCESS)])
    with path.open("a") as handle:
        handle.write(json.dumps(_record(0.3, S.NO_CHANGE).model_dump(mode="json") | {"id": "x\ud800"}) + "\n")

    summary = tracker.calculate_calibration()

    # Two verified trials: 0.7 succeeded and 0.3 did not, so Brier = (0.3² + 0.3²) / 2 = 0.09.
    assert summary.total_records == 2
    assert summary.verified_records == 2
    assert summary.overall_accuracy == pytest.approx(0.5)
    assert summary.brier_score == pytest.approx(0.09)


@pytest.mark.parametrize(
    ("status", "partial_success_counts", "expected"),
    [
        (S.SUCCESS, False, True), ("success", False, True), ("partial_success", False, False),
        ("partial_success", True, True), (S.PARTIAL_SUCCESS, True, True), ("no_change", True, False),
        (None, True, False),
    ],
)
def test_counts_as_success(status: S | str | None, partial_success_counts: bool, expected: bool) -> None:
    assert counts_as_success(status, partial_success_counts=partial_success_counts) is expected


def test_naive_timestamp_read_as_utc() -> None:
    record = ConfidenceOutcomeRecord.model_validate({
        "incident_id": "i", "service_name": "s", "hypothesis_category": "cpu_spike",
        "confidence_score": 0.5, "action_executed": False, "timestamp": "2026-12-04T10:00:00",
    })

    assert record.timestamp.utcoffset().total_seconds() == 0
    assert record.timestamp.replace(tzinfo=None) == datetime(2026, 12, 4, 10)


# --- report ------------------------------------------------------------------------


def test_report_empty_store(tmp_path: Path) -> None:
    tracker = ConfidenceTracker(tmp_path / "confidence_tracking.jsonl")

    report = tracker.generate_calibration_report()

    assert f"No records yet in {tmp_path / 'confidence_tracking.jsonl'}." in report
    assert "ECE" not in report


def test_report_layout(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [
        _record(0.9, S.SUCCESS, resolution_s=300), _record(0.9, S.SUCCESS), _record(0.9, S.NO_CHANGE),
        _record(0.3, S.DEGRADED), _record(0.3, S.SUCCESS),
        _record(0.75, S.SUCCESS),
    ])

    lines = tracker.generate_calibration_report().splitlines()

    assert lines[1] == "CONFIDENCE CALIBRATION REPORT"
    assert "Total Records: 6 (6 verified outcomes, 0 not counted)" in lines
    assert "Overall Accuracy: 66.7%" in lines
    assert "Expected Calibration Error (ECE): 0.225" in lines
    assert "Brier Score: 0.245" in lines
    assert "   0.9-1.0         90.0%        66.7%          3       0.233  (few samples)" in lines
    assert "   0.3-0.4         30.0%        50.0%          2       0.200  (few samples)" in lines
    # Mean confidence 4.05 / 6 = 0.675, stored as 0.67499… in binary, so it prints as 0.67.
    assert "           memory_leak       6     66.7%      0.67      5.0m" in lines
    assert "     Range     Predicted       Actual    Samples       Error" in lines
    # p0 = 0.70 × 0.70 = 0.49; P_fix = (4.9 + 4) / (10 + 6) = 0.55625.
    assert "           memory_leak  restart_pod                    4/6  0.490  0.556  in use" in lines


def test_report_names_pairs_below_minimum(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [_record(0.8, S.SUCCESS, category=Category.CPU_SPIKE, action=ActionType.SCALE_UP)])

    report = tracker.generate_calibration_report()

    # Under 5 trials P_fix stays at p0 = 0.85 × 0.80 = 0.68.
    assert "             cpu_spike  scale_up                       1/1  0.680  0.680  prior only, 4 more trial(s) needed" in report


def test_report_without_verified_outcomes(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, [_record(0.8, None, executed=False)])

    report = tracker.generate_calibration_report()

    assert "No verified outcomes yet, so there is nothing to calibrate." in report
    assert "Not counted: not executed 1" in report
    assert "CALIBRATION BY CONFIDENCE BIN" not in report



def test_overlong_integer_line_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The resolution time is valid JSON, but longer than Python converts to an int.
    tracker = _tracker(tmp_path, [_record(0.8, S.SUCCESS, record_id="a")])
    overlong = "9" * (sys.get_int_max_str_digits() + 1)
    line = _record(0.4, S.NO_CHANGE, record_id="b").model_dump_json()[:-1] + f',"time_to_resolution_seconds":{overlong}}}'
    with open(tracker.path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")

    with caplog.at_level(logging.WARNING):
        summary = tracker.calculate_calibration()

    assert summary.total_records == 1
    assert summary.verified_records == 1
    assert f"{tracker.path}:2: skipped unreadable line (an integer of more than" in caplog.text
    assert tracker.record_outcome(_record(0.6, S.SUCCESS, record_id="c")) is True
    assert tracker.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (2, 2)
