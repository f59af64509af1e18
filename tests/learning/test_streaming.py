"""Reports stream their store: memory stays flat however many records there are.

The stores are written line by line here (the append path with its fsync is
covered elsewhere), then one pass is traced with tracemalloc. Keeping the
records in a list would cost several kilobytes each, far over the limits.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airra.calibration import ConfidenceTracker
from airra.feedback import FeedbackCollector

RECORDS = 5_000
# 5,000 records kept as models take about 12 MB; one streaming pass peaks under 100 kB.
PEAK_LIMIT_BYTES = 2 * 1024 * 1024
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CATEGORIES = ["memory_leak", "cpu_spike", "error_spike", "cache_issue"]
ACTIONS = ["restart_pod", "scale_up", "rollback_deployment", "clear_cache"]
STATUSES = ["success", "partial_success", "no_change", "degraded", "unstable"]


def _write_outcomes(path: Path) -> None:
    with path.open("w") as handle:
        for index in range(RECORDS):
            handle.write(json.dumps({
                "id": f"o-{index}", "schema_version": 1, "timestamp": "2026-12-01T10:00:00Z",
                "incident_id": f"inc-{index}", "service_name": "payment-service",
                "hypothesis_category": CATEGORIES[index % 4], "hypothesis_description": "x" * 80,
                "confidence_score": (index % 100) / 100, "action_type": ACTIONS[index % 4],
                "action_executed": True, "outcome_status": STATUSES[index % 5], "outcome_success": index % 5 == 0,
                "before_metrics": {"error_ratio": 0.1, "latency_p95": 0.8}, "after_metrics": {"error_ratio": 0.01},
                "verification_metrics": {"error_ratio": 90.0}, "time_to_resolution_seconds": 300.0,
            }) + "\n")


def _write_feedback(path: Path) -> None:
    with path.open("w") as handle:
        for index in range(RECORDS):
            correct = index % 3 != 0
            handle.write(json.dumps({
                "feedback_id": f"f-{index}", "schema_version": 1,
                "timestamp": (NOW - timedelta(minutes=index)).isoformat(),
                "incident_id": f"inc-{index}", "service_name": "payment-service", "operator_id": "U012ABCDEF",
                "feedback_type": "hypothesis_correct" if correct else "hypothesis_incorrect",
                "feedback_text": "y" * 80, "airra_hypothesis_category": CATEGORIES[index % 4],
                "airra_confidence": 0.8, "correct_hypothesis_category": None if correct else "cpu_spike",
                "tags": ["a", "b"],
            }) + "\n")


def _peak_bytes(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_calibration_streams(tmp_path: Path) -> None:
    path = tmp_path / "confidence_tracking.jsonl"
    _write_outcomes(path)
    tracker = ConfidenceTracker(path)

    peak = _peak_bytes(tracker.generate_calibration_report)

    assert tracker.calculate_calibration().verified_records == RECORDS
    assert peak < PEAK_LIMIT_BYTES


def test_feedback_streams(tmp_path: Path) -> None:
    path = tmp_path / "operator_feedback.jsonl"
    _write_feedback(path)
    collector = FeedbackCollector(path, clock=lambda: NOW)

    peak = _peak_bytes(lambda: collector.generate_feedback_report(365))

    assert collector.calculate_accuracy_metrics(365).total_feedback == RECORDS
    assert peak < PEAK_LIMIT_BYTES
