"""Operator feedback on AIRRA's diagnoses and actions."""

from __future__ import annotations

from enum import StrEnum


class FeedbackType(StrEnum):
    """What an operator's feedback says about an incident."""

    HYPOTHESIS_INCORRECT = "hypothesis_incorrect"
    HYPOTHESIS_CORRECT = "hypothesis_correct"
    ACTION_INAPPROPRIATE = "action_inappropriate"
    ACTION_SUCCESSFUL = "action_successful"
    INCIDENT_RESOLVED = "incident_resolved"
    INCIDENT_ESCALATED = "incident_escalated"
    GENERAL_COMMENT = "general_comment"
