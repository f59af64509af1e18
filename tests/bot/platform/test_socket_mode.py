"""Socket Mode through the stand-in: envelopes in, acks out, over slack_sdk's real client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airra.settings import Settings
from bot.serve import check_slack_settings, serve
from bot.testing import SlackApiStandIn, SlackDriver


async def test_tokens_are_checked_by_type(slack_api: SlackApiStandIn) -> None:
    as_app = AsyncWebClient(token="xapp-test", base_url=slack_api.base_url)
    as_bot = AsyncWebClient(token="xoxb-test", base_url=slack_api.base_url)

    opened = await as_bot.apps_connections_open(app_token="xapp-test")
    with pytest.raises(SlackApiError) as app_token_posting:
        await as_app.chat_postMessage(channel="C0INCIDENT", text="x")
    with pytest.raises(SlackApiError) as bot_token_connecting:
        await as_bot.apps_connections_open(app_token="xoxb-test")

    assert opened["url"].startswith("ws://127.0.0.1:")
    assert app_token_posting.value.response["error"] == "not_allowed_token_type"
    assert bot_token_connecting.value.response["error"] == "not_allowed_token_type"


async def test_bolt_over_socket_mode(slack_api: SlackApiStandIn, slack_client: AsyncWebClient) -> None:
    seen: list[tuple[str, Any]] = []
    app = AsyncApp(client=slack_client, request_verification_enabled=False)

    @app.command("/airra")
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"got {command['text']}")
        seen.append(("command", command["text"]))

    @app.action("approve")
    async def on_approve(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(("action", body["user"]["id"]))

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        seen.append(("event", event["text"]))

    handler = AsyncSocketModeHandler(app, "xapp-test")
    await handler.connect_async()
    try:
        await slack_api.socket_mode.wait_connected()
        slack = SlackDriver("http://127.0.0.1:1", "unused", slack_api=slack_api, socket_mode=True)
        command = await slack.slash_command("status", user_id="U0ALICE", channel_id="C0INCIDENT")
        posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
        action = await slack.block_action(action_id="approve", value="inc-1", user_id="U0BOB", channel_id="C0INCIDENT", message_ts=posted["ts"])
        event, _ = await slack.channel_message("C0INCIDENT", "checkout is slow", user_id="U0ALICE")
        await slack_api.wait_for(lambda: len(seen) == 3)
    finally:
        await handler.close_async()

    assert command.status == 200
    assert json.loads(command.body)["text"] == "got status"
    assert action.status == 200
    assert event.status == 200
    assert sorted(seen) == [("action", "U0BOB"), ("command", "status"), ("event", "checkout is slow")]
    assert len(slack_api.socket_mode.acks) == 3


async def test_serve_in_socket_mode(data_dir: Path, slack_api: SlackApiStandIn) -> None:
    settings = Settings(
        data_dir=data_dir,
        port=0,
        slack_api_url=slack_api.base_url,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_app_token=SecretStr("xapp-test"),
    )
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, check_slack_settings(settings), sandbox=True, stop=stop, on_ready=ready.set_result))

    try:
        port = await asyncio.wait_for(ready, timeout=20)
        await slack_api.socket_mode.wait_connected()
        slack = SlackDriver("http://127.0.0.1:1", "unused", slack_api=slack_api, socket_mode=True)
        help_response = await slack.slash_command("help", user_id="U0ALICE", channel_id="C0INCIDENT")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/slack/events", data=b"{}") as events:
                events_status = events.status
            async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
                health_status = health.status
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)

    assert help_response.status == 200
    assert events_status == 404
    assert health_status == 200
    assert slack_api.socket_mode.connected is False
