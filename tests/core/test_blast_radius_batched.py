"""The blast radius reads its metrics through one batched read when the source offers one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from airra.blast_radius import BlastLevel, BlastRadiusCalculator
from airra.metrics import BatchMetricsSource, MetricsSnapshot, Signal, read_many
from airra.topology import Topology
from tests.core.fakes import TableMetrics

TABLE: Mapping[str, Mapping[Signal, float]] = {
    "core": {Signal.REQUEST_RATE: 50},
    "mid": {Signal.ERROR_RATIO: 0.05, Signal.REQUEST_RATE: 5},
    "edge": {Signal.ERROR_RATIO: 0.002, Signal.REQUEST_RATE: 5},
    "side": {Signal.REQUEST_RATE: 2},
}


class BatchTableMetrics(TableMetrics):
    """TableMetrics with a read_many that records each batched call."""

    def __init__(self, table: Mapping[str, Mapping[Signal, float]]) -> None:
        super().__init__(table)
        self.batches: list[tuple[tuple[str, ...], tuple[Signal, ...]]] = []

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        self.batches.append((tuple(services), tuple(signals)))
        table = TableMetrics(self.table)
        return {service: await table.read(service, signals) for service in dict.fromkeys(services)}


async def test_one_batched_read_for_service_and_downstream(star_topology: Topology) -> None:
    metrics = BatchTableMetrics(TABLE)
    assert isinstance(metrics, BatchMetricsSource)

    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")

    assert metrics.reads == []
    assert metrics.batches == [(("core", "edge", "mid", "side"), (Signal.ERROR_RATIO, Signal.REQUEST_RATE))]
    # side has no error ratio, so it counts as elevated: propagation 2/3.
    # 0.30·0.3 + 0.25·0.5 + 0.25·(2/3) + 0.20·1.0 = 0.5817
    assert assessment.elevated_downstream == ["mid", "side"]
    assert round(assessment.score, 4) == 0.5817
    assert assessment.level is BlastLevel.MEDIUM
    assert assessment.assumptions == [
        "error ratio of downstream side unavailable (no series); counted as elevated"]


async def test_batched_and_per_service_sources_agree(star_topology: Topology) -> None:
    batched = await BlastRadiusCalculator(star_topology, BatchTableMetrics(TABLE)).calculate_blast_radius("core")
    single = await BlastRadiusCalculator(star_topology, TableMetrics(TABLE)).calculate_blast_radius("core")

    assert batched == single
    assert list(batched.downstream.items()) == [("mid", 1), ("side", 1), ("edge", 2)]


async def test_helper_falls_back_to_one_read_per_service() -> None:
    metrics = TableMetrics({"a": {Signal.REQUEST_RATE: 3.0}, "b": {Signal.REQUEST_RATE: 4.0}})

    snapshots = await read_many(metrics, ["b", "a", "b"], [Signal.REQUEST_RATE])

    assert list(snapshots) == ["b", "a"]
    assert snapshots["a"].value(Signal.REQUEST_RATE) == 3.0
    assert snapshots["b"].value(Signal.REQUEST_RATE) == 4.0
    assert sorted(metrics.reads) == [("a", (Signal.REQUEST_RATE,)), ("b", (Signal.REQUEST_RATE,))]


async def test_helper_uses_the_sources_batched_read() -> None:
    metrics = BatchTableMetrics({"a": {Signal.ERROR_RATIO: 0.5}})

    snapshots = await read_many(metrics, ["a", "z"], [Signal.ERROR_RATIO])

    assert metrics.reads == []
    assert metrics.batches == [(("a", "z"), (Signal.ERROR_RATIO,))]
    assert snapshots["a"].value(Signal.ERROR_RATIO) == pytest.approx(0.5)
    assert snapshots["z"].unavailable() == {Signal.ERROR_RATIO: "no series"}
