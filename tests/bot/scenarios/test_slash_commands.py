"""The /airra slash command over HTTP."""

from __future__ import annotations

from typing import Any

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from bot.testing.block_rules import validate_blocks
from bot.cards import APPROVE_ACTION_ID
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    Scenario,
    StartScenario,
    card_text,
)


async def _command(scenario: Scenario, text: str, user: str = "U0ALICE") -> list[dict[str, Any]]:
    before = len(scenario.api.responses)
    response = await scenario.slack.slash_command(text, user_id=user, channel_id=INCIDENT_CHANNEL)
    assert response.status == 200
    await scenario.api.wait_for(lambda: len(scenario.api.responses) > before, timeout=10)
    await scenario.settle()
    return scenario.api.responses[before:]


async def test_help_lists_subcommands(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()
    [answer] = await _command(scenario, "help")
    assert answer["response_type"] == "ephemeral"
    assert "`/airra simulate SERVICE CATEGORY [ACTION,ACTION...]`" in answer["text"]


async def test_bad_arguments_get_usage(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()
    [answer] = await _command(scenario, "simulate search")
    assert answer["response_type"] == "ephemeral"
    assert "Usage: `/airra simulate SERVICE CATEGORY [ACTION,ACTION...]`" in answer["text"]


async def test_unknown_service_close_matches(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()
    [answer] = await _command(scenario, "blast serch")
    assert answer["text"] == "Unknown service `serch`. Did you mean: `search`, `elasticsearch`?"


async def test_blast_report(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    answers = await _command(scenario, "blast search")
    text = "\n".join(answer["text"] for answer in answers)
    assert "search" in text
    assert "downstream" in text.lower()


async def test_long_simulation_report_is_split(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    response = await scenario.slack.slash_command("simulate search cpu_spike", user_id="U0ALICE",
                                                  channel_id=INCIDENT_CHANNEL)
    assert response.status == 200
    await scenario.api.wait_for(lambda: len(scenario.api.responses) >= 2, timeout=10)
    await scenario.settle()

    answers = scenario.api.responses
    assert len(answers) >= 2
    for answer in answers:
        assert validate_blocks(answer["blocks"]) == []
        assert len(answer["blocks"][0]["text"]["text"]) <= 3000
    joined = "".join(answer["text"] for answer in answers)
    for action in ("SCALE UP", "RESTART POD", "ROLLBACK DEPLOYMENT"):
        assert action in joined.upper()


async def test_analyze_opens_incident_by_hand(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), forbid_self_approval=True)
    [answer] = await _command(scenario, "analyze search cpu_spike", user="U0ALICE")
    assert answer["text"].startswith("Opened incident `inc-")
    card = await scenario.wait_for_card()
    await scenario.settle()
    assert "Opened by <@U0ALICE> with `/airra analyze`." in str(card["blocks"])
    assert "search: incident opened by hand" in card["text"]
    assert "`cpu_spike`" in card_text(card)

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert "approving your own request is not allowed" in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]

    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert "Action finished, approved by <@U0BOB>" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))


async def test_pause_blocks_execution_until_resume(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))

    [refused] = await _command(scenario, "pause", user="U0CAROL")
    assert refused["text"] == "Only approvers may pause execution. Nothing was changed."
    [paused] = await _command(scenario, "pause", user="U0ALICE")
    assert paused["response_type"] == "in_channel"
    assert "Execution paused" in paused["text"]
    [status] = await _command(scenario, "status")
    assert "*Execution:* paused" in status["text"]

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    # The first channel message is the in-channel "Execution paused" response.
    card = await scenario.wait_for_card(2)
    await scenario.settle()
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert "Execution is paused, so nothing was approved" in scenario.api.ephemerals_for("U0BOB")[-1]["text"]
    assert "Awaiting approval 0/1" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3

    [resumed] = await _command(scenario, "resume", user="U0BOB")
    assert "Execution resumed" in resumed["text"]
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert (await scenario.runtime.executor.service_state("search")).replicas == 4
    kinds = [entry.kind for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()]
    assert AuditKind.PAUSE in kinds
    assert AuditKind.RESUME in kinds


async def test_calibration_and_feedback_reports(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()
    calibration = await _command(scenario, "calibration")
    feedback = await _command(scenario, "feedback 7")
    assert "CALIBRATION" in "".join(answer["text"] for answer in calibration).upper()
    assert "FEEDBACK" in "".join(answer["text"] for answer in feedback).upper()
