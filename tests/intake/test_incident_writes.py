"""The tracker writes incidents off the event loop and shows a change only once it is written."""

from __future__ import annotations

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
    seen: list[tuple[IngestKind, bool, bool]] = []

    def on_decided(outcomes: list[IngestOutcome]) -> None:
        for outcome in outcomes:
            assert outcome.incident is not None
            written = (tmp_path / f"{outcome.incident.id}.json").exists()
            seen.append((outcome.kind, written, tracker.get(outcome.incident.id) is not None))

    outcomes = await tracker.ingest_many([firing("fp-1")], on_decided=on_decided)

    assert seen == [(IngestKind.OPENED, False, False)]
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
