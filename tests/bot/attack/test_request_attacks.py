"""Requests to /slack/events that Slack never sends: malformed bodies, signed or not."""

from __future__ import annotations

import logging

import pytest

from tests.bot.scenarios.conftest import StartScenario

MALFORMED = [
    (b"{", "application/json"),
    (b"[1, 2]", "application/json"),
    (b"\"text\"", "application/json"),
    (b"payload=notjson", "application/x-www-form-urlencoded"),
    (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_malformed_unsigned_body_is_refused_quietly(start_scenario: StartScenario, caplog: pytest.LogCaptureFixture,
                                                         body: bytes, content_type: str) -> None:
    scenario = await start_scenario()

    with caplog.at_level(logging.WARNING):
        response = await scenario.slack.raw("/slack/events", body, {"Content-Type": content_type})

    # Anyone who finds the URL can send these: no 500, and no ERROR traceback in the log per request.
    assert response.status in (400, 401)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_malformed_signed_body_is_a_client_error(start_scenario: StartScenario, body: bytes,
                                                       content_type: str) -> None:
    scenario = await start_scenario()

    response = await scenario.slack.raw("/slack/events", body, scenario.slack.signed_headers(body, content_type))

    assert 400 <= response.status < 500
