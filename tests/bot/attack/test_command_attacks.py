"""Slash commands run twice or on a service that already has an incident: one card, one action."""

from __future__ import annotations

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID
from bot.state import ApprovalStatus
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, Scenario, StartScenario, card_text


def _executions(scenario: Scenario) -> list[object]:
    return [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
            if entry.kind is AuditKind.EXECUTION]


async def test_analyze_open_service_reuses_card(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    first = await scenario.wait_for_card()
    await scenario.settle()

    for _ in range(2):
        await scenario.slack.slash_command("analyze search", user_id="U0CAROL", channel_id=INCIDENT_CHANNEL)
        await scenario.settle()

    answers = [ephemeral["text"] for ephemeral in scenario.api.ephemerals_for("U0CAROL")]
    assert len(answers) == 2
    assert all("is already open" in answer and f"<#{INCIDENT_CHANNEL}>" in answer for answer in answers)
    assert len(scenario.cards()) == 1
    assert len(scenario.bot.flows.tracker.store.all()) == 1
    current = scenario.api.message(INCIDENT_CHANNEL, first["ts"])
    assert "Re-proposed by <@U0CAROL> with `/airra analyze`." in card_text(current)

    # The button on the first rendering belongs to a replaced proposal; only the current one runs.
    await scenario.click(first, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert _executions(scenario) == []
    await scenario.click(current, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert len(_executions(scenario)) == 1


async def test_analyze_during_action_rejected(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    await scenario.wait_for_card()
    await scenario.settle()
    [incident] = scenario.bot.flows.tracker.store.all()
    record = scenario.bot.flows.approvals.latest_for(incident.id)
    assert record is not None
    incident_id, proposal_id = incident.id, record.proposal_id
    # An approved action whose execution is claimed but not finished yet.
    await scenario.bot.flows.desk.set_status(incident_id, proposal_id, ApprovalStatus.APPROVED)
    assert scenario.bot.flows.executions.claim(incident_id, proposal_id, user_id="U0ALICE") is True

    await scenario.slack.slash_command("analyze search", user_id="U0CAROL", channel_id=INCIDENT_CHANNEL)
    await scenario.settle()

    [answer] = [ephemeral["text"] for ephemeral in scenario.api.ephemerals_for("U0CAROL")]
    assert "action is running" in answer
    assert len(scenario.cards()) == 1
    assert scenario.bot.flows.approvals.latest_for(incident_id).proposal_id == proposal_id  # type: ignore[union-attr]


async def test_analyze_channel_without_bot_fails(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    scenario.api.add_channel("C0LOBBY", "lobby", is_member=False)

    await scenario.slack.slash_command("analyze search", user_id="U0CAROL", channel_id="C0LOBBY")
    await scenario.settle()

    [answer] = [ephemeral["text"] for ephemeral in scenario.api.ephemerals_for("U0CAROL")]
    assert "Could not post the card" in answer
    assert "`not_in_channel`" in answer
    assert "/invite @airra" in answer
    # The incident without a card is closed, so the next analyze opens a visible one.
    [incident] = scenario.bot.flows.tracker.store.all()
    assert not incident.is_open

    await scenario.slack.slash_command("analyze search", user_id="U0CAROL", channel_id=INCIDENT_CHANNEL)
    await scenario.settle()
    assert scenario.api.ephemerals_for("U0CAROL")[-1]["text"].startswith("Opened incident")
    assert len(scenario.cards()) == 1
