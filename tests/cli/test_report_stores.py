"""``airra report`` over damaged stores: every readable record still counts, and nothing stored is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airra.jsonl_store import JsonlStore
from tests.cli.conftest import CliRun
from tests.cli.records import feedback, outcome, write_lines

# A line a broken writer or a hand edit could leave behind: valid JSON
# characters, but nested deeper than Python's JSON decoder recurses.
DEEP_LINE = "[" * 100_000 + "]" * 100_000


def test_calibration_skips_deeply_nested_line(airra: Callable[..., CliRun], data_dir: Path) -> None:
    write_lines(data_dir / "confidence_tracking.jsonl", [
        outcome("r1", category="cpu_spike", action="scale_up", status="success", confidence=0.75),
        DEEP_LINE,
        outcome("r2", category="cpu_spike", action="scale_up", status="no_change", confidence=0.75),
    ])

    run = airra("report", "calibration")

    assert run.code == 0, run.err
    assert "Total Records: 2 (2 verified outcomes, 0 not counted)" in run.out
    assert "Overall Accuracy: 50.0%" in run.out


def test_append_after_deeply_nested_line(data_dir: Path) -> None:
    path = data_dir / "confidence_tracking.jsonl"
    write_lines(path, [{"id": "a", "schema_version": 1}, DEEP_LINE])
    store = JsonlStore(path, schema_version=1)

    assert store.append({"id": "b"}) is True
    assert store.append({"id": "a"}) is False
    assert [record["id"] for record in store.iter_records()] == ["a", "b"]


@pytest.mark.parametrize("command", [
    ("report", "calibration"),
    ("report", "feedback"),
    ("simulate", "orders", "cpu_spike"),
])
def test_data_dir_under_a_file(airra: Callable[..., CliRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               command: tuple[str, ...]) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")
    monkeypatch.setenv("AIRRA_DATA_DIR", str(not_a_directory / "data"))

    run = airra(*command)

    assert run.code == 2
    assert run.err == (f"airra: AIRRA_DATA_DIR {not_a_directory / 'data'}: part of the path is a file, "
                       "not a directory; set AIRRA_DATA_DIR to a directory\n")


def test_data_dir_is_a_file(airra: Callable[..., CliRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")
    monkeypatch.setenv("AIRRA_DATA_DIR", str(not_a_directory))

    run = airra("report", "calibration")

    assert run.code == 2
    assert run.err == (f"airra: AIRRA_DATA_DIR {not_a_directory} is a file, not a directory; "
                       "set AIRRA_DATA_DIR to a directory\n")


@pytest.mark.parametrize("days", ["1000000", "999999999", "1000000000"])
def test_feedback_days_beyond_calendar(airra: Callable[..., CliRun], data_dir: Path, days: str) -> None:
    # A window longer than the calendar reaches back to year 1: every record is in it.
    write_lines(data_dir / "operator_feedback.jsonl", [
        feedback("f1", kind="hypothesis_correct", at=datetime(2001, 1, 1, tzinfo=UTC)),
    ])

    run = airra("report", "feedback", "--days", days)

    assert run.code == 0, run.err
    assert f"Time Period: {days} days" in run.out
    assert "Date Range: 0001-01-01 to " in run.out
    assert "Total Feedback: 1 (1 records in the store)" in run.out


def test_feedback_future_records_outside_window(airra: Callable[..., CliRun], data_dir: Path) -> None:
    now = datetime.now(UTC)
    write_lines(data_dir / "operator_feedback.jsonl", [
        feedback("f1", kind="hypothesis_correct", at=now - timedelta(days=1)),
        feedback("f2", kind="hypothesis_incorrect", at=now - timedelta(days=2), correct_hypothesis_category="cpu_spike"),
        feedback("f3", kind="hypothesis_correct", at=now + timedelta(days=36500)),
    ])

    run = airra("report", "feedback", "--days", "30")

    assert run.code == 0, run.err
    assert "Total Feedback: 2 (3 records in the store)" in run.out
    assert ("Not in the window: 1 record dated after the end of the window; "
            "check the clock of the host that wrote it") in run.out
    assert "Hypothesis Accuracy: 50.0% (1 of 2 confirmed)" in run.out


def test_calibration_rejects_days(airra: Callable[..., CliRun]) -> None:
    run = airra("report", "calibration", "--days", "7")

    assert run.code == 2
    assert run.out == ""
    assert run.err == ("airra: --days 7 applies only to the feedback report; the calibration report "
                       "covers the whole store, so leave --days out\n")


def test_feedback_default_window(airra: Callable[..., CliRun]) -> None:
    run = airra("report", "feedback")

    assert run.code == 0, run.err
    assert "Time Period: 30 days" in run.out


def test_demo_data_dir_under_a_file(airra: Callable[..., CliRun], tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")

    run = airra("demo", "--data-dir", str(not_a_directory / "data"))

    assert run.code == 2
    assert run.err == (f"airra: --data-dir {not_a_directory / 'data'}: part of the path is a file, "
                       "not a directory; set --data-dir to a directory\n")


@pytest.mark.parametrize(("kind", "store"), [
    ("calibration", "confidence_tracking.jsonl"),
    ("feedback", "operator_feedback.jsonl"),
])
def test_report_store_with_no_readable_record(airra: Callable[..., CliRun], data_dir: Path, kind: str,
                                              store: str) -> None:
    # Lines written by a newer AIRRA are skipped; "no records yet" would read as if they were lost.
    newer = {"id": "n1", "feedback_id": "n1", "schema_version": 2}
    write_lines(data_dir / store, [newer, "torn{"])

    run = airra("report", kind)

    assert run.code == 0, run.err
    assert "No records yet" not in run.out
    assert (f"No readable records in {data_dir / store}: all 2 lines were skipped; the warnings "
            "name each line and why") in run.out
