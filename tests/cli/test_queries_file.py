"""Broken AIRRA_QUERIES_FILE files, read when AIRRA_PROMETHEUS_URL is set: one line naming the file and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import CliRun


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point AIRRA at Prometheus, so that the queries file is read; nothing is queried before it fails."""
    monkeypatch.setenv("AIRRA_PROMETHEUS_URL", "http://127.0.0.1:9")


def _assert_one_line_error(run: CliRun, *fragments: str) -> None:
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err
    for fragment in fragments:
        assert fragment in run.err


@pytest.mark.usefixtures("live")
def test_queries_file_is_directory(airra: Callable[..., CliRun], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRRA_QUERIES_FILE", str(tmp_path))

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"airra: {tmp_path}: is a directory; set AIRRA_QUERIES_FILE to a queries YAML file")


@pytest.mark.usefixtures("live")
def test_queries_file_not_utf8(airra: Callable[..., CliRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "queries.yaml"
    path.write_bytes(b"defaults:\n  error_ratio: \xff\n")
    monkeypatch.setenv("AIRRA_QUERIES_FILE", str(path))

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"airra: {path}: not UTF-8 text (byte 0xff at position 25); save the file as UTF-8")


@pytest.mark.usefixtures("live")
def test_queries_file_invalid_yaml(airra: Callable[..., CliRun], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text("defaults: [\n", encoding="utf-8")
    monkeypatch.setenv("AIRRA_QUERIES_FILE", str(path))

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"airra: {path}: invalid YAML at line 2, column 1: ")


@pytest.mark.usefixtures("live")
@pytest.mark.parametrize(("name", "hint"), [
    ("paymnt-service", "use the name that `airra services` lists"),
    ("payments", "use 'payment-service'"),
])
def test_queries_file_unknown_service(airra: Callable[..., CliRun], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, name: str, hint: str) -> None:
    # An override under a misspelt name or an alias would never be used: queries
    # are looked up by the service's own name.
    path = tmp_path / "queries.yaml"
    path.write_text(f"services:\n  {name}:\n    request_rate: sum(rate(payments_total[$window]))\n",
                    encoding="utf-8")
    monkeypatch.setenv("AIRRA_QUERIES_FILE", str(path))

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"airra: {path}: services.{name} is not a service name of the services file; {hint}\n")
