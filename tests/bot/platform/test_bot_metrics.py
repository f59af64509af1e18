"""The bot's metrics: counters in their own registry and the Bolt timing middleware."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from slack_bolt.async_app import AsyncApp

from bot.observability import BotMetrics, request_kind


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"command": "/airra", "text": "status"}, ("command", "/airra")),
        ({"type": "event_callback", "event": {"type": "app_mention"}}, ("event", "app_mention")),
        ({"type": "block_actions", "actions": [{"action_id": "approve"}]}, ("action", "approve")),
        ({"type": "view_submission", "view": {"callback_id": "reject_reason"}}, ("view", "reject_reason")),
        ({"type": "shortcut"}, ("other", "shortcut")),
    ],
)
def test_request_kind(body: dict[str, Any], expected: tuple[str, str]) -> None:
    assert request_kind(body) == expected


def test_counters_live_in_given_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    metrics = BotMetrics(first)
    BotMetrics(second)

    metrics.incidents.labels(kind="opened").inc()
    metrics.actions.labels(action="restart_pod", status="SUCCESS").inc()
    metrics.approvals.labels(decision="approved").inc(2)

    assert first.get_sample_value("airra_bot_incidents_total", {"kind": "opened"}) == 1.0
    assert first.get_sample_value("airra_bot_actions_total", {"action": "restart_pod", "status": "SUCCESS"}) == 1.0
    assert first.get_sample_value("airra_bot_approvals_total", {"decision": "approved"}) == 2.0
    assert second.get_sample_value("airra_bot_incidents_total", {"kind": "opened"}) is None


def test_time_handler_observes_once() -> None:
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)

    with metrics.time_handler("pipeline", "verification"):
        pass

    assert registry.get_sample_value("airra_bot_handler_seconds_count", {"kind": "pipeline", "name": "verification"}) == 1.0


async def test_middleware_times_each_request(serve_bot, slack_client, signing_secret: str) -> None:
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)
    app = AsyncApp(client=slack_client, signing_secret=signing_secret)
    app.middleware(metrics.bolt_middleware())

    @app.command("/airra")
    async def on_command(ack: Any) -> None:
        await ack()

    slack = await serve_bot(app, registry=registry)
    await slack.slash_command("status", user_id="U0ALICE", channel_id="C0INCIDENT")
    await slack.slash_command("help", user_id="U0ALICE", channel_id="C0INCIDENT")

    assert registry.get_sample_value("airra_bot_handler_seconds_count", {"kind": "command", "name": "/airra"}) == 2.0
