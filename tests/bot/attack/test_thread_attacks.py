"""Mentions and thread replies that are not what the bot expects get a reply, not silence."""

from __future__ import annotations

import json

from airra.categories import Category
from bot.audit import AuditKind, AuditLog
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, Scenario, StartScenario

BOT_USER = "U0AIRRABOT"


async def _mention(scenario: Scenario, text: str, *, thread_ts: str | None = None) -> dict[str, str]:
    message = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0CAROL", text, thread_ts=thread_ts)
    event = scenario.api.message_event(INCIDENT_CHANNEL, message)
    event["type"] = "app_mention"
    await scenario.slack.event(event)
    await scenario.settle()
    return message


async def test_why_outside_incident_thread_hints(start_scenario: StartScenario) -> None:
    scenario = await start_scenario()
    chatter = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0CAROL", "deploy went out at 10:00")

    await _mention(scenario, f"<@{BOT_USER}> why", thread_ts=chatter["ts"])
    await _mention(scenario, f"<@{BOT_USER}> why?")

    hints = scenario.api.ephemerals_for("U0CAROL")
    assert len(hints) == 2
    assert all("only in the thread of an incident card" in hint["text"] for hint in hints)
    assert hints[0].get("thread_ts") == chatter["ts"]
    # Nothing public: a hint to one person must not add noise to the channel.
    assert [reply["user"] for reply in scenario.api.thread(INCIDENT_CHANNEL, chatter["ts"])] == ["U0CAROL"]


async def test_why_in_an_incident_thread_explains_without_hint(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    await _mention(scenario, f"<@{BOT_USER}> why scale_up?", thread_ts=card["ts"])
    await _mention(scenario, f"<@{BOT_USER}> resolved", thread_ts=card["ts"])

    assert "Why this proposal" in scenario.thread_text(card)
    assert scenario.api.ephemerals_for("U0CAROL") == []


async def test_broadcast_reply_is_recorded(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    # "Also send to #channel" and a reply with a screenshot arrive with these subtypes.
    for subtype, text in (("thread_broadcast", "wrong, it was cpu_spike"), ("file_share", "correct")):
        reply = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0BOB", text, thread_ts=card["ts"])
        event = scenario.api.message_event(INCIDENT_CHANNEL, reply)
        event["subtype"] = subtype
        await scenario.slack.event(event)
        await scenario.settle()

    lines = (scenario.data_dir / "operator_feedback.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["feedback_type"] for record in records] == ["hypothesis_incorrect", "hypothesis_correct"]
    assert records[0]["correct_hypothesis_category"] == "cpu_spike"


async def test_redelivered_reply_after_restart_acts_once(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()
    reply = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0BOB", "wrong, it was cpu_spike", thread_ts=card["ts"])
    event = scenario.api.message_event(INCIDENT_CHANNEL, reply)

    await scenario.slack.event(event, event_id="Ev0REPLY0001")
    await scenario.settle()
    # A restart clears the seen event ids, and Slack then redelivers the event it got no response to.
    scenario.bot.events.deduplicator = type(scenario.bot.events.deduplicator)()
    await scenario.slack.event(event, event_id="Ev0REPLY0001", retry_num=1)
    await scenario.settle()

    feedback = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
                if entry.kind is AuditKind.FEEDBACK]
    assert len(feedback) == 1
    assert scenario.thread_text(card).count("Recorded: the diagnosis was wrong") == 1
    [incident] = scenario.bot.flows.tracker.store.all()
    assert incident.extra["proposals"] == 2
