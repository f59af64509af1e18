"""Turn errors into messages a Slack user can act on.

Known errors (the decision core's ``AirraError`` tree and Slack API errors)
become a friendly sentence that names the problem. An unknown error gets a
short reference id: the user sees it, and the log line with the traceback
carries it, so an operator can find one from the other.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airra.errors import (
    AirraError,
    AlertParseError,
    ConfigError,
    ExecutionError,
    MetricQueryError,
    StoreError,
    UnknownServiceError,
)
from bot.observability import BotMetrics

log = logging.getLogger(__name__)

REFERENCE_BYTES = 4  # 8 hex characters: short enough to read out, unique enough for a day of logs

ErrorHandler = Callable[..., Awaitable[None]]


def reference_id() -> str:
    """Return a new random reference id of 8 hex characters."""
    return secrets.token_hex(REFERENCE_BYTES)


def friendly_message(error: BaseException) -> str | None:
    """Return the user-facing text of a known error, or None for an unknown one."""
    if isinstance(error, UnknownServiceError):
        return f":mag: {error}"
    if isinstance(error, MetricQueryError):
        return f":warning: Metrics query failed: {error}. Check that Prometheus is reachable, then try again."
    if isinstance(error, ExecutionError):
        return f":x: The action could not be carried out: {error}"
    if isinstance(error, StoreError):
        return f":floppy_disk: AIRRA could not read or write its data files: {error}"
    if isinstance(error, AlertParseError):
        return f":page_facing_up: The alert could not be read: {error}"
    if isinstance(error, ConfigError):
        return f":gear: AIRRA's configuration is invalid: {error}"
    if isinstance(error, AirraError):
        return f":warning: {error}"
    if isinstance(error, SlackApiError):
        code = error.response.get("error", "unknown_error") if error.response is not None else "unknown_error"
        return f":warning: Slack rejected a request from AIRRA (`{code}`). Try again; if it repeats, check the app's scopes."
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors())
        return f":warning: Invalid input: {problems}"
    return None


def describe_error(error: BaseException, *, where: str = "a Slack request", incident_id: str | None = None) -> str:
    """Log an error and return the text to show the user.

    A known error is logged as a warning and described in words. An unknown
    error is logged with its traceback under a new reference id, which the
    returned text contains.
    """
    friendly = friendly_message(error)
    if friendly is not None:
        log.warning("incident %s: %s failed: %s: %s", incident_id or "-", where, type(error).__name__, error)
        return friendly

    reference = reference_id()
    log.error("incident %s: %s failed with an unexpected error (reference %s)", incident_id or "-", where, reference,
              exc_info=error)
    return (
        f":boom: Something went wrong in AIRRA (reference `{reference}`). "
        "The error is logged under this reference: share it with whoever runs AIRRA."
    )


def make_error_handler(*, metrics: BotMetrics | None = None) -> ErrorHandler:
    """Return a Bolt global error handler that counts the error and reports it to the user.

    The message goes out through ``respond`` when the request has a
    response_url (commands, actions), else as an ephemeral message to the
    user in the request's channel. A request with neither is only logged.

    NOTE: in slack_bolt 1.30, when a listener raises right after ``ack()``,
    before Bolt's runner polls the ack (every 10 ms), Bolt drops the ack and
    answers Slack 404 after 3 s. The user still gets this handler's message.

    Example::

        app.error(make_error_handler(metrics=metrics))
    """

    async def handle_error(error: Exception, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        if metrics is not None:
            metrics.errors.labels(kind=type(error).__name__).inc()
        text = describe_error(error, where=_request_name(body))

        try:
            await _tell_user(body, text, client=client, respond=respond)
        except Exception as exc:  # noqa: BLE001 - reporting an error must never raise another
            log.warning("could not show the error message to the user: %s: %s", type(exc).__name__, exc)

    return handle_error


async def _tell_user(body: dict[str, Any], text: str, *, client: AsyncWebClient, respond: Any) -> None:
    if body.get("response_url") or (body.get("response_urls") or []):
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return

    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    channel = (
        body.get("channel_id")
        or (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or (body.get("event") or {}).get("channel")
    )
    if user and channel:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)


def _request_name(body: dict[str, Any]) -> str:
    if "command" in body:
        return f"command {body['command']} {body.get('text', '')}".strip()
    if body.get("type") == "block_actions":
        return f"action {(body.get('actions') or [{}])[0].get('action_id', '?')}"
    if body.get("type") == "view_submission":
        return f"view {(body.get('view') or {}).get('callback_id', '?')}"
    if body.get("type") == "event_callback":
        return f"event {(body.get('event') or {}).get('type', '?')}"
    return "a Slack request"
