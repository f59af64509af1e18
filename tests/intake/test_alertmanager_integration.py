"""A real Alertmanager webhook opens, updates and resolves exactly one incident.

Prometheus evaluates HighErrorRate and HighLatency every second over the fake
exporter; Alertmanager groups by service with 1 s waits and posts to the
bot's webhook route, served by aiohttp on 127.0.0.1 with a bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from airra.alerts import AlertStatus
from airra.incidents import IncidentStatus, IncidentTracker, IngestKind, IngestOutcome, MemoryIncidentStore
from airra.intake.alertmanager import WebhookBatch
from airra.settings import Settings
from airra.topology import Topology
from bot.webhook import make_alertmanager_handler
from tests.support.promstack import PromStack, prom_stack

pytestmark = pytest.mark.integration

TOKEN = "hook-secret"
WAIT_S = 30.0


@dataclass
class Receiver:
    """Stores webhook batches through an IncidentTracker, as the bot does."""

    tracker: IncidentTracker
    batches: list[WebhookBatch] = field(default_factory=list)
    outcomes: list[IngestOutcome] = field(default_factory=list)

    async def __call__(self, batch: WebhookBatch) -> None:
        self.batches.append(batch)
        self.outcomes += await self.tracker.ingest_many(batch.alerts)

    def kinds(self) -> list[IngestKind]:
        return [outcome.kind for outcome in self.outcomes]


@pytest.fixture
def receiver(settings: Settings) -> Receiver:
    return Receiver(IncidentTracker(MemoryIncidentStore(), settings))


@pytest.fixture
async def webhook_url(topology: Topology, receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/alertmanager", make_alertmanager_handler(topology=topology, on_batch=receiver, token=TOKEN))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/alertmanager"
    finally:
        await runner.cleanup()


@pytest.fixture
async def stack(webhook_url: str, tmp_path: Path) -> AsyncIterator[PromStack]:
    # The servers start with blocking waits; run them off the loop so the webhook route stays served.
    exits = contextlib.ExitStack()
    started = await asyncio.to_thread(exits.enter_context, prom_stack(
        tmp_path, services=["orders"], webhook_url=webhook_url, webhook_token=TOKEN,
        rate_rps=10.0, latency_s=0.05))
    try:
        yield started
    finally:
        await asyncio.to_thread(exits.close)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {WAIT_S:g}s")
        await asyncio.sleep(0.2)


async def test_webhook_opens_updates_resolves_one_incident(stack: PromStack, receiver: Receiver) -> None:
    tracker = receiver.tracker

    stack.exporter.set_load("orders", error_ratio=0.3)
    await wait_for(lambda: IngestKind.OPENED in receiver.kinds(), "incident opened")

    opened = tracker.store.all()
    assert len(opened) == 1
    incident = opened[0]
    assert incident.status is IncidentStatus.OPEN
    assert incident.service == "orders"
    assert incident.scoped
    assert incident.alertname == "HighErrorRate"
    assert incident.severity == "critical"
    assert incident.title == "orders returns 5xx for more than 10% of requests"
    assert incident.runbook_url == "https://runbooks.test/high-error-rate"
    assert incident.group_keys == ['{}:{service="orders"}']
    assert incident.source_url is not None and incident.source_url.startswith(stack.prometheus.url)

    # p95 of 0.8 s requests is 0.975 s (bucket 0.5..1), above the 0.5 s threshold.
    stack.exporter.set_load("orders", latency_s=0.8)
    await wait_for(lambda: len((tracker.get(incident.id) or incident).alerts) == 2, "second alert joined")

    updated = tracker.get(incident.id)
    assert updated is not None
    assert IngestKind.UPDATED in receiver.kinds()
    assert sorted(alert.alertname for alert in updated.alerts.values()) == ["HighErrorRate", "HighLatency"]
    assert updated.alert_count == 2
    assert updated.severity == "critical"

    stack.exporter.restart("orders")
    await wait_for(lambda: IngestKind.RESOLVED in receiver.kinds(), "incident resolved")

    incidents = tracker.store.all()
    assert len(incidents) == 1
    resolved = incidents[0]
    assert resolved.id == incident.id
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert [alert.status for alert in resolved.alerts.values()] == [AlertStatus.RESOLVED, AlertStatus.RESOLVED]
    assert resolved.reopen_count == 0

    kinds = receiver.kinds()
    assert kinds.count(IngestKind.OPENED) == 1
    assert kinds.count(IngestKind.RESOLVED) == 1
    assert IngestKind.REOPENED not in kinds
    assert IngestKind.IGNORED not in kinds
    assert {batch.version for batch in receiver.batches} == {"4"}
    assert {batch.receiver for batch in receiver.batches} == {"airra"}
    assert {batch.group_key for batch in receiver.batches} == {'{}:{service="orders"}'}
    assert {batch.external_url for batch in receiver.batches} == {stack.alertmanager.url}  # type: ignore[union-attr]

    # The same fault again, well within the reopen window, reopens the same incident.
    stack.exporter.set_load("orders", error_ratio=0.3)
    await wait_for(lambda: IngestKind.REOPENED in receiver.kinds(), "incident reopened")

    reopened = tracker.store.all()
    assert [item.id for item in reopened] == [incident.id]
    assert reopened[0].status is IncidentStatus.OPEN
    assert reopened[0].reopen_count == 1
