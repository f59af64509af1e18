"""Locks by key that exist only while someone holds or waits for them.

A dictionary of ``asyncio.Lock`` per incident or proposal grows by one entry
for every incident the bot ever handles. ``KeyedLocks`` counts the tasks using
each key's lock and drops the lock when the last one leaves, so its size is
the number of keys in use at that moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyedLocks:
    """One ``asyncio.Lock`` per key, kept while a task has acquired it or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the body of an ``async with``."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            # Counted on the way out, so a task cancelled while waiting also leaves.
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]
