"""Bolt listeners: acknowledge, read the payload into a model, call one flow.

``register_listeners`` wires every listener to an ``AsyncApp``; the flows
behind them live in ``bot.flows`` and ``bot.commands``.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.commands import CommandRunner
from bot.flows import IncidentFlows
from bot.listeners.actions import register_actions
from bot.listeners.commands import register_commands
from bot.listeners.events import EventContext, register_events
from bot.listeners.views import register_views


def register_listeners(app: AsyncApp, *, flows: IncidentFlows, commands: CommandRunner,
                       events: EventContext) -> None:
    """Register the event, action, view and slash-command listeners of the bot."""
    register_events(app, flows=flows, context=events)
    register_actions(app, flows=flows)
    register_views(app, flows=flows)
    register_commands(app, commands=commands)
