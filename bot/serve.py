"""``airra serve``: run the Slack bot.

With ``SLACK_APP_TOKEN`` set the bot connects over Socket Mode, and the
aiohttp server carries only the Alertmanager webhook, ``/healthz`` and
``/metrics``. Otherwise Slack reaches the bot over HTTP at
``/slack/events`` on the same server, with Bolt's signature and 5-minute
timestamp checks on. ``--sandbox`` runs on the sandbox cluster and metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from airra.errors import ConfigError
from airra.runtime import Runtime
from airra.settings import Settings
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.server import build_web_app, start_web_app

log = logging.getLogger(__name__)

APPS_PAGE = "api.slack.com/apps → your app"

# Kubernetes sends SIGKILL 30 s after SIGTERM by default; leave a few seconds for the rest of shutdown.
SHUTDOWN_GRACE_S = 25.0

# Slack ids: users U… (W… on Enterprise Grid), user groups S…, channels C… or G… (private).
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


@dataclass(frozen=True)
class SlackCredentials:
    """Validated Slack credentials and the connection mode they select."""

    bot_token: str
    signing_secret: str | None
    app_token: str | None

    @property
    def socket_mode(self) -> bool:
        """True when an app-level token selects Socket Mode."""
        return self.app_token is not None


def check_slack_settings(settings: Settings) -> SlackCredentials:
    """Validate the Slack settings for the mode they select.

    Raises:
        ConfigError: naming the first missing or invalid variable and where
            to get its value. The message never contains a secret.
    """
    bot_token = _secret(settings.slack_bot_token)
    app_token = _secret(settings.slack_app_token)
    signing_secret = _secret(settings.slack_signing_secret)

    if bot_token is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set. Copy the Bot User OAuth Token (xoxb-…) from "
            f"{APPS_PAGE} → OAuth & Permissions, after installing the app to your workspace."
        )
    if not bot_token.startswith("xoxb-"):
        raise ConfigError(
            f"SLACK_BOT_TOKEN is invalid: it starts with {_prefix(bot_token)!r}, but a bot token starts with 'xoxb-'. "
            f"Copy the Bot User OAuth Token from {APPS_PAGE} → OAuth & Permissions."
        )

    if app_token is not None and not app_token.startswith("xapp-"):
        raise ConfigError(
            f"SLACK_APP_TOKEN is invalid: it starts with {_prefix(app_token)!r}, but an app-level token starts with 'xapp-'. "
            f"Create one with the connections:write scope at {APPS_PAGE} → Basic Information → App-Level Tokens, "
            "or unset SLACK_APP_TOKEN to run in HTTP mode."
        )
    if app_token is None and signing_secret is None:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set, and HTTP mode needs it to verify Slack's requests. Copy the Signing "
            f"Secret from {APPS_PAGE} → Basic Information → App Credentials, or set SLACK_APP_TOKEN for Socket Mode."
        )

    _check_slack_ids(settings)
    return SlackCredentials(bot_token=bot_token, signing_secret=signing_secret, app_token=app_token)


def _check_slack_ids(settings: Settings) -> None:
    """Check that approvers, the approver group and the default channel are Slack ids, not names."""
    for approver in settings.approvers:
        if not USER_ID.fullmatch(approver):
            raise ConfigError(
                f"AIRRA_APPROVERS contains {approver!r}, which is not a Slack user id (like U012AB3CDE). In Slack, open "
                "the person's profile → ⋮ (More) → Copy member ID."
            )
    group = settings.approver_group
    if group is not None and not USERGROUP_ID.fullmatch(group):
        raise ConfigError(
            f"AIRRA_APPROVER_GROUP is {group!r}, which is not a Slack user group id (like S012AB3CDE). Find it in "
            "the group's page URL in Slack, or with the usergroups.list method."
        )
    channel = settings.default_channel
    if channel is not None and not (CHANNEL_ID.fullmatch(channel) or channel.startswith("#")):
        raise ConfigError(
            f"AIRRA_DEFAULT_CHANNEL is {channel!r}: use a channel id (like C012AB3CDE, from the channel's details "
            "→ About) or a name starting with '#'."
        )
    if not settings.approvers and group is None:
        log.warning("no approvers: set AIRRA_APPROVERS or AIRRA_APPROVER_GROUP, or only automatic actions will ever run")


def _warn_unrouted_services(settings: Settings, runtime: Runtime) -> None:
    """Warn when webhook alerts of some services would have no channel for their card."""
    if settings.default_channel is not None:
        return
    unrouted = [service.name for service in runtime.topology if not service.slack_channel]
    if unrouted:
        shown = ", ".join(unrouted[:5]) + (f" and {len(unrouted) - 5} more" if len(unrouted) > 5 else "")
        log.warning("AIRRA_DEFAULT_CHANNEL is not set and %d services have no slack_channel (%s): their webhook "
                    "alerts open incidents without a card. Set AIRRA_DEFAULT_CHANNEL to a channel id.",
                    len(unrouted), shown)


async def _check_metrics(runtime: Runtime) -> None:
    """Run the metrics source's start-up self-check, when it has one; its result is logged."""
    check = getattr(runtime.metrics, "check", None)
    if check is None:
        return
    try:
        await check()
    except Exception as exc:  # noqa: BLE001 (a failed self-check must not stop the bot)
        log.warning("metrics self-check failed: %s; every metric may read as unavailable", exc)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGINT or SIGTERM and return the exit code."""
    credentials = check_slack_settings(settings)
    mode = "Socket Mode" if credentials.socket_mode else "HTTP mode"

    def announce(port: int) -> None:
        print(f"airra: serving in {mode} on http://{settings.host}:{port} (Ctrl-C to stop)", file=sys.stderr)

    asyncio.run(serve(settings, credentials, sandbox=bool(getattr(args, "sandbox", False)), on_ready=announce))
    return 0


async def serve(
    settings: Settings,
    credentials: SlackCredentials,
    *,
    sandbox: bool = False,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Build the runtime and the bot, serve until ``stop`` is set (or a signal arrives), then clean up.

    Args:
        settings: the process settings.
        credentials: from ``check_slack_settings``.
        sandbox: use the sandbox cluster and metrics even when Prometheus is configured.
        stop: set it to shut down; by default SIGINT and SIGTERM set it.
        on_ready: called with the HTTP port once the server listens (useful with port 0).
    """
    runtime = Runtime.build(settings, sandbox=sandbox or None)
    _warn_unrouted_services(settings, runtime)
    # One HTTP session for the process: without it slack_sdk opens a session, and so a new
    # connection and TLS handshake, for every Web API call.
    session = aiohttp.ClientSession()
    try:
        await _serve_bot(runtime, settings, credentials, session=session, stop=stop, on_ready=on_ready)
    finally:
        await session.close()


async def _serve_bot(runtime: Runtime, settings: Settings, credentials: SlackCredentials, *,
                     session: aiohttp.ClientSession, stop: asyncio.Event | None,
                     on_ready: Callable[[int], None] | None) -> None:
    from bot.app import build_bot
    from bot.webhook import make_alertmanager_handler

    client = _web_client(settings, credentials.bot_token, session)
    metrics = BotMetrics(CollectorRegistry())
    bot = build_bot(
        runtime,
        client=client,
        poster=SlackPoster(client),
        signing_secret=credentials.signing_secret or "",
        metrics=metrics,
        # Socket Mode requests come over an authenticated WebSocket and carry no signature.
        request_verification_enabled=not credentials.socket_mode,
    )
    await bot.start()
    await _check_metrics(runtime)

    webhook = make_alertmanager_handler(topology=runtime.topology, on_batch=bot.on_webhook_batch, token=settings.webhook_token)
    web_app = build_web_app(
        bolt_app=None if credentials.socket_mode else bot.app,
        webhook_handler=webhook,
        registry=metrics.registry,
    )
    runner: web.AppRunner | None = None
    socket_handler = None
    try:
        runner, port = await _start_server(web_app, settings)
        if credentials.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(bot.app, credentials.app_token)
            await socket_handler.connect_async()
            log.info("connected to Slack over Socket Mode")
        else:
            log.info("Slack request URL: http://%s:%s/slack/events", settings.host, port)

        # Everything built so far lives as long as the process. Moving it out of
        # the collector's view makes full collections, which pause the event
        # loop for about 100 ms at this size, much shorter and rarer.
        gc.collect()
        gc.freeze()

        stop_event = stop or _stop_on_signals()
        if on_ready is not None:
            on_ready(port)
        await stop_event.wait()
    finally:
        log.info("shutting down")
        if socket_handler is not None:
            await socket_handler.close_async()
        if runner is not None:
            await runner.cleanup()
        await _finish_work(bot)
        await bot.close()


async def _finish_work(bot: Any) -> None:
    """Let running executions and verifications end before shutting down, for up to a grace period.

    An action cut off mid-verification would leave no outcome record. Work
    still running after the grace period is cancelled, and the next start
    reports it in the incident thread as interrupted.
    """
    try:
        await asyncio.wait_for(bot.flows.drain(), timeout=SHUTDOWN_GRACE_S)
    except TimeoutError:
        log.warning("background work still running after %ss; cancelling it", SHUTDOWN_GRACE_S)


async def _start_server(web_app: web.Application, settings: Settings) -> tuple[web.AppRunner, int]:
    try:
        return await start_web_app(web_app, host=settings.host, port=settings.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
            "set AIRRA_PORT to a free port or AIRRA_HOST to an address of this machine."
        ) from exc


def _web_client(settings: Settings, token: str, session: aiohttp.ClientSession) -> AsyncWebClient:
    """Return the Web API client, sending every call through ``session`` so connections are reused."""
    if settings.slack_api_url:
        return AsyncWebClient(token=token, base_url=settings.slack_api_url, session=session)
    return AsyncWebClient(token=token, session=session)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _secret(value: object) -> str | None:
    """Return a SecretStr's value stripped, or None when unset or blank."""
    if value is None:
        return None
    text = value.get_secret_value().strip() if hasattr(value, "get_secret_value") else str(value).strip()
    return text or None


def _prefix(token: str) -> str:
    """Return the part of a token before its first dash, which is safe to print."""
    head, dash, _rest = token.partition("-")
    return f"{head[:5]}-" if dash else f"{token[:2]}…"
