"""Thread replies whose meaning is not one clear correction, as operators type them in a hurry."""

from __future__ import annotations

import json

import pytest

from airra.categories import Category
from airra.feedback import FeedbackType
from bot.corrections import parse_correction
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, StartScenario, card_text


@pytest.mark.parametrize("text", [
    "wrong, it was cpu_spike and memory_leak",
    "wrong, it was cpu spike due to a memory leak",
    "actually cpu_spike & disk_pressure",
])
def test_two_causes_are_a_comment(text: str) -> None:
    assert parse_correction(text).feedback_type is FeedbackType.GENERAL_COMMENT


@pytest.mark.parametrize("text", [
    "wrong — it was cpu_spike",
    "wrong – cpu spike",
    "wrong, it was cpu_spike, not memory_leak",
])
def test_single_cause_is_correction(text: str) -> None:
    correction = parse_correction(text)

    assert correction.feedback_type is FeedbackType.HYPOTHESIS_INCORRECT
    assert correction.category is Category.CPU_SPIKE


async def test_two_causes_reply_does_not_repropose(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    reply = scenario.api.post_as_user(INCIDENT_CHANNEL, "U0BOB", "wrong, it was cpu_spike and memory_leak",
                                      thread_ts=card["ts"])
    await scenario.slack.event(scenario.api.message_event(INCIDENT_CHANNEL, reply))
    await scenario.settle()

    [record] = [json.loads(line) for line in (scenario.data_dir / "operator_feedback.jsonl").read_text().splitlines()]
    assert record["feedback_type"] == "general_comment"
    assert record["correct_hypothesis_category"] is None
    assert "Re-proposed" not in card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
