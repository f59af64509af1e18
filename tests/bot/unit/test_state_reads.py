"""State files are read in one pydantic step with json.loads as the fallback, and unreadable ones are skipped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.state import FileExecutionStore, state_key


def _record(incident_id: str, proposal_id: str, claimed_by: str) -> dict[str, str]:
    return {"incident_id": incident_id, "proposal_id": proposal_id, "claimed_by": claimed_by,
            "claimed_at": "2026-12-04T21:00:00+00:00"}


def test_lone_surrogate_record_is_read(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path)
    # json.dumps escapes the lone surrogate as \ud83d, which pydantic's JSON parser rejects.
    text = json.dumps(_record("inc-1", "p1", "U0\ud83dBROKEN"))
    (store.directory / f"{state_key('inc-1', 'p1')}.json").write_text(text, encoding="utf-8")

    record = store.load("inc-1", "p1")

    assert record is not None
    assert record.claimed_by == "U0\ud83dBROKEN"


def test_unreadable_record_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FileExecutionStore(tmp_path)
    path = store.directory / f"{state_key('inc-2', 'p1')}.json"
    path.write_text('{"incident_id": "inc-2", "proposal_id": ', encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="bot.state"):
        assert store.load("inc-2", "p1") is None

    assert f"skipping unreadable state file {path}" in caplog.text


def test_plain_record_is_read(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path)
    (store.directory / f"{state_key('inc-3', 'p2')}.json").write_text(
        json.dumps(_record("inc-3", "p2", "U0ALICE")), encoding="utf-8")

    record = store.load("inc-3", "p2")

    assert record is not None
    assert record.incident_id == "inc-3"
    assert record.proposal_id == "p2"
    assert record.claimed_by == "U0ALICE"
