"""``airra analyze`` on files a user may pass by mistake: one line on stderr naming the file, exit code 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import CliRun

ALERT = {
    "status": "firing",
    "labels": {"alertname": "HighErrorRate", "service": "orders", "severity": "warning"},
    "startsAt": "2026-12-04T10:00:00Z",
    "fingerprint": "0123456789abcdef",
}


def _assert_one_line_error(run: CliRun, *fragments: str) -> None:
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err
    assert run.err.startswith("airra: ")
    for fragment in fragments:
        assert fragment in run.err


def test_analyze_directory(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    run = airra("analyze", str(tmp_path))

    _assert_one_line_error(run, f"{tmp_path}: is a directory", "pass the path of a JSON file")


def test_analyze_not_utf8(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"status": "firing", "labels": {"alertname": "Caf\xe9"}}')

    run = airra("analyze", str(path))

    _assert_one_line_error(run, f"{path}: not UTF-8 text", "byte 0xe9 at position 49", "save the file as UTF-8")


def test_analyze_empty_file(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(" \n", encoding="utf-8")

    run = airra("analyze", str(path))

    _assert_one_line_error(run, f"{path}: the file is empty", "webhook body or a single alert object")


def test_analyze_deeply_nested_json(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"alerts": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")

    run = airra("analyze", str(path))

    _assert_one_line_error(run, f"{path}: JSON nested too deeply to read")


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b""])
def test_analyze_accepts_byte_order_mark(airra: Callable[..., CliRun], tmp_path: Path, prefix: bytes) -> None:
    # Some Windows editors start UTF-8 files with a byte order mark.
    path = tmp_path / "alert.json"
    path.write_bytes(prefix + json.dumps(ALERT).encode("utf-8"))

    run = airra("analyze", str(path))

    assert run.code == 0, run.err
    assert run.out.startswith("Incident cli-0123456789abcdef: HighErrorRate (firing) on orders")


def test_analyze_unknown_category_reasoning(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    # An alert name that matches no rule: unknown, no candidate fits, and the
    # reasoning asks to escalate, once.
    path = tmp_path / "alert.json"
    path.write_text(json.dumps({**ALERT, "labels": {"alertname": "Zzz", "service": "orders"}}), encoding="utf-8")

    run = airra("analyze", str(path))

    assert run.code == 0, run.err
    assert ("Reasoning: No action proposed for unknown: no candidate is recommended. Escalate to a human.\n"
            in run.out)


def test_analyze_grafana_webhook_version_1(airra: Callable[..., CliRun], tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    # Grafana's webhook contact point sends version "1" with the same alert objects
    # plus its own keys; it is read as version 4 with a warning.
    body = {
        "receiver": "airra", "status": "firing", "orgId": 1, "version": "1", "state": "alerting",
        "title": "[FIRING:1] HighCPU", "message": "**Firing**", "groupKey": '{}:{alertname="HighCPU"}',
        "truncatedAlerts": 0, "groupLabels": {"alertname": "HighCPU"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://grafana.example/",
        "alerts": [{
            "status": "firing", "labels": {"alertname": "HighCPU", "grafana_folder": "shop", "service": "orders"},
            "annotations": {}, "startsAt": "2026-12-04T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abcd", "silenceURL": "", "dashboardURL": "", "panelURL": "",
            "values": {"A": 0.95}, "valueString": "[ var='A' value=0.95 ]",
        }],
    }
    path = tmp_path / "grafana.json"
    path.write_text(json.dumps(body), encoding="utf-8")

    run = airra("analyze", str(path))

    assert run.code == 0, run.err
    assert run.out.startswith("Incident cli-abcd: HighCPU (firing) on orders")
    assert "1. cpu_spike" in run.out
    assert "payload version 1, expected 4; parsing it as version 4" in caplog.text


@pytest.mark.parametrize(("text", "kind"), [("null", "null"), ("[]", "array"), ('"alert"', "string"), ("42", "number")])
def test_analyze_not_an_object(airra: Callable[..., CliRun], tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "alert.json"
    path.write_text(text, encoding="utf-8")

    run = airra("analyze", str(path))

    _assert_one_line_error(run, f"{path}: expected a JSON object (a webhook body or one alert), got {kind}")
