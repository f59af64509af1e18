"""Bot state files and the event de-duplicator."""

from __future__ import annotations

from pathlib import Path

from bot.audit import AuditKind, AuditLog
from bot.state import (
    ApprovalRecord,
    ApprovalStatus,
    EventDeduplicator,
    ExecutionPhase,
    FileApprovalStore,
    FileCardStore,
    FileExecutionStore,
    utc_now,
)


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


def test_pending_lists_only_waiting_records(tmp_path: Path) -> None:
    store = FileApprovalStore(tmp_path)
    now = utc_now()
    for number, status in ((1, ApprovalStatus.APPROVED), (2, ApprovalStatus.PENDING), (3, ApprovalStatus.PENDING)):
        store.save(ApprovalRecord(incident_id=f"inc-{number}", proposal_id="p1", service="search",
                                  action_type="scale_up", required_approvals=1, status=status,
                                  created_at=now.replace(microsecond=number), expires_at=now))

    assert [record.incident_id for record in store.pending()] == ["inc-2", "inc-3"]


def test_unfinished_lists_cut_short_executions(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path)
    store.claim("inc-1", "p1", user_id="U0ALICE")
    store.claim("inc-2", "p1", user_id="U0BOB")
    finished = store.load("inc-2", "p1")
    finished.phase = ExecutionPhase.FINISHED
    store.save(finished)

    assert [(record.incident_id, record.phase) for record in store.unfinished()] == [
        ("inc-1", ExecutionPhase.CLAIMED)]
