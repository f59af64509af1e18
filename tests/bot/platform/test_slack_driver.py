"""The driver signs and encodes requests as Slack does."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from bot.testing import SlackApiStandIn, SlackDriver

SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
FIXED_TIME = 1_733_300_000


class Capture:
    """An aiohttp server that records the raw requests it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(text="")


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    recorder = Capture()
    app = web.Application()
    app.router.add_post("/slack/events", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield recorder
    await runner.cleanup()


def test_signature_matches_hand_computed_hmac() -> None:
    driver = SlackDriver("http://127.0.0.1:1", SECRET)
    body = b"command=%2Fairra&text=blast+checkout"

    expected = "v0=" + hmac.new(SECRET.encode(), b"v0:1733300000:" + body, hashlib.sha256).hexdigest()

    assert driver.sign(body, FIXED_TIME) == expected


def test_signature_depends_on_timestamp_and_secret() -> None:
    body = b"text=status"
    driver = SlackDriver("http://127.0.0.1:1", SECRET)
    other = SlackDriver("http://127.0.0.1:1", SECRET + "x")

    assert driver.sign(body, FIXED_TIME) != driver.sign(body, FIXED_TIME + 1)
    assert driver.sign(body, FIXED_TIME) != other.sign(body, FIXED_TIME)


async def test_slash_command_is_form_encoded_and_signed(capture: Capture) -> None:
    async with SlackDriver(capture.url, SECRET, clock=lambda: FIXED_TIME) as driver:
        await driver.slash_command("simulate checkout memory_leak", user_id="U0ALICE", channel_id="C0INCIDENT")

    headers, body = capture.requests[0]
    fields = parse_qs(body.decode())
    expected = "v0=" + hmac.new(SECRET.encode(), f"v0:{FIXED_TIME}:".encode() + body, hashlib.sha256).hexdigest()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["X-Slack-Request-Timestamp"] == str(FIXED_TIME)
    assert headers["X-Slack-Signature"] == expected
    assert b"text=simulate+checkout+memory_leak" in body
    assert b"command=%2Fairra" in body
    assert fields["user_id"] == ["U0ALICE"]
    assert fields["channel_id"] == ["C0INCIDENT"]
    assert fields["team_id"] == ["T0AIRRA001"]
    assert fields["api_app_id"] == ["A0AIRRA001"]
    assert fields["trigger_id"][0]


async def test_block_action_sends_payload_field(capture: Capture) -> None:
    message = {
        "ts": "1733300000.000100",
        "blocks": [
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "approve", "value": "inc-1"}],
            }
        ],
    }
    async with SlackDriver(capture.url, SECRET, clock=lambda: FIXED_TIME) as driver:
        await driver.block_action(
            action_id="approve", value="inc-1", user_id="U0BOB", channel_id="C0INCIDENT",
            message_ts="1733300000.000100", message=message,
        )

    _headers, body = capture.requests[0]
    fields = parse_qs(body.decode())
    payload: dict[str, Any] = json.loads(fields["payload"][0])
    assert list(fields) == ["payload"]
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0BOB"
    assert payload["container"] == {"type": "message", "message_ts": "1733300000.000100", "channel_id": "C0INCIDENT", "is_ephemeral": False}
    assert payload["actions"][0]["action_id"] == "approve"
    assert payload["actions"][0]["block_id"] == "decision"
    assert payload["actions"][0]["value"] == "inc-1"
    assert payload["actions"][0]["text"]["text"] == "Approve"
    assert payload["message"] == message


async def test_select_action_carries_selected_option(capture: Capture) -> None:
    option = {"text": {"type": "plain_text", "text": "scale_up"}, "value": "scale_up"}
    async with SlackDriver(capture.url, SECRET) as driver:
        await driver.block_action(
            action_id="pick", value=None, user_id="U0BOB", channel_id="C0INCIDENT",
            message_ts="1733300000.000100", selected_option=option,
        )

    payload = json.loads(parse_qs(capture.requests[0][1].decode())["payload"][0])
    assert payload["actions"][0]["selected_option"] == option
    assert payload["actions"][0]["type"] == "static_select"
    assert "value" not in payload["actions"][0]


async def test_event_envelope_and_retry_headers(capture: Capture) -> None:
    event = {"type": "message", "channel": "C0INCIDENT", "user": "U0ALICE", "text": "hi", "ts": "1733300000.000200"}
    async with SlackDriver(capture.url, SECRET, clock=lambda: FIXED_TIME) as driver:
        await driver.event(event, event_id="Ev0TEST0001")
        await driver.event(event, event_id="Ev0TEST0001", retry_num=1)

    first_headers, first_body = capture.requests[0]
    retry_headers, retry_body = capture.requests[1]
    envelope = json.loads(first_body)
    assert first_headers["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in first_headers
    assert retry_headers["X-Slack-Retry-Num"] == "1"
    assert retry_headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert envelope["type"] == "event_callback"
    assert envelope["event_id"] == "Ev0TEST0001"
    assert envelope["event"]["event_ts"] == "1733300000.000200"
    assert envelope["authorizations"][0]["user_id"] == "U0AIRRABOT"
    assert json.loads(retry_body)["event_id"] == "Ev0TEST0001"


async def test_response_url_points_at_stand_in(capture: Capture) -> None:
    api = SlackApiStandIn()
    await api.start()
    try:
        async with SlackDriver(capture.url, SECRET, slack_api=api) as driver:
            await driver.slash_command("help", user_id="U0ALICE", channel_id="C0INCIDENT")
        response_url = parse_qs(capture.requests[0][1].decode())["response_url"][0]
    finally:
        await api.stop()

    assert response_url.startswith(api.base_url.removesuffix("api/") + "response/C0INCIDENT/U0ALICE/")
