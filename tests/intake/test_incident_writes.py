"""The tracker writes incidents off the event loop, and reads return a change only once it is written."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.errors import StoreError
from airra.incidents import FileIncidentStore, Incident, IncidentTracker, IngestKind, IngestOutcome
from airra.settings import Settings


class FailingFileStore(FileIncidentStore):
    """A file store whose writes fail while ``failing`` is set, as on a full disk."""

    failing = False

    def write(self, incident: Incident) -> None:
        if self.failing:
            raise StoreError(f"failed to write incident {incident.id}: disk full")
        super().write(incident)


def firing(fingerprint: str) -> Alert:
    return Alert(source=AlertSource.ALERTMANAGER_WEBHOOK, status=AlertStatus.FIRING, alertname="HighErrorRate",
                 service="orders", fingerprint=fingerprint)


async def test_decided_outcomes_come_before_write(settings: Settings, tmp_path: Path) -> None:
    store = FileIncidentStore(tmp_path)
    tracker = IncidentTracker(store, settings)
    observed: list[tuple[IngestKind, bool, bool]] = []

    def on_decided(outcomes: list[IngestOutcome]) -> None:
        for outcome in outcomes:
            assert outcome.incident is not None
            written = (tmp_path / f"{outcome.incident.id}.json").exists()
            observed.append((outcome.kind, written, tracker.get(outcome.incident.id) is not None))

    outcomes = await tracker.ingest_many([firing("fp-1")], on_decided=on_decided)

    assert observed == [(IngestKind.OPENED, False, False)]
    incident = outcomes[0].incident
    assert incident is not None
    assert (tmp_path / f"{incident.id}.json").exists()
    assert tracker.get(incident.id) == incident


async def test_failed_write_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    store = FailingFileStore(tmp_path)
    tracker = IncidentTracker(store, settings)
    opened = (await tracker.ingest(firing("fp-1"))).incident
    assert opened is not None

    store.failing = True
    with pytest.raises(StoreError, match="disk full"):
        await tracker.ingest_many([firing("fp-2")])
    with pytest.raises(StoreError, match="disk full"):
        await tracker.update(opened.id, card_ts="1796400000.000100")

    current = tracker.get(opened.id)
    assert current is not None
    assert sorted(current.alerts) == ["fp-1"]
    assert current.card_ts is None
    assert Incident.model_validate_json((tmp_path / f"{opened.id}.json").read_text()) == current

    # The failed batch's alert joins once the disk is back, as when Alertmanager resends.
    store.failing = False
    outcome = await tracker.ingest(firing("fp-2"))
    assert outcome.kind is IngestKind.UPDATED
    assert outcome.incident is not None
    assert sorted(outcome.incident.alerts) == ["fp-1", "fp-2"]


class FailingServiceStore(FileIncidentStore):
    """A file store that fails to write the incidents of ``failing_service``, as when its write hits a full disk."""

    failing_service: str | None = None

    def write(self, incident: Incident) -> None:
        if incident.service == self.failing_service:
            raise StoreError(f"failed to write incident {incident.id}: disk full")
        super().write(incident)


async def test_partly_written_batch_opens_once(settings: Settings, tmp_path: Path) -> None:
    store = FailingServiceStore(tmp_path)
    store.failing_service = "payments"
    tracker = IncidentTracker(store, settings)
    batch = [firing("fp-1"), firing("fp-2").model_copy(update={"service": "payments"})]

    with pytest.raises(StoreError, match="disk full"):
        await tracker.ingest_many(batch)

    # The orders incident reached the disk before the payments write failed, so reads return it.
    written = sorted(path.name for path in tmp_path.glob("inc-*.json"))
    assert len(written) == 1
    assert [incident.service for incident in tracker.store.find_active()] == ["orders"]

    # Alertmanager resends the whole notification after the 5xx response.
    store.failing_service = None
    outcomes = await tracker.ingest_many(batch)

    assert [outcome.kind for outcome in outcomes] == [IngestKind.DUPLICATE, IngestKind.OPENED]
    restarted = IncidentTracker(FileIncidentStore(tmp_path), settings)
    assert sorted(incident.service or "" for incident in restarted.store.find_active()) == ["orders", "payments"]


class GatedFileStore(FileIncidentStore):
    """A file store whose writes wait in their worker thread until ``release`` is set."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.release = threading.Event()
        self.writing = threading.Event()

    def write(self, incident: Incident) -> None:
        self.writing.set()
        self.release.wait(10)
        super().write(incident)


async def test_cancelled_write_still_visible(settings: Settings, tmp_path: Path) -> None:
    store = GatedFileStore(tmp_path)
    tracker = IncidentTracker(store, settings)
    ingest = asyncio.create_task(tracker.ingest_many([firing("fp-1")]))
    while not store.writing.is_set():
        await asyncio.sleep(0.01)

    # The webhook's request is cancelled during the write, but the worker thread keeps writing.
    ingest.cancel()
    await asyncio.sleep(0.05)
    store.release.set()
    with pytest.raises(asyncio.CancelledError):
        await ingest

    assert [incident.service for incident in tracker.store.find_active()] == ["orders"]
    resent = await tracker.ingest(firing("fp-1"))
    assert resent.kind is IngestKind.DUPLICATE
    assert len(list(tmp_path.glob("inc-*.json"))) == 1


async def test_write_syncs_directory(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = IncidentTracker(FileIncidentStore(tmp_path), settings)
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_ino)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    incident = (await tracker.ingest(firing("fp-1"))).incident
    assert incident is not None

    # The rename survives a power loss only once the directory that contains the new entry is synced too.
    assert (tmp_path / f"{incident.id}.json").stat().st_ino in synced
    assert tmp_path.stat().st_ino in synced


class FailingIndexStore(FileIncidentStore):
    """A file store whose thread index cannot be written, as when its directory is not writable."""

    def _index_card(self, incident: Incident) -> None:
        raise StoreError(f"failed to write the thread index of incident {incident.id}: read-only file system")


async def test_failed_index_leaves_file_unchanged(settings: Settings, tmp_path: Path) -> None:
    tracker = IncidentTracker(FailingIndexStore(tmp_path), settings)
    opened = (await tracker.ingest(firing("fp-1"))).incident
    assert opened is not None

    with pytest.raises(StoreError, match="thread index"):
        await tracker.update(opened.id, card_ts="1796400000.000100", channel="C0INCIDENTS")

    # The file and the reads agree that the card is not recorded, as they would after a restart.
    on_disk = Incident.model_validate_json((tmp_path / f"{opened.id}.json").read_text())
    current = tracker.get(opened.id)
    assert current is not None
    assert on_disk.card_ts is None
    assert current.card_ts is None
