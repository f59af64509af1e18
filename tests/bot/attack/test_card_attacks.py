"""Incident cards built from hostile alert annotations stay readable and within Block Kit limits."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from airra.categories import Category
from bot.testing.block_rules import validate_blocks
from tests.bot.scenarios.conftest import Scenario, StartScenario


def _webhook(service: str, fingerprint: str, *, generator_url: str, runbook_url: str) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighLatency", "service": service, "severity": "critical", "région": "zürich-1"},
        "annotations": {"summary": f"{service} p95 latency above 500 ms 🔥", "runbook_url": runbook_url},
        "startsAt": "2026-12-04T09:58:10Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": generator_url,
        "fingerprint": fingerprint,
    }
    return {
        "version": "4", "receiver": "airra", "status": "firing", "groupKey": f"{{}}:{{service=\"{service}\"}}",
        "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093", "alerts": [alert],
    }


async def _post(scenario: Scenario, document: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(scenario.webhook_url, data=json.dumps(document),
                                headers={"Content-Type": "application/json"}) as response:
            return response.status


def _context_texts(card: dict[str, Any]) -> list[str]:
    return [element["text"] for block in card["blocks"] if block["type"] == "context"
            for element in block["elements"]]


async def test_hostile_alert_links_are_left_out(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await _post(scenario, _webhook("search", "dddd000000000001", generator_url="http://prometheus.test/graph?g0=" + "a" * 5000,
                                   runbook_url="https://runbooks.test/search|<!here>"))
    await _post(scenario, _webhook("orders", "dddd000000000002", generator_url="javascript:alert(1)",
                                   runbook_url="see the wiki"))
    await scenario.wait_for_card(2)
    await scenario.settle()

    for card in scenario.cards():
        validate_blocks(card["blocks"])
        for text in _context_texts(card):
            assert "javascript:" not in text
            assert "<!here>" not in text
            assert "<see the wiki" not in text
            # Every link that opens also closes: a cut URL would swallow the rest of the line.
            assert text.count("<") == text.count(">")


async def test_good_links_survive_next_to_a_bad_one(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await _post(scenario, _webhook("search", "eeee000000000001", generator_url="http://prometheus.test/graph?g0=" + "a" * 5000,
                                   runbook_url="https://runbooks.test/search/latency"))

    card = await scenario.wait_for_card()
    await scenario.settle()

    assert "<https://runbooks.test/search/latency|Runbook>" in _context_texts(card)[-1]
    assert "Alert source" not in _context_texts(card)[-1]
