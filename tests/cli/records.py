"""Store lines written the way the bot writes them, for the command tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any


def outcome(record_id: str, *, category: str, action: str, status: str, confidence: float = 0.8,
            timestamp: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    """One executed and verified action of ``confidence_tracking.jsonl``."""
    return {
        "id": record_id, "schema_version": 1, "timestamp": timestamp, "incident_id": f"inc-{record_id}",
        "service_name": "payment-service", "hypothesis_category": category, "confidence_score": confidence,
        "action_type": action, "action_executed": True, "outcome_status": status,
        "outcome_success": status == "success",
    }


def feedback(feedback_id: str, *, kind: str, at: datetime, category: str | None = "memory_leak",
             confidence: float | None = 0.8, **extra: Any) -> dict[str, Any]:
    """One operator reply of ``operator_feedback.jsonl``."""
    record: dict[str, Any] = {
        "feedback_id": feedback_id, "schema_version": 1, "timestamp": at.isoformat(),
        "incident_id": f"inc-{feedback_id}", "service_name": "payment-service", "operator_id": "U012ABCDEF",
        "feedback_type": kind, "airra_hypothesis_category": category, "airra_confidence": confidence,
    }
    record.update(extra)
    return record


def write_lines(path: Path, records: list[dict[str, Any] | str]) -> None:
    """Write records (dicts as JSON, strings verbatim) one per line."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
