"""The bot's own Prometheus metrics and the Bolt middleware that times requests.

All metrics live in the registry passed in, so tests and several apps in one
process each get their own (no global default registry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger(__name__)

# Slack drops a request that is not acknowledged within 3 s, so the buckets
# are dense below 3 s. The long ones cover pipelines that run after the ack.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class BotMetrics:
    """Counters and histograms of the Slack bot, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.incidents = Counter(
            "airra_bot_incidents", "Incidents opened or updated by the bot, by kind", ["kind"], registry=registry
        )
        self.actions = Counter(
            "airra_bot_actions", "Remediation actions run from Slack, by action type and outcome status",
            ["action", "status"], registry=registry,
        )
        self.approvals = Counter(
            "airra_bot_approvals", "Approval decisions taken in Slack, by decision", ["decision"], registry=registry
        )
        self.errors = Counter("airra_bot_errors", "Errors while handling Slack requests, by kind", ["kind"], registry=registry)
        self.alerts = Counter("airra_bot_alerts", "Alerts received, by source", ["source"], registry=registry)
        self.handler_latency = Histogram(
            "airra_bot_handler_seconds",
            "Time to handle a Slack request, by request kind and name (command, action_id, event type, callback_id)",
            ["kind", "name"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe_handler(self, kind: str, name: str, seconds: float) -> None:
        """Record how long one request or pipeline stage took."""
        self.handler_latency.labels(kind=kind, name=name).observe(seconds)

    @contextmanager
    def time_handler(self, kind: str, name: str) -> Iterator[None]:
        """Time the enclosed block, for work that runs after Slack's ack."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_handler(kind, name, time.perf_counter() - started)

    def bolt_middleware(self) -> Callable[..., Awaitable[Any]]:
        """Return a Bolt global middleware that times every request until Bolt responds.

        With Bolt's default ``process_before_response=False`` the response goes
        out at ``ack()``, so this is the time Slack waits for the ack.
        """

        async def time_request(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:  # noqa: A002 - Bolt injects by name
            kind, name = request_kind(body)
            started = time.perf_counter()
            try:
                return await next()
            finally:
                elapsed = time.perf_counter() - started
                self.observe_handler(kind, name, elapsed)
                log.debug("handled %s %s in %.1f ms", kind, name, elapsed * 1000)

        return time_request


def request_kind(body: Mapping[str, Any]) -> tuple[str, str]:
    """Classify a Slack request body as (kind, name) for metric labels."""
    if "command" in body:
        return "command", str(body["command"])

    request_type = body.get("type")
    if request_type == "event_callback":
        event = body.get("event") or {}
        return "event", str(event.get("type", "unknown"))
    if request_type == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", str(actions[0].get("action_id", "unknown"))
    if request_type in {"view_submission", "view_closed"}:
        view = body.get("view") or {}
        return "view", str(view.get("callback_id", "unknown"))
    return "other", str(request_type or "unknown")
