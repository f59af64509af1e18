"""``airra report`` over damaged stores: every readable record still counts, and nothing stored is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airra.jsonl_store import JsonlStore
from tests.cli.conftest import CliRun
from tests.cli.records import outcome, write_lines

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
