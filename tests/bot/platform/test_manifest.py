"""manifest.yml declares exactly what the bot uses: its command, events, interactivity and scopes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from airra.runtime import Runtime
from airra.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "manifest.yml"
BOT_SOURCES = [path for path in (ROOT / "bot").rglob("*.py") if "testing" not in path.parts]

# Bot token scope each Web API method needs (Slack's method reference); None: no scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "reactions_add": "reactions:write",
    "views_open": None,
    "views_update": None,
    "usergroups_users_list": "usergroups:read",
    "users_info": "users:read",
    "conversations_info": "channels:read",
    "conversations_replies": "channels:history",
}

# A Web API method of slack_sdk's client, called or passed as a function.
WEB_API_CALL = re.compile(r"\bclient\.((?:auth|bots|chat|conversations|files|pins|reactions|team|usergroups|users|views)_[A-Za-z_]+)")

# Scope each bot event subscription needs.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
}

# Events a Slack bot can subscribe to, which AIRRA must not listen to unless the manifest subscribes to them.
OTHER_EVENTS = ["message.im", "reaction_added", "member_joined_channel", "app_home_opened", "channel_created", "team_join"]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


@pytest.fixture
async def bolt_app(settings: Settings, slack_client: AsyncWebClient) -> AsyncIterator[AsyncApp]:
    from bot.app import build_bot
    from bot.messaging import SlackPoster

    runtime = Runtime.build(settings, sandbox=True)
    bot = build_bot(runtime, client=slack_client, poster=SlackPoster(slack_client), signing_secret="s")
    yield bot.app
    await bot.close()


def event_body(subscription: str) -> dict[str, Any]:
    """An event_callback body as Slack sends for one bot event subscription."""
    event: dict[str, Any] = {"type": subscription.split(".")[0], "user": "U0ALICE", "text": "hello", "ts": "1733300000.000100"}
    channel_types = {"message.channels": ("C0INCIDENT", "channel"), "message.groups": ("G0PRIVATE", "group"), "message.im": ("D0ALICE", "im")}
    if subscription in channel_types:
        event["channel"], event["channel_type"] = channel_types[subscription]
    else:
        event["channel"] = "C0INCIDENT"
    return {"type": "event_callback", "team_id": "T0AIRRA001", "api_app_id": "A0AIRRA001", "event_id": "Ev1", "event": event}


async def matches_a_listener(app: AsyncApp, body: dict[str, Any]) -> bool:
    request = AsyncBoltRequest(body="", mode="socket_mode")
    request.body = body
    response = BoltResponse(status=200)
    for listener in app._async_listeners:
        if await listener.async_matches(req=request, resp=response):
            return True
    return False


def test_manifest_shape(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "AIRRA"
    assert len(manifest["display_information"]["description"]) <= 140
    assert 175 <= len(manifest["display_information"]["long_description"]) <= 4000
    assert manifest["features"]["bot_user"]["display_name"] == "airra"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_usage_hint_lists_every_subcommand(manifest: dict[str, Any]) -> None:
    from bot.commands import Subcommand

    (command,) = manifest["features"]["slash_commands"]
    words = set(re.findall(r"[a-z]+", command["usage_hint"]))

    assert command["command"] == "/airra"
    assert {subcommand.value for subcommand in Subcommand} <= words


async def test_manifest_command_has_listener(manifest: dict[str, Any], bolt_app: AsyncApp) -> None:
    for command in manifest["features"]["slash_commands"]:
        body = {"command": command["command"], "text": "help", "user_id": "U0ALICE", "channel_id": "C0INCIDENT"}
        assert await matches_a_listener(bolt_app, body), command["command"]
    assert not await matches_a_listener(bolt_app, {"command": "/other", "text": ""})


async def test_bot_events_match_listeners(manifest: dict[str, Any], bolt_app: AsyncApp) -> None:
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]

    for subscription in subscribed:
        assert await matches_a_listener(bolt_app, event_body(subscription)), f"no listener for {subscription}"
    for subscription in OTHER_EVENTS:
        if subscription not in subscribed and subscription.split(".")[0] not in {"message"}:
            assert not await matches_a_listener(bolt_app, event_body(subscription)), f"listener for unsubscribed {subscription}"


async def test_interactivity_has_listeners(bolt_app: AsyncApp) -> None:
    from bot.cards import APPROVE_ACTION_ID, PICK_ACTION_ID, REJECT_ACTION_ID, REJECT_MODAL_ID

    for action_id in (APPROVE_ACTION_ID, REJECT_ACTION_ID, PICK_ACTION_ID):
        body = {"type": "block_actions", "actions": [{"action_id": action_id, "block_id": "b", "type": "button"}]}
        assert await matches_a_listener(bolt_app, body), action_id
    view = {"type": "view_submission", "view": {"type": "modal", "callback_id": REJECT_MODAL_ID, "state": {"values": {}}}}
    assert await matches_a_listener(bolt_app, view)


def test_scopes_are_exactly_what_the_code_uses(manifest: dict[str, Any]) -> None:
    used_methods: set[str] = set()
    for path in BOT_SOURCES:
        used_methods |= set(WEB_API_CALL.findall(path.read_text()))

    unknown = used_methods - METHOD_SCOPES.keys()
    required = {scope for method in used_methods if (scope := METHOD_SCOPES.get(method))}
    required |= {EVENT_SCOPES[event] for event in manifest["settings"]["event_subscriptions"]["bot_events"]}
    if manifest["features"].get("slash_commands"):
        required.add("commands")

    assert unknown == set(), f"add the scope of these Web API methods to METHOD_SCOPES and manifest.yml: {unknown}"
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == required
