"""Silence an alert in Alertmanager while an approved action runs, then expire it.

An action such as a rollout restart makes the alert flap while it runs, and
each flap would notify the on-call again. ``AlertmanagerSilences`` creates a
silence through Alertmanager's API v2 that matches the alert's exact label
set, for at most the action's duration, and expires it when the action ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from airra.alerts import Alert
from airra.errors import AirraError
from airra.intake.normalise import present_labels

log = logging.getLogger(__name__)


class SilenceError(AirraError):
    """Alertmanager did not create, read or expire a silence."""


class AlertmanagerSilences:
    """Client of Alertmanager's ``/api/v2/silences`` endpoints."""

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None,
                 timeout_s: float = 5.0, created_by: str = "airra") -> None:
        self.base_url = base_url.rstrip("/")
        self.created_by = created_by
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def silence(self, alert: Alert, *, duration_s: float, comment: str,
                      created_by: str | None = None) -> str:
        """Silence the alert's exact label set for ``duration_s`` seconds and return the silence id.

        Raises:
            SilenceError: when the alert has no labels to match, or Alertmanager rejects the silence.
        """
        labels = present_labels(alert.labels)
        if not labels:
            raise SilenceError(f"alert {alert.alertname} ({alert.fingerprint}) has no labels to match; "
                               "only alerts received by webhook can be silenced")
        if duration_s <= 0:
            raise SilenceError(f"silence duration must be positive, got {duration_s}s")

        now = datetime.now(timezone.utc)
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(labels.items())
            ],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=duration_s)).isoformat(),
            "createdBy": created_by or self.created_by,
            "comment": comment,
        }
        answer = await self._request("POST", "/api/v2/silences", json=body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not silence_id:
            raise SilenceError(f"Alertmanager at {self.base_url} returned no silenceID: {answer!r}")
        log.info("silenced alert %s (%s) for %.0f s: silence %s", alert.fingerprint, alert.alertname,
                 duration_s, silence_id)
        return str(silence_id)

    async def expire(self, silence_id: str) -> None:
        """Expire a silence now. Expiring an already expired silence is not an error."""
        try:
            await self._request("DELETE", f"/api/v2/silence/{silence_id}")
        except SilenceError as exc:
            state = await self._state_or_none(silence_id)
            if state != "expired":
                raise
            log.info("silence %s was already expired (%s)", silence_id, exc)
            return
        log.info("expired silence %s", silence_id)

    async def get(self, silence_id: str) -> dict[str, Any]:
        """Return a silence as Alertmanager stores it; ``status.state`` is active, pending or expired."""
        answer = await self._request("GET", f"/api/v2/silence/{silence_id}")
        if not isinstance(answer, dict):
            raise SilenceError(f"Alertmanager at {self.base_url} returned {answer!r} for silence {silence_id}")
        return answer

    @asynccontextmanager
    async def during(self, alert: Alert, *, duration_s: float, comment: str) -> AsyncIterator[str]:
        """Keep the alert silenced for the body of a ``with`` block, then expire the silence.

        The silence also ends by itself after ``duration_s``, so a crash inside
        the block cannot leave the alert silenced for longer.
        """
        silence_id = await self.silence(alert, duration_s=duration_s, comment=comment)
        try:
            yield silence_id
        finally:
            try:
                await self.expire(silence_id)
            except SilenceError as exc:
                log.warning("failed to expire silence %s: %s; it ends by itself after %.0f s",
                            silence_id, exc, duration_s)

    async def _state_or_none(self, silence_id: str) -> str | None:
        try:
            status = (await self.get(silence_id)).get("status") or {}
        except SilenceError:
            return None
        return status.get("state") if isinstance(status, dict) else None

    async def _request(self, method: str, path: str, *, json: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(method, url, json=json, timeout=self._timeout) as response:
                text = await response.text()
                if response.status >= 300:
                    raise SilenceError(f"{method} {url} failed with HTTP {response.status}: {text.strip()[:300]}")
                if not text.strip():
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SilenceError(f"{method} {url} failed: {exc or type(exc).__name__}; "
                               "check AIRRA_ALERTMANAGER_URL") from None
