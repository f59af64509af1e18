"""Acknowledge a Slack request so that its HTTP response leaves before the listener's own work.

With ``process_before_response=False`` Bolt's HTTP dispatcher starts the
listener as a task and checks every 10 ms whether it has called ``ack()``.
A listener that goes straight from ``ack()`` into its work keeps the event
loop busy, so under a burst of requests the responses queue behind other
listeners' work. Pausing a little longer than that check interval lets the
dispatcher send the response first.
"""

from __future__ import annotations

import asyncio
from typing import Any

ACK_HANDOFF_S = 0.011
"""Just over Bolt's 10 ms check interval for ``ack()``."""


async def acknowledge(ack: Any) -> None:
    """Call ``ack()``, then yield the event loop until Bolt has sent the response."""
    await ack()
    await asyncio.sleep(ACK_HANDOFF_S)
