"""A thread reply finds its incident through the store's thread index, also after a restart."""

from __future__ import annotations

from typing import Any

from airra.categories import Category
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, StartScenario, restart


async def test_reply_after_restart_finds_incident(start_scenario: StartScenario, serve_bot: Any) -> None:
    # No reopen window: the resolved incident leaves memory at the next save.
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), reopen_window_s=0)
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    incident = scenario.bot.flows.tracker.store.find_active()[0]
    await scenario.bot.flows.tracker.resolve(incident.id)
    await scenario.bot.flows.drain()
    await scenario.bot.close()

    bot, restarted = await restart(scenario, serve_bot)
    store = bot.flows.tracker.store
    assert store.find_active() == []
    assert incident.id not in store._incidents  # type: ignore[attr-defined]

    reply = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0ALICE", "it was the cache", thread_ts=card["ts"])
    event = {"type": "message", "user": "U0ALICE", "text": "it was the cache", "thread_ts": card["ts"],
             "ts": reply["ts"], "channel": INCIDENT_CHANNEL, "channel_type": "channel",
             "parent_user_id": "U0AIRRABOT"}
    response = await restarted.event(event)
    assert response.status == 200
    await scenario.settle()
    await bot.flows.drain()

    found = bot.flows.incident_for_thread(INCIDENT_CHANNEL, card["ts"])
    assert found is not None
    assert found.id == incident.id
    reactions = scenario.api.message(INCIDENT_CHANNEL, reply["ts"]).get("reactions", [])
    assert [reaction["name"] for reaction in reactions] == ["white_check_mark"]
