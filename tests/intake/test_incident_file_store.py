"""FileIncidentStore keeps open and recently resolved incidents in memory, the rest on disk."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from airra.alerts import AlertStatus
from airra.incidents import FileIncidentStore, IncidentStatus, IncidentTracker, IngestKind
from airra.settings import Settings
from tests.intake.test_incidents import FakeClock, make_alert

REOPEN_WINDOW_S = 900.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reopen_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"grouping_window_s": 300.0, "reopen_window_s": REOPEN_WINDOW_S})


def _store(directory: Path, clock: FakeClock) -> FileIncidentStore:
    return FileIncidentStore(directory, keep_resolved_for=timedelta(seconds=REOPEN_WINDOW_S), clock=clock)


async def _open_and_resolve(tracker: IncidentTracker, fingerprint: str, service: str = "orders") -> str:
    opened = await tracker.ingest(make_alert(fingerprint, service=service))
    resolved = await tracker.ingest(make_alert(fingerprint, service=service, status=AlertStatus.RESOLVED))
    assert opened.incident is not None
    assert resolved.kind is IngestKind.RESOLVED
    return opened.incident.id


async def test_evicted_incident_read_from_disk(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    store = _store(tmp_path, clock)
    tracker = IncidentTracker(store, reopen_settings, clock=clock)
    old_id = await _open_and_resolve(tracker, "fp-old")
    assert old_id in store._incidents

    clock.advance(REOPEN_WINDOW_S + 1)
    await tracker.ingest(make_alert("fp-new", service="cart"))

    assert old_id not in store._incidents
    from_disk = store.get(old_id)
    assert from_disk is not None
    assert from_disk.status is IncidentStatus.RESOLVED
    assert [incident.id for incident in store.all()] == [old_id, "inc-20261204-0002"]


async def test_memory_holds_only_window(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    store = _store(tmp_path, clock)
    tracker = IncidentTracker(store, reopen_settings, clock=clock)

    for number in range(30):
        await _open_and_resolve(tracker, f"fp-{number}", service=f"service-{number}")
        clock.advance(REOPEN_WINDOW_S / 3)

    # Saves evict. The last one ran at 29 x 300 s and kept the incidents resolved 0, 300, 600 and
    # 900 s before it, the window's edge included.
    assert sorted(store._incidents) == ["inc-20261204-0027", "inc-20261204-0028", "inc-20261204-0029",
                                        "inc-20261204-0030"]
    assert len(store.all()) == 30


async def test_refire_within_window_reopens(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")

    clock.advance(REOPEN_WINDOW_S - 60)
    again = await tracker.ingest(make_alert("fp-1"))

    assert again.kind is IngestKind.REOPENED
    assert again.incident is not None
    assert again.incident.id == incident_id


async def test_refire_after_window_opens_new(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")

    clock.advance(REOPEN_WINDOW_S + 60)
    again = await tracker.ingest(make_alert("fp-1"))

    assert again.kind is IngestKind.OPENED
    assert again.incident is not None
    assert again.incident.id != incident_id


async def test_late_resolved_alert_is_duplicate(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    store = _store(tmp_path, clock)
    tracker = IncidentTracker(store, reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")
    clock.advance(REOPEN_WINDOW_S + 60)
    await tracker.ingest(make_alert("fp-other", service="cart"))
    assert incident_id not in store._incidents

    repeated = await tracker.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))

    # Past the reopen window but within the hour of the duplicate check: read back from disk.
    assert repeated.kind is IngestKind.DUPLICATE
    assert repeated.incident is not None
    assert repeated.incident.id == incident_id


async def test_late_duplicate_after_restart(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")
    clock.advance(REOPEN_WINDOW_S + 60)

    restarted = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    repeated = await restarted.ingest(make_alert("fp-1", status=AlertStatus.RESOLVED))

    assert incident_id not in restarted.store._incidents  # type: ignore[attr-defined]
    assert repeated.kind is IngestKind.DUPLICATE
    assert repeated.incident is not None
    assert repeated.incident.id == incident_id


async def test_restart_keeps_open_only(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    resolved_id = await _open_and_resolve(tracker, "fp-1")
    still_open = await tracker.ingest(make_alert("fp-2", service="cart"))
    assert still_open.incident is not None
    clock.advance(REOPEN_WINDOW_S + 60)

    restarted = _store(tmp_path, clock)

    assert sorted(restarted._incidents) == [still_open.incident.id]
    assert [incident.id for incident in restarted.find_active()] == [still_open.incident.id]
    assert restarted.get(resolved_id) is not None


async def test_thread_index_after_restart(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")
    await tracker.update(incident_id, channel="C0INCIDENTS", card_ts="1733300000.000100")
    clock.advance(REOPEN_WINDOW_S + 60)

    restarted = _store(tmp_path, clock)
    found = restarted.find_by_card("C0INCIDENTS", "1733300000.000100")

    assert incident_id not in restarted._incidents
    assert found is not None
    assert found.id == incident_id
    assert restarted.find_by_card("C0INCIDENTS", "1733300000.000200") is None
    assert restarted.find_by_card("C0OTHER", "1733300000.000100") is None


async def test_thread_index_rebuilt_at_start(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    incident_id = await _open_and_resolve(tracker, "fp-1")
    await tracker.update(incident_id, channel="C0INCIDENTS", card_ts="1733300000.000100")
    clock.advance(REOPEN_WINDOW_S + 60)
    # A data directory written before the thread index existed.
    shutil.rmtree(tmp_path / "threads")

    restarted = _store(tmp_path, clock)
    found = restarted.find_by_card("C0INCIDENTS", "1733300000.000100")

    assert (tmp_path / "threads").is_dir()
    assert found is not None
    assert found.id == incident_id


def test_unsafe_id_not_read(tmp_path: Path, clock: FakeClock) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}", encoding="utf-8")
    store = _store(tmp_path / "incidents", clock)

    assert store.get("../outside") is None
    assert store.get(".hidden") is None


async def test_unreadable_file_id_not_reused(reopen_settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    tracker = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    await _open_and_resolve(tracker, "fp-1")
    (tmp_path / "inc-20261204-0002.json").write_text("{half", encoding="utf-8")

    restarted = IncidentTracker(_store(tmp_path, clock), reopen_settings, clock=clock)
    fresh = await restarted.ingest(make_alert("fp-2", service="cart"))

    assert restarted.store.ids() == ["inc-20261204-0001", "inc-20261204-0002", "inc-20261204-0003"]
    assert fresh.incident is not None
    assert fresh.incident.id == "inc-20261204-0003"
    assert (tmp_path / "inc-20261204-0002.json").read_text(encoding="utf-8") == "{half"
