"""``airra analyze`` and ``airra simulate`` use what the stores under AIRRA_DATA_DIR have learned.

The bot passes both learning stores to the decision core. The commands must
too, or an operator checking a card by hand gets a different P_fix and
confidence than the card and the calibration report show.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import CliRun
from tests.cli.records import feedback, outcome, write_lines

MEMORY_ALERT = {
    "status": "firing",
    "labels": {"alertname": "ContainerMemoryNearLimit", "service": "payment-service", "severity": "critical"},
    "annotations": {},
    "startsAt": "2026-12-04T10:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "fingerprint": "5a5a5a5a5a5a5a5a",
}


def _eight_of_ten_restarts(data_dir: Path) -> None:
    # p0 = 0.70 × 0.70 = 0.49; P_fix = (10 × 0.49 + 8) ÷ (10 + 10) = 0.645
    statuses = ["success"] * 8 + ["no_change", "degraded"]
    write_lines(data_dir / "confidence_tracking.jsonl", [
        outcome(f"r{i}", category="memory_leak", action="restart_pod", status=status)
        for i, status in enumerate(statuses)
    ])


def test_simulate_uses_verified_outcomes(airra: Callable[..., CliRun], data_dir: Path) -> None:
    _eight_of_ten_restarts(data_dir)

    run = airra("simulate", "payment-service", "memory_leak", "--actions", "restart_pod")

    assert run.code == 0, run.err
    assert "(posterior from 8/10 verified outcomes)" in run.out
    assert "   Expected Improvement: 64.5%" in run.out


def test_analyze_uses_verified_outcomes(airra: Callable[..., CliRun], data_dir: Path, tmp_path: Path) -> None:
    _eight_of_ten_restarts(data_dir)
    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(MEMORY_ALERT), encoding="utf-8")

    run = airra("analyze", str(alert_file), "--json")

    assert run.code == 0, run.err
    restart = next(a for a in json.loads(run.out)[0]["simulation"]["actions"] if a["action_type"] == "restart_pod")
    assert restart["history_successes"] == 8
    assert restart["history_trials"] == 10
    assert abs(restart["success_probability"] - 0.645) < 1e-9


def test_analyze_uses_learned_category_priors(airra: Callable[..., CliRun], data_dir: Path, tmp_path: Path) -> None:
    # Five corrections at a stated 0.80: (0 − 4.0) ÷ (5 + 5) = −0.40, clamped to −0.10.
    at = datetime.now(UTC) - timedelta(days=1)
    write_lines(data_dir / "operator_feedback.jsonl", [
        feedback(f"f{i}", kind="hypothesis_incorrect", at=at, correct_hypothesis_category="cpu_spike")
        for i in range(5)
    ])
    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(MEMORY_ALERT), encoding="utf-8")

    run = airra("analyze", str(alert_file), "--json")

    assert run.code == 0, run.err
    memory = next(h for h in json.loads(run.out)[0]["hypotheses"] if h["category"] == "memory_leak")
    assert memory["terms"]["learned"] == -0.10


def test_simulate_names_too_few_outcomes(airra: Callable[..., CliRun], data_dir: Path) -> None:
    # Three verified trials are stored but five are needed: P_fix stays the prior,
    # and the report must not claim there is no history.
    write_lines(data_dir / "confidence_tracking.jsonl", [
        outcome(f"r{i}", category="memory_leak", action="restart_pod", status="success") for i in range(3)
    ])

    run = airra("simulate", "payment-service", "memory_leak", "--actions", "restart_pod")

    assert run.code == 0, run.err
    assert "   Success Probability: 49% (prior: 3 of the 5 verified outcomes needed so far)" in run.out
