from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from airra.alerts import AlertSource, AlertStatus
from airra.intake.normalise import label_fingerprint
from airra.intake.slack_messages import parse_alert_message, unescape_slack
from airra.topology import Topology

FixtureLoader = Callable[[str], dict[str, Any]]


@pytest.fixture
def grafana_mixed(load_fixture: FixtureLoader) -> dict[str, Any]:
    return load_fixture("slack_grafana_mixed.json")


def test_alertmanager_default_post(topology: Topology, load_fixture: FixtureLoader) -> None:
    alerts = parse_alert_message(load_fixture("slack_alertmanager_firing.json"), topology)

    assert alerts is not None
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.source is AlertSource.ALERTMANAGER_SLACK
    assert alert.status is AlertStatus.FIRING
    assert alert.alertname == "OrdersHighErrorRate"
    assert alert.count == 3
    assert alert.service == "orders"
    assert alert.labels == {}
    assert alert.summary == "OrdersHighErrorRate orders (checkout critical)"
    assert alert.channel == "C0ORDERS01"
    assert alert.message_ts == "1796400000.000100"
    assert alert.fingerprint == label_fingerprint(
        "OrdersHighErrorRate", {"title": "OrdersHighErrorRate orders (checkout critical)"})


def test_resolved_post_matches_firing_fingerprint(topology: Topology, load_fixture: FixtureLoader) -> None:
    firing = parse_alert_message(load_fixture("slack_alertmanager_firing.json"), topology)
    resolved = parse_alert_message(load_fixture("slack_alertmanager_resolved.json"), topology)

    assert firing is not None
    assert resolved is not None
    assert resolved[0].status is AlertStatus.RESOLVED
    assert resolved[0].count == 1
    assert resolved[0].fingerprint == firing[0].fingerprint
    assert resolved[0].group_key == firing[0].group_key


def test_inner_event_without_envelope(topology: Topology, load_fixture: FixtureLoader) -> None:
    event = load_fixture("slack_alertmanager_firing.json")["event"]
    alerts = parse_alert_message(event, topology)

    assert alerts is not None
    assert alerts[0].alertname == "OrdersHighErrorRate"


def test_ambiguous_title_stays_unscoped(topology: Topology, load_fixture: FixtureLoader) -> None:
    envelope = load_fixture("slack_alertmanager_firing.json")
    envelope["event"]["attachments"][0]["title"] = "[FIRING:2] EdgeErrors cart orders"
    alerts = parse_alert_message(envelope, topology)

    assert alerts is not None
    assert alerts[0].service is None
    assert alerts[0].alertname == "EdgeErrors"


def test_grafana_mixed_post_splits_alerts(grafana_mixed: dict[str, Any], topology: Topology) -> None:
    alerts = parse_alert_message(grafana_mixed, topology)

    assert alerts is not None
    assert [alert.status for alert in alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert [alert.source for alert in alerts] == [AlertSource.GRAFANA_SLACK, AlertSource.GRAFANA_SLACK]
    assert [alert.service for alert in alerts] == ["cart", "search"]
    assert [alert.alertname for alert in alerts] == ["CartLatencyHigh", "CartLatencyHigh"]
    assert alerts[0].fingerprint != alerts[1].fingerprint
    assert alerts[0].fingerprint == label_fingerprint("CartLatencyHigh", alerts[0].labels)
    assert alerts[0].group_key == alerts[1].group_key == "slack:C0SHOP0001:CartLatencyHigh shop"


def test_grafana_labels_and_annotations(grafana_mixed: dict[str, Any], topology: Topology) -> None:
    firing = parse_alert_message(grafana_mixed, topology)[0]  # type: ignore[index]

    assert firing.labels == {
        "alertname": "CartLatencyHigh",
        "grafana_folder": "shop",
        "service": "cart",
        "severity": "warning",
        "region": "zürich-1",
    }
    assert firing.severity == "warning"
    assert firing.summary == "cart p95 above 800ms & rising"
    assert firing.description == "Ask <@U0ONCALL01> :fire: — Warenkorb langsam"
    assert firing.runbook_url == "https://runbooks.test/cart"
    assert firing.generator_url == "https://grafana.test/alerting/grafana/abc123/view?orgId=1"
    assert firing.count == 1


def test_grafana_no_value_label_is_missing(grafana_mixed: dict[str, Any], topology: Topology) -> None:
    resolved = parse_alert_message(grafana_mixed, topology)[1]  # type: ignore[index]

    assert resolved.labels["service"] == "<no value>"
    assert resolved.service == "search"
    assert resolved.generator_url == "https://grafana.test/alerting/grafana/def456/view?orgId=1"


def test_custom_blocks_post(topology: Topology, load_fixture: FixtureLoader) -> None:
    alerts = parse_alert_message(load_fixture("slack_blocks_custom.json"), topology)

    assert alerts is not None
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.source is AlertSource.ALERTMANAGER_SLACK
    assert alert.status is AlertStatus.FIRING
    assert alert.labels == {"alertname": "InventoryRestarts", "k8s_app": "inventory", "severity": "page"}
    assert alert.service == "inventory"
    assert alert.summary == "inventory restarted 4 times in 10m"
    assert alert.channel == "C0INVENT01"


def test_attachment_fields_become_labels(topology: Topology, load_fixture: FixtureLoader) -> None:
    envelope = load_fixture("slack_alertmanager_firing.json")
    envelope["event"]["attachments"][0]["fields"] = [
        {"title": "service", "value": "`shipping`", "short": True},
        {"title": "Started at", "value": "10:00", "short": True},
    ]
    alert = parse_alert_message(envelope, topology)[0]  # type: ignore[index]

    assert alert.labels == {"service": "shipping"}
    assert alert.service == "shipping"
    assert alert.fingerprint == label_fingerprint("OrdersHighErrorRate", {"service": "shipping"})


def test_custom_title_uses_colour_for_status(topology: Topology) -> None:
    event = {
        "type": "message", "subtype": "bot_message", "bot_id": "B0CUSTOM02", "ts": "1.2", "channel": "C1",
        "attachments": [{
            "color": "good",
            "title": "Orders are healthy again",
            "text": "Labels:\n - alertname = OrdersDown\n - service = orders",
        }],
    }
    alerts = parse_alert_message(event, topology)

    assert alerts is not None
    assert alerts[0].status is AlertStatus.RESOLVED
    assert alerts[0].service == "orders"
    assert alerts[0].group_key == "slack:C1:Orders are healthy again"


def test_custom_title_without_status_is_no_alert(topology: Topology) -> None:
    event = {
        "type": "message", "subtype": "bot_message", "bot_id": "B0CUSTOM02", "ts": "1.2", "channel": "C1",
        "attachments": [{"color": "#439FE0", "title": "Deploy finished",
                         "text": "Labels:\n - alertname = Deploy"}],
    }
    assert parse_alert_message(event, topology) is None


def test_own_post_is_never_an_alert(topology: Topology, load_fixture: FixtureLoader) -> None:
    assert parse_alert_message(load_fixture("slack_self_post.json"), topology) is None


def test_self_ids_exclude_inner_event(topology: Topology, load_fixture: FixtureLoader) -> None:
    event = load_fixture("slack_alertmanager_firing.json")["event"]

    assert parse_alert_message(event, topology, self_ids=["B0ALERTS01"]) is None
    assert parse_alert_message(event, topology, self_ids=["B0SOMEONE"]) is not None


@pytest.mark.parametrize(
    "change",
    [
        lambda event: event.update(subtype="message_changed"),
        lambda event: event.update(subtype=None, bot_id=None, user="U012ABCDEF"),
        lambda event: event.update(thread_ts="1796300000.000100"),
        lambda event: event.update(type="app_mention"),
        lambda event: event["attachments"][0].update(title="Weekly report", fallback="Weekly report"),
    ],
    ids=["edited", "human", "thread-reply", "app-mention", "no-alert-title"],
)
def test_non_alert_messages_return_none(change: Any, topology: Topology, load_fixture: FixtureLoader) -> None:
    envelope = load_fixture("slack_alertmanager_firing.json")
    event = copy.deepcopy(envelope["event"])
    change(event)
    assert parse_alert_message(event, topology) is None


def test_fallback_title_is_used(topology: Topology, load_fixture: FixtureLoader) -> None:
    envelope = load_fixture("slack_alertmanager_firing.json")
    envelope["event"]["attachments"][0]["title"] = ""
    alerts = parse_alert_message(envelope, topology)

    assert alerts is not None
    assert alerts[0].summary == "OrdersHighErrorRate orders (checkout critical)"


def test_plain_text_alert_post(topology: Topology) -> None:
    event = {"type": "message", "subtype": "bot_message", "bot_id": "B0X", "ts": "9.1", "channel": "C2",
             "text": "[FIRING:1] PaymentsSlow payments &amp; checkout\nsummary: slow"}
    alerts = parse_alert_message(event, topology)

    assert alerts is not None
    assert alerts[0].summary == "PaymentsSlow payments & checkout"
    assert alerts[0].service == "payment-service"


def test_unescape_keeps_mentions() -> None:
    text = "a &amp; b &lt;x&gt; <@U1> <!here> <https://x.test/a?b=1&amp;c=2|docs> :fire: ü"
    assert unescape_slack(text) == "a & b <x> <@U1> <!here> https://x.test/a?b=1&c=2 :fire: ü"


@pytest.mark.parametrize(
    ("title", "alertname"),
    [
        ("[FIRING:1] orders (HighErrorRate critical)", "HighErrorRate"),
        ("[FIRING:2] HighErrorRate payment-service (payments critical payments)", "HighErrorRate"),
        ("[FIRING:1] Payments (KafkaLag page)", "KafkaLag"),
        ("[FIRING:2] orders", "orders"),
    ],
)
def test_alertname_is_first_camel_case_word(title: str, alertname: str, topology: Topology,
                                            load_fixture: FixtureLoader) -> None:
    envelope = load_fixture("slack_alertmanager_firing.json")
    envelope["event"]["attachments"][0]["title"] = title
    alerts = parse_alert_message(envelope, topology)

    assert alerts is not None
    assert alerts[0].alertname == alertname
