"""Shared Slack fixtures: the stand-in Web API, its client, and the bot served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.server import build_web_app, start_web_app
from bot.testing import SlackApiStandIn, SlackDriver

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test"

# Workspace members of the stand-in: ids as Slack formats them, names for users.info.
USERS = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DAVE": "dave"}
INCIDENT_CHANNEL = "C0INCIDENT"

ServeBot = Callable[..., Awaitable[SlackDriver]]


@pytest.fixture
def signing_secret() -> str:
    return SIGNING_SECRET


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApiStandIn]:
    """A started stand-in Web API with the USERS and the #incidents channel."""
    api = SlackApiStandIn(token=BOT_TOKEN, users=USERS)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def slack_client(slack_api: SlackApiStandIn) -> AsyncWebClient:
    """slack_sdk's real client, pointed at the stand-in."""
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack_api.base_url)


@pytest.fixture
async def serve_bot(slack_api: SlackApiStandIn, signing_secret: str) -> AsyncIterator[ServeBot]:
    """Serve a Bolt app on 127.0.0.1 (free port) and return a driver that talks to it.

    Usage: ``slack = await serve_bot(bolt_app, webhook_handler=..., registry=...)``.
    Servers and drivers are closed at teardown.
    """
    runners: list[web.AppRunner] = []
    drivers: list[SlackDriver] = []

    async def serve(
        bolt_app: AsyncApp,
        *,
        webhook_handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> SlackDriver:
        app = build_web_app(bolt_app=bolt_app, webhook_handler=webhook_handler, registry=registry)
        runner, port = await start_web_app(app, host="127.0.0.1", port=0)
        runners.append(runner)
        driver = SlackDriver(f"http://127.0.0.1:{port}", signing_secret, slack_api=slack_api)
        drivers.append(driver)
        return driver

    yield serve

    for driver in drivers:
        await driver.close()
    for runner in runners:
        await runner.cleanup()
