"""Parse Alertmanager webhook notifications (payload version 4).

One notification carries one alert group. The group's ``status`` is
"firing" while any alert fires, so each alert's own ``status`` is what
counts. Firing alerts carry the zero time ``0001-01-01T00:00:00Z`` as
``endsAt``; it becomes ``ends_at=None``. ``truncatedAlerts`` is the number of
alerts ``max_alerts`` left out. Keys added by newer Alertmanager versions
(``notification_reason``, ``routeLabels``, ...) are kept in ``extra``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.errors import AlertParseError
from airra.intake.normalise import is_missing, label_fingerprint, resolve_service
from airra.topology import Topology

log = logging.getLogger(__name__)

SUPPORTED_VERSION = "4"

# Go's zero time.Time, which Alertmanager sends as endsAt of firing alerts.
_ZERO_TIME_YEAR = 1

_KNOWN_KEYS = frozenset({
    "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
    "externalURL", "version", "groupKey", "truncatedAlerts",
})


class WebhookBatch(BaseModel):
    """One Alertmanager webhook notification: an alert group and its alerts."""

    receiver: str
    status: AlertStatus
    group_key: str | None = None
    truncated_alerts: int = Field(default=0, ge=0, description="alerts left out by max_alerts")
    alerts: list[Alert] = Field(default_factory=list)
    group_labels: dict[str, str] = Field(default_factory=dict)
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    external_url: str | None = None
    version: str = SUPPORTED_VERSION
    notification_reason: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="keys this parser does not know")

    @property
    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status is AlertStatus.FIRING]

    @property
    def resolved(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status is AlertStatus.RESOLVED]


def parse_webhook(body: bytes | str | dict[str, Any], topology: Topology) -> WebhookBatch:
    """Parse a webhook body into a ``WebhookBatch`` of normalised alerts.

    Args:
        body: the raw request body, or the already decoded JSON object.
        topology: resolves each alert's service from its labels.

    Raises:
        AlertParseError: naming the offending field, e.g.
            ``alerts[1].labels.alertname is missing``.
    """
    document = _decode(body)

    receiver = _optional_string(document, "receiver", "") or ""
    status = _status(document.get("status"), "status")
    group_key = _optional_string(document, "groupKey", None)
    version = str(document.get("version", SUPPORTED_VERSION))
    if version != SUPPORTED_VERSION:
        log.warning("webhook from receiver %s has payload version %s, expected %s; parsing it as version %s",
                    receiver, version, SUPPORTED_VERSION, SUPPORTED_VERSION)

    truncated = document.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise AlertParseError(f"truncatedAlerts must be a non-negative integer, got {truncated!r}")

    raw_alerts = document.get("alerts")
    if raw_alerts is None:
        raise AlertParseError("alerts is missing: an Alertmanager webhook body has an 'alerts' list")
    if not isinstance(raw_alerts, list):
        raise AlertParseError(f"alerts must be a list, got {type(raw_alerts).__name__}")

    alerts = [
        _parse_alert(raw, topology, where=f"alerts[{index}]", group_key=group_key)
        for index, raw in enumerate(raw_alerts)
    ]

    batch = WebhookBatch(
        receiver=receiver,
        status=status,
        group_key=group_key,
        truncated_alerts=truncated,
        alerts=alerts,
        group_labels=_string_map(document.get("groupLabels"), "groupLabels"),
        common_labels=_string_map(document.get("commonLabels"), "commonLabels"),
        common_annotations=_string_map(document.get("commonAnnotations"), "commonAnnotations"),
        external_url=_optional_string(document, "externalURL", None),
        version=version,
        notification_reason=_optional_string(document, "notification_reason", None),
        extra={key: value for key, value in document.items()
               if key not in _KNOWN_KEYS and key != "notification_reason"},
    )
    if truncated:
        log.warning("webhook for group %s left out %d alerts (Alertmanager max_alerts); "
                    "raise max_alerts on the receiver to see them all", group_key, truncated)
    return batch


def parse_alert(obj: dict[str, Any], topology: Topology, *, group_key: str | None = None) -> Alert:
    """Parse one alert object of a webhook's ``alerts`` list.

    Raises:
        AlertParseError: naming the offending field, e.g. ``labels.alertname is missing``.
    """
    return _parse_alert(obj, topology, where="", group_key=group_key)


def _parse_alert(obj: Any, topology: Topology, *, where: str, group_key: str | None) -> Alert:
    prefix = f"{where}." if where else ""
    if not isinstance(obj, dict):
        raise AlertParseError(f"{where or 'alert'} must be an object, got {type(obj).__name__}")

    labels = _string_map(obj.get("labels"), f"{prefix}labels")
    if not labels and obj.get("labels") is None:
        raise AlertParseError(f"{prefix}labels is missing: every alert needs a label set")
    alertname = labels.get("alertname")
    if alertname is None or is_missing(alertname):
        raise AlertParseError(f"{prefix}labels.alertname is missing")

    annotations = _string_map(obj.get("annotations"), f"{prefix}annotations")
    status = _status(obj.get("status"), f"{prefix}status")
    starts_at = _timestamp(obj.get("startsAt"), f"{prefix}startsAt")
    ends_at = _timestamp(obj.get("endsAt"), f"{prefix}endsAt")
    if status is AlertStatus.FIRING:
        ends_at = None

    fingerprint = obj.get("fingerprint")
    if is_missing(fingerprint):
        fingerprint = label_fingerprint(alertname, labels)
    elif not isinstance(fingerprint, str):
        raise AlertParseError(f"{prefix}fingerprint must be a string, got {fingerprint!r}")

    generator_url = obj.get("generatorURL")
    runbook_url = _first_present(annotations, "runbook_url", "runbook")

    return Alert(
        source=AlertSource.ALERTMANAGER_WEBHOOK,
        status=status,
        alertname=alertname,
        service=resolve_service(labels, topology),
        severity=_first_present(labels, "severity", "priority"),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        fingerprint=fingerprint,
        group_key=group_key,
        generator_url=generator_url if isinstance(generator_url, str) and generator_url else None,
        runbook_url=runbook_url,
        summary=_first_present(annotations, "summary", "title"),
        description=_first_present(annotations, "description", "message"),
    )


def _decode(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AlertParseError(f"body is not UTF-8 text: invalid byte at position {exc.start}") from None
    if isinstance(body, str):
        if not body.strip():
            raise AlertParseError("body is empty: expected an Alertmanager webhook JSON object")
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise AlertParseError(
                f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            # Python's parser recurses once per level; a webhook is at most four levels deep.
            raise AlertParseError("body is nested too deeply to be an Alertmanager webhook JSON object") from None
    if not isinstance(body, dict):
        raise AlertParseError(f"body must be a JSON object, got {type(body).__name__}")
    return body


def _status(value: Any, where: str) -> AlertStatus:
    if value is None:
        raise AlertParseError(f"{where} is missing: expected 'firing' or 'resolved'")
    try:
        return AlertStatus(str(value).lower())
    except ValueError:
        raise AlertParseError(f"{where} is {value!r}: expected 'firing' or 'resolved'") from None


def _string_map(value: Any, where: str) -> dict[str, str]:
    """Read a label or annotation map; scalar values become strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertParseError(f"{where} must be an object of strings, got {type(value).__name__}")

    result: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            result[str(key)] = item
        elif isinstance(item, (int, float, bool)):
            result[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
        elif item is None:
            result[str(key)] = ""
        else:
            raise AlertParseError(f"{where}.{key} must be a string, got {type(item).__name__}")
    return result


def _timestamp(value: Any, where: str) -> datetime | None:
    """Parse an RFC 3339 time; Go's zero time and absent values become None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AlertParseError(f"{where} must be an RFC 3339 time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AlertParseError(
            f"{where} is {value!r}: expected an RFC 3339 time such as 2026-12-04T10:12:30Z"
        ) from None
    if parsed.year <= _ZERO_TIME_YEAR:
        return None
    if parsed.tzinfo is None:
        raise AlertParseError(f"{where} is {value!r}: the time has no UTC offset; add Z or +hh:mm")
    return parsed


def _optional_string(document: dict[str, Any], key: str, default: str | None) -> str | None:
    value = document.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise AlertParseError(f"{key} must be a string, got {value!r}")
    return value


def _first_present(values: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = values.get(key)
        if not is_missing(value):
            return value
    return None
