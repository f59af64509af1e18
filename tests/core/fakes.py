"""Test doubles for the decision core: a fixed table of metric readings."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from airra.actions import ActionType
from airra.categories import Category
from airra.execution.base import ServiceState
from airra.metrics import MetricsSnapshot, Reading, Signal


class TableMetrics:
    """A MetricsSource that reads values from a {service: {signal: value}} table.

    A signal missing from the table is unavailable with the reason "no series",
    as a real source reports an empty query result. Every read is recorded.
    """

    def __init__(self, table: Mapping[str, Mapping[Signal, float]] | None = None) -> None:
        self.table = {service: dict(values) for service, values in (table or {}).items()}
        self.reads: list[tuple[str, tuple[Signal, ...]]] = []

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        self.reads.append((service, tuple(signals)))
        await asyncio.sleep(0)  # yield to the event loop, as a real query would
        values = self.table.get(service, {})
        readings = {
            signal: Reading.of(service, signal, values[signal]) if signal in values
            else Reading.unavailable(service, signal, "no series")
            for signal in signals
        }
        return MetricsSnapshot(service=service, readings=readings)


class FixedHistory:
    """An OutcomeHistory with fixed (successes, trials) per pair."""

    def __init__(self, counts: Mapping[tuple[Category, ActionType], tuple[int, int]]) -> None:
        self._counts = dict(counts)

    def counts(self, category: Category, action: ActionType) -> tuple[int, int]:
        return self._counts.get((category, action), (0, 0))


class FixedPriors:
    """CategoryPriors with fixed adjustments."""

    def __init__(self, adjustments: Mapping[Category, float]) -> None:
        self._adjustments = dict(adjustments)

    def adjustment(self, category: Category) -> float:
        return self._adjustments.get(category, 0.0)


class FixedStates:
    """A state provider returning a fixed ServiceState per service."""

    def __init__(self, states: Mapping[str, ServiceState]) -> None:
        self.states = dict(states)

    async def __call__(self, service: str) -> ServiceState:
        return self.states.get(service, ServiceState(service=service))
