"""The analyze, blast and simulate commands, run on the sandbox cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airra.cli import main

DATA = Path(__file__).parent / "data"


def test_analyze_webhook_prints_each_alert(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(DATA / "webhook_checkout_errors.json")]) == 0
    out = capsys.readouterr().out
    assert "Incident cli-a1b2c3d4e5f60718: CheckoutErrorsHigh (firing) on orders" in out
    assert "Incident cli-0f1e2d3c4b5a6978: CheckoutErrorsHigh (firing) on an unknown service" in out
    assert "no label of the alert names a known service" in out
    assert "Approval: not_proposed" in out


def test_analyze_json_single_alert(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(DATA / "single_alert_oom.json"), "--json"]) == 0
    proposals = json.loads(capsys.readouterr().out)
    assert len(proposals) == 1
    proposal = proposals[0]
    assert proposal["incident_id"] == "cli-77aa88bb99cc00dd"
    assert proposal["service"]["name"] == "catalog"
    assert proposal["hypotheses"][0]["category"] == "memory_leak"
    assert proposal["blast"]["service"] == "catalog"
    assert proposal["approval"] in {"automatic", "one_approver", "two_approvers", "not_proposed"}


def test_analyze_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["analyze", str(missing)]) == 2
    assert f"airra: {missing}: alert file not found" in capsys.readouterr().err


def test_analyze_invalid_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"alerts": [', encoding="utf-8")
    assert main(["analyze", str(broken)]) == 2
    assert "invalid JSON at line 1" in capsys.readouterr().err


def test_blast_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blast", "payment-service"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Blast radius of payment-service: ")
    assert "  downstream (hops)       orders (1), api-gateway (2), frontend (3), mobile-bff (3)" in out
    assert "   0.30·min(1, 4/10) = 0.1200" in out
    assert "   0.20·1 = 0.2000" in out


def test_blast_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    # "payment" is an alias of payment-service, so a misspelling stands for an unknown name.
    assert main(["blast", "paymnt"]) == 2
    assert "unknown service 'paymnt'" in capsys.readouterr().err


def test_simulate_command_with_actions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "payment-service", "memory_leak", "--actions", "scale_up,restart"]) == 0
    out = capsys.readouterr().out
    assert "Service: payment-service" in out
    assert "Incident: memory_leak" in out
    assert "1. RESTART POD" in out
    assert "2. SCALE UP" in out
    assert "BEST ACTION: RESTART_POD" in out


def test_simulate_defaults_to_allowed_actions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "redis", "cache_issue"]) == 0
    out = capsys.readouterr().out
    assert "CLEAR CACHE" in out
    assert "RESTART POD" not in out


def test_simulate_bad_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "orders", "memory_leek"]) == 2
    assert "unknown category 'memory_leek'" in capsys.readouterr().err
    assert main(["simulate", "orders", "cpu_spike", "--actions", "reboot"]) == 2
    assert "unknown action 'reboot'" in capsys.readouterr().err
