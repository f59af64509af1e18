"""A loopback stand-in for the Slack Web API.

``SlackApiStandIn`` serves the Web API methods the bot calls on 127.0.0.1,
with Slack's response shapes and errors, so the bot runs against slack_sdk's
real ``AsyncWebClient`` (``base_url=standin.base_url``). It checks the bearer
token, enforces Block Kit limits the way Slack does (``invalid_blocks`` with
JSON pointers, ``msg_blocks_too_long``, ``msg_too_long``), returns 429 with
``Retry-After`` when a test requests it, and records every message, update,
ephemeral, reaction and view so tests can read the conversation back.

It also serves ``response_url`` endpoints, because Bolt's ``respond()``
posts there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.testing.block_rules import (
    MAX_BLOCKS_JSON,
    MAX_MESSAGE_TEXT,
    blocks_json_length,
    validate_blocks,
    validate_view,
)
from bot.testing.socket_mode import SOCKET_PATH, SocketModeServer

if TYPE_CHECKING:
    from bot.testing.driver import SlackDriver

log = logging.getLogger(__name__)

TEAM_ID = "T0AIRRA001"
TEAM_DOMAIN = "airra"
APP_ID = "A0AIRRA001"
BOT_USER_ID = "U0AIRRABOT"
BOT_ID = "B0AIRRABOT"
BOT_NAME = "airra"
DEFAULT_TOKEN = "xoxb-test"
DEFAULT_APP_TOKEN = "xapp-test"
DEFAULT_CHANNELS = {"C0INCIDENT": "incidents"}

# Slack's trigger_id is valid for 3 seconds after the interaction.
TRIGGER_TTL_S = 3.0

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class MethodError(Exception):
    """An ``ok: false`` response with Slack's error code."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class ApiCall:
    """One request the stand-in received, with its merged arguments and outcome."""

    method: str
    args: dict[str, Any]
    status: int = 200
    ok: bool = True
    error: str | None = None


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    remaining: int


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    created: int = field(default_factory=lambda: int(time.time()))


class SlackApiStandIn:
    """A Slack Web API on 127.0.0.1 that follows Slack's documented contract.

    Example::

        api = SlackApiStandIn()
        await api.start()
        client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
        await client.chat_postMessage(channel="C0INCIDENT", text="hello")
        assert api.messages_in("C0INCIDENT")[0]["text"] == "hello"
        await api.stop()
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        channels: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.socket_mode = SocketModeServer(app_id=APP_ID)
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.reactions: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.echoed: list[dict[str, Any]] = []
        self.requests: list[ApiCall] = []
        self.call_counts: Counter[str] = Counter()

        self._channels: dict[str, _Channel] = {}
        for channel_id, name in (DEFAULT_CHANNELS if channels is None else channels).items():
            self.add_channel(channel_id, name)
        self._users: dict[str, dict[str, Any]] = {}
        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)
        for user_id, name in (users or {}).items():
            self.add_user(user_id, name)
        self._usergroups: dict[str, list[str]] = {
            group: list(members) for group, members in (usergroups or {}).items()
        }

        self._failures: dict[str, list[_Failure]] = {}
        self._post_rate: tuple[float, int] | None = None
        self._post_buckets: dict[str, tuple[float, float]] = {}
        self._used_triggers: set[str] = set()
        self._last_ts_us = 0
        self._view_ids = itertools.count(1)
        self._response_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._echo_driver: SlackDriver | None = None
        self._echo_tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
        }

    # --- lifecycle ---

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{key:.+}", self._handle_response_url)
        app.router.add_get(SOCKET_PATH, self.socket_mode.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets, "the stand-in Slack API did not bind a socket"
        self._port = server.sockets[0].getsockname()[1]
        log.info("Slack API stand-in listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._echo_tasks:
            await asyncio.gather(*self._echo_tasks, return_exceptions=True)
        await self.socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("Slack API stand-in stopped")

    async def __aenter__(self) -> SlackApiStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``, ending with ``/api/``."""
        return f"{self._origin}/api/"

    @property
    def _origin(self) -> str:
        if self._port is None:
            raise RuntimeError("the Slack API stand-in is not started: await start() first")
        return f"http://127.0.0.1:{self._port}"

    # --- workspace set-up ---

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False, is_member: bool = True) -> None:
        """Create a channel; ``is_member=False`` makes posts fail with ``not_in_channel``."""
        self._channels[channel_id] = _Channel(channel_id, name, is_private=is_private, is_member=is_member)
        self.messages.setdefault(channel_id, [])

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False, real_name: str | None = None) -> None:
        """Create a workspace user for ``users.info``."""
        self._users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real_name or name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": "Etc/UTC",
            "profile": {"real_name": real_name or name, "display_name": name},
        }

    def set_usergroup(self, usergroup_id: str, users: Iterable[str]) -> None:
        """Set the members that ``usergroups.users.list`` returns for a user group."""
        self._usergroups[usergroup_id] = list(users)

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str | None = None,
        bot_id: str | None = None,
        username: str | None = None,
        subtype: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """Store a message that a person or another app wrote and return it.

        Slack stores a message before it delivers the message event, so the
        bot can react to it or reply in its thread. Pass the result to
        ``message_event`` to build that event.
        """
        channel_id = self._resolve_channel(channel)
        message = self._store_message(channel_id, text, [], thread_ts)
        for key in ("user", "bot_id", "app_id"):
            message.pop(key, None)
        optional = {"user": user, "bot_id": bot_id, "username": username, "subtype": subtype, "attachments": attachments}
        message.update({key: value for key, value in optional.items() if value is not None})
        self._changed.set()
        return message

    def post_as_user(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
        """Store a message a person wrote, as Slack would before delivering its event; return it."""
        return self.add_message(channel, text, user=user, thread_ts=thread_ts)

    def message_event(self, channel: str, message: Mapping[str, Any]) -> dict[str, Any]:
        """Build the ``message`` event Slack delivers for a stored message."""
        channel_id = self._resolve_channel(channel)
        known = self._channels.get(channel_id)
        if known is not None:
            channel_type = "group" if known.is_private else "channel"
        else:
            channel_type = "im" if channel_id.startswith("D") else "channel"

        event: dict[str, Any] = {
            key: value for key, value in message.items() if key not in {"reactions", "reply_count", "latest_reply", "edited"}
        }
        event.update({"type": "message", "channel": channel_id, "channel_type": channel_type, "event_ts": message["ts"]})
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self.message(channel_id, thread_ts)
            if parent is not None and parent.get("user"):
                event["parent_user_id"] = parent["user"]
        return event

    def echo_bot_messages(self, driver: SlackDriver | None) -> None:
        """Deliver a ``message`` event to the bot for each of its own posts, as Slack does.

        Slack sends a bot the events of the messages it posts itself, so a bot
        that does not filter them replies to itself. Pass None to stop.
        """
        self._echo_driver = driver

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        With status 429 the response carries ``Retry-After: retry_after`` as Slack's
        rate limiter does; with status 200 it is a plain ``ok: false`` error.
        """
        failure = _Failure(error, status, retry_after if status == 429 else None, times)
        self._failures.setdefault(method, []).append(failure)

    def limit_post_rate(self, per_second: float, *, burst: int = 3) -> None:
        """Rate-limit chat.postMessage per channel the way Slack does, with a token bucket.

        Slack allows about one message per second per channel with short
        bursts. Past the bucket, the stand-in returns 429 with Retry-After.
        """
        self._post_rate = (per_second, burst)
        self._post_buckets.clear()

    # --- queries for tests ---

    def messages_in(self, channel: str, *, include_replies: bool = False) -> list[dict[str, Any]]:
        """Return the channel's top-level messages (and thread replies when asked), oldest first."""
        messages = self.messages.get(channel, [])
        if include_replies:
            return list(messages)
        return [message for message in messages if message.get("thread_ts", message["ts"]) == message["ts"]]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Return the replies in the thread of ``ts``, without the parent, oldest first."""
        return [
            message
            for message in self.messages.get(channel, [])
            if message.get("thread_ts") == ts and message["ts"] != ts
        ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """Return the message with this ts, as last updated, or None."""
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        return None

    def ephemerals_for(self, user: str) -> list[dict[str, Any]]:
        """Return the ephemeral messages shown to one user, including response_url ones."""
        return [ephemeral for ephemeral in self.ephemerals if ephemeral["user"] == user]

    def calls(self, method: str) -> list[ApiCall]:
        """Return every request to one method, including failed ones, in order."""
        return [call for call in self.requests if call.method == method]

    def call_count(self, method: str) -> int:
        """Return how many requests one method received."""
        return self.call_counts[method]

    def response_url(self, *, channel: str, user: str, message_ts: str | None = None) -> str:
        """Build a ``response_url`` for a slash command or a block action on ``message_ts``."""
        serial = next(self._response_ids)
        return f"{self._origin}/response/{channel}/{user}/{message_ts or '-'}/{serial}"

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true, re-checking after every change the stand-in records.

        Raises:
            TimeoutError: naming the timeout when it never became true.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"the Slack API stand-in saw no matching change within {timeout} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.2))
            except TimeoutError:
                pass

    async def wait_for_messages(
        self, channel: str, count: int, *, thread_ts: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until a channel (or one thread) contains at least ``count`` messages and return them."""

        def current() -> list[dict[str, Any]]:
            return self.thread(channel, thread_ts) if thread_ts else self.messages_in(channel)

        await self.wait_for(lambda: len(current()) >= count, timeout=timeout)
        return current()

    def render_channel(self, channel: str) -> str:
        """Render a channel with its threads as plain text, for printing a conversation."""
        parts: list[str] = []
        for message in self.messages_in(channel):
            parts.append(render_text(message))
            for reply in self.thread(channel, message["ts"]):
                parts.append(_indent(render_text(reply), "    │ "))
        return "\n\n".join(parts)

    # --- HTTP plumbing ---

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_arguments(request)
        call = ApiCall(method, args)
        self.requests.append(call)
        self.call_counts[method] += 1

        try:
            self._check_token(request, args, app_level=method == "apps.connections.open")
            failure = self._take_failure(method) or self._rate_limited(method, args)
            if failure is not None:
                call.status, call.ok, call.error = failure.status, False, failure.error
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                log.info("Slack API stand-in: %s returns %s %s as requested by the test", method, failure.status, failure.error)
                return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)

            handler = self._methods.get(method)
            if handler is None:
                log.warning("Slack API stand-in: method %s is not implemented", method)
                raise MethodError("unknown_method")
            body = {"ok": True, **handler(args)}
        except MethodError as exc:
            call.ok, call.error = False, exc.error
            body = {"ok": False, "error": exc.error, **exc.extra}

        self._changed.set()
        return web.json_response(body)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        channel, user, message_ts, _serial = request.match_info["key"].split("/")
        payload = await request.json()
        self.responses.append({"channel": channel, "user": user, "message_ts": message_ts, **payload})
        try:
            self._checked_content(payload, require_content=not payload.get("delete_original"))
        except MethodError as exc:
            # A response_url returns errors as plain text with a 4xx status, unlike the Web API.
            log.warning("Slack API stand-in: response_url rejected: %s %s", exc.error, exc.extra.get("errors", ""))
            return web.Response(status=400, text=exc.error, content_type="text/plain")
        original = self.message(channel, message_ts) if message_ts != "-" else None

        if payload.get("delete_original") and original is not None:
            self.messages[channel].remove(original)
        elif payload.get("replace_original") and original is not None:
            original["text"] = payload.get("text", "")
            original["blocks"] = payload.get("blocks", [])
        elif payload.get("response_type") == "in_channel":
            self._store_message(channel, payload.get("text", ""), payload.get("blocks", []), payload.get("thread_ts"))
        else:
            self.ephemerals.append(
                {
                    "channel": channel,
                    "user": user,
                    "text": payload.get("text", ""),
                    "blocks": payload.get("blocks", []),
                    "thread_ts": payload.get("thread_ts"),
                    "ts": self._next_ts(),
                    "via": "response_url",
                }
            )

        self._changed.set()
        return web.Response(text="ok", content_type="text/plain")

    def _check_token(self, request: web.Request, args: dict[str, Any], *, app_level: bool) -> None:
        """Check the bearer token; apps.connections.open takes the app-level token, every other method the bot token."""
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else args.get("token")
        if not token:
            raise MethodError("not_authed")
        if token in {self.token, self.app_token} and (token == self.app_token) != app_level:
            raise MethodError("not_allowed_token_type")
        if token != (self.app_token if app_level else self.token):
            raise MethodError("invalid_auth")

    def _rate_limited(self, method: str, args: dict[str, Any]) -> _Failure | None:
        """Take a token from the channel's bucket, or return the 429 to send."""
        if self._post_rate is None or method != "chat.postMessage":
            return None
        rate, burst = self._post_rate
        channel = str(args.get("channel", ""))
        now = time.monotonic()
        tokens, last = self._post_buckets.get(channel, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= 1:
            self._post_buckets[channel] = (tokens - 1, now)
            return None
        self._post_buckets[channel] = (tokens, now)
        return _Failure("ratelimited", 429, max(math.ceil((1 - tokens) / rate), 1), 1)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    # --- methods ---

    def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"args": args}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self._port}{SOCKET_PATH}"}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "AIRRA",
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"), posting=True)
        text, blocks = self._checked_content(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and self.message(channel, thread_ts) is None:
            # NOTE: Slack's documented errors do not say how it treats an unknown
            # thread_ts. The stand-in rejects it because such a reply is a bug in the bot.
            raise MethodError("thread_not_found")
        if thread_ts is not None:
            # Slack expects the parent's ts here; a reply to a reply is filed under the parent.
            thread_ts = self.message(channel, thread_ts).get("thread_ts", thread_ts)  # type: ignore[union-attr]

        message = self._store_message(channel, text, blocks, thread_ts)
        self._echo(channel, message)
        return {"channel": channel, "ts": message["ts"], "message": dict(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"))
        ts = _required(args, "ts")
        message = self.message(channel, ts)
        if message is None:
            raise MethodError("message_not_found")
        if message.get("bot_id") != BOT_ID:
            raise MethodError("cant_update_message")

        text, blocks = self._checked_content(args, require_content=False)
        if "text" in args:
            message["text"] = text
        if "blocks" in args:
            message["blocks"] = blocks
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"), posting=True)
        user = _required(args, "user")
        if user not in self._users:
            raise MethodError("user_not_in_channel")
        text, blocks = self._checked_content(args)

        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "text": text,
                "blocks": blocks,
                "thread_ts": args.get("thread_ts"),
                "ts": ts,
                "via": "chat.postEphemeral",
            }
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"))
        ts = _required(args, "message_ts")
        if self.message(channel, ts) is None:
            raise MethodError("message_not_found")
        return {"channel": channel, "permalink": f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"))
        ts = _required(args, "timestamp")
        name = _required(args, "name").strip(":")
        if not re.fullmatch(r"[a-z0-9_+'\-]+", name):
            raise MethodError("invalid_name")
        message = self.message(channel, ts)
        if message is None:
            raise MethodError("message_not_found")

        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    raise MethodError("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        self.reactions.append({"channel": channel, "timestamp": ts, "name": name, "user": BOT_USER_ID})
        return {}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = args.get("trigger_id")
        if not trigger_id:
            raise MethodError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]})
        if trigger_id in self._used_triggers:
            raise MethodError("exchanged_trigger_id")
        if trigger_age_s(trigger_id) > TRIGGER_TTL_S:
            raise MethodError("expired_trigger_id")
        view = self._checked_view(args)

        self._used_triggers.add(trigger_id)
        view_id = f"V0AIRRA{next(self._view_ids):04d}"
        stored = self._stored_view(view, view_id, trigger_id=trigger_id)
        self.views.append(stored)
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = _required(args, "view_id")
        view = self._checked_view(args)
        for index, existing in enumerate(self.views):
            if existing["id"] == view_id:
                stored = self._stored_view(view, view_id, trigger_id=existing.get("trigger_id"))
                self.views[index] = stored
                return {"view": stored}
        raise MethodError("not_found")

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = _required(args, "usergroup")
        if group not in self._usergroups:
            raise MethodError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(self._resolve_channel(_required(args, "channel")))
        if channel is None:
            raise MethodError("channel_not_found")
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private,
                "is_group": channel.is_private,
                "is_im": False,
                "is_private": channel.is_private,
                "is_archived": False,
                "is_member": channel.is_member,
                "created": channel.created,
            }
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_required(args, "channel"))
        ts = _required(args, "ts")
        parent = self.message(channel, ts)
        if parent is None:
            raise MethodError("thread_not_found")
        return {"messages": [parent, *self.thread(channel, ts)], "has_more": False}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(_required(args, "user"))
        if user is None:
            raise MethodError("user_not_found")
        return {"user": user}

    # --- helpers ---

    def _resolve_channel(self, channel: str, *, posting: bool = False) -> str:
        """Map a channel id, ``#name`` or user id (a DM) to a channel id."""
        if channel in self._channels:
            found = self._channels[channel]
        else:
            name = channel.removeprefix("#")
            matches = [candidate for candidate in self._channels.values() if candidate.name == name]
            if matches:
                found = matches[0]
            elif channel in self._users:
                direct = "D" + channel[1:]
                self.messages.setdefault(direct, [])
                return direct
            elif channel in self.messages:
                return channel
            else:
                raise MethodError("channel_not_found")

        if posting and not found.is_member:
            raise MethodError("not_in_channel")
        return found.id

    def _checked_content(self, args: dict[str, Any], *, require_content: bool = True) -> tuple[str, list[Any]]:
        text = args.get("text") or ""
        blocks = _decode_json(args.get("blocks"), "blocks") or []
        attachments = _decode_json(args.get("attachments"), "attachments") or []
        if require_content and not text and not blocks and not attachments:
            raise MethodError("no_text")
        if len(text) > MAX_MESSAGE_TEXT:
            raise MethodError("msg_too_long")

        errors = validate_blocks(blocks)
        if errors:
            raise MethodError("invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        if blocks and blocks_json_length(blocks) > MAX_BLOCKS_JSON:
            raise MethodError("msg_blocks_too_long")
        return text, blocks

    def _checked_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _decode_json(args.get("view"), "view")
        errors = validate_view(view)
        if errors:
            raise MethodError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        return view

    def _stored_view(self, view: dict[str, Any], view_id: str, *, trigger_id: str | None) -> dict[str, Any]:
        return {
            **view,
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{view_id}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "trigger_id": trigger_id,
        }

    def _echo(self, channel: str, message: dict[str, Any]) -> None:
        """Send the event of the bot's own post to the bot, after this response, as Slack does."""
        if self._echo_driver is None:
            return
        event = self.message_event(channel, message)
        event["bot_profile"] = {"id": BOT_ID, "app_id": APP_ID, "name": BOT_NAME, "team_id": TEAM_ID}
        task = asyncio.ensure_future(self._deliver_echo(self._echo_driver, event))
        self._echo_tasks.add(task)
        task.add_done_callback(self._echo_tasks.discard)

    async def _deliver_echo(self, driver: SlackDriver, event: dict[str, Any]) -> None:
        response = await driver.event(event)
        self.echoed.append({"event": event, "status": response.status})
        self._changed.set()

    def _store_message(self, channel: str, text: str, blocks: list[Any], thread_ts: str | None) -> dict[str, Any]:
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": text,
            "blocks": blocks,
            "ts": ts,
        }
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
            parent = self.message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
        self.messages.setdefault(channel, []).append(message)
        return message

    def _next_ts(self) -> str:
        """Return a unique, increasing Slack ts (seconds and microseconds)."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"


def new_trigger_id(serial: int) -> str:
    """Return a trigger_id shaped like Slack's that records when it was issued (epoch milliseconds)."""
    return f"{int(time.time() * 1000)}.{serial}.{secrets.token_hex(8)}"


def trigger_age_s(trigger_id: str) -> float:
    """Return the age of a trigger_id from ``new_trigger_id``; 0 for other shapes, which never expire."""
    issued_ms = trigger_id.split(".", 1)[0]
    if not issued_ms.isdigit() or len(issued_ms) != 13:
        return 0.0
    return time.time() - int(issued_ms) / 1000


async def _read_arguments(request: web.Request) -> dict[str, Any]:
    """Merge query-string, form-encoded and JSON arguments as Slack does."""
    args: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw:
        return args
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"invalid JSON body: {exc}") from exc
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return args


def _required(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if value is None or value == "":
        raise MethodError("invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})
    return str(value)


def _decode_json(value: Any, name: str) -> Any:
    """Decode a JSON-encoded form argument; JSON bodies already contain the structure."""
    if not isinstance(value, str):
        return value
    if not value:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise MethodError(f"invalid_{name}", response_metadata={"messages": [f"[ERROR] {name} is not valid JSON: {exc}"]}) from exc


# --- plain-text rendering ---

_LINK = re.compile(r"<([^<>|@#!][^<>|]*)\|([^<>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^<>]+)>")
_MENTION = re.compile(r"<([@#!])([^<>|]+)(?:\|([^<>]+))?>")


def render_text(message: Mapping[str, Any]) -> str:
    """Render a message as plain text from its blocks, falling back to its text.

    A header becomes a title line, sections show their text and fields,
    dividers a rule, buttons ``[ Approve ]`` and selects ``[ Pick another ▾ ]``.
    """
    blocks = message.get("blocks") or []
    if not blocks:
        return _plain(message.get("text", ""))

    lines: list[str] = []
    for block in blocks:
        lines.extend(_render_block(block))
    return "\n".join(lines)


def _render_block(block: Mapping[str, Any]) -> list[str]:
    block_type = block.get("type")
    if block_type == "header":
        title = _plain(block["text"]["text"])
        return [title, "=" * len(title)]
    if block_type == "divider":
        return ["─" * 40]
    if block_type == "section":
        lines = [_plain(block["text"]["text"])] if "text" in block else []
        lines.extend(f"  {_plain(field['text'])}" for field in block.get("fields", []))
        if "accessory" in block:
            lines.append(_render_element(block["accessory"]))
        return lines
    if block_type == "context":
        parts = [_plain(element.get("text", element.get("alt_text", ""))) for element in block.get("elements", [])]
        return [" · ".join(parts)]
    if block_type == "actions":
        return ["  ".join(_render_element(element) for element in block.get("elements", []))]
    if block_type == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    if block_type == "input":
        return [f"{block['label']['text']}: {_render_element(block.get('element', {}))}"]
    if block_type == "markdown":
        return [_plain(block.get("text", ""))]
    if block_type == "rich_text":
        return ["".join(_rich_text(block))]
    return [f"[{block_type}]"]


def _render_element(element: Mapping[str, Any]) -> str:
    element_type = element.get("type", "")
    if element_type == "button":
        return f"[ {element['text']['text']} ]"
    if "select" in element_type or element_type == "overflow":
        label = element.get("placeholder", {}).get("text") or element.get("initial_option", {}).get("text", {}).get("text") or "…"
        return f"[ {label} ▾ ]"
    if element_type == "plain_text_input":
        return "[ ____ ]"
    return f"[{element_type}]"


def _rich_text(node: Mapping[str, Any]) -> list[str]:
    if "text" in node and isinstance(node["text"], str):
        return [node["text"]]
    parts: list[str] = []
    for child in node.get("elements", []):
        parts.extend(_rich_text(child))
    return parts


def _plain(text: str) -> str:
    """Turn Slack mrkdwn links and mentions into readable text."""
    text = _LINK.sub(lambda match: f"{match.group(2)} ({match.group(1)})", text)
    text = _BARE_LINK.sub(lambda match: match.group(1), text)
    text = _MENTION.sub(lambda match: ("#" if match.group(1) == "#" else "@") + (match.group(3) or match.group(2)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
