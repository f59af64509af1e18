"""The Socket Mode side of the stand-in Slack API.

In Slack's Socket Mode the app calls ``apps.connections.open`` with its
app-level token and opens the WebSocket URL it gets. Slack sends
``{"type": "hello"}`` and then one envelope per request:
``{"envelope_id", "type", "payload", "accepts_response_payload"}``, where the
type is ``events_api``, ``slash_commands`` or ``interactive``. The app
acknowledges each envelope by sending back its ``envelope_id`` with an
optional ``payload``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

SOCKET_PATH = "/socket-mode"


class SocketModeServer:
    """Socket Mode endpoint that accepts app connections and delivers envelopes over them."""

    def __init__(self, *, app_id: str) -> None:
        self.app_id = app_id
        self.acks: list[dict[str, Any]] = []
        self._connections: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._envelope_ids = itertools.count(1)
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        """True while at least one app connection is open."""
        return any(not connection.closed for connection in self._connections)

    async def wait_connected(self, *, timeout: float = 10.0) -> None:
        """Wait until the app has opened its WebSocket.

        Raises:
            TimeoutError: when no app connected within ``timeout`` seconds.
        """
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"no Socket Mode connection within {timeout} s: is SLACK_APP_TOKEN set?") from None

    async def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,
    ) -> dict[str, Any] | None:
        """Deliver one envelope and return the app's ack, or None when no ack came within ``timeout``."""
        connection = next((candidate for candidate in reversed(self._connections) if not candidate.closed), None)
        if connection is None:
            raise RuntimeError("no open Socket Mode connection: start the app in Socket Mode first")

        envelope_id = f"envelope-{next(self._envelope_ids):06d}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiter
        await connection.send_str(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": envelope_type,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                    "retry_attempt": retry_attempt,
                    "retry_reason": retry_reason,
                }
            )
        )
        try:
            return await asyncio.wait_for(waiter, timeout=timeout)
        except TimeoutError:
            log.warning("Socket Mode stand-in: no ack for %s (%s) within %s s", envelope_id, envelope_type, timeout)
            return None
        finally:
            self._pending.pop(envelope_id, None)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Accept one app connection: send hello, then collect acks until it closes."""
        connection = web.WebSocketResponse()
        await connection.prepare(request)
        self._connections.append(connection)
        await connection.send_str(
            json.dumps({"type": "hello", "num_connections": len(self._connections), "connection_info": {"app_id": self.app_id}})
        )
        self._connected.set()
        log.info("Socket Mode stand-in: app connected")

        async for message in connection:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            self.acks.append(ack)
            waiter = self._pending.get(ack.get("envelope_id", ""))
            if waiter is not None and not waiter.done():
                waiter.set_result(ack)

        if not self.connected:
            self._connected.clear()
        return connection

    async def close(self) -> None:
        """Close every app connection, as Slack does on shutdown."""
        for connection in self._connections:
            await connection.close()
