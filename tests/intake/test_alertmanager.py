from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airra.alerts import AlertSource, AlertStatus
from airra.errors import AlertParseError
from airra.intake.alertmanager import parse_alert, parse_webhook
from airra.topology import Topology

GROUP_KEY = '{}/{team="checkout"}:{alertname="OrdersHighErrorRate", service="orders"}'


def test_grouped_firing_batch(firing_grouped: dict[str, Any], topology: Topology) -> None:
    batch = parse_webhook(json.dumps(firing_grouped).encode(), topology)

    assert batch.receiver == "airra"
    assert batch.status is AlertStatus.FIRING
    assert batch.group_key == GROUP_KEY
    assert batch.truncated_alerts == 0
    assert batch.notification_reason == "first notification"
    assert batch.extra == {"routeLabels": {"team": "checkout"}}
    assert [alert.fingerprint for alert in batch.alerts] == ["a1b2c3d4e5f60718", "8f7e6d5c4b3a2910"]


def test_firing_alert_fields(firing_grouped: dict[str, Any], topology: Topology) -> None:
    alert = parse_webhook(firing_grouped, topology).alerts[0]

    assert alert.source is AlertSource.ALERTMANAGER_WEBHOOK
    assert alert.status is AlertStatus.FIRING
    assert alert.alertname == "OrdersHighErrorRate"
    assert alert.service == "orders"
    assert alert.scoped
    assert alert.severity == "critical"
    assert alert.starts_at == datetime(2026, 12, 4, 9, 58, 10, 250000, tzinfo=timezone.utc)
    assert alert.ends_at is None
    assert alert.group_key == GROUP_KEY
    assert alert.runbook_url == "https://runbooks.test/orders/errors"
    assert alert.summary == "orders answers more than 5% of requests with 5xx"
    assert alert.description == "Pod orders-5c8d7f9b4-qq7lp: 12.5% 5xx over 5m."
    assert alert.generator_url == "http://127.0.0.1:9090/graph?g0.expr=orders_errors&g0.tab=1"
    assert alert.labels["pod"] == "orders-5c8d7f9b4-qq7lp"


def test_nanosecond_start_time_is_read(firing_grouped: dict[str, Any], topology: Topology) -> None:
    alert = parse_webhook(firing_grouped, topology).alerts[1]
    assert alert.starts_at == datetime(2026, 12, 4, 9, 58, 40, 250123, tzinfo=timezone.utc)


def test_resolved_batch_keeps_end_times(resolved_grouped: dict[str, Any], topology: Topology) -> None:
    batch = parse_webhook(json.dumps(resolved_grouped), topology)

    assert batch.status is AlertStatus.RESOLVED
    assert [alert.status for alert in batch.alerts] == [AlertStatus.RESOLVED, AlertStatus.RESOLVED]
    assert batch.alerts[0].ends_at == datetime(2026, 12, 4, 10, 20, 10, 250000, tzinfo=timezone.utc)
    assert batch.resolved == batch.alerts
    assert batch.firing == []


def test_mixed_batch_uses_each_alert_status(mixed_truncated: dict[str, Any], topology: Topology) -> None:
    batch = parse_webhook(mixed_truncated, topology)

    assert batch.status is AlertStatus.FIRING
    assert batch.truncated_alerts == 5
    assert [alert.status for alert in batch.alerts] == [
        AlertStatus.FIRING, AlertStatus.RESOLVED, AlertStatus.FIRING,
    ]
    assert [alert.fingerprint for alert in batch.firing] == ["0c0ffee000000001", "0c0ffee000000003"]


def test_mixed_batch_service_resolution(mixed_truncated: dict[str, Any], topology: Topology) -> None:
    first, second, third = parse_webhook(mixed_truncated, topology).alerts

    # service="<no value>" is skipped, app_kubernetes_io_name="Cart" matches case-insensitively.
    assert first.service == "cart"
    assert first.starts_at == datetime(2026, 12, 4, 10, 1, tzinfo=timezone(timedelta(hours=1)))
    assert second.service == "api-gateway"
    assert second.runbook_url == "https://runbooks.test/gateway/latency"
    assert second.generator_url is None
    assert third.service is None
    assert not third.scoped


def test_firing_future_end_dropped(mixed_truncated: dict[str, Any], topology: Topology) -> None:
    assert parse_webhook(mixed_truncated, topology).alerts[2].ends_at is None


def test_parse_single_alert(firing_grouped: dict[str, Any], topology: Topology) -> None:
    alert = parse_alert(firing_grouped["alerts"][1], topology, group_key="g")

    assert alert.fingerprint == "8f7e6d5c4b3a2910"
    assert alert.group_key == "g"
    assert alert.service == "orders"


def test_missing_fingerprint_is_derived_from_labels(firing_grouped: dict[str, Any], topology: Topology) -> None:
    raw = firing_grouped["alerts"][0]
    del raw["fingerprint"]

    first = parse_alert(raw, topology)
    second = parse_alert(dict(raw, labels=dict(reversed(list(raw["labels"].items())))), topology)

    assert len(first.fingerprint) == 16
    assert first.fingerprint == second.fingerprint


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["alerts"][1]["labels"].pop("alertname"), "alerts[1].labels.alertname is missing"),
        (lambda d: d["alerts"][0]["labels"].update(alertname="<no value>"), "alerts[0].labels.alertname is missing"),
        (lambda d: d["alerts"][0].pop("labels"), "alerts[0].labels is missing"),
        (lambda d: d["alerts"][1].update(status="pending"), "alerts[1].status is 'pending'"),
        (lambda d: d["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt is 'yesterday'"),
        (lambda d: d["alerts"][0].update(labels={"alertname": "X", "pods": ["a"]}), "alerts[0].labels.pods must be a string"),
        (lambda d: d.update(alerts={"a": 1}), "alerts must be a list"),
        (lambda d: d.pop("alerts"), "alerts is missing"),
        (lambda d: d.update(truncatedAlerts=-1), "truncatedAlerts must be a non-negative integer"),
        (lambda d: d.update(status="sleeping"), "status is 'sleeping'"),
        (lambda d: d["alerts"].append("oops"), "alerts[2] must be an object"),
    ],
)
def test_malformed_webhook_names_the_field(
    mutate: Any, message: str, firing_grouped: dict[str, Any], topology: Topology
) -> None:
    mutate(firing_grouped)
    with pytest.raises(AlertParseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_webhook(firing_grouped, topology)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is empty"),
        (b"{not json", "body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"[1, 2]", "body must be a JSON object, got list"),
        (b"\xff\xfe", "body is not UTF-8 text"),
    ],
)
def test_unreadable_body_is_rejected(body: bytes, message: str, topology: Topology) -> None:
    with pytest.raises(AlertParseError, match=message):
        parse_webhook(body, topology)


def test_numeric_label_values_become_strings(firing_grouped: dict[str, Any], topology: Topology) -> None:
    firing_grouped["alerts"][0]["labels"]["replica"] = 3
    alert = parse_webhook(firing_grouped, topology).alerts[0]
    assert alert.labels["replica"] == "3"


def test_non_ascii_label_values_survive(firing_grouped: dict[str, Any], topology: Topology) -> None:
    firing_grouped["alerts"][0]["annotations"]["summary"] = "Fehlerquote über 5 % – 注文"
    alert = parse_webhook(json.dumps(firing_grouped, ensure_ascii=False).encode("utf-8"), topology).alerts[0]
    assert alert.summary == "Fehlerquote über 5 % – 注文"


def test_empty_alert_list_is_an_empty_batch(firing_grouped: dict[str, Any], topology: Topology) -> None:
    firing_grouped["alerts"] = []
    assert parse_webhook(firing_grouped, topology).alerts == []
