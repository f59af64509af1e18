"""Block actions on the incident card: Approve, Reject and picking another candidate."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from airra.actions import ActionType
from airra.categories import Category
from bot.cards import APPROVE_ACTION_ID, PICK_ACTION_ID, REJECT_ACTION_ID, parse_button_value, reject_modal
from bot.flows import IncidentFlows, Reply
from bot.listeners.acknowledge import acknowledge

log = logging.getLogger(__name__)


def register_actions(app: AsyncApp, *, flows: IncidentFlows) -> None:
    """Register the card's button and select listeners."""

    @app.action(APPROVE_ACTION_ID)
    async def on_approve(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await acknowledge(ack)
        user_id = body["user"]["id"]
        reply = _ephemeral(flows, body)
        try:
            incident_id, proposal_id = parse_button_value(action.get("value", ""))
        except ValueError as exc:
            await reply(f"{exc}. Nothing was approved.")
            return
        log.info("incident %s: Approve clicked by %s", incident_id, user_id)
        await flows.approve(incident_id, proposal_id, user_id, reply)

    @app.action(REJECT_ACTION_ID)
    async def on_reject(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await acknowledge(ack)
        user_id = body["user"]["id"]
        reply = _ephemeral(flows, body)
        try:
            incident_id, proposal_id = parse_button_value(action.get("value", ""))
        except ValueError as exc:
            await reply(f"{exc}. Nothing was rejected.")
            return
        record = await flows.may_reject(incident_id, proposal_id, user_id, reply)
        if record is None:
            return
        view = reject_modal(
            incident_id, proposal_id,
            proposed_action=ActionType(record.action_type) if record.action_type else None,
            hypothesis_category=Category(record.hypothesis_category) if record.hypothesis_category else None,
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(PICK_ACTION_ID)
    async def on_pick(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await acknowledge(ack)
        user_id = body["user"]["id"]
        reply = _ephemeral(flows, body)
        value = (action.get("selected_option") or {}).get("value", "")
        try:
            incident_id, proposal_id = parse_button_value(value)
            picked = ActionType(value.rsplit("|", 1)[-1])
        except ValueError as exc:
            await reply(f"{exc}. Nothing was changed.")
            return
        await flows.pick_action(incident_id, proposal_id, picked, user_id, reply)


def _ephemeral(flows: IncidentFlows, body: dict[str, Any]) -> Reply:
    """Return a function that sends an ephemeral message to the clicking user in the card's channel."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user_id = body["user"]["id"]

    async def reply(text: str) -> Any:
        return await flows.poster.ephemeral(channel, user_id, text)

    return reply
