"""The bot's HTTP server: Slack events, the Alertmanager webhook, health and metrics.

One aiohttp application serves

* ``POST /slack/events``: every Slack request (events, slash commands,
  interactions), handed to Bolt with the exact raw body, so Bolt's
  signature check runs over the bytes Slack signed;
* ``POST /alertmanager``: the Alertmanager webhook receiver, when given;
* ``GET /healthz``: liveness;
* ``GET /metrics``: the bot's Prometheus metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.traffic import SlackTraffic

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
ALERTMANAGER_PATH = "/alertmanager"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AsyncSlackRequestHandler:
    """Hand aiohttp requests to a Bolt app and return Bolt's response.

    slack_bolt 1.30 ships aiohttp conversion helpers but no request handler,
    so this is the small piece between them. Each request counts in
    ``traffic`` until its response has been written, so that the listeners'
    follow-up work can wait for the acknowledgements of a burst.
    """

    def __init__(self, app: AsyncApp, *, traffic: SlackTraffic | None = None) -> None:
        self.app = app
        self.traffic = traffic if traffic is not None else SlackTraffic()

    async def handle(self, request: web.Request) -> web.Response:
        """Dispatch one Slack request to Bolt and send Bolt's response."""
        # Bolt starts the listener as a task inside the dispatch, so the listener inherits the current traffic.
        with self.traffic.serving():
            response = await self._dispatch(request)
            # Written while still counted: work woken when the count drops to zero runs
            # before aiohttp would write a returned response, and would delay it.
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionResetError:
                log.info("Slack closed the connection of a request to %s before its response", request.path)
        return response

    async def _dispatch(self, request: web.Request) -> web.Response:
        raw = await request.read()
        # Bolt checks the signature over the text it is given. A body that is not
        # UTF-8 was not sent by Slack, and the replacement characters make the check fail.
        body = raw.decode("utf-8", errors="replace")
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)

        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
            bolt_response = await self.app.async_dispatch(bolt_request)
        except (ValueError, TypeError, AttributeError) as exc:
            # Bolt reads the body before it checks the signature, so a body that is not a JSON object
            # (or a form with one) raised from anyone who found the URL, as a 500 with a traceback.
            log.warning("Slack request to %s rejected: invalid body (%s)", request.path, type(exc).__name__)
            return web.json_response({"error": "invalid request: the body is not a Slack payload"}, status=400)
        if bolt_response.status >= 400:
            log.info("Slack request to %s got response status %s", request.path, bolt_response.status)
        return await to_aiohttp_response(bolt_response)


def build_web_app(
    *,
    bolt_app: AsyncApp | None,
    webhook_handler: WebHandler | None = None,
    registry: CollectorRegistry | None = None,
    traffic: SlackTraffic | None = None,
) -> web.Application:
    """Build the aiohttp application that serves the bot.

    Args:
        bolt_app: the Bolt app, with its request verification on. None in
            Socket Mode, where Slack requests arrive over the WebSocket and
            ``/slack/events`` must not exist.
        webhook_handler: the Alertmanager webhook handler; without it the route is absent.
        registry: the registry ``/metrics`` exposes; an empty one when not given.
        traffic: counts the Slack requests in flight; a new one when not given.
            The webhook handler runs with it as the current traffic too, so the
            analysis an alert starts also gives way to acknowledgements.
    """
    metrics_registry = registry if registry is not None else CollectorRegistry()
    slack_traffic = traffic if traffic is not None else SlackTraffic()

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics_registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    if bolt_app is not None:
        app.router.add_post(SLACK_EVENTS_PATH, AsyncSlackRequestHandler(bolt_app, traffic=slack_traffic).handle)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(METRICS_PATH, metrics)
    if webhook_handler is not None:
        app.router.add_post(ALERTMANAGER_PATH, _with_traffic(webhook_handler, slack_traffic))
    else:
        log.info("no Alertmanager webhook handler: %s is not served", ALERTMANAGER_PATH)
    return app


def _with_traffic(handler: WebHandler, traffic: SlackTraffic) -> WebHandler:
    """Run ``handler`` with ``traffic`` as the current traffic, without counting its requests as Slack's."""

    async def handle(request: web.Request) -> web.StreamResponse:
        with traffic.current():
            return await handler(request)

    return handle


async def start_web_app(app: web.Application, *, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving ``app`` and return its runner and the bound port (useful with port 0)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()

    server = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    log.info("serving Slack events, webhook, health and metrics on http://%s:%s", host, bound)
    return runner, bound
