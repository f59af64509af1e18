"""The metrics-source interface used by blast radius, diagnosis and verification.

A reading is either a float or explicitly unavailable with its reason. An
empty result is "no series", never zero, and NaN never reaches a threshold.

A source may also read many services at once (``BatchMetricsSource``).
Callers that read many services go through the module-level ``read_many``.
It uses the batched read when the source has one, and otherwise one
``read`` per service.

``read_columns`` returns the same values by signal instead of by service:
one ``SignalColumn`` of plain floats per signal. Callers that look at one or
two signals of thousands of services use it, such as the blast radius of a
shared back end: there, one snapshot per service cost more than the traversal
of the graph. A source may serve it natively
(``ColumnMetricsSource``); otherwise it is built from ``read_many``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel


class Signal(StrEnum):
    """A metric AIRRA reads about a service. Units are in the value names."""

    REQUEST_RATE = "request_rate"  # requests per second
    ERROR_RATIO = "error_ratio"  # 5xx / all requests, 0..1
    LATENCY_P95 = "latency_p95"  # seconds
    LATENCY_P99 = "latency_p99"  # seconds
    AVAILABILITY = "availability"  # share of targets up, 0..1
    CPU_UTILIZATION = "cpu_utilization"  # share of the CPU limit, 0..1+
    MEMORY_UTILIZATION = "memory_utilization"  # share of the memory limit, 0..1
    MEMORY_GROWTH = "memory_growth"  # relative growth of working set per hour
    RESTARTS = "restarts"  # container restarts within the window
    ROLLOUT_AGE = "rollout_age"  # seconds since the newest rollout started

    @property
    def unit(self) -> str:
        return _UNITS[self]


_UNITS = {
    Signal.REQUEST_RATE: "req/s",
    Signal.ERROR_RATIO: "ratio",
    Signal.LATENCY_P95: "s",
    Signal.LATENCY_P99: "s",
    Signal.AVAILABILITY: "ratio",
    Signal.CPU_UTILIZATION: "ratio",
    Signal.MEMORY_UTILIZATION: "ratio",
    Signal.MEMORY_GROWTH: "ratio/h",
    Signal.RESTARTS: "count",
    Signal.ROLLOUT_AGE: "s",
}


class Reading(BaseModel):
    """One metric value for one service, or the reason it is unavailable."""

    service: str
    signal: Signal
    value: float | None = None
    unavailable_reason: str | None = None
    query: str | None = None

    @property
    def available(self) -> bool:
        return self.value is not None

    @classmethod
    def of(cls, service: str, signal: Signal, value: float, *, query: str | None = None) -> Reading:
        """Build a reading, turning NaN and infinities into "unavailable"."""
        if math.isnan(value):
            return cls.unavailable(service, signal, "value is NaN", query=query)
        if math.isinf(value):
            return cls.unavailable(service, signal, f"value is {value:+}", query=query)
        return cls(service=service, signal=signal, value=value, query=query)

    @classmethod
    def unavailable(cls, service: str, signal: Signal, reason: str, *, query: str | None = None) -> Reading:
        return cls(service=service, signal=signal, unavailable_reason=reason, query=query)


class MetricsSnapshot(BaseModel):
    """Readings of several signals for one service at one time."""

    service: str
    readings: dict[Signal, Reading]

    def value(self, signal: Signal) -> float | None:
        reading = self.readings.get(signal)
        return reading.value if reading is not None else None

    def unavailable(self) -> dict[Signal, str]:
        """Signals that have no value, with their reasons."""
        return {
            signal: reading.unavailable_reason or "not read"
            for signal, reading in self.readings.items()
            if not reading.available
        }


@runtime_checkable
class MetricsSource(Protocol):
    """Reads current metric values for services.

    Implementations run the queries of one call concurrently, so a call costs
    about one query's latency, and never raise for an unavailable metric: they
    return a ``Reading`` with ``unavailable_reason`` instead.
    """

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot: ...


@runtime_checkable
class BatchMetricsSource(Protocol):
    """A ``MetricsSource`` that can also read many services in one call.

    This is an optional addition to ``MetricsSource``: a source with a
    ``read_many`` reads each signal for all the services together (one query
    per signal against Prometheus instead of one per service). The result has
    a snapshot for every distinct service asked, with every signal asked, and
    the readings equal what ``read`` returns for the same services.
    """

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot: ...

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]: ...


async def read_many(source: MetricsSource, services: Sequence[str],
                    signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
    """Read ``signals`` of every service in ``services``, keyed by service name.

    Uses the source's own ``read_many`` when it has one, and otherwise runs one
    ``read`` per distinct service concurrently, so every source works here.
    """
    batched = getattr(source, "read_many", None)
    if batched is not None:
        return await batched(services, signals)

    unique = list(dict.fromkeys(services))
    snapshots = await asyncio.gather(*(source.read(service, signals) for service in unique))
    return dict(zip(unique, snapshots))


@dataclass(slots=True)
class SignalColumn:
    """One signal for many services: each service asked is in exactly one of the two maps.

    ``values`` maps services to finite floats, in the order they were asked;
    ``unavailable`` maps every service without a value to the reason.
    ``value`` and ``reason`` also hold for a source that breaks this
    contract: a service in neither map is "not read", and a value that is
    not finite is unavailable, as ``Reading.of`` treats it.
    """

    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def value(self, service: str) -> float | None:
        """Return the value of ``service``, or None when it has no finite value."""
        value = self.values.get(service)
        if value is None or not math.isfinite(value):
            return None
        return value

    def reason(self, service: str) -> str:
        """Return why ``service`` has no value; "not read" when it is in neither map."""
        value = self.values.get(service)
        if value is not None and not math.isfinite(value):
            return _non_finite_reason(value)
        return self.unavailable.get(service, "not read")


def _non_finite_reason(value: float) -> str:
    """Return the reason ``Reading.of`` gives a NaN or infinite value."""
    return "value is NaN" if math.isnan(value) else f"value is {value:+}"


@runtime_checkable
class ColumnMetricsSource(Protocol):
    """A ``MetricsSource`` that can also return many services' values by signal.

    The values equal those of ``read_many`` for the same services and signals.
    """

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot: ...

    async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]: ...


def columns_from_snapshots(snapshots: Mapping[str, MetricsSnapshot],
                           signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
    """Turn snapshots keyed by service into one column per signal."""
    columns = {signal: SignalColumn() for signal in dict.fromkeys(signals)}
    for service, snapshot in snapshots.items():
        for signal, column in columns.items():
            reading = snapshot.readings.get(signal)
            if reading is None:
                column.unavailable[service] = "not read"
            elif reading.value is None:
                column.unavailable[service] = reading.unavailable_reason or "not read"
            elif math.isfinite(reading.value):
                column.values[service] = reading.value
            else:
                # A source that built its Reading without Reading.of can hand over NaN or an infinity.
                column.unavailable[service] = _non_finite_reason(reading.value)
    return columns


async def read_columns(source: MetricsSource, services: Sequence[str],
                       signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
    """Read ``signals`` of every service in ``services``, one column per signal.

    Uses the source's own ``read_columns`` when it has one, and otherwise
    ``read_many`` (batched or one ``read`` per service). Every signal asked
    has a column: one the source left out is empty, so its services read as "not read".
    """
    columnar = getattr(source, "read_columns", None)
    if columnar is None:
        return columns_from_snapshots(await read_many(source, services, signals), signals)

    # A new dict, so a cached result that the source hands over is never changed.
    columns = await columnar(services, signals)
    return {signal: columns.get(signal, SignalColumn()) for signal in dict.fromkeys(signals)}
