"""The aiohttp route that receives Alertmanager webhook notifications.

Alertmanager retries a notification after a 5xx response or a timeout, and
does not retry a 4xx. So the handler responds 200 only after ``on_batch``
has stored the alerts, 500 when storing failed (Alertmanager resends), and
4xx for requests that a resend cannot fix: a bad token, a malformed body or
a body past the size cap.

Alertmanager does not sign its webhooks. Its ``http_config`` sends a bearer
token (``authorization: {credentials: ...}``) or basic auth, and a token
can also be put in the URL as ``?token=...``. All three are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

from airra.errors import AlertParseError
from airra.intake.alertmanager import WebhookBatch, parse_webhook
from airra.topology import Topology

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest accepted body. An alert with a long generatorURL is about 1 kB of JSON, so this fits some 4,000 alerts."""

_READ_CHUNK_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_alertmanager_handler(
    *,
    topology: Topology,
    on_batch: Callable[[WebhookBatch], Awaitable[None]],
    token: str | SecretStr | None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Handler:
    """Build the POST handler for Alertmanager's ``webhook_configs`` URL.

    Args:
        topology: resolves each alert's service.
        on_batch: stores the parsed notification. It must return quickly,
            because Alertmanager waits for the response, so heavy work belongs
            in a background task that it starts.
        token: the shared secret the request must carry, or None to accept
            every request (only behind a trusted network).
        max_body_bytes: bodies larger than this get 413.

    Example:
        app.router.add_post("/alertmanager", make_alertmanager_handler(
            topology=topology, on_batch=intake.store_batch, token=settings.webhook_token))
    """
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _error(405, f"method {request.method} not allowed; Alertmanager sends POST")

        if secret and not _authorised(request, secret):
            log.warning("webhook from %s rejected: missing or wrong token", request.remote)
            return _error(401, "missing or wrong token; send 'Authorization: Bearer <token>' or ?token=<token>",
                          headers={"WWW-Authenticate": 'Bearer realm="airra"'})

        body = await _read_capped(request, max_body_bytes)
        if body is None:
            log.warning("webhook from %s rejected: body larger than %d bytes", request.remote, max_body_bytes)
            return _error(413, f"body larger than {max_body_bytes} bytes; "
                               "set max_alerts on the Alertmanager receiver to send fewer alerts")

        try:
            batch = parse_webhook(body, topology)
        except AlertParseError as exc:
            log.warning("webhook from %s rejected: %s", request.remote, exc)
            return _error(400, str(exc))

        try:
            await on_batch(batch)
        except Exception:
            # Alertmanager resends after a 5xx, so the alerts are not lost.
            log.exception("webhook for group %s: storing %d alerts failed; responding 500 so "
                          "Alertmanager resends", batch.group_key, len(batch.alerts))
            return _error(500, "storing the alerts failed; Alertmanager will resend them")

        log.info("webhook for group %s from receiver %s: %d alerts accepted (%d firing, %d resolved, %d truncated)",
                 batch.group_key, batch.receiver, len(batch.alerts), len(batch.firing),
                 len(batch.resolved), batch.truncated_alerts)
        return web.json_response({"status": "accepted", "alerts": len(batch.alerts)})

    return handle


def _authorised(request: web.Request, secret: str) -> bool:
    """Check the bearer token, the basic-auth password or the ``token`` query parameter."""
    offered: list[str] = []

    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        offered.append(decoded.partition(":")[2])

    query_token = request.query.get("token")
    if query_token is not None:
        offered.append(query_token)

    expected = secret.encode("utf-8")
    return any(hmac.compare_digest(candidate.encode("utf-8"), expected) for candidate in offered)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """Read the body, or return None as soon as it exceeds ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None

    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK_BYTES)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _error(status: int, reason: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"status": "error", "error": reason}, status=status, headers=headers)
