"""Slash command arguments in the wrong number get a message that counts them right."""

from __future__ import annotations

import pytest

from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, StartScenario


@pytest.mark.parametrize(("text", "expected"), [
    ("blast", "`blast` takes 1 argument, got 0. Usage: `/airra blast SERVICE`"),
    ("blast search cart", "`blast` takes 1 argument, got 2. Usage: `/airra blast SERVICE`"),
    ("analyze search memory leak now", "`analyze` takes 1 to 2 arguments, got 4. Usage: `/airra analyze SERVICE [CATEGORY]`"),
])
async def test_wrong_argument_count_message(start_scenario: StartScenario, text: str, expected: str) -> None:
    scenario = await start_scenario()

    await scenario.slack.slash_command(text, user_id="U0CAROL", channel_id=INCIDENT_CHANNEL)
    await scenario.settle()

    [answer] = scenario.api.ephemerals_for("U0CAROL")
    assert answer["text"] == expected
