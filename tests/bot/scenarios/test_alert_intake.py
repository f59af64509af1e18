"""Webhook batches, resolved notifications, retried events and rate limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from airra.categories import Category
from airra.topology import DEFAULT_SERVICES_FILE
from bot.audit import AuditKind, AuditLog
from bot.testing.block_rules import validate_blocks
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    Scenario,
    StartScenario,
    card_text,
    has_buttons,
)

GROUP_KEY = '{}/{team="search"}:{alertname="SearchHighLatency", service="search"}'


def _webhook(status: str) -> dict[str, Any]:
    alerts = []
    for pod, fingerprint in (("search-6d5f8c7b9-ab1cd", "1111aaaa2222bbbb"), ("search-6d5f8c7b9-ef2gh", "3333cccc4444dddd")):
        alerts.append({
            "status": status,
            "labels": {"alertname": "SearchHighLatency", "service": "search", "pod": pod, "severity": "critical"},
            "annotations": {"summary": "search p95 latency above 500 ms",
                            "runbook_url": "https://runbooks.test/search/latency"},
            "startsAt": "2026-12-04T09:58:10Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-04T10:20:10Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=search_latency",
            "fingerprint": fingerprint,
        })
    return {
        "version": "4", "receiver": "airra", "status": status, "groupKey": GROUP_KEY, "truncatedAlerts": 0,
        "groupLabels": {"alertname": "SearchHighLatency", "service": "search"},
        "commonLabels": {"alertname": "SearchHighLatency", "service": "search", "severity": "critical"},
        "commonAnnotations": {"summary": "search p95 latency above 500 ms"},
        "externalURL": "http://127.0.0.1:9093", "alerts": alerts,
    }


async def _send_webhook(scenario: Scenario, document: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(scenario.webhook_url, data=json.dumps(document),
                                headers={"Content-Type": "application/json"}) as response:
            return response.status


async def test_webhook_batch_one_card(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))

    assert await _send_webhook(scenario, _webhook("firing")) == 200
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert len(scenario.cards()) == 1
    text = card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    assert "search p95 latency above 500 ms" in text
    assert "*Alerts*\\n2" in text
    assert "<https://runbooks.test/search/latency|Runbook>" in text
    assert "<http://127.0.0.1:9090/graph?g0.expr=search_latency|Alert source>" in text
    assert has_buttons(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))


async def test_resolved_webhook_updates_card(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await _send_webhook(scenario, _webhook("firing"))
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert await _send_webhook(scenario, _webhook("resolved")) == 200
    await scenario.settle()

    updated = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert ":large_green_circle: Resolved" in card_text(updated)
    assert not has_buttons(updated)
    assert "Resolved: every alert of this incident stopped firing" in scenario.thread_text(card)
    incidents = scenario.bot.flows.tracker.store.all()
    assert [incident.status.value for incident in incidents] == ["resolved"]
    assert len(scenario.cards()) == 1


async def test_retried_event_one_incident(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))

    first = await scenario.post_alert("[FIRING:3] HighLatency search (critical)", event_id="Ev0RETRY001")
    again = await scenario.post_alert("[FIRING:3] HighLatency search (critical)", event_id="Ev0RETRY001",
                                      retry_num=1)
    await scenario.wait_for_card()
    await scenario.settle()

    assert (first.status, again.status) == (200, 200)
    assert len(scenario.cards()) == 1
    incidents = scenario.bot.flows.tracker.store.all()
    assert len(incidents) == 1
    assert incidents[0].alert_count == 3
    opened = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
              if entry.kind is AuditKind.INCIDENT_OPENED]
    assert len(opened) == 1


async def test_rate_limited_card_is_retried(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    scenario.api.fail_next("chat.postMessage", status=429, retry_after=1)

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    await scenario.wait_for_card()
    await scenario.settle()

    calls = scenario.api.calls("chat.postMessage")
    assert len(calls) == 2
    assert len(scenario.cards()) == 1


async def test_own_messages_never_trigger(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    own = {"type": "message", "subtype": "bot_message", "bot_id": "B0AIRRABOT", "user": "U0AIRRABOT", "text": "",
           "attachments": [{"color": "a30200", "title": "[FIRING:1] HighLatency search (critical)", "text": ""}],
           "ts": "1796400000.000300", "channel": INCIDENT_CHANNEL}

    assert (await scenario.slack.event(own)).status == 200
    await scenario.settle()

    assert scenario.cards() == []
    assert scenario.bot.flows.tracker.store.all() == []


async def test_unscoped_alert_card_without_action(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()

    await scenario.post_alert("[FIRING:1] DiskAlmostFull storage-node-7")
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert "No action proposed" in card_text(card)
    assert not has_buttons(card)


async def test_alert_storm_coalesces_card_updates(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), card_update_interval_s=1.0)
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    updates_before = scenario.api.call_count("chat.update")

    for count in range(2, 12):
        await scenario.post_alert(f"[FIRING:{count}] HighLatency search (critical)")
    await scenario.settle()

    assert scenario.api.call_count("chat.update") - updates_before == 1
    assert "*Alerts*\\n11" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    assert len(scenario.cards()) == 1


async def test_refire_reopens_same_card(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await _send_webhook(scenario, _webhook("firing"))
    card = await scenario.wait_for_card()
    await scenario.settle()
    await _send_webhook(scenario, _webhook("resolved"))
    await scenario.settle()

    await _send_webhook(scenario, _webhook("firing"))
    await scenario.settle()

    assert len(scenario.cards()) == 1
    reopened = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Reopened: `SearchHighLatency` fired again" in card_text(reopened)
    assert has_buttons(reopened)
    assert [incident.status.value for incident in scenario.bot.flows.tracker.store.all()] == ["open"]


async def test_long_summary_keeps_card_readable(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    document = _webhook("firing")
    lines = [f"line {number:04d}: search latency detail" for number in range(400)]
    for alert in document["alerts"]:
        alert["annotations"]["summary"] = "\n".join(lines)

    assert await _send_webhook(scenario, document) == 200
    card = await scenario.wait_for_card()
    await scenario.settle()

    shown = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert has_buttons(shown)
    assert validate_blocks(shown["blocks"]) == []
    first_section = shown["blocks"][0]["text"]["text"]
    assert "line 0000: search latency detail" in first_section
    assert "…*\n:hourglass_flowing_sand: Awaiting approval 0/1" in first_section
    assert len(scenario.cards()) == 1


async def test_webhook_card_goes_to_service_channel(start_scenario: StartScenario, tmp_path: Path) -> None:
    document = yaml.safe_load(DEFAULT_SERVICES_FILE.read_text())
    for service in document["services"]:
        if service["name"] == "search":
            service["slack_channel"] = "C0SEARCH"
    services_file = tmp_path / "services.yaml"
    services_file.write_text(yaml.safe_dump(document))
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), services_file=services_file)
    scenario.api.add_channel("C0SEARCH", "search-incidents")

    await _send_webhook(scenario, _webhook("firing"))
    await scenario.api.wait_for_messages("C0SEARCH", 1, timeout=10)
    await scenario.settle()

    assert len(scenario.api.messages_in("C0SEARCH")) == 1
    assert scenario.cards() == []
    assert [incident.channel for incident in scenario.bot.flows.tracker.store.all()] == ["C0SEARCH"]
