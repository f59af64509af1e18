"""Message and app_mention events: alert posts, thread corrections and "why" questions.

Bolt's ``IgnoringSelfEvents`` middleware drops the bot's own messages, those
with its bot id or bot user id. Posts by alert senders carry other bot ids, so
they come through. Slack redelivers an event with the same ``event_id`` when
the first response was late, so each listener checks the id before acting.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp

from airra.intake.slack_messages import parse_alert_message
from airra.topology import Topology
from bot.flows import IncidentFlows
from bot.listeners.acknowledge import acknowledge
from bot.state import EventDeduplicator

log = logging.getLogger(__name__)

_WHY = re.compile(r"\bwhy\b", re.IGNORECASE)

# A person's thread reply: plain, also sent to the channel, or with a file attached.
_REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")

_MENTION_HINT = ("I answer mentions only in the thread of an incident card: reply there with `@airra why` to see "
                 "the reasoning behind its proposal. Run `/airra help` for the commands.")


@dataclass
class EventContext:
    """State shared by the event listeners: the topology, the seen event ids and the bot's own ids."""

    topology: Topology
    deduplicator: EventDeduplicator
    self_ids: set[str] = field(default_factory=set)


def register_events(app: AsyncApp, *, flows: IncidentFlows, context: EventContext) -> None:
    """Register the ``message`` and ``app_mention`` listeners."""

    @app.event("message")
    async def on_message(ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await acknowledge(ack)
        if not _first_delivery(context, body):
            return

        thread_ts = event.get("thread_ts")
        is_reply = thread_ts is not None and thread_ts != event.get("ts")
        if is_reply and event.get("user") and not event.get("bot_id") and event.get("subtype") in _REPLY_SUBTYPES:
            await _thread_reply(flows, context, event)
            return

        alerts = parse_alert_message(body, context.topology, self_ids=context.self_ids)
        if not alerts:
            return
        log.info("alert post in %s: %d alerts (%s)", event.get("channel"), len(alerts),
                 ", ".join(alert.alertname for alert in alerts))
        await flows.on_alert_message(alerts)

    @app.event("app_mention")
    async def on_mention(ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await acknowledge(ack)
        if not _first_delivery(context, body):
            return
        thread_ts = event.get("thread_ts")
        channel = event.get("channel")
        user_id = event.get("user")
        if not channel:
            return
        incident = flows.incident_for_thread(channel, thread_ts) if thread_ts else None
        asks_why = _WHY.search(event.get("text", "")) is not None
        if incident is not None and asks_why:
            await flows.explain(incident, channel=channel)
        elif incident is None and user_id:
            # Outside an incident thread no other listener replies to a mention, and silence looks like a broken bot.
            await flows.poster.ephemeral(channel, user_id, _MENTION_HINT, thread_ts=thread_ts)


async def _thread_reply(flows: IncidentFlows, context: EventContext, event: dict[str, Any]) -> None:
    channel = event.get("channel")
    incident = flows.incident_for_thread(channel, event["thread_ts"]) if channel else None
    if incident is None:
        return
    text = event.get("text", "")
    if _WHY.search(text) and any(f"<@{own}>" in text for own in context.self_ids):
        # The app_mention listener handles "why" questions to the bot.
        return
    await flows.thread_reply(incident, user_id=event["user"], text=text, channel=channel, ts=event["ts"])


def _first_delivery(context: EventContext, body: dict[str, Any]) -> bool:
    event_id = body.get("event_id")
    if event_id is None:
        return True
    if context.deduplicator.first_time(f"event:{event_id}"):
        return True
    log.info("event %s delivered again; already handled", event_id)
    return False
