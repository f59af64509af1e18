"""``airra demo`` plays each scenario to a verified, recorded outcome, repeatably for a seed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airra.topology import DEFAULT_SERVICES_FILE
from bot.demo import SCENARIOS, play


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _stable(output: str) -> str:
    """Drop what changes between runs: elapsed times, ports, temp paths, timings and dates."""
    output = re.sub(r"\[\s*[0-9.]+s\]", "[t]", output)
    output = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", output)
    output = re.sub(r"/tmp/\S+", "TMP", output)
    output = re.sub(r"in \d+ ms", "in N ms", output)
    output = re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", output)
    output = re.sub(r"\d{10}\.\d{6}", "TS", output)  # Slack message ts, e.g. in thread index file names
    return re.sub(r"\(\d+ bytes\)", "(N bytes)", output)


@pytest.mark.parametrize("name", ["memory-leak", "cpu-spike", "bad-deployment"])
async def test_demo_scenario_verifies(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await play(SCENARIOS[name], seed=7, data_dir=tmp_path, services_file=DEFAULT_SERVICES_FILE)
    output = capsys.readouterr().out

    assert code == 0
    assert "[ Approve ]" in output
    assert "Post-action verification: success" in output
    outcomes = _records(tmp_path / "confidence_tracking.jsonl")
    assert [record["outcome_status"] for record in outcomes] == ["success"]
    assert outcomes[0]["hypothesis_category"] == SCENARIOS[name].fault.value or name == "bad-deployment"
    feedback = _records(tmp_path / "operator_feedback.jsonl")
    assert [record["feedback_type"] for record in feedback][-1] == "incident_resolved"
    assert "CONFIDENCE CALIBRATION REPORT" in output
    assert "OPERATOR FEEDBACK REPORT" in output


async def test_demo_wrong_action_is_corrected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await play(SCENARIOS["wrong-action"], seed=7, data_dir=tmp_path, services_file=DEFAULT_SERVICES_FILE)
    output = capsys.readouterr().out

    assert code == 0
    feedback = _records(tmp_path / "operator_feedback.jsonl")
    assert feedback[0]["feedback_type"] == "hypothesis_incorrect"
    assert feedback[0]["airra_action_type"] == "rollback_deployment"
    assert feedback[0]["correct_hypothesis_category"] == "memory_leak"
    assert feedback[0]["correct_action_type"] == "restart_pod"
    outcomes = _records(tmp_path / "confidence_tracking.jsonl")
    assert [(record["action_type"], record["outcome_status"]) for record in outcomes] == [("restart_pod", "success")]
    assert "AIRRA: 'error_spike' → Actually: 'memory_leak' (1 time)" in output


async def test_demo_seed_repeats_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await play(SCENARIOS["memory-leak"], seed=11, data_dir=tmp_path / "a", services_file=DEFAULT_SERVICES_FILE)
    first = _stable(capsys.readouterr().out)
    await play(SCENARIOS["memory-leak"], seed=11, data_dir=tmp_path / "b", services_file=DEFAULT_SERVICES_FILE)
    second = _stable(capsys.readouterr().out)

    assert first == second
