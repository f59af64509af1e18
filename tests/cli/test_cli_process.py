"""How ``airra`` ends when the reader of its output goes away, on Ctrl-C, and on a bug."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from airra.commands import services as services_command
from tests.cli.conftest import CliRun

ROOT = Path(__file__).resolve().parents[2]


def test_closed_pipe_exits_quietly(data_dir: Path) -> None:
    # The reader end is closed before airra writes, as when `airra services | head -1`
    # has already exited: the write fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "airra.cli", "services"], stdout=write_end, stderr=subprocess.PIPE,
            cwd=ROOT, env={**os.environ, "AIRRA_DATA_DIR": str(data_dir)}, timeout=60, check=False,
        )
    finally:
        os.close(write_end)

    assert result.returncode == 1
    assert result.stderr == b""


def test_interrupt_exits_130(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(services_command, "run", interrupted)

    run = airra("services")

    assert run.code == 130
    assert run.err == "airra: interrupted\n"


def test_unexpected_error_one_line(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(services_command, "run", broken)

    run = airra("services")

    assert run.code == 1
    assert run.err == ("airra: unexpected error: ZeroDivisionError: division by zero; "
                       "run again with --verbose for the traceback, and report it\n")


def test_unexpected_error_verbose_raises(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(services_command, "run", broken)

    with pytest.raises(ZeroDivisionError):
        airra("--verbose", "services")


def test_verbose_after_command_raises(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    # The error message contains "run again with --verbose"; users add it at the end.
    def broken(*_: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(services_command, "run", broken)

    with pytest.raises(ZeroDivisionError):
        airra("services", "--verbose")


def test_verbose_after_command_runs(airra: Callable[..., CliRun]) -> None:
    run = airra("blast", "orders", "-v")

    assert run.code == 0, run.err
    assert run.out.startswith("Blast radius of orders: ")


def test_unreachable_prometheus_logs_no_retries(data_dir: Path) -> None:
    # Nothing listens on 127.0.0.1:9, so every query is refused at once. The
    # metrics source reports that itself; urllib3's retry lines would only repeat it.
    result = subprocess.run(
        [sys.executable, "-m", "airra.cli", "blast", "orders"], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "AIRRA_DATA_DIR": str(data_dir), "AIRRA_PROMETHEUS_URL": "http://127.0.0.1:9"},
        timeout=60, check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Blast radius of orders: HIGH (score 0.7900, urgency ×3.90)" in result.stdout
    assert "urllib3" not in result.stderr
    assert "cannot connect to Prometheus at http://127.0.0.1:9" in result.stderr
