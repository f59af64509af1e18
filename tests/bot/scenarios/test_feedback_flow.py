"""Reject through the modal, corrections in the thread and "why" questions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airra.categories import Category
from bot.cards import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.testing.block_rules import validate_blocks
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    Scenario,
    StartScenario,
    button_value,
    card_text,
    has_buttons,
)


def _feedback(scenario: Scenario) -> list[dict[str, Any]]:
    path = scenario.data_dir / "operator_feedback.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _card(scenario: Scenario) -> dict[str, Any]:
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    return card


async def _reply(scenario: Scenario, card: dict[str, Any], text: str, *, ts: str | None = None,
                 user: str = "U0ALICE", event_id: str | None = None, retry_num: int | None = None) -> str:
    """Post an operator's thread reply (unless ``ts`` names one already posted) and deliver its event."""
    if ts is None:
        # The reply exists in the channel before Slack sends its event.
        ts = scenario.api.post_as_user(INCIDENT_CHANNEL, user, text, thread_ts=card["ts"])["ts"]
    event = {"type": "message", "user": user, "text": text, "thread_ts": card["ts"], "ts": ts,
             "channel": INCIDENT_CHANNEL, "channel_type": "channel", "parent_user_id": "U0AIRRABOT"}
    response = await scenario.slack.event(event, event_id=event_id, retry_num=retry_num)
    assert response.status == 200
    return ts


async def test_reject_modal_records_feedback(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    await scenario.click(card, REJECT_ACTION_ID, "U0ALICE")
    await scenario.settle()
    assert len(scenario.api.views) == 1
    view = scenario.api.views[0]
    assert view["callback_id"] == "airra_reject_modal"

    response = await scenario.slack.view_submission(
        callback_id="airra_reject_modal", private_metadata=view["private_metadata"], user_id="U0ALICE",
        values={"reason": {"value": "the cache went cold after a deploy"},
                "correct_category": {"value": {"type": "static_select",
                                               "selected_option": {"value": "cache_issue"}}},
                "better_action": {"value": {"type": "static_select", "selected_option": {"value": "clear_cache"}}}},
    )
    assert response.status == 200
    await scenario.settle()

    records = _feedback(scenario)
    assert len(records) == 1
    assert records[0]["feedback_type"] == "hypothesis_incorrect"
    assert records[0]["correct_hypothesis_category"] == "cache_issue"
    assert records[0]["correct_action_type"] == "clear_cache"
    assert records[0]["operator_id"] == "U0ALICE"
    assert records[0]["airra_action_type"] == "scale_up"
    # No judgements yet, so the diagnosis applied no learned adjustment.
    assert records[0]["airra_prior_adjustment"] == 0.0
    assert "Rejected by <@U0ALICE>: the cache went cold after a deploy" in scenario.thread_text(card)
    updated = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    # search has no cache key prefix, so neither clear_cache nor anything else fits cache_issue.
    assert "Re-proposed after <@U0ALICE>'s rejection (category `cache_issue`, action `clear_cache`)" in card_text(updated)
    assert "no action proposed" in card_text(updated)
    assert not has_buttons(updated)


async def test_non_approver_cannot_reject(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    await scenario.click(card, REJECT_ACTION_ID, "U0CAROL")
    await scenario.settle()

    assert scenario.api.views == []
    assert "Only configured approvers" in scenario.api.ephemerals_for("U0CAROL")[0]["text"]
    assert has_buttons(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))


PHRASES = [
    ("wrong, it was cpu_spike", "hypothesis_incorrect", "cpu_spike", None),
    ("actually cpu spike", "hypothesis_incorrect", "cpu_spike", None),
    ("correct", "hypothesis_correct", None, None),
    ("right diagnosis", "hypothesis_correct", None, None),
    ("better action: restart_pod", "action_inappropriate", None, "restart_pod"),
    ("worked", "action_successful", None, None),
    ("escalated", "incident_escalated", None, None),
    ("resolved", "incident_resolved", None, None),
    ("is it resolved?", "general_comment", None, None),
    ("not sure it was cpu_spike", "general_comment", None, None),
]


@pytest.mark.parametrize(("text", "feedback_type", "category", "action"), PHRASES)
async def test_thread_reply_becomes_feedback(start_scenario: StartScenario, text: str, feedback_type: str,
                                             category: str | None, action: str | None) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    await _reply(scenario, card, text)
    await scenario.settle()

    records = _feedback(scenario)
    assert len(records) == 1
    assert records[0]["feedback_type"] == feedback_type
    assert records[0]["correct_hypothesis_category"] == category
    assert records[0]["correct_action_type"] == action
    assert records[0]["incident_id"] == "inc-" + records[0]["incident_id"].split("-", 1)[1]
    assert [reaction["name"] for reaction in scenario.api.reactions] == ["white_check_mark"]
    thread = scenario.thread_text(card)
    if feedback_type == "general_comment":
        assert "Recorded" not in thread
    else:
        assert "Recorded:" in thread


async def test_resolved_reply_closes_incident(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    await _reply(scenario, card, "resolved")
    await scenario.settle()

    assert scenario.bot.flows.tracker.store.find_active() == []
    assert ":large_green_circle: Resolved" in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))


async def test_retried_reply_recorded_once(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    ts = await _reply(scenario, card, "correct", event_id="Ev0REPLY01")
    await _reply(scenario, card, "correct", ts=ts, event_id="Ev0REPLY01", retry_num=1)
    await scenario.settle()

    assert len(_feedback(scenario)) == 1
    assert len(scenario.api.reactions) == 1


async def test_why_mention_explains_proposal(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    mention = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0AIRRABOT> why?", "thread_ts": card["ts"],
               "ts": "1796400200.000100", "channel": INCIDENT_CHANNEL}
    await scenario.slack.event(mention)
    await scenario.slack.event({**mention, "type": "message", "channel_type": "channel"})
    await scenario.settle()

    thread = scenario.thread_text(card)
    assert "Why this proposal" in thread
    assert "Hypotheses:" in thread
    assert _feedback(scenario) == []


async def test_long_why_report_split_in_thread(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)
    # A proposal text far past one message, as a large topology's reasoning can be.
    approvals = scenario.bot.flows.approvals
    [record] = approvals.pending()
    record.proposal_text = "\n".join(f"evidence {number:05d}: latency sample above the p95 threshold"
                                     for number in range(800))
    approvals.save(record)

    mention = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0AIRRABOT> why", "thread_ts": card["ts"],
               "ts": "1796400300.000100", "channel": INCIDENT_CHANNEL}
    await scenario.slack.event(mention)
    await scenario.settle()

    replies = scenario.api.thread(INCIDENT_CHANNEL, card["ts"])
    assert len(replies) >= 2
    for reply in replies:
        assert validate_blocks(reply["blocks"]) == []
    thread = scenario.thread_text(card)
    assert "evidence 00000:" in thread
    assert "evidence 00799:" in thread


async def test_category_correction_reproposes(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    card = await _card(scenario)

    await _reply(scenario, card, "wrong, it was cpu_spike")
    await scenario.settle()

    refreshed = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Re-proposed for `cpu_spike` after <@U0ALICE>'s correction." in str(refreshed["blocks"])
    assert "*Top hypothesis:* `cpu_spike`" in str(refreshed["blocks"])
    assert button_value(refreshed, APPROVE_ACTION_ID).endswith("|p2")
    assert len(_feedback(scenario)) == 1


async def test_reject_with_correction_reproposes(start_scenario: StartScenario) -> None:
    """A rejection naming the true cause and a better action gets a new proposal for them."""
    scenario = await start_scenario(fault=("payment-service", Category.MEMORY_LEAK))
    await scenario.post_alert("[FIRING:1] HighErrorRate payment-service (critical)")
    card = await scenario.wait_for_card()
    assert "rollback_deployment" in card_text(card)

    await scenario.click(card, REJECT_ACTION_ID, "U0ALICE")
    await scenario.settle()
    view = scenario.api.views[0]
    await scenario.slack.view_submission(
        callback_id="airra_reject_modal", private_metadata=view["private_metadata"], user_id="U0ALICE",
        values={"reason": {"value": "memory grows until OOM"},
                "correct_category": {"value": {"type": "static_select", "selected_option": {"value": "memory_leak"}}},
                "better_action": {"value": {"type": "static_select", "selected_option": {"value": "restart_pod"}}}},
    )
    await scenario.settle()

    updated = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert updated is not None
    text = card_text(updated)
    assert "Re-proposed after <@U0ALICE>'s rejection (category `memory_leak`, action `restart_pod`)" in text
    assert "*Proposed action:* `restart_pod`" in text
    assert button_value(updated, APPROVE_ACTION_ID) != button_value(card, APPROVE_ACTION_ID)

    await scenario.click(updated, APPROVE_ACTION_ID, "U0ALICE")
    await scenario.settle()
    executed = [event.action_type.value for event in scenario.runtime.sandbox.events]  # type: ignore[union-attr]
    assert executed == ["restart_pod"]
