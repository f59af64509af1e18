"""Durable bot state: approvals and execution claims, as JSON files.

Incidents live in airra's incident store. This module keeps what the Slack
side adds to them: the approval requested for each proposal (who approved,
when it expires) and the execution of an approved action. Both are written to files
under ``<data_dir>/state/`` with an atomic rename, so a restart between the
incident card and the Approve click loses nothing.

The execution claim is the exactly-once guard: it is created with
``O_CREAT | O_EXCL`` before the action runs, so of any number of concurrent
clicks, Slack retries and restarted processes, only one creates it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import OrderedDict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from airra.durable_files import write_durably
from airra.errors import StoreError

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

_SAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")


def utc_now() -> datetime:
    return datetime.now(UTC)


def state_key(incident_id: str, proposal_id: str) -> str:
    """Return the file-name-safe key of one proposal of one incident."""
    return _SAFE_KEY.sub("_", f"{incident_id}__{proposal_id}")


# --- Approvals ---------------------------------------------------------------


class ApprovalStatus(StrEnum):
    """Status of an approval request."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    AUTOMATIC = "automatic"
    NO_ACTION = "no_action"


class ApprovalVote(BaseModel):
    """One approver's click."""

    user_id: str
    at: datetime


class ApprovalRecord(BaseModel):
    """Approval requested for one proposal, with the data needed to execute it later.

    ``params`` is the action's parameter model as a dict; ``blast_level`` is
    the level the proposal was made at, compared again on click.
    """

    incident_id: str
    proposal_id: str
    service: str
    action_type: str
    params: dict[str, Any] = Field(default_factory=dict)
    required_approvals: int = Field(ge=0, le=2)
    approvals: list[ApprovalVote] = Field(default_factory=list)
    status: ApprovalStatus = ApprovalStatus.PENDING
    created_at: datetime
    expires_at: datetime
    requested_by: str | None = Field(default=None, description="Slack user id of the requester of a hand-opened incident")
    rejected_by: str | None = None
    blast_level: str | None = None
    hypothesis_category: str | None = None
    hypothesis_description: str | None = None
    confidence: float | None = None
    learned_adjustment: float | None = Field(
        default=None, description="the learned prior term inside the confidence, so feedback can take it back out")
    reasoning: str = ""
    approval_reasoning: str = ""
    proposal_text: str = Field(default="", description="rendered proposal, for 'why' questions")
    proposal: dict[str, Any] | None = Field(default=None, description="the full proposal as JSON, for the record")
    channel: str | None = None
    card_ts: str | None = None

    @property
    def approver_ids(self) -> list[str]:
        return [vote.user_id for vote in self.approvals]

    def expired(self, now: datetime | None = None) -> bool:
        """Tell whether the request is past its expiry time."""
        return (now or utc_now()) >= self.expires_at


class ApprovalStore(Protocol):
    """Keeps approval records by (incident id, proposal id)."""

    def save(self, record: ApprovalRecord) -> None: ...

    def load(self, incident_id: str, proposal_id: str) -> ApprovalRecord | None: ...

    def latest_for(self, incident_id: str) -> ApprovalRecord | None: ...

    def pending(self) -> list[ApprovalRecord]: ...


class FileApprovalStore:
    """Approval records as one JSON file each, under ``<state_dir>/approvals/``."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "approvals"
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, record: ApprovalRecord) -> None:
        """Write the record atomically, replacing the earlier version."""
        path = self.directory / f"{state_key(record.incident_id, record.proposal_id)}.json"
        write_atomically(path, record.model_dump_json(indent=2))

    def load(self, incident_id: str, proposal_id: str) -> ApprovalRecord | None:
        """Return the record, or None when there is none."""
        path = self.directory / f"{state_key(incident_id, proposal_id)}.json"
        return _read_model(path, ApprovalRecord)

    def latest_for(self, incident_id: str) -> ApprovalRecord | None:
        """Return the newest record of an incident, or None."""
        prefix = _SAFE_KEY.sub("_", f"{incident_id}__")
        records = [
            record
            for path in self.directory.glob(f"{prefix}*.json")
            if (record := _read_model(path, ApprovalRecord)) is not None and record.incident_id == incident_id
        ]
        return max(records, key=lambda record: record.created_at, default=None)

    def pending(self) -> list[ApprovalRecord]:
        """Return every record still waiting for approval, oldest first."""
        records = [record for path in self.directory.glob("*.json")
                   if (record := _read_model(path, ApprovalRecord)) is not None
                   and record.status is ApprovalStatus.PENDING]
        return sorted(records, key=lambda record: record.created_at)


# --- Executions --------------------------------------------------------------


class ExecutionPhase(StrEnum):
    """How far an execution got."""

    CLAIMED = "claimed"
    EXECUTED = "executed"
    VERIFIED = "verified"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


class ExecutionRecord(BaseModel):
    """Record of one approved action: its result, its verification and any rollback.

    ``result`` and ``rollback`` are ``ExecutionResult`` dumps, so the saved
    pre-action state survives a restart.
    """

    incident_id: str
    proposal_id: str
    claimed_by: str | None = Field(default=None, description="Slack user id whose click won the claim")
    claimed_at: datetime
    phase: ExecutionPhase = ExecutionPhase.CLAIMED
    result: dict[str, Any] | None = None
    verification_status: str | None = None
    verification_message: str | None = None
    rollback: dict[str, Any] | None = None


class ExecutionStore(Protocol):
    """Claims executions once and keeps their records."""

    def claim(self, incident_id: str, proposal_id: str, *, user_id: str | None) -> bool: ...

    def save(self, record: ExecutionRecord) -> None: ...

    def load(self, incident_id: str, proposal_id: str) -> ExecutionRecord | None: ...

    def unfinished(self) -> list[ExecutionRecord]: ...


class FileExecutionStore:
    """Execution claims and records under ``<state_dir>/executions/``.

    ``claim`` creates ``<key>.claim`` with ``O_EXCL``. The file system, not
    the process, decides the winner, so the claim stays exclusive across
    restarts and across processes sharing the directory on a local disk.
    """

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "executions"
        self.directory.mkdir(parents=True, exist_ok=True)

    def claim(self, incident_id: str, proposal_id: str, *, user_id: str | None) -> bool:
        """Create the claim; return False when it already exists."""
        key = state_key(incident_id, proposal_id)
        record = ExecutionRecord(incident_id=incident_id, proposal_id=proposal_id,
                                 claimed_by=user_id, claimed_at=utc_now())
        try:
            descriptor = os.open(self.directory / f"{key}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot create the execution claim in {self.directory}: {exc}; "
                             "check that the data directory is writable") from exc

        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(record.model_dump_json())
            handle.flush()
            os.fsync(handle.fileno())
        # The record lives in the same directory, and saving it syncs the directory: the claim's name too.
        self.save(record)
        return True

    def save(self, record: ExecutionRecord) -> None:
        """Write the record atomically."""
        path = self.directory / f"{state_key(record.incident_id, record.proposal_id)}.json"
        write_atomically(path, record.model_dump_json(indent=2))

    def load(self, incident_id: str, proposal_id: str) -> ExecutionRecord | None:
        """Return the record, or None when nothing was claimed."""
        key = state_key(incident_id, proposal_id)
        record = _read_model(self.directory / f"{key}.json", ExecutionRecord)
        if record is None and (self.directory / f"{key}.claim").exists():
            # The process stopped between creating the claim and the first save.
            record = _read_model(self.directory / f"{key}.claim", ExecutionRecord)
        return record

    def unfinished(self) -> list[ExecutionRecord]:
        """Return the claimed executions that never reached FINISHED, e.g. cut short by a restart."""
        records: list[ExecutionRecord] = []
        for claim in self.directory.glob("*.claim"):
            record = _read_model(claim.with_suffix(".json"), ExecutionRecord) or _read_model(claim, ExecutionRecord)
            if record is not None and record.phase not in (ExecutionPhase.FINISHED, ExecutionPhase.INTERRUPTED):
                records.append(record)
        return sorted(records, key=lambda record: record.claimed_at)


# --- Incident cards ----------------------------------------------------------


class FileCardStore:
    """The last rendered card model of each incident, under ``<state_dir>/cards/``.

    Updates (alert counts, approvals, outcomes) change the stored model and
    re-render it, so the card keeps its content across restarts.
    """

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "cards"
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, incident_id: str, card: dict[str, Any]) -> None:
        write_atomically(self.directory / f"{_SAFE_KEY.sub('_', incident_id)}.json", json.dumps(card, indent=1))

    def load(self, incident_id: str) -> dict[str, Any] | None:
        path = self.directory / f"{_SAFE_KEY.sub('_', incident_id)}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable card file %s: %s", path, exc)
            return None
        return document if isinstance(document, dict) else None


# --- Event de-duplication ----------------------------------------------------


class EventDeduplicator:
    """Recently seen Slack event ids, kept for ``ttl_s`` seconds.

    Slack redelivers an event with the same ``event_id`` when the first response
    is late. Bolt does not filter redeliveries, so the bot checks here before
    acting. Memory is bounded by ``max_entries``.
    """

    def __init__(self, *, ttl_s: float = 3600.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """Record ``key``; return True only the first time it is seen within the TTL."""
        now = time.monotonic()
        while self._seen:
            oldest_key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.ttl_s and len(self._seen) < self.max_entries:
                break
            self._seen.popitem(last=False)

        if key in self._seen:
            return False
        self._seen[key] = now
        return True


# --- Files -------------------------------------------------------------------


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` durably (see ``airra.durable_files``); safe from several threads at once."""
    try:
        write_durably(path, text)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}; check that the data directory is writable") from exc


def _read_model(path: Path, model: type[ModelT]) -> ModelT | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc

    # pydantic-core parses and validates in one step, about twice as fast as
    # json.loads and then validation: every Approve click reads its record.
    try:
        return model.model_validate_json(text)
    except ValidationError:
        pass

    # Its JSON parser refuses a few texts that json.loads reads (a lone
    # surrogate escape, say), so a record is skipped only when both refuse it.
    try:
        return model.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        log.warning("skipping unreadable state file %s: %s", path, exc)
        return None
