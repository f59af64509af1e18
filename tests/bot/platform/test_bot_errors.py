"""Known errors read as sentences; unknown ones carry a reference id into the log."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from slack_bolt.async_app import AsyncApp

from airra.errors import ExecutionError, MetricQueryError, UnknownServiceError
from bot.errors import describe_error, friendly_message, make_error_handler, reference_id
from bot.observability import BotMetrics
from bot.testing import SlackApiStandIn

REFERENCE = re.compile(r"reference `([0-9a-f]{8})`")


def test_reference_id_is_eight_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}", reference_id())


def test_unknown_service_lists_close_matches() -> None:
    text = friendly_message(UnknownServiceError("chekout", ["checkout", "payments"]))

    assert text is not None
    assert "'chekout'" in text
    assert "checkout" in text.split("Did you mean:")[1]


def test_metric_query_error_names_query() -> None:
    text = friendly_message(MetricQueryError("timed out after 5 s", query="rate(http_requests_total[5m])"))

    assert text is not None
    assert "rate(http_requests_total[5m])" in text


def test_unknown_error_has_no_friendly_text() -> None:
    assert friendly_message(RuntimeError("boom")) is None


def test_describe_unknown_logs_reference_with_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise KeyError("card_ts")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="bot.errors"):
            text = describe_error(exc, where="action approve", incident_id="inc-9")

    match = REFERENCE.search(text)
    assert match is not None
    record = caplog.records[-1]
    assert match.group(1) in record.getMessage()
    assert "inc-9" in record.getMessage()
    assert record.exc_info is not None


def test_describe_known_error_logs_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.errors"):
        text = describe_error(ExecutionError("deployment checkout not found"), where="action approve")

    assert text == ":x: The action could not be carried out: deployment checkout not found"
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].exc_info is None


async def test_error_handler_shows_reference_to_user(
    serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)
    app = AsyncApp(client=slack_client, signing_secret=signing_secret)
    app.error(make_error_handler(metrics=metrics))

    @app.command("/airra")
    async def failing(ack: Any) -> None:
        await ack()
        # Bolt 1.30 loses the ack when a listener raises before its runner has
        # seen the ack (it then responds 404), so fail after some work, as real flows do.
        await asyncio.sleep(0.05)
        raise RuntimeError("listener bug")

    slack = await serve_bot(app)
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        response = await slack.slash_command("status", user_id="U0ALICE", channel_id="C0INCIDENT")
        await slack_api.wait_for(lambda: len(slack_api.responses) == 1)

    shown = slack_api.responses[0]
    match = REFERENCE.search(shown["text"])
    assert response.status == 200
    assert shown["response_type"] == "ephemeral"
    assert match is not None
    assert any(match.group(1) in record.getMessage() and record.exc_info for record in caplog.records)
    assert registry.get_sample_value("airra_bot_errors_total", {"kind": "RuntimeError"}) == 1.0


async def test_error_handler_known_error_in_action(serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret: str) -> None:
    app = AsyncApp(client=slack_client, signing_secret=signing_secret)
    app.error(make_error_handler())

    @app.action("approve")
    async def failing(ack: Any) -> None:
        await ack()
        await asyncio.sleep(0.05)
        raise UnknownServiceError("chekout", ["checkout"])

    slack = await serve_bot(app)
    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    await slack.block_action(action_id="approve", value="inc-1", user_id="U0BOB", channel_id="C0INCIDENT", message_ts=posted["ts"])
    await slack_api.wait_for(lambda: len(slack_api.ephemerals_for("U0BOB")) == 1)

    assert "unknown service 'chekout'" in slack_api.ephemerals_for("U0BOB")[0]["text"]
    assert slack_api.message("C0INCIDENT", posted["ts"])["text"] == "card"
