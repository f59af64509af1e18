"""An alert post becomes one card; an approver's click runs, verifies and records the action."""

from __future__ import annotations

import json

import aiohttp

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID
from tests.bot.scenarios.conftest import (
    NON_APPROVER,
    StartScenario,
    card_text,
    has_buttons,
)


async def test_alert_post_approve_execute_verify_record(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))

    response = await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    assert response.status == 200
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert len(scenario.cards()) == 1
    assert "Awaiting approval 0/1" in card_text(card)
    assert "`scale_up`" in card_text(card)

    click = await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    assert click.status == 200
    await scenario.settle()

    updated = scenario.api.message("C0INCIDENT", card["ts"])
    assert "Action finished, approved by <@U0ALICE>" in card_text(updated)
    assert "verification: *success*" in card_text(updated)
    assert not has_buttons(updated)
    thread = scenario.thread_text(card)
    assert "Executing `scale_up` on `search`" in thread
    assert "Before-After" in thread or "Overall improvement" in thread

    records = [json.loads(line) for line in
               (scenario.data_dir / "confidence_tracking.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["service_name"] == "search"
    assert records[0]["action_type"] == "scale_up"
    assert records[0]["action_executed"] is True
    assert records[0]["outcome_status"] == "success"
    assert records[0]["outcome_success"] is True

    kinds = [entry.kind for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()]
    assert kinds.count(AuditKind.EXECUTION) == 1
    assert AuditKind.APPROVAL in kinds
    assert AuditKind.VERIFICATION in kinds


async def test_non_approver_refused_nothing_runs(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await scenario.click(card, APPROVE_ACTION_ID, NON_APPROVER)
    await scenario.settle()

    ephemerals = scenario.api.ephemerals_for(NON_APPROVER)
    assert len(ephemerals) == 1
    assert "Only configured approvers may approve" in ephemerals[0]["text"]
    assert has_buttons(scenario.api.message("C0INCIDENT", card["ts"]))
    assert scenario.thread_text(card) == ""
    assert not (scenario.data_dir / "confidence_tracking.jsonl").exists()
    entries = AuditLog(scenario.data_dir / "audit.jsonl").entries()
    assert [entry.kind for entry in entries if entry.kind is AuditKind.EXECUTION] == []
    assert any(entry.kind is AuditKind.APPROVAL_REFUSED and entry.user_id == NON_APPROVER for entry in entries)


async def test_metrics_count_incident_approval_action(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    await scenario.click(card, APPROVE_ACTION_ID, NON_APPROVER)
    await scenario.click(card, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    async with aiohttp.ClientSession() as session:
        async with session.get(scenario.slack.base_url + "/metrics") as response:
            exposition = await response.text()

    assert 'airra_bot_incidents_total{kind="opened"} 1.0' in exposition
    assert 'airra_bot_alerts_total{source="alertmanager_slack"} 1.0' in exposition
    assert 'airra_bot_approvals_total{decision="refused"} 1.0' in exposition
    assert 'airra_bot_approvals_total{decision="approved"} 1.0' in exposition
    assert 'airra_bot_actions_total{action="scale_up",status="succeeded"} 1.0' in exposition


async def test_proposal_persisted_with_approval(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    await scenario.wait_for_card()
    await scenario.settle()

    [path] = (scenario.data_dir / "state" / "approvals").glob("*.json")
    stored = json.loads(path.read_text())
    assert stored["status"] == "pending"
    assert stored["action_type"] == "scale_up"
    assert stored["params"] == {"replicas": 4}
    assert stored["proposal"]["proposed_action"] == "scale_up"
    assert stored["proposal"]["incident_id"] == stored["incident_id"]
