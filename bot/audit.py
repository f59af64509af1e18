"""Append-only audit log of every decision the bot makes or an operator requests.

One JSON object per line in ``<data_dir>/audit.jsonl``: the time, the kind
of entry, the incident, the Slack user id who caused it (None for the bot's
own decisions) and details. Lines are only ever appended.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from airra.errors import StoreError

log = logging.getLogger(__name__)


class AuditKind(StrEnum):
    """Kind of an audit entry."""

    INCIDENT_OPENED = "incident_opened"
    DECISION = "decision"
    APPROVAL = "approval"
    APPROVAL_REFUSED = "approval_refused"
    APPROVAL_EXPIRED = "approval_expired"
    REJECTION = "rejection"
    EXECUTION = "execution"
    VERIFICATION = "verification"
    ROLLBACK = "rollback"
    FEEDBACK = "feedback"
    PAUSE = "pause"
    RESUME = "resume"


class AuditEntry(BaseModel):
    """One line of the audit log."""

    at: datetime
    kind: AuditKind
    incident_id: str | None = None
    user_id: str | None = Field(default=None, description="Slack user id; None when the bot acted on its own")
    details: dict[str, Any] = Field(default_factory=dict)


class AuditLog:
    """Appends audit entries to a JSONL file; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, kind: AuditKind, /, *, incident_id: str | None, user_id: str | None,
               **details: Any) -> AuditEntry:
        """Append one entry and return it."""
        entry = AuditEntry(at=datetime.now(UTC), kind=kind, incident_id=incident_id,
                           user_id=user_id, details=details)
        line = entry.model_dump_json() + "\n"
        with self._lock:
            try:
                # O_APPEND makes each write land at the end even with other writers.
                descriptor = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644)
                with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:
                raise StoreError(f"cannot append to the audit log {self.path}: {exc}; "
                                 "check that the data directory is writable") from exc
        log.info("audit %s incident=%s user=%s", kind.value, incident_id, user_id)
        return entry

    def entries(self) -> list[AuditEntry]:
        """Read every entry back, skipping unreadable lines with a warning."""
        if not self.path.exists():
            return []
        entries: list[AuditEntry] = []
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entries.append(AuditEntry.model_validate(json.loads(line)))
                except ValueError as exc:
                    log.warning("%s:%d: skipping unreadable audit line: %s", self.path, number, exc)
        return entries
