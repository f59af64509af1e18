"""Two-approver actions, concurrent clicks, expiry and restarts: each action runs exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

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
    restart,
)


def _executions(scenario: Scenario) -> list[Any]:
    return [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
            if entry.kind is AuditKind.EXECUTION]


async def test_two_approvers_run_after_second(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.DEPLOYMENT_REGRESSION))
    await scenario.post_alert("[FIRING:1] HighErrorRate search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    assert "`rollback_deployment`" in card_text(card)
    assert "Awaiting approval 0/2" in card_text(card)

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    after_first = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Awaiting approval 1/2 (approved by <@U0ALICE>)" in card_text(after_first)
    assert has_buttons(after_first)
    assert "waiting for a second approver" in scenario.thread_text(card)
    assert _executions(scenario) == []

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert "needs a second, different approver" in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]
    assert _executions(scenario) == []

    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    executions = _executions(scenario)
    assert len(executions) == 1
    assert executions[0].details["action"] == "rollback_deployment"
    assert executions[0].user_id == "U0BOB"
    final = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Action finished, approved by <@U0ALICE>, <@U0BOB>" in card_text(final)


async def test_twenty_concurrent_clicks_one_execution(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    clicks = await asyncio.gather(*(scenario.click(card, APPROVE_ACTION_ID, ("U0ALICE", "U0BOB")[index % 2])
                                    for index in range(20)))
    await scenario.settle()

    assert [click.status for click in clicks] == [200] * 20
    assert len(_executions(scenario)) == 1
    assert scenario.thread_text(card).count("Executing `scale_up`") == 1
    state = await scenario.runtime.executor.service_state("search")
    assert state.replicas == 4
    refused = scenario.api.ephemerals_for("U0ALICE") + scenario.api.ephemerals_for("U0BOB")
    assert len(refused) == 19
    assert all("already approved" in ephemeral["text"] for ephemeral in refused)


async def test_restart_between_card_and_click(start_scenario: StartScenario, serve_bot: Any) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    await scenario.bot.close()

    _, restarted = await restart(scenario, serve_bot)
    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE", slack=restarted)
    await scenario.settle()
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB", slack=restarted)
    await scenario.settle()

    assert len(_executions(scenario)) == 1
    assert "Action finished, approved by <@U0ALICE>" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    assert "already approved" in scenario.api.ephemerals_for("U0BOB")[-1]["text"]


async def test_expired_approval_runs_nothing(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), approval_ttl_s=0.001)
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    assert _executions(scenario) == []
    updated = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Approval expired" in card_text(updated)
    assert not has_buttons(updated)
    assert "expired" in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]


async def test_interrupted_execution_not_rerun(start_scenario: StartScenario, serve_bot: Any) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    incident_id, proposal_id = button_value(card, APPROVE_ACTION_ID).split("|")
    # The process claimed the execution, then stopped before the action finished.
    assert scenario.bot.flows.executions.claim(incident_id, proposal_id, user_id="U0ALICE") is True
    await scenario.bot.close()

    _, restarted = await restart(scenario, serve_bot)
    await scenario.settle()
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB", slack=restarted)
    await scenario.settle()

    assert _executions(scenario) == []
    assert "AIRRA stopped while this action was running" in scenario.thread_text(card)
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3
    assert "already running or finished" in scenario.api.ephemerals_for("U0BOB")[-1]["text"]


async def test_approval_expires_without_click(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), approval_ttl_s=0.2)
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()

    await scenario.api.wait_for(
        lambda: "Approval expired" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]) or {}), timeout=5)

    assert not has_buttons(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    expired = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
               if entry.kind is AuditKind.APPROVAL_EXPIRED]
    assert len(expired) == 1
    assert expired[0].user_id is None


async def test_user_group_member_approves(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), approvers=[],
                                    approver_group="S0ONCALL")
    scenario.api.set_usergroup("S0ONCALL", ["U0DAVE"])
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert _executions(scenario) == []
    assert "Only configured approvers" in scenario.api.ephemerals_for("U0ALICE")[-1]["text"]

    await scenario.click(card, APPROVE_ACTION_ID, "U0DAVE")
    await scenario.settle()
    assert len(_executions(scenario)) == 1
    assert scenario.api.call_count("usergroups.users.list") == 1
