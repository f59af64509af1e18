"""The reports shown in docs/learning.md are produced by the code.

Each example is rendered here from fixed inputs and must appear verbatim in
the page, so the page cannot drift from the code. Run this module as a
script to print the examples when the layout changes on purpose.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airra.actions import ActionType
from airra.calibration import ConfidenceOutcomeRecord, ConfidenceTracker
from airra.categories import Category
from airra.feedback import FeedbackCollector, FeedbackType, OperatorFeedback
from airra.verification import VerificationStatus, compare_metrics
from tests.learning.doubles import snapshot

DOC = Path(__file__).resolve().parents[2] / "docs" / "learning.md"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _verification_example() -> str:
    result = compare_metrics(
        "payment-service",
        snapshot(error=0.125, p95=0.85, p99=1.2, avail=0.95, rps=120.0),
        [
            snapshot(error=0.014, p95=0.13, p99=0.19, avail=0.99, rps=118.0),
            snapshot(error=0.012, p95=0.12, p99=0.18, avail=1.0, rps=119.0),
            snapshot(error=0.010, p95=0.11, p99=0.17, avail=0.995, rps=117.0),
        ],
        action_type=ActionType.RESTART_POD,
        incident_id="inc-20261204-001",
    )
    return result.message


def _calibration_example(directory: Path) -> str:
    tracker = ConfidenceTracker(directory / "confidence_tracking.jsonl")
    outcomes = [
        (0.9, VerificationStatus.SUCCESS, 240.0), (0.9, VerificationStatus.SUCCESS, 360.0),
        (0.9, VerificationStatus.NO_CHANGE, None), (0.3, VerificationStatus.DEGRADED, None),
        (0.3, VerificationStatus.SUCCESS, 600.0), (0.75, VerificationStatus.SUCCESS, 300.0),
    ]
    for index, (confidence, status, resolution) in enumerate(outcomes):
        category = Category.MEMORY_LEAK if index < 4 else Category.CPU_SPIKE
        action = ActionType.RESTART_POD if index < 4 else ActionType.SCALE_UP
        tracker.record_outcome(ConfidenceOutcomeRecord(
            id=f"example-{index}", incident_id=f"inc-{index}", service_name="payment-service",
            hypothesis_category=category, confidence_score=confidence, action_type=action,
            action_executed=True, outcome_status=status, time_to_resolution_seconds=resolution,
        ))
    tracker.record_outcome(ConfidenceOutcomeRecord(
        id="example-failed", incident_id="inc-9", service_name="payment-service",
        hypothesis_category=Category.MEMORY_LEAK, confidence_score=0.8, action_type=ActionType.RESTART_POD,
        action_executed=False, outcome_status=VerificationStatus.EXECUTION_FAILED,
    ))
    return tracker.generate_calibration_report()


def _feedback_example(directory: Path) -> str:
    collector = FeedbackCollector(directory / "operator_feedback.jsonl", clock=lambda: NOW)
    entries: list[dict[str, object]] = []
    entries += [{"feedback_type": FeedbackType.HYPOTHESIS_CORRECT, "airra_hypothesis_category": Category.MEMORY_LEAK,
                 "airra_confidence": 0.8}] * 3
    entries += [{"feedback_type": FeedbackType.HYPOTHESIS_INCORRECT, "airra_hypothesis_category": Category.MEMORY_LEAK,
                 "airra_confidence": 0.8, "correct_hypothesis_category": Category.CPU_SPIKE}] * 3
    entries += [{"feedback_type": FeedbackType.HYPOTHESIS_INCORRECT, "airra_hypothesis_category": Category.DATABASE_ISSUE,
                 "airra_confidence": 0.6, "correct_hypothesis_category": Category.NETWORK_ISSUE}]
    entries += [{"feedback_type": FeedbackType.ACTION_SUCCESSFUL, "airra_hypothesis_category": Category.MEMORY_LEAK}] * 2
    entries += [{"feedback_type": FeedbackType.ACTION_INAPPROPRIATE, "airra_hypothesis_category": Category.MEMORY_LEAK,
                 "airra_action_type": ActionType.RESTART_POD, "correct_action_type": ActionType.SCALE_UP}]
    entries += [{"feedback_type": FeedbackType.INCIDENT_RESOLVED, "time_to_resolution_seconds": 420.0}]
    for index, fields in enumerate(entries):
        collector.record_feedback(OperatorFeedback(
            feedback_id=f"example-{index}", timestamp=NOW - timedelta(days=index + 1), incident_id=f"inc-{index}",
            service_name="payment-service", operator_id="U012ABCDEF", **fields,
        ))
    return collector.generate_feedback_report(30)


def render_examples() -> dict[str, str]:
    """Render every example of the page from a relative ``data/`` directory."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            directory = Path("data")
            return {
                "verification": _verification_example(),
                "calibration": _calibration_example(directory),
                "feedback": _feedback_example(directory),
                "empty calibration": ConfidenceTracker(Path("empty") / "confidence_tracking.jsonl").generate_calibration_report(),
            }
        finally:
            os.chdir(previous)


def test_doc_examples_match_code() -> None:
    page = DOC.read_text(encoding="utf-8")

    for name, text in render_examples().items():
        assert f"```\n{text}\n```" in page, f"the {name} example in {DOC} differs from the code's output"


if __name__ == "__main__":
    for name, text in render_examples().items():
        print(f"--- {name}\n```\n{text}\n```")
