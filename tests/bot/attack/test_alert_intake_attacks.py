"""Alert intake under hostile or unusual input: mixed-service groups, deep JSON, markup in annotations."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from airra.categories import Category
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, Scenario, StartScenario

# Alertmanager configured with group_by: [alertname] puts every service's alert of that name in one group.
ALERTNAME_GROUP = '{}:{alertname="HighLatency"}'


def _alert(service: str, fingerprint: str, *, summary: str = "p95 latency above 500 ms") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "HighLatency", "service": service, "severity": "critical"},
        "annotations": {"summary": summary},
        "startsAt": "2026-12-04T09:58:10Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    }


def _webhook(alerts: list[dict[str, Any]], group_key: str = ALERTNAME_GROUP) -> dict[str, Any]:
    return {
        "version": "4", "receiver": "airra", "status": "firing", "groupKey": group_key, "truncatedAlerts": 0,
        "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": alerts,
    }


async def _post(scenario: Scenario, body: bytes) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(scenario.webhook_url, data=body,
                                headers={"Content-Type": "application/json"}) as response:
            return response.status, await response.json(content_type=None)


async def test_alertname_group_opens_one_incident_per_service(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    document = _webhook([_alert("search", "aaaa000000000001"), _alert("api-gateway", "aaaa000000000002")])

    status, _ = await _post(scenario, json.dumps(document).encode())
    await scenario.wait_for_card(2)
    await scenario.settle()

    assert status == 200
    incidents = scenario.bot.flows.tracker.store.all()
    assert sorted(incident.service for incident in incidents) == ["api-gateway", "search"]
    assert len(scenario.cards()) == 2


async def test_alertname_group_resends_join_their_own_service(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await _post(scenario, json.dumps(_webhook([_alert("search", "bbbb000000000001")])).encode())
    await scenario.wait_for_card()
    await scenario.settle()

    # The group's next notification carries the first alert again and a new one for another service.
    document = _webhook([_alert("search", "bbbb000000000001"), _alert("api-gateway", "bbbb000000000002")])
    await _post(scenario, json.dumps(document).encode())
    await scenario.wait_for_card(2)
    await scenario.settle()

    by_service = {incident.service: incident for incident in scenario.bot.flows.tracker.store.all()}
    assert sorted(by_service) == ["api-gateway", "search"]
    assert list(by_service["search"].alerts) == ["bbbb000000000001"]
    assert list(by_service["api-gateway"].alerts) == ["bbbb000000000002"]
    assert len(scenario.cards()) == 2


async def test_deeply_nested_body_is_rejected_not_an_error(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()

    status, answer = await _post(scenario, b"[" * 100_000 + b"]" * 100_000)

    # A 5xx makes Alertmanager resend the same body forever; a body that cannot be read is a 400.
    assert status == 400
    assert "nested" in answer["error"]
    assert scenario.bot.flows.tracker.store.all() == []


async def test_markup_in_summary_cannot_notify_the_channel(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    summary = "<!channel> search is down & <https://evil.test|click here>"
    await _post(scenario, json.dumps(_webhook([_alert("search", "cccc000000000001", summary=summary)])).encode())

    card = await scenario.wait_for_card()
    await scenario.settle()

    posted = [call.args for call in scenario.api.calls("chat.postMessage") + scenario.api.calls("chat.update")]
    assert posted
    for args in posted:
        assert "<!channel>" not in args.get("text", "")
        assert "<https://evil.test" not in args.get("text", "")
    assert card["text"].startswith("&lt;!channel&gt; search is down &amp; &lt;https://evil.test|click here&gt;")


async def test_fence_in_alertname_cannot_escape_why_report(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    alert = _alert("search", "ffff000000000001", summary="search slow")
    alert["labels"]["alertname"] = "Latency```<!channel>"
    await _post(scenario, json.dumps(_webhook([alert])).encode())
    card = await scenario.wait_for_card()
    await scenario.settle()

    question = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0CAROL", "<@U0AIRRABOT> why", thread_ts=card["ts"])
    event = scenario.api.message_event(INCIDENT_CHANNEL, question)
    event["type"] = "app_mention"
    await scenario.slack.event(event)
    await scenario.settle()

    replies = [reply for reply in scenario.api.thread(INCIDENT_CHANNEL, card["ts"]) if reply.get("bot_id")]
    assert replies
    sections = [block["text"]["text"] for reply in replies for block in reply["blocks"] if block["type"] == "section"]
    assert any("Latency" in text for text in sections)
    for text in sections:
        assert "<!channel>" not in text
        # Only the report's own fences: the alert name's backticks no longer open or close one.
        assert text.count("```") == 2
