"""Bolt behind bot/server.py: signature and timestamp checks stay on, routes respond."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.observability import BotMetrics
from bot.testing import SlackApiStandIn

SIX_MINUTES_S = 6 * 60


def make_bolt_app(client: AsyncWebClient, signing_secret: str, seen: list[dict[str, Any]]) -> AsyncApp:
    """A Bolt app with one listener of each kind, recording what reached it."""
    app = AsyncApp(client=client, signing_secret=signing_secret)

    @app.command("/airra")
    async def on_command(ack, command):  # type: ignore[no-untyped-def]
        await ack(f"got {command['text']}")
        seen.append({"kind": "command", "text": command["text"], "user": command["user_id"]})

    @app.action("approve")
    async def on_approve(ack, body):  # type: ignore[no-untyped-def]
        await ack()
        seen.append({"kind": "action", "value": body["actions"][0]["value"], "user": body["user"]["id"]})

    @app.view("reject_reason")
    async def on_view(ack, view):  # type: ignore[no-untyped-def]
        await ack()
        seen.append({"kind": "view", "values": view["state"]["values"], "metadata": view["private_metadata"]})

    @app.event("message")
    async def on_message(event):  # type: ignore[no-untyped-def]
        seen.append({"kind": "event", "text": event["text"]})

    return app


async def test_signed_slash_command_reaches_listener(serve_bot, slack_client, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))

    response = await slack.slash_command("blast checkout api", user_id="U0ALICE", channel_id="C0INCIDENT")

    assert response.status == 200
    assert response.body == "got blast checkout api"
    assert seen == [{"kind": "command", "text": "blast checkout api", "user": "U0ALICE"}]


async def test_block_action_carries_posted_message(serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))
    posted = await slack_client.chat_postMessage(
        channel="C0INCIDENT",
        text="card",
        blocks=[
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "approve", "value": "inc-1"}],
            }
        ],
    )

    response = await slack.block_action(
        action_id="approve", value="inc-1", user_id="U0BOB", channel_id="C0INCIDENT", message_ts=posted["ts"]
    )

    assert response.status == 200
    assert seen == [{"kind": "action", "value": "inc-1", "user": "U0BOB"}]


async def test_view_submission_reaches_listener(serve_bot, slack_client, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))

    response = await slack.view_submission(
        callback_id="reject_reason",
        values={"reason": {"reason_input": "wrong service"}},
        private_metadata="inc-7",
        user_id="U0CAROL",
    )

    assert response.status == 200
    assert seen[0]["metadata"] == "inc-7"
    assert seen[0]["values"] == {"reason": {"reason_input": {"type": "plain_text_input", "value": "wrong service"}}}


async def test_url_verification_returns_challenge(serve_bot, slack_client, signing_secret) -> None:
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, []))

    response = await slack.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")

    assert response.status == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_bad_signature_is_rejected(serve_bot, slack_client, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))
    body = b"command=%2Fairra&text=status&user_id=U0ALICE&channel_id=C0INCIDENT&team_id=T0AIRRA001"
    headers = slack.signed_headers(body, "application/x-www-form-urlencoded")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64

    response = await slack.raw("/slack/events", body, headers)

    assert response.status == 401
    assert seen == []


async def test_body_changed_after_signing_is_rejected(serve_bot, slack_client, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))
    body = b"command=%2Fairra&text=status&user_id=U0ALICE&channel_id=C0INCIDENT&team_id=T0AIRRA001"
    headers = slack.signed_headers(body, "application/x-www-form-urlencoded")

    response = await slack.raw("/slack/events", body.replace(b"status", b"pause"), headers)

    assert response.status == 401
    assert seen == []


async def test_stale_timestamp_is_rejected(serve_bot, slack_client, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))
    body = b"command=%2Fairra&text=status&user_id=U0ALICE&channel_id=C0INCIDENT&team_id=T0AIRRA001"
    # Correctly signed, but six minutes old: outside Slack's five-minute replay window.
    headers = slack.signed_headers(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - SIX_MINUTES_S)

    response = await slack.raw("/slack/events", body, headers)

    assert response.status == 401
    assert seen == []


async def test_event_reaches_listener(serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))

    response = await slack.event(
        {"type": "message", "channel": "C0INCIDENT", "user": "U0ALICE", "text": "checkout is down", "ts": "1733300000.000100"}
    )
    # Event listeners run after Bolt's ack, so wait for the side effect.
    await slack_api.wait_for(lambda: len(seen) == 1)

    assert response.status == 200
    assert seen == [{"kind": "event", "text": "checkout is down"}]


async def test_health_and_metrics_routes(serve_bot, slack_client, signing_secret) -> None:
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)
    metrics.alerts.labels(source="alertmanager").inc(2)
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, []), registry=registry)
    session = slack._client_session()

    async with session.get(slack.base_url + "/healthz") as health:
        assert health.status == 200
        assert json.loads(await health.text()) == {"status": "ok"}
    async with session.get(slack.base_url + "/metrics") as exposition:
        text = await exposition.text()
        assert exposition.status == 200
        assert 'airra_bot_alerts_total{source="alertmanager"} 2.0' in text


async def test_webhook_route_uses_given_handler(serve_bot, slack_client, signing_secret) -> None:
    received: list[bytes] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"status": "accepted"}, status=202)

    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, []), webhook_handler=webhook)
    response = await slack.raw("/alertmanager", b'{"version": "4"}', {"Content-Type": "application/json"})

    assert response.status == 202
    assert received == [b'{"version": "4"}']


async def test_channel_message_stores_then_delivers(serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))

    response, event = await slack.channel_message("C0INCIDENT", "checkout p99 is 4 s", user_id="U0ALICE")
    await slack_api.wait_for(lambda: len(seen) == 1)

    assert response.status == 200
    assert slack_api.message("C0INCIDENT", event["ts"])["user"] == "U0ALICE"
    assert seen == [{"kind": "event", "text": "checkout p99 is 4 s"}]


async def test_own_posts_are_echoed_as_events(serve_bot, slack_client, slack_api: SlackApiStandIn, signing_secret) -> None:
    seen: list[dict[str, Any]] = []
    slack = await serve_bot(make_bolt_app(slack_client, signing_secret, seen))
    slack_api.echo_bot_messages(slack)

    await slack_client.chat_postMessage(channel="C0INCIDENT", text="card for checkout")
    # Bolt drops events of the app's own bot user by default (ignoring_self_events).
    await slack.channel_message("C0INCIDENT", "after the card", user_id="U0ALICE")
    await slack_api.wait_for(lambda: len(seen) == 1 and len(slack_api.echoed) == 1)

    assert slack_api.echoed[0]["status"] == 200
    assert slack_api.echoed[0]["event"]["bot_id"] == "B0AIRRABOT"
    assert seen == [{"kind": "event", "text": "after the card"}]
