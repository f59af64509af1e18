"""Bot state files and the event de-duplicator."""

from __future__ import annotations

from pathlib import Path

from bot.audit import AuditKind, AuditLog
from bot.state import EventDeduplicator, FileApprovalStore, FileCardStore, utc_now
from bot.state import ApprovalRecord


def test_approval_store_round_trip_and_latest(tmp_path: Path) -> None:
    store = FileApprovalStore(tmp_path)
    now = utc_now()
    for number in (1, 2):
        store.save(ApprovalRecord(incident_id="inc-20261204-0001", proposal_id=f"p{number}", service="checkout",
                                  action_type="scale_up", required_approvals=1,
                                  created_at=now.replace(microsecond=number), expires_at=now))

    assert store.load("inc-20261204-0001", "p1").proposal_id == "p1"
    assert store.latest_for("inc-20261204-0001").proposal_id == "p2"
    assert store.latest_for("inc-20261204-0002") is None
    assert store.load("inc-20261204-0001", "p9") is None


def test_card_store_round_trip(tmp_path: Path) -> None:
    store = FileCardStore(tmp_path)
    store.save("inc-1", {"state": "executing"})
    assert FileCardStore(tmp_path).load("inc-1") == {"state": "executing"}
    assert store.load("inc-2") is None


def test_deduplicator_sees_each_id_once() -> None:
    seen = EventDeduplicator(max_entries=2)
    assert seen.first_time("Ev1") is True
    assert seen.first_time("Ev1") is False
    assert seen.first_time("Ev2") is True
    assert seen.first_time("Ev3") is True
    # The oldest id fell out once the memory was full.
    assert seen.first_time("Ev1") is True


def test_audit_log_appends_lines(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.record(AuditKind.APPROVAL, incident_id="inc-1", user_id="U0ALICE", action="scale_up")
    audit.record(AuditKind.PAUSE, incident_id=None, user_id="U0BOB")

    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [entry.kind for entry in entries] == [AuditKind.APPROVAL, AuditKind.PAUSE]
    assert entries[0].user_id == "U0ALICE"
    assert entries[0].details == {"action": "scale_up"}
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 2
