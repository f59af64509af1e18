"""Incidents: alerts grouped into one unit of response, and where they are kept.

``IncidentTracker.ingest`` attaches each normalised alert to an incident:

* an alert whose fingerprint or group key belongs to an open incident joins it;
* a firing alert of a service with an open incident that received an alert
  within ``grouping_window_s`` joins it, so a storm becomes one incident with
  a count (unscoped alerts group the same way by alert name);
* a resolved alert updates its incident and closes it once every attached
  alert is resolved. It never opens an incident, and a repeated one is a no-op;
* a firing alert of an incident resolved less than ``reopen_window_s`` ago
  reopens that incident.

Times for the windows are when AIRRA received the alert, not the alert's
``startsAt``, because Alertmanager repeats old alerts with their first start.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.durable_files import write_durably
from airra.errors import StoreError
from airra.settings import Settings

log = logging.getLogger(__name__)

ID_PREFIX = "inc"

# How far back a resolved alert is matched to a closed incident, to report it as a duplicate.
_DUPLICATE_LOOKBACK = timedelta(hours=1)
_ID_PATTERN = re.compile(r"^inc-(?P<day>\d{8})-(?P<sequence>\d{4,})$")
# Ids the file store looks up on disk: no path separators, no hidden files.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")

# How long the file store remembers when an evicted incident was resolved: the duplicate lookback.
RESOLVED_INDEX_WINDOW = _DUPLICATE_LOOKBACK

# Severity words of common alerting rules, least to most severe.
_SEVERITY_RANK = {"none": 0, "info": 1, "low": 1, "warning": 2, "medium": 2, "minor": 2,
                  "error": 3, "high": 3, "major": 3, "critical": 4, "page": 4, "disaster": 5}


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Incident(BaseModel):
    """Alerts about one problem, from the first firing alert until all are resolved."""

    id: str = Field(description="inc-YYYYMMDD-NNNN: unique, and sorts by opening order")
    service: str | None = None
    scoped: bool = Field(description="True when the incident names a service of the topology")
    status: IncidentStatus = IncidentStatus.OPEN
    title: str
    severity: str | None = None
    alertname: str
    alerts: dict[str, Alert] = Field(default_factory=dict, description="latest alert per fingerprint")
    alert_count: int = Field(default=1, ge=0, description="firing alerts attached, storms and re-fires included")
    group_keys: list[str] = Field(default_factory=list)
    channel: str | None = None
    card_ts: str | None = Field(default=None, description="Slack ts of the incident card, set by the bot")
    opened_at: datetime
    updated_at: datetime
    last_alert_at: datetime | None = Field(default=None, description="when a firing alert last joined")
    resolved_at: datetime | None = None
    reopen_count: int = 0
    runbook_url: str | None = None
    source_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="free for the bot, e.g. a proposal id")

    @property
    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts.values() if alert.status is AlertStatus.FIRING]

    @property
    def is_open(self) -> bool:
        return self.status is IncidentStatus.OPEN


class IngestKind(StrEnum):
    """Effect of ingesting one alert."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    DUPLICATE = "duplicate"  # nothing changed that the bot needs to show
    IGNORED = "ignored"  # a resolved alert that no incident contains: nothing to update


class IngestOutcome(BaseModel):
    """The result of ingesting one alert. ``incident`` is None only for IGNORED."""

    kind: IngestKind
    incident: Incident | None = None
    alert: Alert | None = None


class IncidentStore(Protocol):
    """Durable incident storage, small enough for a shared database to implement."""

    def get(self, incident_id: str) -> Incident | None: ...

    def save(self, incident: Incident) -> None:
        """Write the incident durably, then make it visible to reads: ``write`` then ``remember``."""
        ...

    def write(self, incident: Incident) -> None:
        """Write the incident durably without changing what reads return; safe in a worker thread."""
        ...

    def remember(self, incident: Incident) -> None:
        """Make a written incident visible to reads; call it on the thread that reads."""
        ...

    def all(self) -> list[Incident]: ...

    def ids(self) -> list[str]:
        """Return the id of every stored incident, sorted."""
        ...

    def find_active(self, *, service: str | None = None) -> list[Incident]:
        """Return the open incidents, only those of ``service`` when it is given."""
        ...

    def find_resolved_since(self, since: datetime) -> list[Incident]:
        """Return the incidents resolved at or after ``since``."""
        ...

    def find_by_card(self, channel: str, card_ts: str) -> Incident | None:
        """Return the incident whose card is the message ``card_ts`` in ``channel``, or None."""
        ...


class MemoryIncidentStore:
    """Incident store in process memory, for tests and the sandbox demo.

    Reads and writes copy the incident, so changing a returned incident has
    no effect until it is saved. The ``Alert`` objects inside are shared
    between copies: the tracker replaces alerts and never changes one in
    place, and callers must not either.
    """

    def __init__(self) -> None:
        self._incidents: dict[str, Incident] = {}

    def get(self, incident_id: str) -> Incident | None:
        incident = self._incidents.get(incident_id)
        return _copy(incident) if incident is not None else None

    def save(self, incident: Incident) -> None:
        self.write(incident)
        self.remember(incident)

    def write(self, incident: Incident) -> None:
        """Write nothing: memory is this store's only copy."""

    def remember(self, incident: Incident) -> None:
        self._incidents[incident.id] = _copy(incident)

    def all(self) -> list[Incident]:
        return [_copy(self._incidents[key]) for key in sorted(self._incidents)]

    def ids(self) -> list[str]:
        return sorted(self._incidents)

    def find_active(self, *, service: str | None = None) -> list[Incident]:
        return [
            _copy(incident)
            for key, incident in sorted(self._incidents.items())
            if incident.is_open and (service is None or incident.service == service)
        ]

    def find_resolved_since(self, since: datetime) -> list[Incident]:
        return [
            _copy(incident)
            for key, incident in sorted(self._incidents.items())
            if incident.resolved_at is not None and incident.resolved_at >= since
        ]

    def find_by_card(self, channel: str, card_ts: str) -> Incident | None:
        for incident in self._incidents.values():
            if incident.card_ts == card_ts and incident.channel == channel:
                return _copy(incident)
        return None


def _copy(incident: Incident) -> Incident:
    """Copy an incident and its containers, sharing the alert objects."""
    return incident.model_copy(update={
        "alerts": dict(incident.alerts),
        "group_keys": list(incident.group_keys),
        "extra": copy.deepcopy(incident.extra),
    })


class FileIncidentStore(MemoryIncidentStore):
    """Incident store with one JSON file per incident, surviving restarts.

    Each save writes a temporary file in the same directory and renames it
    over the old one with ``os.replace``, so a crash leaves either the old or
    the new version, never a partial file.

    Memory keeps only what the tracker works with: the open incidents and
    those resolved less than ``keep_resolved_for`` ago (the reopen window).
    Older incidents stay on disk and are read by id when asked for. For
    another ``RESOLVED_INDEX_WINDOW`` the store remembers when each evicted
    incident was resolved, so the tracker's duplicate check reads only those
    files. A thread index under ``threads/`` maps a card's channel and
    timestamp to its incident, so a thread reply reads one small file.
    """

    def __init__(self, directory: Path, *, keep_resolved_for: timedelta = timedelta(0),
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.threads = self.directory / "threads"
        self.keep_resolved_for = keep_resolved_for
        self._clock = clock or _utc_now
        # Resolution times of evicted incidents resolved within RESOLVED_INDEX_WINDOW.
        self._evicted: dict[str, datetime] = {}
        # Every incident resolved at or after _memory_since is in memory; at or after _index_since,
        # in memory or in _evicted.
        self._memory_since = datetime.min.replace(tzinfo=timezone.utc)
        self._index_since = self._memory_since
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"failed to create the incident directory {self.directory}: {exc}; "
                             "set AIRRA_DATA_DIR to a writable directory") from None
        self._load()

    def get(self, incident_id: str) -> Incident | None:
        incident = super().get(incident_id)
        if incident is not None or not _SAFE_ID.match(incident_id):
            return incident
        return self._read(self.directory / f"{incident_id}.json")

    def write(self, incident: Incident) -> None:
        """Write the incident's file, and the thread index when its card is new; safe in a worker thread."""
        # One lookup by key, which is safe while the event loop changes the dict.
        previous = self._incidents.get(incident.id)
        if incident.card_ts and incident.channel and (
                previous is None or (previous.card_ts, previous.channel) != (incident.card_ts, incident.channel)):
            # The index goes first: when it fails, the incident's file still matches what reads return,
            # and an index entry without its incident is checked against the incident on lookup.
            self._index_card(incident)
        path = self.directory / f"{incident.id}.json"
        _write_atomically(path, incident.model_dump_json(), subject=f"incident {incident.id}")

    def remember(self, incident: Incident) -> None:
        super().remember(incident)
        self._evict()

    def all(self) -> list[Incident]:
        """Return every incident, reading those not in memory from disk."""
        on_disk = [incident for path in sorted(self.directory.glob("inc-*.json"))
                   if path.stem not in self._incidents and (incident := self._read(path)) is not None]
        return sorted(super().all() + on_disk, key=lambda incident: incident.id)

    def ids(self) -> list[str]:
        """Return every incident id from the file names, without reading the files."""
        # An unreadable file keeps its id, so a new incident never overwrites it.
        return sorted(set(self._incidents) | {path.stem for path in self.directory.glob("inc-*.json")})

    def find_resolved_since(self, since: datetime) -> list[Incident]:
        found = super().find_resolved_since(since)
        if since >= self._memory_since:
            return found

        if since >= self._index_since:
            paths = [self.directory / f"{incident_id}.json"
                     for incident_id, resolved_at in self._evicted.items() if resolved_at >= since]
        else:
            paths = [path for path in self.directory.glob("inc-*.json") if path.stem not in self._incidents]
        for path in paths:
            incident = self._read(path)
            if incident is not None and incident.resolved_at is not None and incident.resolved_at >= since:
                found.append(incident)
        return sorted(found, key=lambda incident: incident.id)

    def find_by_card(self, channel: str, card_ts: str) -> Incident | None:
        incident = super().find_by_card(channel, card_ts)
        if incident is not None:
            return incident

        try:
            incident_id = (self.threads / _thread_key(channel, card_ts)).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"failed to read the thread index of {channel} {card_ts} in {self.threads}: {exc}") from None
        incident = self.get(incident_id)
        # The key replaced unsafe characters, so a different card may share it.
        if incident is None or incident.card_ts != card_ts or incident.channel != channel:
            return None
        return incident

    def _evict(self) -> None:
        """Drop resolved incidents older than ``keep_resolved_for`` from memory."""
        now = self._clock()
        memory_since = now - self.keep_resolved_for
        index_since = now - max(self.keep_resolved_for, RESOLVED_INDEX_WINDOW)
        for incident_id, incident in list(self._incidents.items()):
            if incident.is_open:
                continue
            resolved_at = incident.resolved_at
            if resolved_at is None or resolved_at < memory_since:
                del self._incidents[incident_id]
                if resolved_at is not None and resolved_at >= index_since:
                    self._evicted[incident_id] = resolved_at
        for incident_id, resolved_at in list(self._evicted.items()):
            if resolved_at < index_since or incident_id in self._incidents:
                del self._evicted[incident_id]
        self._memory_since = max(self._memory_since, memory_since)
        self._index_since = max(self._index_since, index_since)

    def _index_card(self, incident: Incident) -> None:
        assert incident.channel is not None and incident.card_ts is not None
        try:
            self.threads.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"failed to create the thread index {self.threads}: {exc}; "
                             "set AIRRA_DATA_DIR to a writable directory") from None
        _write_atomically(self.threads / _thread_key(incident.channel, incident.card_ts), incident.id,
                          subject=f"the thread index of incident {incident.id}")

    def _read(self, path: Path) -> Incident | None:
        try:
            return Incident.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, ValidationError) as exc:
            log.warning("skipped incident file %s: %s; fix or move the file and restart", path, exc)
            return None

    def _load(self) -> None:
        """Read every incident file once: keep the open and recent ones, index the cards of all."""
        count = 0
        for path in sorted(self.directory.glob("inc-*.json")):
            incident = self._read(path)
            if incident is None:
                continue
            count += 1
            self._incidents[incident.id] = incident
            if incident.card_ts and incident.channel and not (
                    self.threads / _thread_key(incident.channel, incident.card_ts)).exists():
                self._index_card(incident)
            # Evict as we go, so start-up keeps at most one old incident in memory at a time.
            if not incident.is_open:
                self._evict()
        self._evict()
        log.info("loaded %d incidents from %s, %d kept in memory", count, self.directory, len(self._incidents))


def _thread_key(channel: str, card_ts: str) -> str:
    return _UNSAFE_KEY.sub("_", f"{channel}-{card_ts}")


def _write_atomically(path: Path, data: str, *, subject: str) -> None:
    try:
        # Durable before returning, so a power loss after the webhook's 200 cannot take the new file away.
        write_durably(path, data)
    except OSError as exc:
        raise StoreError(f"failed to write {subject} to {path}: {exc}") from None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class IncidentTracker:
    """Groups alerts into incidents and keeps them in an ``IncidentStore``.

    Every change runs under one asyncio lock, so concurrent webhooks and
    Slack events cannot open two incidents for one alert group. A change is
    written in a worker thread, so the event loop runs on during the fsync,
    and becomes visible to ``get`` and the other reads only once written.
    """

    def __init__(self, store: IncidentStore, settings: Settings, *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self.grouping_window = timedelta(seconds=settings.grouping_window_s)
        self.reopen_window = timedelta(seconds=settings.reopen_window_s)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last_sequence: dict[str, int] | None = None

    def get(self, incident_id: str) -> Incident | None:
        return self.store.get(incident_id)

    async def ingest(self, alert: Alert) -> IngestOutcome:
        """Attach one alert to its incident, opening, resolving or reopening it as needed."""
        async with self._lock:
            outcomes, changed = self._ingest_batch([alert])
            await self._save(changed)
            return outcomes[0]

    async def ingest_many(self, alerts: Iterable[Alert], *,
                          on_decided: Callable[[list[IngestOutcome]], None] | None = None) -> list[IngestOutcome]:
        """Ingest the alerts of one notification in order, saving each touched incident once.

        The outcomes of one call share each incident's state after the whole batch.
        ``on_decided`` gets them before the incidents are written, so that work
        that only reads (metric queries) can start during the write. Work that
        changes an incident waits for this call: the tracker's lock is held
        until the incidents are written and visible.
        """
        async with self._lock:
            outcomes, changed = self._ingest_batch(alerts)
            if on_decided is not None:
                on_decided(outcomes)
            await self._save(changed)
            return outcomes

    async def open_incident(self, service: str | None, alert: Alert | None = None, *,
                            title: str | None = None) -> Incident:
        """Open a new incident by hand, e.g. from a slash command, whatever else is open."""
        async with self._lock:
            now = self._clock()
            incident_id = self._next_id(now)
            if alert is None:
                alert = Alert(
                    source=AlertSource.MANUAL,
                    status=AlertStatus.FIRING,
                    alertname="ManualIncident",
                    service=service,
                    fingerprint=f"manual-{incident_id}",
                    summary=title,
                    starts_at=now,
                )
            elif alert.service != service:
                alert = alert.model_copy(update={"service": service})
            incident = self._new_incident(incident_id, alert, now)
            if title:
                incident.title = title
            await self._save([incident])
            log.info("incident %s opened by hand for service %s", incident.id, service)
            return incident

    async def update(self, incident_id: str, **fields: Any) -> Incident:
        """Set fields of an incident (``card_ts``, ``channel``, ``extra``, ...) and save it.

        Raises:
            StoreError: when no incident has this id.
            ValueError: when ``fields`` contains ``id``.
        """
        if "id" in fields:
            raise ValueError(f"the id of incident {incident_id} cannot change; open a new incident instead")
        async with self._lock:
            incident = self.store.get(incident_id)
            if incident is None:
                raise StoreError(f"incident {incident_id!r} not found; list incidents to find its id")
            changed = Incident.model_validate({**incident.model_dump(), **fields,
                                               "updated_at": self._clock()})
            await self._save([changed])
            return changed

    async def resolve(self, incident_id: str) -> Incident:
        """Close an incident by hand, even while some of its alerts fire.

        Raises:
            StoreError: when no incident has this id.
        """
        async with self._lock:
            incident = self.store.get(incident_id)
            if incident is None:
                raise StoreError(f"incident {incident_id!r} not found; list incidents to find its id")
            if incident.is_open:
                now = self._clock()
                incident.status = IncidentStatus.RESOLVED
                incident.resolved_at = now
                incident.updated_at = now
                await self._save([incident])
                log.info("incident %s resolved by hand", incident.id)
            return incident

    async def _save(self, incidents: list[Incident]) -> None:
        """Write the incidents in a worker thread, then make them visible to reads.

        Callers hold the lock, so no later version of these incidents is written in between.

        Raises:
            StoreError: when a write failed; the reads then return that incident and those after it as before.
        """
        if not incidents:
            return

        written: list[Incident] = []
        writing = asyncio.ensure_future(asyncio.to_thread(_write_all, self.store, incidents, written))
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            # The thread writes on regardless, so the lock is held until it is done.
            await asyncio.wait([writing])
            if not writing.cancelled() and writing.exception() is not None:
                log.error("incidents %s: writing failed after the change was cancelled: %s",
                          ", ".join(incident.id for incident in incidents), writing.exception())
            raise
        finally:
            # An incident on disk is shown to reads even when a later one of the batch failed,
            # because the resent alert would otherwise open a second incident beside it.
            for incident in written:
                self.store.remember(incident)

    def _ingest_batch(self, alerts: Iterable[Alert]) -> tuple[list[IngestOutcome], list[Incident]]:
        now = self._clock()
        lookback = max(self.reopen_window, _DUPLICATE_LOOKBACK)
        working = _WorkingSet(self.store, recent_since=now - self.reopen_window, closed_since=now - lookback)

        outcomes = []
        for alert in alerts:
            if alert.status is AlertStatus.RESOLVED:
                outcomes.append(self._ingest_resolved(working, alert, now))
            else:
                outcomes.append(self._ingest_firing(working, alert, now))

        return outcomes, working.changed_incidents()

    def _ingest_firing(self, working: _WorkingSet, alert: Alert, now: datetime) -> IngestOutcome:
        active = list(working.active.values())

        incident = _with_fingerprint(active, alert.fingerprint)
        if incident is not None:
            return self._refire_in_open(working, incident, alert, now)

        incident = _with_group_key(_same_service(active, alert), alert.group_key)
        if incident is None:
            recent = [item for item in working.recent.values()
                      if item.resolved_at is not None and item.resolved_at >= now - self.reopen_window]
            reopened = (_with_fingerprint(recent, alert.fingerprint)
                        or _with_group_key(_same_service(recent, alert), alert.group_key))
            if reopened is not None:
                return self._reopen(working, reopened, alert, now)
            incident = self._storm_target(active, alert, now)

        if incident is not None:
            self._attach_firing(incident, alert, now)
            working.changed(incident)
            log.info("incident %s: alert %s (%s) joined, %d alerts", incident.id,
                     alert.fingerprint, alert.alertname, incident.alert_count)
            return IngestOutcome(kind=IngestKind.UPDATED, incident=incident, alert=alert)

        incident = self._new_incident(self._next_id(now, working), alert, now)
        working.changed(incident)
        log.info("incident %s opened by alert %s (%s) for service %s", incident.id,
                 alert.fingerprint, alert.alertname, incident.service)
        return IngestOutcome(kind=IngestKind.OPENED, incident=incident, alert=alert)

    def _refire_in_open(self, working: _WorkingSet, incident: Incident, alert: Alert,
                        now: datetime) -> IngestOutcome:
        """Handle a firing alert whose fingerprint the open incident already has."""
        known = incident.alerts[alert.fingerprint]
        if known.status is AlertStatus.FIRING and alert.count <= known.count:
            # A repeat notification, e.g. after Alertmanager's repeat_interval.
            incident.alerts[alert.fingerprint] = alert.model_copy(update={"count": known.count})
            working.changed(incident)
            log.info("incident %s: alert %s repeated", incident.id, alert.fingerprint)
            return IngestOutcome(kind=IngestKind.DUPLICATE, incident=incident, alert=alert)

        self._attach_firing(incident, alert, now)
        working.changed(incident)
        log.info("incident %s: alert %s fires again, %d alerts", incident.id, alert.fingerprint,
                 incident.alert_count)
        return IngestOutcome(kind=IngestKind.UPDATED, incident=incident, alert=alert)

    def _reopen(self, working: _WorkingSet, incident: Incident, alert: Alert, now: datetime) -> IngestOutcome:
        incident.status = IncidentStatus.OPEN
        incident.resolved_at = None
        incident.reopen_count += 1
        self._attach_firing(incident, alert, now)
        working.changed(incident)
        log.info("incident %s reopened by alert %s (%s), reopened %d times", incident.id,
                 alert.fingerprint, alert.alertname, incident.reopen_count)
        return IngestOutcome(kind=IngestKind.REOPENED, incident=incident, alert=alert)

    def _storm_target(self, active: list[Incident], alert: Alert, now: datetime) -> Incident | None:
        """Return the open incident a new alert of the same service joins, if one is recent."""
        since = now - self.grouping_window
        candidates = [
            incident for incident in active
            if (incident.last_alert_at or incident.opened_at) >= since
            and (incident.service == alert.service if alert.service is not None
                 else not incident.scoped and incident.alertname == alert.alertname)
        ]
        return max(candidates, key=lambda incident: incident.id, default=None)

    def _ingest_resolved(self, working: _WorkingSet, alert: Alert, now: datetime) -> IngestOutcome:
        active = list(working.active.values())
        incident = _with_fingerprint(active, alert.fingerprint)

        if incident is None:
            incident = _with_group_key(_same_service(active, alert), alert.group_key)
            if incident is None:
                return self._resolved_without_open_incident(working, alert)
            # A resolved alert of the group that was never seen firing, e.g. cut by max_alerts.
            incident.alerts[alert.fingerprint] = alert
            incident.updated_at = now
            working.changed(incident)
            log.info("incident %s: resolved alert %s recorded", incident.id, alert.fingerprint)
            return IngestOutcome(kind=IngestKind.UPDATED, incident=incident, alert=alert)

        if incident.alerts[alert.fingerprint].status is AlertStatus.RESOLVED:
            log.info("incident %s: alert %s already resolved", incident.id, alert.fingerprint)
            return IngestOutcome(kind=IngestKind.DUPLICATE, incident=incident, alert=alert)

        incident.alerts[alert.fingerprint] = alert
        incident.updated_at = now
        if incident.firing:
            working.changed(incident)
            log.info("incident %s: alert %s resolved, %d still firing", incident.id,
                     alert.fingerprint, len(incident.firing))
            return IngestOutcome(kind=IngestKind.UPDATED, incident=incident, alert=alert)

        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        working.changed(incident)
        log.info("incident %s resolved: its last firing alert %s resolved", incident.id, alert.fingerprint)
        return IngestOutcome(kind=IngestKind.RESOLVED, incident=incident, alert=alert)

    def _resolved_without_open_incident(self, working: _WorkingSet, alert: Alert) -> IngestOutcome:
        closed = _with_fingerprint(working.closed(), alert.fingerprint)
        if closed is not None:
            log.info("incident %s: alert %s resolved again, incident already closed", closed.id,
                     alert.fingerprint)
            return IngestOutcome(kind=IngestKind.DUPLICATE, incident=closed, alert=alert)

        log.info("resolved alert %s (%s) matches no recent incident; ignored", alert.fingerprint, alert.alertname)
        return IngestOutcome(kind=IngestKind.IGNORED, incident=None, alert=alert)

    def _attach_firing(self, incident: Incident, alert: Alert, now: datetime) -> None:
        known = incident.alerts.get(alert.fingerprint)
        if known is not None and known.status is AlertStatus.FIRING:
            incident.alert_count += alert.count - known.count
        else:
            incident.alert_count += alert.count

        incident.alerts[alert.fingerprint] = alert
        incident.updated_at = now
        incident.last_alert_at = now
        if alert.group_key and alert.group_key not in incident.group_keys:
            incident.group_keys.append(alert.group_key)
        if incident.service is None and alert.service is not None:
            incident.service = alert.service
            incident.scoped = True
        if _severity_rank(alert.severity) > _severity_rank(incident.severity):
            incident.severity = alert.severity
        incident.runbook_url = incident.runbook_url or alert.runbook_url
        incident.source_url = incident.source_url or alert.generator_url
        incident.channel = incident.channel or alert.channel

    def _new_incident(self, incident_id: str, alert: Alert, now: datetime) -> Incident:
        return Incident(
            id=incident_id,
            service=alert.service,
            scoped=alert.service is not None,
            title=_title(alert),
            severity=alert.severity,
            alertname=alert.alertname,
            alerts={alert.fingerprint: alert},
            alert_count=alert.count,
            group_keys=[alert.group_key] if alert.group_key else [],
            channel=alert.channel,
            opened_at=now,
            updated_at=now,
            last_alert_at=now,
            runbook_url=alert.runbook_url,
            source_url=alert.generator_url,
        )

    def _next_id(self, now: datetime, working: _WorkingSet | None = None) -> str:
        """Return the next free id of the day, e.g. inc-20261204-0007."""
        if self._last_sequence is None:
            self._last_sequence = {}
            for incident_id in self.store.ids():
                match = _ID_PATTERN.match(incident_id)
                if match is not None:
                    day, sequence = match.group("day"), int(match.group("sequence"))
                    self._last_sequence[day] = max(self._last_sequence.get(day, 0), sequence)

        day = now.astimezone(timezone.utc).strftime("%Y%m%d")
        sequence = self._last_sequence.get(day, 0)
        while True:
            sequence += 1
            # NOTE: past 9999 incidents in one day the ids grow a digit and stop sorting as text.
            candidate = f"{ID_PREFIX}-{day}-{sequence:04d}"
            taken = working is not None and candidate in working.dirty
            if not taken and self.store.get(candidate) is None:
                self._last_sequence[day] = sequence
                return candidate


class _WorkingSet:
    """Open and recently resolved incidents, read once per batch; its changed incidents are saved once.

    ``recent`` contains the incidents resolved since ``recent_since`` (those a firing alert may
    reopen). Those resolved since the earlier ``closed_since`` are read only when a resolved
    alert matches no open incident, because a file store keeps them on disk.
    """

    def __init__(self, store: IncidentStore, *, recent_since: datetime, closed_since: datetime) -> None:
        self.store = store
        self.active = {incident.id: incident for incident in store.find_active()}
        self.recent = {incident.id: incident for incident in store.find_resolved_since(recent_since)}
        self.dirty: dict[str, Incident] = {}
        self._closed_since = closed_since
        self._older: dict[str, Incident] | None = None

    def closed(self) -> list[Incident]:
        """Return the incidents resolved since ``closed_since``, as changed in this batch."""
        if self._older is None:
            self._older = {incident.id: incident for incident in self.store.find_resolved_since(self._closed_since)
                           if incident.id not in self.recent and incident.id not in self.active
                           and incident.id not in self.dirty}
        return list(self.recent.values()) + list(self._older.values())

    def changed(self, incident: Incident) -> None:
        self.dirty[incident.id] = incident
        if incident.is_open:
            self.active[incident.id] = incident
            self.recent.pop(incident.id, None)
        else:
            self.recent[incident.id] = incident
            self.active.pop(incident.id, None)

    def changed_incidents(self) -> list[Incident]:
        """Return the incidents this batch changed, by id."""
        return [self.dirty[incident_id] for incident_id in sorted(self.dirty)]


def _write_all(store: IncidentStore, incidents: list[Incident], written: list[Incident]) -> None:
    """Write the incidents in order, appending each to ``written`` once it is on disk."""
    for incident in incidents:
        store.write(incident)
        written.append(incident)


def _with_fingerprint(incidents: list[Incident], fingerprint: str) -> Incident | None:
    matches = [incident for incident in incidents if fingerprint in incident.alerts]
    return max(matches, key=lambda incident: incident.id, default=None)


def _same_service(incidents: list[Incident], alert: Alert) -> list[Incident]:
    """Return the incidents a group-key match may join: those of the alert's service.

    A group key only records how Alertmanager batched its notifications. With
    ``group_by: [alertname]`` one group contains the alerts of many services, and
    joining them would leave every service but the first without a card. An
    alert that names no service still joins its group's incident.
    """
    if alert.service is None:
        return incidents
    return [incident for incident in incidents if incident.service == alert.service]


def _with_group_key(incidents: list[Incident], group_key: str | None) -> Incident | None:
    if not group_key:
        return None
    matches = [incident for incident in incidents if group_key in incident.group_keys]
    return max(matches, key=lambda incident: incident.id, default=None)


def _severity_rank(severity: str | None) -> int:
    if severity is None:
        return -1
    return _SEVERITY_RANK.get(severity.lower(), 0)


def _title(alert: Alert) -> str:
    if alert.summary:
        return alert.summary
    if alert.service:
        return f"{alert.alertname} on {alert.service}"
    return alert.alertname
