"""Approval races an operator can hit: a reject modal submitted after someone else approved."""

from __future__ import annotations

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID, REJECT_ACTION_ID
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, StartScenario, card_text


async def test_reject_after_approval_rejected(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    # Alice opens the reject modal; while she types, Bob approves and the action runs.
    await scenario.click(card, REJECT_ACTION_ID, "U0ALICE")
    await scenario.settle()
    view = scenario.api.views[0]
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()

    response = await scenario.slack.view_submission(
        callback_id="airra_reject_modal", private_metadata=view["private_metadata"], user_id="U0ALICE",
        values={"reason": {"value": "traffic is organic, scaling will not help"}},
    )
    await scenario.settle()

    # The modal stays open and shows why, instead of closing as if the rejection counted.
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "already" in answer["errors"]["reason"]
    assert "approved" in answer["errors"]["reason"]
    assert len(answer["errors"]["reason"]) <= 150
    kinds = [entry.kind for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()]
    assert AuditKind.REJECTION not in kinds
    assert kinds.count(AuditKind.EXECUTION) == 1
    assert "Rejected" not in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))


async def test_stale_approve_says_what_to_do(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    first = await scenario.wait_for_card()
    await scenario.settle()

    # A correction replaces the proposal; a screen that still shows the first one gets clicked.
    reply = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0CAROL", "wrong, it was cpu_spike", thread_ts=first["ts"])
    await scenario.slack.event(scenario.api.message_event(INCIDENT_CHANNEL, reply))
    await scenario.settle()
    await scenario.click(first, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()

    answer = scenario.api.ephemerals_for("U0ALICE")[-1]["text"]
    assert "superseded" in answer
    assert "newer proposal" in answer
    kinds = [entry.kind for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()]
    assert AuditKind.EXECUTION not in kinds
