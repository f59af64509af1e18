"""IncidentFlows.spawn: a step started during a Slack request waits for it, and drain() and close() still see it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from airra.settings import Settings
from bot.testing.harness import LocalBot
from bot.traffic import SlackTraffic

CHANNEL = "C0SPAWN"
# Long enough that no test below can pass by reaching the bound instead of by the event it checks.
NEVER_S = 60.0


def _local_bot(data_dir: Path) -> LocalBot:
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, auto_enabled=False, approvers=["U0APPROVER"])
    return LocalBot(settings, channels={CHANNEL: "incidents"})


async def test_spawn_waits_for_request_in_flight(data_dir: Path) -> None:
    traffic = SlackTraffic(max_delay_s=NEVER_S)
    order: list[str] = []

    async def step() -> str:
        order.append("step")
        return "done"

    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows

        with traffic.serving():
            task = flows.spawn(step(), name="step under test")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            order.append("response written")
        await flows.drain()

        assert order == ["response written", "step"]
        assert task.result() == "done"


async def test_spawn_outside_request_starts_at_once(data_dir: Path) -> None:
    order: list[str] = []

    async def step() -> None:
        order.append("step")

    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows

        flows.spawn(step(), name="step under test")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append("next")
        await flows.drain()

        assert order == ["step", "next"]


async def test_close_cancels_waiting_step(data_dir: Path) -> None:
    traffic = SlackTraffic(max_delay_s=NEVER_S)
    ran: list[str] = []

    async def step() -> None:
        ran.append("step")

    async with _local_bot(data_dir) as local:
        assert local.bot is not None
        flows = local.bot.flows
        coroutine = step()

        with traffic.serving():
            task = flows.spawn(coroutine, name="step under test")
            await asyncio.sleep(0)
            await flows.close()

        assert task.cancelled()
        assert ran == []
        assert coroutine.cr_frame is None  # closed, so Python does not warn that it was never awaited
