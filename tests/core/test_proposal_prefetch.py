"""A proposal reads its metrics in batches: one read per set of signals, nothing twice."""

from __future__ import annotations

from collections.abc import Sequence

from airra.metrics import MetricsSnapshot, Reading, Signal
from airra.proposal import ReadOnceMetrics


class CountingBatchSource:
    def __init__(self) -> None:
        self.batches: list[tuple[tuple[str, ...], tuple[Signal, ...]]] = []

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        raise AssertionError("a batched source must not be read one service at a time")

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        self.batches.append((tuple(services), tuple(signals)))
        return {
            name: MetricsSnapshot(service=name, readings={
                signal: Reading.of(name, signal, float(len(name))) for signal in signals
            })
            for name in services
        }


async def test_prefetch_batches_services_by_signals() -> None:
    source = CountingBatchSource()
    metrics = ReadOnceMetrics(source)
    downstream = {Signal.ERROR_RATIO, Signal.REQUEST_RATE}

    await metrics.prefetch({
        "orders": set(Signal),
        "api-gateway": downstream,
        "frontend": downstream,
    })

    assert sorted(source.batches) == sorted([
        (("api-gateway", "frontend"), tuple(sorted(downstream))),
        (("orders",), tuple(sorted(Signal))),
    ])
    snapshot = await metrics.read("frontend", [Signal.REQUEST_RATE])
    assert snapshot.value(Signal.REQUEST_RATE) == 8.0
    assert len(source.batches) == 2


async def test_read_many_queries_only_missing() -> None:
    source = CountingBatchSource()
    metrics = ReadOnceMetrics(source)
    await metrics.read_many(["orders"], [Signal.ERROR_RATIO])

    result = await metrics.read_many(["orders", "cart"], [Signal.ERROR_RATIO])

    assert source.batches == [(("orders",), (Signal.ERROR_RATIO,)), (("cart",), (Signal.ERROR_RATIO,))]
    assert result["cart"].value(Signal.ERROR_RATIO) == 4.0
    assert result["orders"].value(Signal.ERROR_RATIO) == 6.0
