"""The whole bot on 127.0.0.1: Slack Web API stand-in, Bolt over HTTP, signed driver.

``LocalBot`` is what ``airra demo``, the end-to-end test and the benchmarks
run: the real Bolt app and aiohttp server, slack_sdk's real client pointed at
the stand-in, and a driver that signs requests as Slack does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from airra.runtime import Runtime
from airra.settings import Settings
from bot.app import Bot, build_bot
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.server import build_web_app, start_web_app
from bot.testing.driver import SlackDriver
from bot.testing.slack_api import DEFAULT_TOKEN, SlackApiStandIn
from bot.webhook import make_alertmanager_handler

log = logging.getLogger(__name__)

SIGNING_SECRET = "airra-local-signing-secret"


class LocalBot:
    """Start and stop the bot, its web server and a Slack stand-in together.

    Args:
        settings: the bot's settings; ``data_dir`` is where every store goes.
        runtime: a prebuilt runtime (e.g. wired to real Prometheus); by default
            ``Runtime.build(settings, sandbox=True, seed=seed)``.
        channels: channel id -> name known to the stand-in.
        users: user id -> name known to the stand-in.
        min_post_interval_s: pacing of posts per channel.
        port: the bot's HTTP port; 0 picks a free one.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        runtime: Runtime | None = None,
        seed: int = 0,
        channels: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
        min_post_interval_s: float = 0.0,
        port: int = 0,
    ) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime.build(settings, sandbox=True, seed=seed)
        self.api = SlackApiStandIn(channels=channels, users=users)
        self.min_post_interval_s = min_post_interval_s
        self.port = port
        self.registry = CollectorRegistry()
        self.bot: Bot | None = None
        self.driver: SlackDriver | None = None
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._api_session: aiohttp.ClientSession | None = None

    async def start(self) -> LocalBot:
        await self.api.start()
        # One session for every Web API call; without it slack_sdk opens a new connection per call.
        self._api_session = aiohttp.ClientSession()
        client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=self.api.base_url, session=self._api_session)
        poster = SlackPoster(client, min_interval_s=self.min_post_interval_s)
        metrics = BotMetrics(self.registry)
        self.bot = build_bot(self.runtime, client=client, poster=poster, signing_secret=SIGNING_SECRET,
                             metrics=metrics)
        await self.bot.start()

        webhook = make_alertmanager_handler(topology=self.runtime.topology, on_batch=self.bot.on_webhook_batch,
                                            token=self.settings.webhook_token)
        web_app = build_web_app(bolt_app=self.bot.app, webhook_handler=webhook, registry=self.registry)
        self._runner, port = await start_web_app(web_app, host="127.0.0.1", port=self.port)
        self.base_url = f"http://127.0.0.1:{port}"
        self.driver = SlackDriver(self.base_url, SIGNING_SECRET, slack_api=self.api)
        self._session = aiohttp.ClientSession()
        log.info("local bot serving on %s, Slack stand-in on %s", self.base_url, self.api.base_url)
        return self

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.flows.drain()
            await self.bot.close()
        if self.driver is not None:
            await self.driver.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._api_session is not None:
            await self._api_session.close()
        await self.api.stop()

    async def __aenter__(self) -> LocalBot:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def post_webhook(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST an Alertmanager webhook body to the bot; return the status and the JSON body."""
        assert self._session is not None, "start() the LocalBot first"
        headers = {}
        if self.settings.webhook_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.webhook_token.get_secret_value()}"
        async with self._session.post(f"{self.base_url}/alertmanager", json=payload, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def settle(self, rounds: int = 3) -> None:
        """Wait until the bot's background work has finished."""
        assert self.bot is not None
        for _ in range(rounds):
            await asyncio.sleep(0.05)
            await self.bot.flows.drain()
