"""Slack requests in flight, so that follow-up work can give way to acknowledgements.

Slack waits at most 3 s for the HTTP response to each request, and every
response is produced on the one event loop that also runs the listeners'
follow-up work (replies, metric reads, approval records) and the flows'
background steps. Under a burst of requests that work would run between
the acknowledgements and delay them. ``SlackTraffic`` counts the Slack
requests the server is serving. Follow-up work waits until none is in
flight, or at most ``max_delay_s``, so under load it starts a fraction of a
second late but never starves.

The server's request handler makes its ``SlackTraffic`` the current one
while it serves a request (``serving``), and Bolt starts each listener as a
task from inside that request, so the listener and the background steps it
starts find it with ``current_traffic()`` without any wiring through Bolt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

MAX_FOLLOW_UP_DELAY_S = 0.25
"""Maximum wait of follow-up work for a quiet moment: well below Slack's 3 s, longer than a burst here."""

# A context variable, not a module-level object: each server sets its own
# SlackTraffic for the requests it serves, and tasks inherit it.
_current: ContextVar[SlackTraffic | None] = ContextVar("airra_slack_traffic", default=None)


class SlackTraffic:
    """Counts the Slack requests in flight and lets follow-up work wait for a quiet moment.

    Args:
        max_delay_s: the maximum time ``wait_quiet`` waits, in seconds.
    """

    def __init__(self, *, max_delay_s: float = MAX_FOLLOW_UP_DELAY_S) -> None:
        if max_delay_s < 0:
            raise ValueError(f"max_delay_s must be zero or more, got {max_delay_s}")
        self.max_delay_s = max_delay_s
        self.waits = 0
        """How many times follow-up work waited for requests in flight."""
        self.waits_at_bound = 0
        """How many of those waits ended at ``max_delay_s`` with requests still in flight."""
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def in_flight(self) -> int:
        """The number of Slack requests whose response has not been returned yet."""
        return self._in_flight

    def request_started(self) -> None:
        """Count one more request in flight."""
        self._in_flight += 1
        self._quiet.clear()

    def request_finished(self) -> None:
        """Count one request finished; wake the waiting work when it was the last."""
        if self._in_flight == 0:
            raise RuntimeError("request_finished() called with no request in flight; pair it with request_started()")
        self._in_flight -= 1
        if self._in_flight == 0:
            self._quiet.set()

    async def wait_quiet(self) -> None:
        """Return once no Slack request is in flight, or after ``max_delay_s`` at most."""
        if self._in_flight == 0:
            return
        self.waits += 1
        try:
            async with asyncio.timeout(self.max_delay_s):
                await self._quiet.wait()
        except TimeoutError:
            self.waits_at_bound += 1
            log.debug("follow-up work starts with %s Slack requests in flight after %.2f s",
                      self._in_flight, self.max_delay_s)

    @contextmanager
    def serving(self) -> Iterator[SlackTraffic]:
        """Count one request in flight and make this the current traffic while it is served."""
        self.request_started()
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
            self.request_finished()

    @contextmanager
    def current(self) -> Iterator[SlackTraffic]:
        """Make this the current traffic without counting a request (e.g. for the Alertmanager webhook)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current_traffic() -> SlackTraffic | None:
    """Return the traffic of the server serving the current request, or None outside one (e.g. Socket Mode)."""
    return _current.get()
