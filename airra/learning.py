"""The learning loop's wiring: the two stores under the data directory and the record of a verified action.

What AIRRA learns flows back into the decision core through two adapters:

- ``ConfidenceTracker.counts(category, action)`` is the what-if simulator's
  ``OutcomeHistory``: verified successes and trials per (category, action),
  used for P_fix once a pair has 5 verified trials.
- ``FeedbackCollector.adjustment(category)`` is the diagnosis's
  ``CategoryPriors``: a per-category confidence adjustment within ±0.10 from
  operator-confirmed and corrected hypotheses, used once a category has 5.

Only verified outcomes and operator judgements reach either one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from airra.calibration import ConfidenceOutcomeRecord, ConfidenceTracker, counts_as_success
from airra.categories import Category
from airra.execution.base import ExecutionResult, ExecutionStatus
from airra.feedback import FeedbackCollector
from airra.settings import Settings
from airra.verification import VerificationResult

log = logging.getLogger(__name__)

CONFIDENCE_STORE_FILE = "confidence_tracking.jsonl"
FEEDBACK_STORE_FILE = "operator_feedback.jsonl"

# Namespace of the deterministic outcome ids, so that recording the same
# verification twice (a retry after a crash) yields the same id.
_OUTCOME_ID_NAMESPACE = uuid.UUID("5b0c7f8e-4d6a-4c1e-9a51-2f0d3c7e9b10")


def confidence_store_path(settings: Settings) -> Path:
    """Return the path of the confidence-versus-outcome store."""
    return settings.data_dir / CONFIDENCE_STORE_FILE


def feedback_store_path(settings: Settings) -> Path:
    """Return the path of the operator feedback store."""
    return settings.data_dir / FEEDBACK_STORE_FILE


@dataclass
class LearningStores:
    """The confidence tracker and the feedback collector of one data directory.

    Pass ``confidence`` as the simulator's history and ``feedback`` as the
    diagnosis's priors.
    """

    confidence: ConfidenceTracker
    feedback: FeedbackCollector

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> LearningStores:
        """Open both stores under ``settings.data_dir``; files are created on the first write."""
        tracker = ConfidenceTracker(
            confidence_store_path(settings), partial_success_counts=settings.partial_success_counts
        )
        collector = (
            FeedbackCollector(feedback_store_path(settings), clock=clock)
            if clock is not None
            else FeedbackCollector(feedback_store_path(settings))
        )
        return cls(confidence=tracker, feedback=collector)


def outcome_id(execution: ExecutionResult) -> str:
    """Return the record id of an execution's outcome: the same execution always gets the same id."""
    request = execution.request
    key = f"{request.incident_id}|{request.action_type.value}|{request.service}|{execution.started_at.isoformat()}"
    return uuid.uuid5(_OUTCOME_ID_NAMESPACE, key).hex


def outcome_record(
    *,
    verification: VerificationResult,
    execution: ExecutionResult,
    hypothesis_category: Category,
    hypothesis_description: str,
    confidence: float,
    partial_success_counts: bool = False,
    opened_at: datetime | None = None,
    blast_radius_level: str | None = None,
    risk_level: str | None = None,
) -> ConfidenceOutcomeRecord:
    """Build the outcome record of a verified (or failed) execution.

    The time to resolution runs from ``opened_at`` to the verification and is
    set only when the outcome counts as a success: an action that did not fix
    the incident did not resolve it. A dry run or a failed execution is
    stored as not executed, so it never counts as a trial.
    """
    executed = execution.status is ExecutionStatus.SUCCEEDED
    success = executed and counts_as_success(verification.status, partial_success_counts=partial_success_counts)
    resolution_s = None
    if success and opened_at is not None:
        resolution_s = max(0.0, (verification.verified_at - opened_at).total_seconds())

    return ConfidenceOutcomeRecord(
        id=outcome_id(execution),
        timestamp=datetime.now(UTC),
        incident_id=execution.request.incident_id,
        service_name=verification.service,
        hypothesis_category=hypothesis_category,
        hypothesis_description=hypothesis_description,
        confidence_score=confidence,
        action_type=execution.request.action_type,
        action_executed=executed,
        outcome_status=verification.status,
        outcome_success=success,
        before_metrics=verification.before_values(),
        after_metrics=verification.after_values(),
        verification_metrics=verification.improvements(),
        time_to_resolution_seconds=resolution_s,
        blast_radius_level=blast_radius_level,
        risk_level=risk_level,
    )
