"""On click the bot re-checks the situation, and picking another candidate re-proposes."""

from __future__ import annotations

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    Scenario,
    StartScenario,
    button_value,
    card_text,
    has_buttons,
)


def _execution_count(scenario: Scenario) -> int:
    return sum(entry.kind is AuditKind.EXECUTION for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries())


async def test_blast_level_change_asks_again(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    assert "MEDIUM" in card_text(card)

    for downstream in ("api-gateway", "frontend", "mobile-bff"):
        scenario.runtime.sandbox.inject_fault(downstream, Category.ERROR_SPIKE)  # type: ignore[union-attr]
    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    assert _execution_count(scenario) == 0
    assert "blast radius changed from MEDIUM to" in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]
    assert "The situation changed" in scenario.thread_text(card)
    refreshed = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert button_value(refreshed, APPROVE_ACTION_ID).endswith("|p2")
    assert "Refreshed: the blast radius changed" in card_text(refreshed)

    await scenario.click(refreshed, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert _execution_count(scenario) == 1


async def test_resolved_alert_is_not_approved(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await scenario.post_alert("[RESOLVED] HighLatency search (critical)")
    await scenario.settle()
    assert not has_buttons(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    assert _execution_count(scenario) == 0
    assert "Not approved: the incident is resolved. Nothing was run." in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]


async def test_pick_another_candidate(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("payment-service", Category.MEMORY_LEAK))
    await scenario.post_alert("[FIRING:1] HighErrorRate payment-service (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    assert "`rollback_deployment`" in card_text(card)
    incident_id = button_value(card, APPROVE_ACTION_ID).split("|")[0]

    await scenario.slack.block_action(
        action_id="airra_pick_action", value=None, user_id="U0ALICE", channel_id=INCIDENT_CHANNEL,
        message_ts=card["ts"], selected_option={"text": {"type": "plain_text", "text": "toggle feature flag"},
                                                "value": f"{incident_id}|p1|toggle_feature_flag"})
    await scenario.settle()

    refreshed = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "*Proposed action:* `toggle_feature_flag`" in card_text(refreshed)
    assert "<@U0ALICE> picked `toggle_feature_flag` instead of `rollback_deployment`" in card_text(refreshed)
    assert button_value(refreshed, APPROVE_ACTION_ID) == f"{incident_id}|p2"

    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert "already superseded" in scenario.api.ephemerals_for("U0BOB")[-1]["text"]
    assert _execution_count(scenario) == 0
