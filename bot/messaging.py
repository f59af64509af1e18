"""Posting to Slack without losing messages.

``SlackPoster`` wraps slack_sdk's ``AsyncWebClient``:

* it fits blocks to Slack's limits before sending, and posts what did not
  fit as thread replies;
* it paces ``chat.postMessage`` per channel (Slack allows about one message
  per second per channel), so an alert storm queues messages in order;
* it retries 429 responses: first slack_sdk's own rate-limit retry handler,
  then, when its retries run out, its own loop that waits ``Retry-After``
  and tries again, so a rate-limited message is delayed, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.blockkit import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    Block,
    blocks_json_length,
    fit_blocks,
    header,
    section,
    text_of,
    truncate,
)

log = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT_RETRIES = 3
DEFAULT_RETRY_AFTER_S = 1.0
SERVER_ERROR_RETRIES = 2

# Errors that mean Slack will never accept these blocks as they are.
BLOCK_ERRORS = {"invalid_blocks", "msg_blocks_too_long"}

CODE_FENCE = "```"

# Length of the notification text of a report part (Slack shows it in
# notifications and screen readers; the blocks carry the content).
REPORT_FALLBACK_TEXT = 150

# Cards whose overflow text the poster remembers, so that refreshing a card does
# not post the same overflow again. The bound keeps a bot that runs for months
# from keeping every long card's text. Only cards of open incidents are
# refreshed, and far fewer are open at a time.
MAX_REMEMBERED_OVERFLOWS = 1024

Sleep = Callable[[float], Awaitable[None]]


class SlackPoster:
    """Paced, retrying, limit-aware posting over one ``AsyncWebClient``.

    Args:
        client: the Web API client; a rate-limit retry handler is added to it
            when it has none, so Bolt's own calls through it retry too.
        min_interval_s: minimum time between two ``chat.postMessage`` in one channel.
        rate_limit_retries: retries of slack_sdk's rate-limit handler before
            this class's own Retry-After loop takes over.
        clock: monotonic clock in seconds; tests pass a fake one.
        sleep: awaitable sleep; tests pass a fake one.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        min_interval_s: float = 1.0,
        rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.sleep = sleep
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._report_locks: dict[str, asyncio.Lock] = {}
        self._last_post: dict[str, float] = {}
        # (channel, ts) -> the overflow text last posted under that card; the newest MAX_REMEMBERED_OVERFLOWS.
        self._overflow_posted: dict[tuple[str, str], str] = {}
        _ensure_rate_limit_retries(client, rate_limit_retries)

    async def post(
        self,
        channel: str,
        blocks: Sequence[Block] | None = None,
        text: str = "",
        thread_ts: str | None = None,
        *,
        incident_id: str | None = None,
    ) -> str:
        """Post a message and return its ts; blocks that do not fit go to its thread.

        ``text`` is the notification and accessibility text; without blocks it
        is the message. A text over Slack's 40,000 characters is posted as a report.
        """
        if not blocks and len(text) > MAX_MESSAGE_TEXT:
            return (await self.post_report(channel, thread_ts, text=text, incident_id=incident_id))[0]

        fitted, overflow = fit_blocks(list(blocks)) if blocks else ([], "")
        ts = await self._post_paced(channel, fitted, text or _summary(fitted), thread_ts, incident_id)
        log.info("incident %s: posted to %s at %s%s", incident_id or "-", channel, ts,
                 f" in thread {thread_ts}" if thread_ts else "")

        if overflow:
            self._remember_overflow(channel, ts, overflow)
            await self.post_report(channel, thread_ts or ts, text=overflow, incident_id=incident_id)
        return ts

    async def update(
        self,
        channel: str,
        ts: str,
        blocks: Sequence[Block] | None = None,
        text: str = "",
        *,
        incident_id: str | None = None,
    ) -> None:
        """Update a message in place; blocks that do not fit go to its thread.

        The same overflow is posted once per message, however often the
        message is updated (within this process).
        """
        fitted, overflow = fit_blocks(list(blocks)) if blocks else ([], "")
        arguments: dict[str, Any] = {"channel": channel, "ts": ts, "text": truncate(text or _summary(fitted), MAX_MESSAGE_TEXT)}
        if blocks is not None:
            arguments["blocks"] = fitted

        try:
            await self._call("chat.update", self.client.chat_update, arguments, incident_id)
        except SlackApiError as exc:
            if exc.response.get("error") not in BLOCK_ERRORS or not fitted:
                raise
            log.error("incident %s: Slack rejected the updated blocks of %s in %s (%s): %s; updating with text only",
                      incident_id or "-", ts, channel, exc.response.get("error"), exc.response.get("errors"))
            arguments["blocks"] = []
            arguments["text"] = truncate(text_of(fitted) or text, MAX_MESSAGE_TEXT)
            await self._call("chat.update", self.client.chat_update, arguments, incident_id)
        log.info("incident %s: updated %s in %s", incident_id or "-", ts, channel)

        if overflow and self._overflow_posted.get((channel, ts)) != overflow:
            self._remember_overflow(channel, ts, overflow)
            await self.post_report(channel, ts, text=overflow, incident_id=incident_id)

    def _remember_overflow(self, channel: str, ts: str, overflow: str) -> None:
        """Remember the overflow posted under a card, forgetting the oldest card past the bound.

        A card forgotten here and then updated with the same overflow gets it
        posted in its thread once more; only cards that old are affected.
        """
        self._overflow_posted.pop((channel, ts), None)
        self._overflow_posted[(channel, ts)] = overflow
        while len(self._overflow_posted) > MAX_REMEMBERED_OVERFLOWS:
            del self._overflow_posted[next(iter(self._overflow_posted))]

    async def ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        thread_ts: str | None = None,
        incident_id: str | None = None,
    ) -> str:
        """Show a message to one user only and return its message_ts."""
        arguments: dict[str, Any] = {"channel": channel, "user": user, "text": truncate(text, MAX_MESSAGE_TEXT)}
        if blocks:
            arguments["blocks"] = fit_blocks(list(blocks), notice=None)[0]
        if thread_ts:
            arguments["thread_ts"] = thread_ts

        response = await self._call("chat.postEphemeral", self.client.chat_postEphemeral, arguments, incident_id)
        log.info("incident %s: ephemeral message to %s in %s", incident_id or "-", user, channel)
        return str(response.get("message_ts", ""))

    async def react(self, channel: str, ts: str, name: str, *, incident_id: str | None = None) -> None:
        """Add an emoji reaction; a reaction that is already there is fine."""
        arguments = {"channel": channel, "timestamp": ts, "name": name}
        try:
            await self._call("reactions.add", self.client.reactions_add, arguments, incident_id)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                raise
            log.debug("incident %s: :%s: already on %s in %s", incident_id or "-", name, ts, channel)
            return
        log.info("incident %s: reacted :%s: to %s in %s", incident_id or "-", name, ts, channel)

    async def post_report(
        self,
        channel: str,
        thread_ts: str | None,
        title: str | None = None,
        text: str = "",
        *,
        incident_id: str | None = None,
    ) -> list[str]:
        """Post a long text as several messages, each within Slack's limits, and return their ts.

        The text is split on line boundaries with code blocks balanced. With
        ``thread_ts`` every part is a reply in that thread; without it the
        first part goes to the channel and the others to its thread. The text
        is mrkdwn: escape user-supplied ``<``, ``>`` and ``&`` with
        ``blockkit.escape`` first. Empty text posts nothing.
        """
        parts = split_report(text)
        messages = pack_report(parts, title=title)
        posted: list[str] = []

        # One report at a time per channel, so two reports' parts never interleave.
        async with self._lock(self._report_locks, channel):
            for number, blocks in enumerate(messages, start=1):
                fallback = _fallback_text(title, number, len(messages), blocks)
                target_thread = thread_ts or (posted[0] if posted else None)
                ts = await self._post_paced(channel, blocks, fallback, target_thread, incident_id)
                posted.append(ts)

        log.info("incident %s: report %r posted to %s in %d message(s)", incident_id or "-", title or "", channel, len(posted))
        return posted

    # --- sending ---

    async def _post_paced(
        self, channel: str, blocks: list[Block], text: str, thread_ts: str | None, incident_id: str | None
    ) -> str:
        """Send one chat.postMessage, at most one per ``min_interval_s`` per channel, in call order."""
        arguments: dict[str, Any] = {"channel": channel, "text": truncate(text, MAX_MESSAGE_TEXT)}
        if blocks:
            arguments["blocks"] = blocks
        if thread_ts:
            arguments["thread_ts"] = thread_ts

        # asyncio.Lock wakes waiters in FIFO order, so a channel's messages keep their order.
        async with self._lock(self._channel_locks, channel):
            last = self._last_post.get(channel)
            if last is not None:
                wait = self.min_interval_s - (self.clock() - last)
                if wait > 0:
                    await self.sleep(wait)

            try:
                response = await self._call("chat.postMessage", self.client.chat_postMessage, arguments, incident_id)
            except SlackApiError as exc:
                if exc.response.get("error") not in BLOCK_ERRORS or not blocks:
                    raise
                log.error("incident %s: Slack rejected blocks for %s (%s): %s; posting text only",
                          incident_id or "-", channel, exc.response.get("error"), exc.response.get("errors"))
                arguments.pop("blocks")
                arguments["text"] = truncate(text_of(blocks) or text, MAX_MESSAGE_TEXT)
                response = await self._call("chat.postMessage", self.client.chat_postMessage, arguments, incident_id)
            finally:
                self._last_post[channel] = self.clock()
        return str(response["ts"])

    async def _call(
        self,
        method: str,
        function: Callable[..., Awaitable[Any]],
        arguments: dict[str, Any],
        incident_id: str | None,
    ) -> Any:
        """Call a Web API method, waiting Retry-After and trying again on every 429."""
        attempt = 0
        while True:
            try:
                return await function(**arguments)
            except SlackApiError as exc:
                if exc.response.status_code != 429:
                    log.warning("incident %s: %s failed: %s", incident_id or "-", method, exc.response.get("error"))
                    raise
                attempt += 1
                wait_s = retry_after_s(exc.response.headers)
                log.warning("incident %s: %s rate limited after the client's retries; waiting %.0f s (attempt %d)",
                            incident_id or "-", method, wait_s, attempt)
                await self.sleep(wait_s)

    @staticmethod
    def _lock(locks: dict[str, asyncio.Lock], channel: str) -> asyncio.Lock:
        lock = locks.get(channel)
        if lock is None:
            lock = locks[channel] = asyncio.Lock()
        return lock


def retry_after_s(headers: Any) -> float:
    """Read Slack's Retry-After header in seconds, 1 s when missing or unreadable."""
    value = None
    for name, header_value in dict(headers or {}).items():
        if name.lower() == "retry-after":
            value = header_value[0] if isinstance(header_value, list) else header_value
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER_S
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def split_report(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split text into parts of at most ``limit`` characters.

    Parts end on line boundaries, and a single line longer than a part is
    cut. A code block that spans two parts is closed at the end of the first
    and reopened at the start of the next, so every part renders on its own.
    """
    closing = "\n" + CODE_FENCE
    # Room for a reopening fence at the start of a part and a closing one at its end.
    max_line = limit - 2 * len(closing)
    parts: list[str] = []
    lines: list[str] = []
    in_code = False

    for line in _wrap_long_lines(text.splitlines(), max_line):
        in_code_after = in_code != (line.count(CODE_FENCE) % 2 == 1)
        needed = _joined_length(lines + [line]) + (len(closing) if in_code_after else 0)
        if lines and needed > limit:
            parts.append("\n".join(lines) + (closing if in_code else ""))
            lines = [CODE_FENCE] if in_code else []
        lines.append(line)
        in_code = in_code_after

    if lines:
        parts.append("\n".join(lines) + (closing if in_code else ""))
    return [part for part in parts if part.strip()]


def _wrap_long_lines(lines: Sequence[str], width: int) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(line[start : start + width] for start in range(0, len(line), width))
        if not line:
            wrapped.append("")
    return wrapped


def _joined_length(lines: Sequence[str]) -> int:
    return sum(len(line) for line in lines) + max(len(lines) - 1, 0)


def pack_report(parts: Sequence[str], *, title: str | None = None) -> list[list[Block]]:
    """Group report parts into messages of several sections, each message within Slack's size limit."""
    messages: list[list[Block]] = []
    current: list[Block] = [header(title)] if title else []
    has_section = False

    for part in parts:
        block = section(part)
        too_big = blocks_json_length(current + [block]) > MAX_BLOCKS_JSON or len(current) >= MAX_BLOCKS
        if has_section and too_big:
            messages.append(current)
            current = []
        current.append(block)
        has_section = True

    if has_section:
        messages.append(current)
    return messages


def _summary(blocks: Sequence[Block]) -> str:
    """Return a short notification text from the first block that has text."""
    for block in blocks:
        text = text_of([block])
        if text:
            return truncate(text.replace("\n", " "), REPORT_FALLBACK_TEXT)
    return ""


def _fallback_text(title: str | None, number: int, count: int, blocks: list[Block]) -> str:
    label = title or truncate(text_of(blocks).replace("\n", " "), REPORT_FALLBACK_TEXT)
    return label if count == 1 else f"{label} ({number}/{count})"


def _ensure_rate_limit_retries(client: AsyncWebClient, retries: int) -> None:
    """Add slack_sdk's rate-limit and server-error retry handlers to the client unless it has them.

    A 500 or 503 from Slack is usually brief; without a retry, the incident card it hit was never posted.
    """
    handlers = client.retry_handlers
    if not any(isinstance(handler, AsyncServerErrorRetryHandler) for handler in handlers):
        handlers.append(AsyncServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES))
    if any(isinstance(handler, AsyncRateLimitErrorRetryHandler) for handler in handlers):
        return
    handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=retries))
