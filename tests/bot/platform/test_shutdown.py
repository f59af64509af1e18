"""Shutdown lets running work finish within a grace period, then cancels the rest."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot import serve


class _Flows:
    def __init__(self, work_s: float) -> None:
        self.finished = False
        self.task = asyncio.get_running_loop().create_task(self._work(work_s))

    async def _work(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.finished = True

    async def drain(self) -> None:
        await asyncio.shield(self.task)


async def test_shutdown_waits_for_running_work() -> None:
    flows = _Flows(0.2)

    await serve._finish_work(SimpleNamespace(flows=flows))

    assert flows.finished is True


async def test_shutdown_stops_waiting_after_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "SHUTDOWN_GRACE_S", 0.1)
    flows = _Flows(30)

    await serve._finish_work(SimpleNamespace(flows=flows))

    assert flows.finished is False
    flows.task.cancel()
