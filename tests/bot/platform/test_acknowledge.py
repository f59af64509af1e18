"""acknowledge(): over HTTP the listener's work starts after the server has returned its response."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.acknowledge import acknowledge
from bot.traffic import SlackTraffic, current_traffic


def recording_app(client: AsyncWebClient, signing_secret: str, seen: list[dict[str, Any]]) -> AsyncApp:
    """A Bolt app as the bot configures it, whose listener records the traffic once acknowledged."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)

    @app.command("/airra")
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        await acknowledge(ack)
        traffic = current_traffic()
        seen.append({"text": command["text"], "counted": traffic is not None,
                     "in_flight": traffic.in_flight if traffic is not None else None})

    return app


async def test_acknowledge_over_http_waits_for_response(serve_bot, slack_client, slack_api,
                                                                 signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(recording_app(slack_client, signing_secret, seen))

    response = await slack.slash_command("status", user_id="U0ALICE", channel_id="C0INCIDENT")
    await slack_api.wait_for(lambda: bool(seen))

    assert response.status == 200
    assert seen == [{"text": "status", "counted": True, "in_flight": 0}]


async def test_acknowledge_without_server_continues() -> None:
    acked: list[bool] = []

    async def ack() -> None:
        acked.append(True)

    await acknowledge(ack)

    assert acked == [True]
    assert current_traffic() is None


async def test_acknowledge_waits_for_requests_in_flight() -> None:
    traffic = SlackTraffic(max_delay_s=60.0)
    order: list[str] = []

    async def ack() -> None:
        order.append("ack")

    async def listener() -> None:
        await acknowledge(ack)
        order.append("work")

    with traffic.serving():
        task = asyncio.ensure_future(listener())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append("response returned")
    await asyncio.wait_for(task, timeout=5)

    assert order == ["ack", "response returned", "work"]
