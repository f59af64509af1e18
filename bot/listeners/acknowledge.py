"""Acknowledge a Slack request so that its HTTP response leaves before the listener's own work.

With ``process_before_response=False`` Bolt's HTTP dispatcher starts the
listener as a task and checks every 10 ms whether it has called ``ack()``.
A listener that goes straight from ``ack()`` into its work keeps the event
loop busy, so under a burst of requests the responses queue behind other
listeners' work. After ``ack()`` the listener waits until the server has
returned the response of every Slack request in flight, its own included
(``SlackTraffic.wait_quiet``, at most a quarter of a second). Outside the
HTTP server (Socket Mode) no traffic is counted, and the listener pauses a
little longer than Bolt's check interval instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.traffic import current_traffic

ACK_HANDOFF_S = 0.011
"""Just over Bolt's 10 ms check interval for ``ack()``, for requests the HTTP server does not count."""


async def acknowledge(ack: Any) -> None:
    """Call ``ack()``, then yield the event loop until the acknowledgements in flight have been sent."""
    await ack()
    traffic = current_traffic()
    if traffic is None:
        await asyncio.sleep(ACK_HANDOFF_S)
        return
    await traffic.wait_quiet()
