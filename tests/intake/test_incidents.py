from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.errors import StoreError
from airra.incidents import (
    FileIncidentStore,
    Incident,
    IncidentStatus,
    IncidentTracker,
    IngestKind,
    MemoryIncidentStore,
)
from airra.settings import Settings

START = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_alert(fingerprint: str = "fp-1", *, status: AlertStatus = AlertStatus.FIRING,
               service: str | None = "orders", alertname: str = "HighErrorRate",
               group_key: str | None = None, severity: str | None = "warning", count: int = 1,
               summary: str | None = None) -> Alert:
    return Alert(
        source=AlertSource.ALERTMANAGER_WEBHOOK,
        status=status,
        alertname=alertname,
        service=service,
        severity=severity,
        fingerprint=fingerprint,
        group_key=group_key,
        count=count,
        summary=summary,
        runbook_url="https://runbooks.test/x" if fingerprint == "fp-2" else None,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracker(settings: Settings, clock: FakeClock) -> IncidentTracker:
    settings = settings.model_copy(update={"grouping_window_s": 300.0, "reopen_window_s": 900.0})
    return IncidentTracker(MemoryIncidentStore(), settings, clock=clock)


async def test_first_firing_alert_opens(tracker: IncidentTracker) -> None:
    outcome = await tracker.ingest(make_alert(summary="orders 5xx above 5%"))

    assert outcome.kind is IngestKind.OPENED
    incident = outcome.incident
    assert incident is not None
    assert incident.id == "inc-20261204-0001"
    assert incident.status is IncidentStatus.OPEN
    assert incident.service == "orders"
    assert incident.scoped
    assert incident.title == "orders 5xx above 5%"
    assert incident.alert_count == 1
    assert incident.opened_at == START
    assert tracker.get(incident.id) == incident


async def test_repeat_notification_is_duplicate(tracker: IncidentTracker, clock: FakeClock) -> None:
    await tracker.ingest(make_alert())
    clock.advance(3600)
    outcome = await tracker.ingest(make_alert())

    assert outcome.kind is IngestKind.DUPLICATE
    assert outcome.incident is not None
    assert outcome.incident.alert_count == 1


async def test_same_group_key_joins_after_window(tracker: IncidentTracker, clock: FakeClock) -> None:
    first = await tracker.ingest(make_alert("fp-1", group_key="g1"))
    clock.advance(1000)
    second = await tracker.ingest(make_alert("fp-2", group_key="g1", service=None))

    assert second.kind is IngestKind.UPDATED
    assert second.incident is not None
    assert second.incident.id == first.incident.id  # type: ignore[union-attr]
    assert second.incident.alert_count == 2
    assert second.incident.runbook_url == "https://runbooks.test/x"
    assert second.incident.group_keys == ["g1"]


async def test_storm_becomes_one_incident(tracker: IncidentTracker, clock: FakeClock) -> None:
    outcomes = []
    for index in range(50):
        outcomes.append(await tracker.ingest(make_alert(f"storm-{index}", alertname=f"Alert{index % 3}")))
        clock.advance(5)

    kinds = [outcome.kind for outcome in outcomes]
    assert kinds.count(IngestKind.OPENED) == 1
    assert kinds.count(IngestKind.UPDATED) == 49
    incidents = tracker.store.all()
    assert len(incidents) == 1
    assert incidents[0].alert_count == 50
    assert len(incidents[0].alerts) == 50


async def test_service_alert_after_window_opens_new(tracker: IncidentTracker, clock: FakeClock) -> None:
    await tracker.ingest(make_alert("fp-1"))
    clock.advance(301)
    outcome = await tracker.ingest(make_alert("fp-2"))

    assert outcome.kind is IngestKind.OPENED
    assert outcome.incident is not None
    assert outcome.incident.id == "inc-20261204-0002"


async def test_window_slides_with_each_alert(tracker: IncidentTracker, clock: FakeClock) -> None:
    await tracker.ingest(make_alert("fp-1"))
    clock.advance(200)
    await tracker.ingest(make_alert("fp-2"))
    clock.advance(200)
    outcome = await tracker.ingest(make_alert("fp-3"))

    assert outcome.kind is IngestKind.UPDATED


async def test_other_service_opens_its_own(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1", service="orders"))
    outcome = await tracker.ingest(make_alert("fp-2", service="cart"))

    assert outcome.kind is IngestKind.OPENED
    assert len(tracker.store.find_active()) == 2
    assert [incident.service for incident in tracker.store.find_active(service="cart")] == ["cart"]


async def test_unscoped_alerts_group_by_alertname(tracker: IncidentTracker) -> None:
    first = await tracker.ingest(make_alert("u-1", service=None, alertname="NodeDown"))
    same = await tracker.ingest(make_alert("u-2", service=None, alertname="NodeDown"))
    other = await tracker.ingest(make_alert("u-3", service=None, alertname="DiskFull"))

    assert first.incident is not None
    assert not first.incident.scoped
    assert first.incident.service is None
    assert same.kind is IngestKind.UPDATED
    assert other.kind is IngestKind.OPENED


async def test_scoped_alert_does_not_join_unscoped(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("u-1", service=None))
    outcome = await tracker.ingest(make_alert("fp-1", service="orders"))
    assert outcome.kind is IngestKind.OPENED


async def test_resolution_closes_after_last_alert(tracker: IncidentTracker, clock: FakeClock) -> None:
    await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-2"))
    clock.advance(60)

    partial = await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    assert partial.kind is IngestKind.UPDATED
    assert partial.incident is not None
    assert partial.incident.status is IncidentStatus.OPEN
    assert [alert.fingerprint for alert in partial.incident.firing] == ["fp-2"]

    clock.advance(60)
    final = await tracker.ingest(make_alert("fp-2", status=AlertStatus.RESOLVED))
    assert final.kind is IngestKind.RESOLVED
    assert final.incident is not None
    assert final.incident.status is IncidentStatus.RESOLVED
    assert final.incident.resolved_at == START + timedelta(seconds=120)


async def test_duplicate_resolved_is_noop(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    again = await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))

    assert again.kind is IngestKind.DUPLICATE
    assert again.incident is not None
    assert again.incident.status is IncidentStatus.RESOLVED
    assert len(tracker.store.all()) == 1


async def test_duplicate_resolved_in_open_incident(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-2"))
    await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    again = await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    assert again.kind is IngestKind.DUPLICATE


async def test_unknown_resolved_never_opens(tracker: IncidentTracker) -> None:
    outcome = await tracker.ingest(make_alert("fp-9", status=AlertStatus.RESOLVED))

    assert outcome.kind is IngestKind.IGNORED
    assert outcome.incident is None
    assert tracker.store.all() == []


async def test_resolved_of_group_is_recorded(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1", group_key="g"))
    outcome = await tracker.ingest(make_alert("fp-2", status=AlertStatus.RESOLVED, group_key="g"))

    assert outcome.kind is IngestKind.UPDATED
    assert outcome.incident is not None
    assert outcome.incident.status is IncidentStatus.OPEN
    assert outcome.incident.alert_count == 1


async def test_refire_within_window_reopens(tracker: IncidentTracker, clock: FakeClock) -> None:
    opened = await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    clock.advance(899)
    outcome = await tracker.ingest(make_alert("fp-1"))

    assert outcome.kind is IngestKind.REOPENED
    assert outcome.incident is not None
    assert outcome.incident.id == opened.incident.id  # type: ignore[union-attr]
    assert outcome.incident.status is IncidentStatus.OPEN
    assert outcome.incident.resolved_at is None
    assert outcome.incident.reopen_count == 1
    assert outcome.incident.alert_count == 2


async def test_refire_after_window_opens_new(tracker: IncidentTracker, clock: FakeClock) -> None:
    await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    clock.advance(901)
    outcome = await tracker.ingest(make_alert("fp-1"))

    assert outcome.kind is IngestKind.OPENED
    assert outcome.incident is not None
    assert outcome.incident.id == "inc-20261204-0002"


async def test_refire_in_open_incident_counts(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1"))
    await tracker.ingest(make_alert("fp-2"))
    await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))
    outcome = await tracker.ingest(make_alert("fp-1"))

    assert outcome.kind is IngestKind.UPDATED
    assert outcome.incident is not None
    assert outcome.incident.alert_count == 3
    assert len(outcome.incident.firing) == 2


async def test_growing_slack_count_bumps_alert_count(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1", count=2))
    grown = await tracker.ingest(make_alert("fp-1", count=5))
    same = await tracker.ingest(make_alert("fp-1", count=5))

    assert grown.kind is IngestKind.UPDATED
    assert grown.incident is not None
    assert grown.incident.alert_count == 5
    assert same.kind is IngestKind.DUPLICATE


async def test_severity_rises_to_worst(tracker: IncidentTracker) -> None:
    await tracker.ingest(make_alert("fp-1", severity="warning"))
    await tracker.ingest(make_alert("fp-2", severity="critical"))
    outcome = await tracker.ingest(make_alert("fp-3", severity="info"))

    assert outcome.incident is not None
    assert outcome.incident.severity == "critical"


async def test_concurrent_ingest_opens_one(tracker: IncidentTracker) -> None:
    alerts = [make_alert(f"fp-{index}", group_key="g") for index in range(20)]
    outcomes = await asyncio.gather(*(tracker.ingest(alert) for alert in alerts))

    assert [outcome.kind for outcome in outcomes].count(IngestKind.OPENED) == 1
    assert len(tracker.store.all()) == 1


async def test_ids_number_per_day(tracker: IncidentTracker, clock: FakeClock) -> None:
    first = await tracker.open_incident("orders")
    second = await tracker.open_incident("orders")
    clock.advance(86400)
    third = await tracker.open_incident(None, title="checkout is slow")

    assert [first.id, second.id, third.id] == ["inc-20261204-0001", "inc-20261204-0002", "inc-20261205-0001"]
    assert third.title == "checkout is slow"
    assert not third.scoped
    assert first.alerts[f"manual-{first.id}"].source is AlertSource.MANUAL


async def test_open_incident_with_alert(tracker: IncidentTracker) -> None:
    incident = await tracker.open_incident("cart", make_alert("fp-h", service=None))

    assert incident.service == "cart"
    assert incident.alerts["fp-h"].service == "cart"


async def test_update_sets_card(tracker: IncidentTracker) -> None:
    opened = await tracker.open_incident("orders")
    updated = await tracker.update(opened.id, card_ts="1764842100.000100", extra={"proposal": "p-1"})

    assert updated.card_ts == "1764842100.000100"
    assert tracker.get(opened.id) == updated
    with pytest.raises(StoreError, match="incident 'inc-x' not found"):
        await tracker.update("inc-x", card_ts="1")
    with pytest.raises(ValueError, match="cannot change"):
        await tracker.update(opened.id, id="inc-20261204-0099")


async def test_manual_resolve(tracker: IncidentTracker) -> None:
    opened = await tracker.open_incident("orders")
    resolved = await tracker.resolve(opened.id)
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolved_at == START


async def test_ingest_many_keeps_order(tracker: IncidentTracker) -> None:
    outcomes = await tracker.ingest_many([
        make_alert("fp-1"), make_alert("fp-1", status=AlertStatus.RESOLVED),
    ])
    assert [outcome.kind for outcome in outcomes] == [IngestKind.OPENED, IngestKind.RESOLVED]


async def test_store_returns_copies(tracker: IncidentTracker) -> None:
    opened = await tracker.ingest(make_alert())
    assert opened.incident is not None
    opened.incident.title = "changed without save"
    stored = tracker.get(opened.incident.id)
    assert stored is not None
    assert stored.title != "changed without save"


async def test_file_store_survives_restart(settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    directory = tmp_path / "incidents"
    tracker = IncidentTracker(FileIncidentStore(directory), settings, clock=clock)
    opened = await tracker.ingest(make_alert("fp-1", group_key="g"))
    await tracker.update(opened.incident.id, card_ts="17.5")  # type: ignore[union-attr]

    restarted = IncidentTracker(FileIncidentStore(directory), settings, clock=clock)
    again = await restarted.ingest(make_alert("fp-2", group_key="g"))
    fresh = await restarted.open_incident("cart")

    assert again.kind is IngestKind.UPDATED
    assert again.incident is not None
    assert again.incident.card_ts == "17.5"
    assert fresh.id == "inc-20261204-0002"
    assert sorted(path.name for path in directory.iterdir()) == ["inc-20261204-0001.json", "inc-20261204-0002.json"]
    on_disk = json.loads((directory / "inc-20261204-0001.json").read_text())
    assert on_disk["alert_count"] == 2


def test_file_store_skips_corrupt_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "inc-20261204-0001.json").write_text("{half", encoding="utf-8")
    good = Incident(id="inc-20261204-0002", scoped=False, title="t", alertname="A",
                    opened_at=START, updated_at=START)
    (tmp_path / "inc-20261204-0002.json").write_text(good.model_dump_json(), encoding="utf-8")

    store = FileIncidentStore(tmp_path)

    assert [incident.id for incident in store.all()] == ["inc-20261204-0002"]
    assert "inc-20261204-0001.json" in caplog.text


async def test_storm_batch_saves_one_file(settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    directory = tmp_path / "incidents"
    tracker = IncidentTracker(FileIncidentStore(directory), settings, clock=clock)
    storm = [make_alert(f"pod-{index}", group_key="g") for index in range(2000)]

    outcomes = await tracker.ingest_many(storm)

    assert [outcome.kind for outcome in outcomes].count(IngestKind.OPENED) == 1
    assert [path.name for path in directory.iterdir()] == ["inc-20261204-0001.json"]
    reloaded = FileIncidentStore(directory).get("inc-20261204-0001")
    assert reloaded is not None
    assert reloaded.alert_count == 2000
    assert len(reloaded.alerts) == 2000


async def test_new_incidents_in_one_batch_get_distinct_ids(tracker: IncidentTracker) -> None:
    outcomes = await tracker.ingest_many([
        make_alert("a", service="orders"), make_alert("b", service="cart"), make_alert("c", service=None),
    ])

    assert [outcome.incident.id for outcome in outcomes] == [  # type: ignore[union-attr]
        "inc-20261204-0001", "inc-20261204-0002", "inc-20261204-0003",
    ]
    assert len(tracker.store.all()) == 3
