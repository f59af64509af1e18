"""A new incident's proposal reads metrics while the incident is written, but records nothing until the write ends.

The webhook's 200 response still waits for the write. A failed write leaves no
card and no approval record, because Alertmanager resends the alert after the
5xx response.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp

from airra.alerts import Alert
from airra.categories import Category
from airra.errors import StoreError
from airra.incidents import FileIncidentStore, Incident, IncidentStatus
from airra.proposal import Proposal, Proposer
from tests.bot.scenarios.test_alert_intake import _send_webhook, _webhook
from bot.audit import AuditKind, AuditLog
from tests.bot.scenarios.conftest import (
    INCIDENT_CHANNEL,
    Scenario,
    StartScenario,
    card_text,
    has_buttons,
    restart,
)
from tests.bot.scenarios.test_automatic import AutomaticPolicyProposer


class GatedStore:
    """The bot's incident store, whose writes wait for ``release`` or fail while ``failing`` is set."""

    def __init__(self, store: FileIncidentStore) -> None:
        self.store = store
        self.release = threading.Event()
        self.failing = False
        self.writes = 0

    def write(self, incident: Incident) -> None:
        if self.failing:
            raise StoreError(f"failed to write incident {incident.id}: disk full")
        self.release.wait(10)
        self.store.write(incident)
        self.writes += 1

    def save(self, incident: Incident) -> None:
        self.write(incident)
        self.store.remember(incident)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class SignallingProposer:
    """The bot's proposer, setting ``proposed`` when a proposal is ready."""

    def __init__(self, proposer: Proposer) -> None:
        self.proposer = proposer
        self.proposed = asyncio.Event()

    async def propose(self, alert: Alert, **options: Any) -> Proposal:
        proposal = await self.proposer.propose(alert, **options)
        self.proposed.set()
        return proposal


def _approval_records(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "state" / "approvals").glob("*.json"))


async def test_proposal_waits_for_incident_write(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    store = GatedStore(flows.tracker.store)  # type: ignore[arg-type]
    flows.tracker.store = store  # type: ignore[assignment]
    proposer = SignallingProposer(flows.proposer)
    flows.proposer = proposer  # type: ignore[assignment]

    webhook = asyncio.create_task(_send_webhook(scenario, _webhook("firing")))
    await asyncio.wait_for(proposer.proposed.wait(), timeout=10)
    await asyncio.sleep(0.05)

    # The diagnosis is done, but the incident is not written yet, so nothing else happened.
    assert not webhook.done()
    assert scenario.cards() == []
    assert _approval_records(scenario.data_dir) == []
    assert flows.tracker.store.find_active() == []

    store.release.set()
    assert await webhook == 200
    await scenario.wait_for_card()
    await scenario.settle()

    assert len(scenario.cards()) == 1
    assert len(_approval_records(scenario.data_dir)) == 1
    assert [incident.service for incident in flows.tracker.store.find_active()] == ["search"]


async def test_failed_incident_write_posts_nothing(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    store = GatedStore(flows.tracker.store)  # type: ignore[arg-type]
    store.release.set()
    store.failing = True
    flows.tracker.store = store  # type: ignore[assignment]

    assert await _send_webhook(scenario, _webhook("firing")) == 500
    await scenario.settle()

    assert scenario.cards() == []
    assert _approval_records(scenario.data_dir) == []
    assert flows.tracker.store.find_active() == []

    # Alertmanager resends after the 5xx response. With the disk back, the incident gets exactly one card.
    store.failing = False
    assert await _send_webhook(scenario, _webhook("firing")) == 200
    await scenario.wait_for_card()
    await scenario.settle()

    assert len(scenario.cards()) == 1
    assert len(_approval_records(scenario.data_dir)) == 1


async def test_lagging_count_gives_new_id(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    assert await _send_webhook(scenario, _webhook("firing")) == 200
    await scenario.wait_for_card()
    await scenario.settle()
    incident = flows.tracker.store.find_active()[0]

    # This is the state after a crash between the two writes of a proposal, where record p1 exists but the count is 0.
    await flows.tracker.update(incident.id, extra={**incident.extra, "proposals": 0})
    record = await flows.propose(incident.id, incident.firing[-1])

    assert record is not None
    assert record.proposal_id == "p2"
    assert [path.name for path in _approval_records(scenario.data_dir)] == [
        f"{incident.id}__p1.json", f"{incident.id}__p2.json"]


class StalledProposer:
    """A proposer that never finishes, as a bot that stops between storing an incident and posting its card."""

    async def propose(self, alert: Alert, **options: Any) -> Proposal:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_restart_before_card_posts_on_resend(start_scenario: StartScenario, serve_bot: Any) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    first = scenario.bot.flows
    first.proposer = StalledProposer()  # type: ignore[assignment]
    assert await _send_webhook(scenario, _webhook("firing")) == 200
    for task in list(first._tasks):
        task.cancel()
    await first.drain()
    assert scenario.cards() == []

    # Alertmanager's repeat_interval resends the same alerts to the restarted bot.
    bot, restarted = await restart(scenario, serve_bot)
    async with aiohttp.ClientSession() as session:
        async with session.post(restarted.base_url + "/alertmanager", json=_webhook("firing")) as response:
            assert response.status == 200
    await scenario.wait_for_card()
    await bot.flows.drain()

    assert len(scenario.cards()) == 1
    assert len(bot.flows.tracker.store.find_active()) == 1
    assert len(_approval_records(scenario.data_dir)) == 1


class ServiceFailingStore(GatedStore):
    """The gated store, failing only the writes of ``failing_service``'s incidents."""

    failing_service: str | None = None

    def write(self, incident: Incident) -> None:
        if incident.service == self.failing_service:
            raise StoreError(f"failed to write incident {incident.id}: disk full")
        super().write(incident)


def _two_service_webhook() -> dict[str, Any]:
    """One notification of an alert grouped by alertname only, firing for search and for cart."""
    document = _webhook("firing")
    cart = dict(document["alerts"][1])
    cart["labels"] = {**cart["labels"], "service": "cart", "pod": "cart-7c9d8e6f5-kl3mn"}
    cart["fingerprint"] = "5555eeee6666ffff"
    document["alerts"] = [document["alerts"][0], cart]
    return document


async def test_partly_stored_webhook_cards_on_resend(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    store = ServiceFailingStore(flows.tracker.store)  # type: ignore[arg-type]
    store.release.set()
    store.failing_service = "cart"
    flows.tracker.store = store  # type: ignore[assignment]

    # The search incident is written first, then the cart write fails.
    assert await _send_webhook(scenario, _two_service_webhook()) == 500
    await scenario.settle()
    assert scenario.cards() == []

    store.failing_service = None
    assert await _send_webhook(scenario, _two_service_webhook()) == 200
    await scenario.wait_for_card(2)
    await scenario.settle()

    assert len(scenario.cards()) == 2
    assert sorted(incident.service or "" for incident in flows.tracker.store.find_active()) == ["cart", "search"]
    assert len(list((scenario.data_dir / "incidents").glob("inc-*.json"))) == 2


async def _resolve_during_open_write(scenario: Scenario) -> dict[str, Any]:
    """Send a firing webhook and its resolve while the new incident is still being written, and return the card."""
    flows = scenario.bot.flows
    store = GatedStore(flows.tracker.store)  # type: ignore[arg-type]
    flows.tracker.store = store  # type: ignore[assignment]
    firing = asyncio.create_task(_send_webhook(scenario, _webhook("firing")))
    # The proposal task starts once the incident is decided, while its write waits for the release.
    while not flows._tasks:
        await asyncio.sleep(0.01)
    resolved = asyncio.create_task(_send_webhook(scenario, _webhook("resolved")))
    await asyncio.sleep(0.1)

    store.release.set()
    assert await firing == 200
    assert await resolved == 200
    card = await scenario.wait_for_card()
    await scenario.settle()
    return scenario.api.message(INCIDENT_CHANNEL, card["ts"])


async def test_resolve_during_open_write(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))

    card = await _resolve_during_open_write(scenario)

    [incident] = scenario.bot.flows.tracker.store.all()
    assert incident.status is IncidentStatus.RESOLVED
    assert ":large_green_circle: Resolved" in card_text(card)
    assert not has_buttons(card)


async def test_resolved_automatic_action_not_run(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    flows.proposer = AutomaticPolicyProposer(flows.proposer)  # type: ignore[assignment]

    card = await _resolve_during_open_write(scenario)

    assert ":large_green_circle: Resolved" in card_text(card)
    executions = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
                  if entry.kind is AuditKind.EXECUTION]
    assert executions == []
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3


async def test_concurrent_proposals_distinct_ids(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    flows = scenario.bot.flows
    assert await _send_webhook(scenario, _webhook("firing")) == 200
    await scenario.wait_for_card()
    await scenario.settle()
    [incident] = flows.tracker.store.find_active()

    # As when two approvers click a stale proposal at once and each requests a fresh one.
    records = await asyncio.gather(flows.propose(incident.id, incident.firing[-1]),
                                   flows.propose(incident.id, incident.firing[-1]))

    assert sorted(record.proposal_id for record in records if record is not None) == ["p2", "p3"]
    assert [path.name for path in _approval_records(scenario.data_dir)] == [
        f"{incident.id}__p1.json", f"{incident.id}__p2.json", f"{incident.id}__p3.json"]
    current = flows.tracker.get(incident.id)
    assert current is not None
    assert current.extra["proposals"] == 3
