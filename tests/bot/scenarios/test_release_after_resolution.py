"""What the bot keeps in memory per incident goes away once the incident resolves or the proposal is decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airra.settings import Settings
from bot.cards import RejectSubmission
from bot.state import ApprovalStatus
from bot.testing.harness import LocalBot

CHANNEL = "C0RELEASE"
SERVICE = "payment-service"


def _webhook(status: str, *, fingerprint: str = "release-000001") -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": SERVICE, "severity": "critical"},
        "annotations": {"summary": f"HighErrorRate on {SERVICE}"},
        "startsAt": "2026-12-04T10:00:00.000Z",
        "endsAt": "2026-12-04T10:05:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }
    return {"version": "4", "receiver": "airra", "status": status, "groupKey": f"release-{fingerprint}",
            "truncatedAlerts": 0, "groupLabels": {"service": SERVICE}, "commonLabels": {"service": SERVICE},
            "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": [alert]}


def _local_bot(data_dir: Path) -> LocalBot:
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, auto_enabled=False, approvers=["U0APPROVER"])
    return LocalBot(settings, channels={CHANNEL: "incidents"})


async def test_resolution_cancels_expiry_timer(data_dir: Path) -> None:
    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows
        await local.post_webhook(_webhook("firing"))
        await local.settle()
        incident = flows.tracker.store.find_active()[0]
        record = flows.approvals.latest_for(incident.id)
        assert record is not None
        assert record.status is ApprovalStatus.PENDING
        assert list(flows._timers) == [(incident.id, record.proposal_id)]
        timer = flows._timers[(incident.id, record.proposal_id)]

        await local.post_webhook(_webhook("resolved"))
        await local.settle()

        assert flows.tracker.get(incident.id).is_open is False
        assert flows._timers == {}
        assert timer.cancelled()
        assert len(flows._card_locks) == 0
        assert len(flows.desk._locks) == 0


async def test_new_proposal_cancels_superseded_timer(data_dir: Path) -> None:
    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows
        await local.post_webhook(_webhook("firing"))
        await local.settle()
        incident = flows.tracker.store.find_active()[0]
        first = flows.approvals.latest_for(incident.id)
        assert first is not None

        second = await flows.propose(incident.id, incident.firing[-1])
        await local.settle()

        assert second is not None
        assert second.proposal_id != first.proposal_id
        assert flows.approvals.load(incident.id, first.proposal_id).status is ApprovalStatus.SUPERSEDED
        assert list(flows._timers) == [(incident.id, second.proposal_id)]
        assert len(flows.desk._locks) == 0


async def test_rejection_cancels_expiry_timer(data_dir: Path) -> None:
    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows
        await local.post_webhook(_webhook("firing"))
        await local.settle()
        incident = flows.tracker.store.find_active()[0]
        record = flows.approvals.latest_for(incident.id)
        assert record is not None

        await flows.reject(RejectSubmission(incident_id=incident.id, proposal_id=record.proposal_id,
                                            reason="not now"), "U0APPROVER")
        await local.settle()

        assert flows.approvals.load(incident.id, record.proposal_id).status is ApprovalStatus.REJECTED
        assert flows._timers == {}
        assert len(flows.desk._locks) == 0


async def test_restart_skips_resolved_incident_timer(data_dir: Path) -> None:
    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        await local.post_webhook(_webhook("firing"))
        await local.settle()
        incident = local.bot.flows.tracker.store.find_active()[0]
        await local.post_webhook(_webhook("resolved"))
        await local.settle()
        assert local.bot.flows.tracker.get(incident.id).is_open is False

    async with _local_bot(data_dir) as restarted:
        assert restarted.bot is not None
        flows = restarted.bot.flows
        pending = flows.approvals.pending()

        assert [record.incident_id for record in pending] == [incident.id]
        assert flows._timers == {}


async def test_restart_expires_old_resolved_approval(data_dir: Path) -> None:
    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        await local.post_webhook(_webhook("firing"))
        await local.settle()
        incident = local.bot.flows.tracker.store.find_active()[0]
        await local.post_webhook(_webhook("resolved"))
        await local.settle()
        record = local.bot.flows.approvals.latest_for(incident.id)
        assert record is not None
        # As if the approval TTL passed while the bot was stopped.
        record.expires_at = record.created_at
        local.bot.flows.approvals.save(record)

    async with _local_bot(data_dir) as restarted:
        assert restarted.bot is not None
        flows = restarted.bot.flows

        assert flows.approvals.pending() == []
        assert flows.approvals.load(incident.id, record.proposal_id).status is ApprovalStatus.EXPIRED
        assert flows._timers == {}
