"""The whole bot over HTTP: sandbox runtime, stand-in Slack Web API, signed requests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from airra.categories import Category
from airra.runtime import Runtime
from airra.settings import Settings
from bot.app import Bot, build_bot
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.testing import SlackApiStandIn, SlackDriver
from bot.webhook import make_alertmanager_handler

INCIDENT_CHANNEL = "C0INCIDENT"
APPROVERS = ["U0ALICE", "U0BOB"]
NON_APPROVER = "U0CAROL"
ALERTS_BOT_ID = "B0ALERTS01"


@dataclass
class Scenario:
    """One running bot with the handles a scenario needs."""

    settings: Settings
    runtime: Runtime
    bot: Bot
    slack: SlackDriver
    api: SlackApiStandIn
    webhook_url: str
    extra_bots: list[Bot] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    async def settle(self) -> None:
        """Wait until the bot's background work (listeners and flows) has finished."""
        for bot in (self.bot, *self.extra_bots):
            for _ in range(3):
                await asyncio.sleep(0.05)
                await bot.flows.drain()

    def cards(self) -> list[dict[str, Any]]:
        """Return the top-level messages in the incident channel."""
        return self.api.messages_in(INCIDENT_CHANNEL)

    async def wait_for_card(self, count: int = 1) -> dict[str, Any]:
        """Wait for the ``count``-th card and return a copy of it as first posted."""
        cards = await self.api.wait_for_messages(INCIDENT_CHANNEL, count, timeout=10)
        return copy.deepcopy(cards[count - 1])

    def thread_text(self, card: dict[str, Any]) -> str:
        return "\n".join(_message_text(message) for message in self.api.thread(INCIDENT_CHANNEL, card["ts"]))

    async def click(self, card: dict[str, Any], action_id: str, user_id: str, *,
                    slack: SlackDriver | None = None) -> Any:
        """Click a button of ``card`` as a user; the card may be an older rendering, as on a stale screen."""
        value = button_value(card, action_id)
        return await (slack or self.slack).block_action(action_id=action_id, value=value, user_id=user_id,
                                                        channel_id=INCIDENT_CHANNEL, message_ts=card["ts"])

    async def post_alert(self, title: str, *, event_id: str | None = None, retry_num: int | None = None) -> Any:
        """Post an Alertmanager-style alert message in the incident channel, as another bot."""
        event = {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "username": "Alertmanager",
            "bot_id": ALERTS_BOT_ID,
            "attachments": [{
                "id": 1, "color": "a30200", "title": title, "text": "", "fallback": title,
                "title_link": "http://127.0.0.1:9093/#/alerts",
            }],
            "ts": "1796400000.000100",
            "channel": INCIDENT_CHANNEL,
            "channel_type": "channel",
        }
        return await self.slack.event(event, event_id=event_id, retry_num=retry_num)


def button_value(message: dict[str, Any], action_id: str) -> str:
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value"))
    raise AssertionError(f"no {action_id} element on the card: {message.get('text')}")


def has_buttons(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks", []))


def _message_text(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
    return "\n".join(parts)


def card_text(message: dict[str, Any]) -> str:
    return _message_text(message) + "\n" + str(message.get("blocks", []))


StartScenario = Callable[..., Awaitable[Scenario]]


@pytest.fixture
async def start_scenario(slack_api: SlackApiStandIn, slack_client: AsyncWebClient, serve_bot: Any,
                         signing_secret: str, data_dir: Path) -> AsyncIterator[StartScenario]:
    """Start the bot over the sandbox with a fault injected; ``restart()`` builds a second bot on the same data."""
    bots: list[Bot] = []

    async def start(*, fault: tuple[str, Category] | None = None, seed: int = 3, card_update_interval_s: float = 0.0,
                    runtime_wrapper: Callable[[Runtime], Runtime] | None = None, **overrides: Any) -> Scenario:
        options: dict[str, Any] = dict(data_dir=data_dir, verify_wait_s=0, verify_interval_s=0,
                                       approvers=APPROVERS, default_channel=INCIDENT_CHANNEL)
        options.update(overrides)
        settings = Settings(**options)
        runtime = Runtime.build(settings, sandbox=True, seed=seed)
        if fault is not None:
            runtime.sandbox.inject_fault(*fault)  # type: ignore[union-attr]
        if runtime_wrapper is not None:
            runtime = runtime_wrapper(runtime)
        bot, driver = await _serve(runtime, slack_api, serve_bot, token=slack_client.token, secret=signing_secret)
        # Card refreshes are coalesced over a few seconds in production; scenarios need not wait.
        bot.flows.card_update_interval_s = card_update_interval_s
        bots.append(bot)
        return Scenario(settings=settings, runtime=runtime, bot=bot, slack=driver, api=slack_api,
                        webhook_url=driver.base_url + "/alertmanager")

    yield start

    for bot in bots:
        await bot.flows.drain()
        await bot.close()


async def _serve(runtime: Runtime, api: SlackApiStandIn, serve_bot: Any, *, token: str | None,
                 secret: str) -> tuple[Bot, SlackDriver]:
    client = AsyncWebClient(token=token, base_url=api.base_url)
    poster = SlackPoster(client, min_interval_s=0)
    registry = CollectorRegistry()
    bot = build_bot(runtime, client=client, poster=poster, signing_secret=secret, metrics=BotMetrics(registry))
    await bot.start()
    handler = make_alertmanager_handler(topology=runtime.topology, on_batch=bot.on_webhook_batch, token=None)
    driver = await serve_bot(bot.app, webhook_handler=handler, registry=registry)
    return bot, driver


async def restart(scenario: Scenario, serve_bot: Any) -> tuple[Bot, SlackDriver]:
    """Build a second bot over the same data directory and runtime, as after a process restart."""
    bot, driver = await _serve(scenario.runtime, scenario.api, serve_bot, token=scenario.bot.client.token,
                               secret=scenario.slack.signing_secret)
    scenario.extra_bots.append(bot)
    return bot, driver
