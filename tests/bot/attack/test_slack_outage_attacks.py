"""Slack failing while a card is posted: the incident still gets exactly one card."""

from __future__ import annotations

from airra.categories import Category
from tests.bot.scenarios.conftest import StartScenario


async def test_card_posted_after_server_error(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    scenario.api.fail_next("chat.postMessage", error="internal_error", status=500)

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    await scenario.wait_for_card()
    await scenario.settle()

    assert [(call.status, call.ok) for call in scenario.api.calls("chat.postMessage")] == [(500, False), (200, True)]
    assert len(scenario.cards()) == 1


async def test_card_posted_on_next_alert(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    # More failures than the client retries: this card post gives up.
    scenario.api.fail_next("chat.postMessage", error="service_unavailable", status=503, times=3)

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    await scenario.settle()
    assert scenario.cards() == []

    await scenario.post_alert("[FIRING:2] HighLatency search (critical)", event_id="Ev0AFTEROUTAGE")
    await scenario.wait_for_card()
    await scenario.settle()

    [incident] = scenario.bot.flows.tracker.store.all()
    assert incident.card_ts == scenario.cards()[0]["ts"]
    assert incident.alert_count == 2
    assert len(scenario.cards()) == 1
    assert [call.status for call in scenario.api.calls("chat.postMessage")] == [503, 503, 503, 200]
