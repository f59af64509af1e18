"""The normalised alert: one shape for every alert source.

Parsers for Alertmanager webhooks, Alertmanager and Grafana posts in Slack,
and hand-opened incidents all return ``Alert``; everything downstream reads
only this model.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AlertSource(StrEnum):
    """Origin of an alert."""

    ALERTMANAGER_WEBHOOK = "alertmanager_webhook"
    ALERTMANAGER_SLACK = "alertmanager_slack"
    GRAFANA_SLACK = "grafana_slack"
    MANUAL = "manual"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(BaseModel):
    """An alert after normalisation.

    ``service`` is None when no label resolved to a known service; such an
    alert still opens an incident, marked unscoped, and no action is proposed.
    """

    source: AlertSource
    status: AlertStatus
    alertname: str
    service: str | None = None
    severity: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = Field(default=None, description="None while firing")
    fingerprint: str = Field(description="stable id of the alert's label set")
    group_key: str | None = None
    generator_url: str | None = None
    runbook_url: str | None = None
    summary: str | None = None
    description: str | None = None
    count: int = Field(default=1, ge=1, description="alerts this message stands for, e.g. [FIRING:3]")
    channel: str | None = Field(default=None, description="Slack channel the alert was posted in")
    message_ts: str | None = Field(default=None, description="ts of the Slack alert message")

    @property
    def scoped(self) -> bool:
        """True when the alert resolved to a service in the topology."""
        return self.service is not None
