"""Send requests to the bot exactly as Slack does.

Slash commands and interactions are form-encoded (interactions as one
``payload=`` field of JSON), events are JSON envelopes, and every
request carries ``X-Slack-Request-Timestamp`` and the v0 signature: an
HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from bot.testing.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, new_trigger_id

if TYPE_CHECKING:
    from bot.testing.slack_api import SlackApiStandIn

EVENTS_PATH = "/slack/events"

# Slack still sends the deprecated verification token in every payload.
VERIFICATION_TOKEN = "airra-verification-token"


@dataclass
class DriverResponse:
    """The bot's HTTP response to one request."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


class SlackDriver:
    """Slack's side of the HTTP conversation with the bot.

    Give it the stand-in Web API (``slack_api=``) to get working
    ``response_url`` values and block actions that carry the message as
    currently posted, as Slack sends it. With ``socket_mode=True`` the same
    payloads go as Socket Mode envelopes over the stand-in's WebSocket
    instead of signed HTTP requests, and the response body is the ack's payload.

    Example::

        async with SlackDriver(bot_url, "secret", slack_api=api) as slack:
            response = await slack.slash_command("help", user_id="U0ALICE", channel_id="C0INCIDENT")
            assert response.status == 200
    """

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        *,
        team_id: str = TEAM_ID,
        api_app_id: str = APP_ID,
        slack_api: SlackApiStandIn | None = None,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 10.0,
        socket_mode: bool = False,
    ) -> None:
        if socket_mode and slack_api is None:
            raise ValueError("Socket Mode needs the stand-in Web API: pass slack_api= with socket_mode=True")
        self.base_url = base_url.rstrip("/")
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.slack_api = slack_api
        self.clock = clock
        self.timeout_s = timeout_s
        self.socket_mode = socket_mode
        self._session: aiohttp.ClientSession | None = None
        self._serial = itertools.count(1)

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- signing ---

    def sign(self, body: bytes, timestamp: int) -> str:
        """Return the ``X-Slack-Signature`` value for a raw body and timestamp."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    def signed_headers(self, body: bytes, content_type: str, *, timestamp: int | None = None) -> dict[str, str]:
        """Return the headers Slack sends with a body: content type, timestamp and signature."""
        stamp = int(self.clock()) if timestamp is None else timestamp
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": self.sign(body, stamp),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    # --- requests ---

    async def slash_command(
        self,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        command: str = "/airra",
        trigger_id: str | None = None,
        user_name: str | None = None,
        channel_name: str | None = None,
    ) -> DriverResponse:
        """Send a slash command, form-encoded with ``+`` for spaces."""
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name or channel_id.lower(),
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel_id, user_id, None),
            "trigger_id": trigger_id or self._trigger_id(),
        }
        if self.socket_mode:
            return await self._send_envelope("slash_commands", fields, accepts_response_payload=True)
        return await self._post_form(fields)

    async def block_action(
        self,
        *,
        action_id: str,
        value: str | None,
        user_id: str,
        channel_id: str,
        message_ts: str,
        block_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        selected_option: Mapping[str, Any] | None = None,
        trigger_id: str | None = None,
    ) -> DriverResponse:
        """Send a ``block_actions`` interaction for a button or select in a posted message.

        Without ``message``, the message comes from the stand-in Web API when
        one was given, as Slack sends the message as currently shown.
        """
        current = dict(message) if message is not None else self._posted_message(channel_id, message_ts)
        element = _find_element(current, action_id)
        if block_id is None:
            block_id = element.get("block_id", "actions") if element else "actions"

        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{self.clock():.6f}",
        }
        if selected_option is not None:
            action["type"] = element.get("type", "static_select") if element else "static_select"
            action["selected_option"] = dict(selected_option)
        else:
            action["type"] = "button"
            action["text"] = element.get("text", {"type": "plain_text", "text": action_id}) if element else {"type": "plain_text", "text": action_id}
            if value is not None:
                action["value"] = value

        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": trigger_id or self._trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "message": current,
            "state": {"values": {}},
            "response_url": self._response_url(channel_id, user_id, message_ts),
            "actions": [action],
        }
        if self.socket_mode:
            return await self._send_envelope("interactive", payload)
        return await self._post_form({"payload": json.dumps(payload)})

    async def view_submission(
        self,
        *,
        callback_id: str,
        values: Mapping[str, Mapping[str, Any]],
        private_metadata: str,
        user_id: str,
        view_id: str | None = None,
    ) -> DriverResponse:
        """Send a ``view_submission`` for a modal.

        ``values`` is Slack's ``state.values``: block id -> action id -> element
        state. A plain string stands for a ``plain_text_input`` value and a
        ``{"selected_option": ...}`` dict is passed through unchanged.
        """
        opened = self._opened_view(callback_id, view_id)
        view = {
            "id": view_id or (opened["id"] if opened else "V0AIRRA0000"),
            "team_id": self.team_id,
            "type": "modal",
            "blocks": opened.get("blocks", []) if opened else [],
            "title": opened.get("title") if opened else {"type": "plain_text", "text": "AIRRA"},
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": _state_values(values)},
            "hash": opened.get("hash", "0.0") if opened else "0.0",
            "app_id": self.api_app_id,
            "bot_id": BOT_ID,
            "root_view_id": opened["id"] if opened else None,
            "previous_view_id": None,
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        if self.socket_mode:
            return await self._send_envelope("interactive", payload, accepts_response_payload=True)
        return await self._post_form({"payload": json.dumps(payload)})

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        """Send an Events API ``event_callback`` envelope; ``retry_num`` marks a redelivery."""
        inner = dict(event)
        if "ts" in inner:
            inner.setdefault("event_ts", inner["ts"])
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev0AIRRA{next(self._serial):06d}",
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if self.socket_mode:
            return await self._send_envelope(
                "events_api", envelope, retry_attempt=retry_num or 0, retry_reason=retry_reason if retry_num else ""
            )
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self._post_json(envelope, extra_headers=extra)

    async def channel_message(
        self,
        channel_id: str,
        text: str,
        *,
        user_id: str | None = None,
        bot_id: str | None = None,
        username: str | None = None,
        subtype: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> tuple[DriverResponse, dict[str, Any]]:
        """Post a message as a person (``user_id``) or another app (``bot_id``) and deliver its event.

        The message is stored in the stand-in Web API first, as Slack does,
        so the bot can react to it or reply in its thread. Returns the bot's
        response and the event sent, whose ``ts`` identifies the message.

        Raises:
            RuntimeError: when the driver was built without ``slack_api``.
        """
        if self.slack_api is None:
            raise RuntimeError("channel_message needs the stand-in Web API: pass slack_api= to SlackDriver")
        message = self.slack_api.add_message(
            channel_id, text, user=user_id, bot_id=bot_id, username=username, subtype=subtype,
            attachments=attachments, thread_ts=thread_ts,
        )
        event = self.slack_api.message_event(channel_id, message)
        response = await self.event(event, event_id=event_id, retry_num=retry_num)
        return response, event

    async def url_verification(self, challenge: str) -> DriverResponse:
        """Send the ``url_verification`` handshake Slack makes when the events URL is saved."""
        return await self._post_json({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"})

    async def raw(self, path: str, body: bytes, headers: Mapping[str, str]) -> DriverResponse:
        """POST exactly these bytes and headers, for signature and timestamp tests."""
        session = self._client_session()
        async with session.post(self.base_url + path, data=body, headers=dict(headers)) as response:
            return DriverResponse(response.status, await response.text(), dict(response.headers))

    # --- helpers ---

    async def _send_envelope(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> DriverResponse:
        assert self.slack_api is not None
        ack = await self.slack_api.socket_mode.send(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=self.timeout_s,
        )
        if ack is None:
            # Slack shows the user a timeout when the app does not ack in time.
            return DriverResponse(504, "")
        body = ack.get("payload")
        return DriverResponse(200, json.dumps(body) if body else "")

    async def _post_form(self, fields: Mapping[str, str]) -> DriverResponse:
        # urlencode quotes with quote_plus, so spaces become '+' as in Slack's requests.
        body = urlencode(fields).encode()
        return await self.raw(EVENTS_PATH, body, self.signed_headers(body, "application/x-www-form-urlencoded"))

    async def _post_json(self, document: Mapping[str, Any], *, extra_headers: Mapping[str, str] | None = None) -> DriverResponse:
        body = json.dumps(document).encode()
        headers = self.signed_headers(body, "application/json")
        headers.update(extra_headers or {})
        return await self.raw(EVENTS_PATH, body, headers)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    def _response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        if self.slack_api is not None:
            return self.slack_api.response_url(channel=channel_id, user=user_id, message_ts=message_ts)
        # Port 9 (discard) on loopback: a respond() call fails fast instead of reaching a real host.
        return f"http://127.0.0.1:9/response/{channel_id}/{user_id}"

    def _trigger_id(self) -> str:
        # Real time, not self.clock: the stand-in expires trigger ids after 3 s of real time.
        return new_trigger_id(next(self._serial))

    def _user(self, user_id: str) -> dict[str, str]:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id}

    def _posted_message(self, channel_id: str, message_ts: str) -> dict[str, Any]:
        if self.slack_api is not None:
            found = self.slack_api.message(channel_id, message_ts)
            if found is not None:
                return json.loads(json.dumps(found))
        return {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "", "blocks": []}

    def _opened_view(self, callback_id: str, view_id: str | None) -> dict[str, Any] | None:
        if self.slack_api is None:
            return None
        for view in reversed(self.slack_api.views):
            if view["id"] == view_id or (view_id is None and view.get("callback_id") == callback_id):
                return view
        return None


def _find_element(message: Mapping[str, Any], action_id: str) -> dict[str, Any] | None:
    """Find the interactive element with ``action_id``, with its block's id added."""
    for block in message.get("blocks", []) or []:
        candidates = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if "accessory" in block:
            candidates.append(block["accessory"])
        for element in candidates:
            if element.get("action_id") == action_id:
                return {**element, "block_id": block.get("block_id", "actions")}
    return None


def _state_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        state[block_id] = {}
        for action_id, value in actions.items():
            if isinstance(value, str):
                state[block_id][action_id] = {"type": "plain_text_input", "value": value}
            else:
                state[block_id][action_id] = dict(value)
    return state
