"""SlackTraffic: follow-up work waits for the Slack requests in flight, never longer than its bound."""

from __future__ import annotations

import asyncio

import pytest

from bot.traffic import SlackTraffic, current_traffic

# Long enough that no test below can pass by reaching the bound instead of by the event it checks.
NEVER_S = 60.0


async def test_wait_quiet_with_nothing_in_flight() -> None:
    traffic = SlackTraffic(max_delay_s=NEVER_S)

    waiter = asyncio.ensure_future(traffic.wait_quiet())
    await asyncio.sleep(0)

    assert waiter.done()


async def test_wait_quiet_until_last_request_finishes() -> None:
    traffic = SlackTraffic(max_delay_s=NEVER_S)
    traffic.request_started()
    traffic.request_started()

    waiter = asyncio.ensure_future(traffic.wait_quiet())
    await asyncio.sleep(0)
    assert not waiter.done()

    traffic.request_finished()
    await asyncio.sleep(0)
    assert traffic.in_flight == 1
    assert not waiter.done()

    traffic.request_finished()
    await asyncio.wait_for(waiter, timeout=5)
    assert traffic.in_flight == 0


async def test_wait_quiet_ends_at_bound() -> None:
    traffic = SlackTraffic(max_delay_s=0.0)
    traffic.request_started()

    await asyncio.wait_for(traffic.wait_quiet(), timeout=5)

    assert traffic.in_flight == 1


async def test_serving_counts_and_is_inherited() -> None:
    traffic = SlackTraffic(max_delay_s=NEVER_S)
    seen: list[tuple[SlackTraffic | None, int]] = []

    async def listener() -> None:
        seen.append((current_traffic(), traffic.in_flight))

    with traffic.serving():
        task = asyncio.ensure_future(listener())
    await task

    assert seen == [(traffic, 0)]
    assert current_traffic() is None
    assert traffic.in_flight == 0


async def test_current_without_counting() -> None:
    traffic = SlackTraffic()

    with traffic.current():
        assert current_traffic() is traffic
        assert traffic.in_flight == 0
    assert current_traffic() is None


async def test_serving_releases_count_on_error() -> None:
    traffic = SlackTraffic()

    with pytest.raises(ValueError, match="broken body"), traffic.serving():
        raise ValueError("broken body")

    assert traffic.in_flight == 0


def test_finish_without_start_rejected() -> None:
    with pytest.raises(RuntimeError, match="request_started"):
        SlackTraffic().request_finished()


def test_traffic_negative_bound_rejected() -> None:
    with pytest.raises(ValueError, match="-1"):
        SlackTraffic(max_delay_s=-1)
