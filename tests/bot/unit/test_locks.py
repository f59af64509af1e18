"""KeyedLocks: one lock per key, dropped when its last user leaves."""

from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks


async def test_lock_dropped_after_release() -> None:
    locks = KeyedLocks()

    async with locks.hold("inc-1"):
        assert "inc-1" in locks
        assert len(locks) == 1

    assert "inc-1" not in locks
    assert len(locks) == 0


async def test_lock_kept_while_waiter() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("inc-1"):
            entered.set()
            await release.wait()
            order.append("first")

    async def second() -> None:
        async with locks.hold("inc-1"):
            order.append("second")

    first_task = asyncio.create_task(first())
    await entered.wait()
    second_task = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert len(locks) == 1

    release.set()
    await asyncio.gather(first_task, second_task)

    assert order == ["first", "second"]
    assert len(locks) == 0


async def test_cancelled_waiter_leaves() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()
    entered = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("inc-1"):
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("inc-1"):
            raise AssertionError("the cancelled waiter must not get the lock")

    holding = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    release.set()
    await holding

    assert len(locks) == 0
