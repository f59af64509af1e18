"""Closing the loop: verified outcomes move the simulator, operator judgements move the diagnosis.

These tests run the real WhatIfSimulator and Diagnoser with the stores as
their history and priors, so a broken adapter shows up as an unchanged
probability or confidence.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airra.actions import ActionType
from airra.alerts import Alert, AlertSource, AlertStatus
from airra.calibration import ConfidenceOutcomeRecord
from airra.categories import Category
from airra.commands import report
from airra.diagnosis import Diagnoser
from airra.execution.base import ExecutionStatus
from airra.feedback import FeedbackType, OperatorFeedback
from airra.learning import LearningStores, outcome_id, outcome_record
from airra.risk import ActionRiskRegistry
from airra.settings import Settings
from airra.simulation import WhatIfSimulator
from airra.topology import Topology
from airra.verification import PostActionVerifier, VerificationStatus, compare_metrics
from tests.learning.doubles import SERVICE, RecordingSleep, ScriptedMetrics, execution, snapshot


def _outcome(status: VerificationStatus, index: int) -> ConfidenceOutcomeRecord:
    return ConfidenceOutcomeRecord(
        id=f"outcome-{index}",
        incident_id=f"inc-{index}",
        service_name=SERVICE,
        hypothesis_category=Category.MEMORY_LEAK,
        confidence_score=0.7,
        action_type=ActionType.RESTART_POD,
        action_executed=True,
        outcome_status=status,
    )


def _judgement(correct: bool, index: int, category: Category, confidence: float) -> OperatorFeedback:
    return OperatorFeedback(
        feedback_id=f"fb-{index}",
        incident_id=f"inc-{index}",
        service_name=SERVICE,
        operator_id="U012ABCDEF",
        feedback_type=FeedbackType.HYPOTHESIS_CORRECT if correct else FeedbackType.HYPOTHESIS_INCORRECT,
        airra_hypothesis_category=category,
        airra_confidence=confidence,
        correct_hypothesis_category=None if correct else Category.CPU_SPIKE,
    )


async def _restart_probability(stores: LearningStores) -> float:
    simulator = WhatIfSimulator(ActionRiskRegistry(), stores.confidence)
    comparison = await simulator.simulate_actions(
        SERVICE, Category.MEMORY_LEAK, [ActionType.RESTART_POD, ActionType.SCALE_UP], None, None, "medium",
    )
    return next(a.success_probability for a in comparison.actions if a.action_type is ActionType.RESTART_POD)


async def test_verified_outcomes_move_simulator(settings: Settings) -> None:
    stores = LearningStores.from_settings(settings)
    assert await _restart_probability(stores) == pytest.approx(0.49)

    # Four trials: still the prior p0 = 0.70 × 0.70.
    for index in range(4):
        stores.confidence.record_outcome(_outcome(VerificationStatus.SUCCESS, index))
    assert await _restart_probability(stores) == pytest.approx(0.49)

    # 8 successes in 10 trials: (10 · 0.49 + 8) / 20 = 0.645.
    for index in range(4, 8):
        stores.confidence.record_outcome(_outcome(VerificationStatus.SUCCESS, index))
    for index in range(8, 10):
        stores.confidence.record_outcome(_outcome(VerificationStatus.NO_CHANGE, index))
    assert await _restart_probability(stores) == pytest.approx(0.645)


async def test_unverified_outcomes_do_not_move_simulator(settings: Settings) -> None:
    stores = LearningStores.from_settings(settings)
    for index in range(6):
        stores.confidence.record_outcome(_outcome(VerificationStatus.INSUFFICIENT_DATA, index))

    assert stores.confidence.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (0, 0)
    assert await _restart_probability(stores) == pytest.approx(0.49)


async def test_judgements_move_diagnosis(settings: Settings, topology: Topology) -> None:
    stores = LearningStores.from_settings(settings)
    alert = Alert(
        source=AlertSource.MANUAL, status=AlertStatus.FIRING,
        alertname="SomethingOdd", service=None, fingerprint="f1",
    )
    diagnoser = Diagnoser(topology, ScriptedMetrics([]), stores.feedback)
    before = (await diagnoser.diagnose(alert, incident_id="inc-1"))[0]
    category = before.category
    assert before.terms["learned"] == 0.0

    # Five confirmations at a stated 0.3: (5 − 1.5) / 10 = 0.35, clamped to +0.10.
    for index in range(5):
        stores.feedback.record_feedback(_judgement(True, index, category, 0.3))
    after = (await diagnoser.diagnose(alert, incident_id="inc-1"))[0]

    assert after.category is category
    assert after.terms["learned"] == pytest.approx(0.10)
    assert after.confidence == pytest.approx(min(0.99, before.confidence + 0.10))


def test_outcome_record_from_verification() -> None:
    result = compare_metrics(
        SERVICE, snapshot(error=0.1), [snapshot(error=0.01)], action_type=ActionType.RESTART_POD, incident_id="inc-1",
    )
    executed = execution()
    opened = result.verified_at - timedelta(minutes=5)

    record = outcome_record(
        verification=result, execution=executed, hypothesis_category=Category.MEMORY_LEAK,
        hypothesis_description="memory leak in payment-service", confidence=0.72, opened_at=opened,
        blast_radius_level="medium", risk_level="medium",
    )

    assert record.id == outcome_id(executed)
    assert record.outcome_status is VerificationStatus.SUCCESS
    assert record.outcome_success is True
    assert record.action_executed is True
    assert record.verification_metrics == {"error_ratio": 90.0}
    assert record.before_metrics["error_ratio"] == pytest.approx(0.1)
    assert record.after_metrics["error_ratio"] == pytest.approx(0.01)
    assert record.time_to_resolution_seconds == pytest.approx(300.0)


async def test_outcome_record_of_failed_execution(settings: Settings) -> None:
    failed = execution(ExecutionStatus.FAILED, error="timed out")
    verifier = PostActionVerifier(ScriptedMetrics([]), settings, sleep=RecordingSleep())
    result = await verifier.verify_action(SERVICE, failed, snapshot())

    record = outcome_record(
        verification=result, execution=failed, hypothesis_category=Category.MEMORY_LEAK,
        hypothesis_description="", confidence=0.5, opened_at=datetime.now(UTC),
    )

    assert record.outcome_status is VerificationStatus.EXECUTION_FAILED
    assert record.action_executed is False
    assert record.outcome_success is False
    assert record.time_to_resolution_seconds is None
    assert record.is_verified_trial is False


def test_outcome_record_retry_stored_once(settings: Settings) -> None:
    stores = LearningStores.from_settings(settings)
    result = compare_metrics(SERVICE, snapshot(error=0.1), [snapshot(error=0.01)], action_type=ActionType.RESTART_POD)
    fields = dict(verification=result, execution=execution(), hypothesis_category=Category.MEMORY_LEAK,
                  hypothesis_description="", confidence=0.7)

    assert stores.confidence.record_outcome(outcome_record(**fields)) is True
    assert stores.confidence.record_outcome(outcome_record(**fields)) is False
    assert stores.confidence.counts(Category.MEMORY_LEAK, ActionType.RESTART_POD) == (1, 1)


def test_store_paths_under_data_dir(settings: Settings, data_dir: Path) -> None:
    stores = LearningStores.from_settings(settings)

    assert stores.confidence.path == data_dir / "confidence_tracking.jsonl"
    assert stores.feedback.path == data_dir / "operator_feedback.jsonl"
    assert stores.confidence.partial_success_counts is False


# --- airra report --------------------------------------------------------------------


def test_report_calibration_empty(settings: Settings, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = report.run(argparse.Namespace(kind="calibration", days=30), settings)

    assert code == 0
    assert f"No records yet in {data_dir / 'confidence_tracking.jsonl'}." in capsys.readouterr().out


def test_report_feedback_missing_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "never-created")

    code = report.run(argparse.Namespace(kind="feedback", days=7), settings)

    assert code == 0
    output = capsys.readouterr().out
    assert f"No records yet in {tmp_path / 'never-created' / 'operator_feedback.jsonl'}." in output
    assert "Time Period: 7 days" in output
    assert not (tmp_path / "never-created").exists()


def test_report_calibration_with_records(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    stores = LearningStores.from_settings(settings)
    for index in range(8):
        stores.confidence.record_outcome(_outcome(VerificationStatus.SUCCESS, index))
    for index in range(8, 10):
        stores.confidence.record_outcome(_outcome(VerificationStatus.NO_CHANGE, index))

    assert report.run(argparse.Namespace(kind="calibration", days=30), settings) == 0

    output = capsys.readouterr().out
    assert "Overall Accuracy: 80.0%" in output
    assert "           memory_leak  restart_pod                   8/10  0.490  0.645  in use" in output


def test_report_feedback_rejects_bad_days(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = report.run(argparse.Namespace(kind="feedback", days=0), settings)

    assert code == 2
    assert "invalid --days 0" in capsys.readouterr().err


def test_cli_report_command(settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from airra import cli

    monkeypatch.setenv("AIRRA_DATA_DIR", str(data_dir))
    LearningStores.from_settings(settings).feedback.record_feedback(_judgement(True, 1, Category.CPU_SPIKE, 0.8))

    assert cli.main(["report", "feedback", "--days", "3"]) == 0

    output = capsys.readouterr().out
    assert "Time Period: 3 days" in output
    assert "  Hypothesis Accuracy: 100.0% (1 of 1 confirmed)" in output
