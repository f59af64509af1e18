"""Alert posts of a real Alertmanager's Slack receiver, parsed and grouped like Slack delivers them.

Alertmanager posts with its default templates to a local stand-in for Slack's
incoming-webhook URL. Each captured body becomes the ``bot_message`` event
that Slack would deliver to the bot, with the post's attachments.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from airra.alerts import AlertSource, AlertStatus
from airra.incidents import IncidentStatus, IncidentTracker, IngestKind, MemoryIncidentStore
from airra.intake.slack_messages import parse_alert_message
from airra.settings import Settings
from airra.topology import Topology
from tests.support.promstack import PromStack, prom_stack

pytestmark = pytest.mark.integration

WAIT_S = 30.0


@pytest.fixture
async def slack_posts() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    posts: list[dict[str, Any]] = []

    async def incoming_webhook(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/T0/B0/secret", incoming_webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/services/T0/B0/secret", posts
    finally:
        await runner.cleanup()


@pytest.fixture
async def stack(slack_posts: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> AsyncIterator[PromStack]:
    exits = contextlib.ExitStack()
    started = await asyncio.to_thread(exits.enter_context, prom_stack(
        tmp_path, services=["orders"], slack_api_url=slack_posts[0], rate_rps=10.0, latency_s=0.05))
    try:
        yield started
    finally:
        await asyncio.to_thread(exits.close)


def as_slack_event(post: dict[str, Any], index: int) -> dict[str, Any]:
    """Wrap a posted body as the message event Slack delivers for it."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "username": post.get("username", ""),
        "text": post.get("text", ""),
        "attachments": post.get("attachments", []),
        "channel": "C0ALERTS01",
        "ts": f"1796400000.{index:06d}",
    }


async def wait_for_posts(posts: list[dict[str, Any]], count: int) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while len(posts) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} Slack posts not received within {WAIT_S:g}s, got {len(posts)}")
        await asyncio.sleep(0.2)


async def test_slack_posts_open_and_resolve_incident(stack: PromStack, slack_posts: tuple[str, list[dict[str, Any]]],
                                                     settings: Settings, topology: Topology) -> None:
    _, posts = slack_posts
    tracker = IncidentTracker(MemoryIncidentStore(), settings)

    stack.exporter.set_load("orders", error_ratio=0.3)
    await wait_for_posts(posts, 1)
    firing = parse_alert_message(as_slack_event(posts[0], 0), topology)

    assert posts[0]["attachments"][0]["title"] == "[FIRING:1] orders (HighErrorRate critical)"
    assert firing is not None
    assert len(firing) == 1
    assert firing[0].source is AlertSource.ALERTMANAGER_SLACK
    assert firing[0].status is AlertStatus.FIRING
    assert firing[0].alertname == "HighErrorRate"
    assert firing[0].service == "orders"
    assert firing[0].count == 1
    assert firing[0].channel == "C0ALERTS01"
    opened = await tracker.ingest_many(firing)
    assert [outcome.kind for outcome in opened] == [IngestKind.OPENED]

    stack.exporter.restart("orders")
    await wait_for_posts(posts, 2)
    resolved = parse_alert_message(as_slack_event(posts[-1], len(posts)), topology)

    assert posts[-1]["attachments"][0]["title"] == "[RESOLVED] orders (HighErrorRate critical)"
    assert resolved is not None
    assert resolved[0].status is AlertStatus.RESOLVED
    assert resolved[0].fingerprint == firing[0].fingerprint
    closed = await tracker.ingest_many(resolved)
    assert [outcome.kind for outcome in closed] == [IngestKind.RESOLVED]
    incidents = tracker.store.all()
    assert len(incidents) == 1
    assert incidents[0].status is IncidentStatus.RESOLVED
