"""Slack errors of cards that failed to post are kept for the analyze command, and only the newest ones."""

from __future__ import annotations

from typing import Any

from bot import flows as flows_module
from tests.bot.scenarios.conftest import StartScenario


async def test_only_newest_card_errors_kept(start_scenario: StartScenario, monkeypatch: Any) -> None:
    monkeypatch.setattr(flows_module, "MAX_CARD_ERRORS", 2)
    scenario = await start_scenario()
    scenario.api.fail_next("chat.postMessage", error="channel_not_found", status=200, times=3)

    for service in ("search", "orders", "inventory"):
        await scenario.post_alert(f"[FIRING:1] HighLatency {service} (critical)")
        await scenario.settle()

    incidents = {incident.service: incident.id for incident in scenario.bot.flows.tracker.store.all()}
    assert sorted(incidents) == ["inventory", "orders", "search"]
    assert scenario.bot.flows._card_errors == {incidents["orders"]: "channel_not_found",
                                               incidents["inventory"]: "channel_not_found"}
