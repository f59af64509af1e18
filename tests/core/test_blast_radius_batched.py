"""The blast radius reads its metrics through one batched or columnar read when the source offers one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airra.blast_radius import BlastLevel, BlastRadiusCalculator, _elevated_downstream, is_error_ratio_elevated
from airra.metrics import (BatchMetricsSource, ColumnMetricsSource, MetricsSnapshot, Signal, SignalColumn,
                           read_columns, read_many)
from airra.topology import Topology
from tests.core.conftest import make_topology
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
    # The service first, then its downstream services nearest first.
    assert metrics.batches == [(("core", "mid", "side", "edge"), (Signal.ERROR_RATIO, Signal.REQUEST_RATE))]
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


class ColumnTableMetrics(TableMetrics):
    """TableMetrics with a read_columns that records each call and reads only the table."""

    def __init__(self, table: Mapping[str, Mapping[Signal, float]]) -> None:
        super().__init__(table)
        self.column_reads: list[tuple[tuple[str, ...], tuple[Signal, ...]]] = []

    async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
        self.column_reads.append((tuple(services), tuple(signals)))
        columns = {signal: SignalColumn() for signal in signals}
        for service in dict.fromkeys(services):
            for signal, column in columns.items():
                value = self.table.get(service, {}).get(signal)
                if value is None:
                    column.unavailable[service] = "no series"
                else:
                    column.values[service] = float(value)
        return columns


async def test_columnar_source_read_once_and_agrees(star_topology: Topology) -> None:
    metrics = ColumnTableMetrics(TABLE)
    assert isinstance(metrics, ColumnMetricsSource)

    columnar = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")
    single = await BlastRadiusCalculator(star_topology, TableMetrics(TABLE)).calculate_blast_radius("core")

    assert metrics.reads == []
    assert metrics.column_reads == [(("core", "mid", "side", "edge"), (Signal.ERROR_RATIO, Signal.REQUEST_RATE))]
    assert columnar == single
    assert columnar.elevated_downstream == ["mid", "side"]


async def test_fast_path_hop_order_and_rates(star_topology: Topology) -> None:
    # Every downstream error ratio is known, so the calculator takes its fast path.
    # mid's error ratio is high, but its 0.05 req/s is below the 0.1 req/s at which a ratio counts.
    table = {
        "core": {Signal.REQUEST_RATE: 50},
        "edge": {Signal.ERROR_RATIO: 0.2, Signal.REQUEST_RATE: 3},
        "mid": {Signal.ERROR_RATIO: 0.5, Signal.REQUEST_RATE: 0.05},
        "side": {Signal.ERROR_RATIO: 0.01},
    }
    metrics = ColumnTableMetrics(table)

    assessment = await BlastRadiusCalculator(star_topology, metrics).calculate_blast_radius("core")

    # side's rate is unknown, so its 1 % error ratio cannot be dismissed as noise.
    assert assessment.elevated_downstream == ["side", "edge"]
    assert assessment.error_propagation == pytest.approx(2 / 3)
    assert assessment.assumptions == []
    single = await BlastRadiusCalculator(star_topology, TableMetrics(table)).calculate_blast_radius("core")
    assert assessment == single


async def test_columns_fall_back_to_snapshots() -> None:
    metrics = TableMetrics({"a": {Signal.REQUEST_RATE: 3.0, Signal.ERROR_RATIO: 0.25}, "b": {Signal.REQUEST_RATE: 4.0}})

    columns = await read_columns(metrics, ["b", "a", "b"], [Signal.REQUEST_RATE, Signal.ERROR_RATIO])

    assert list(columns) == [Signal.REQUEST_RATE, Signal.ERROR_RATIO]
    assert columns[Signal.REQUEST_RATE].values == {"b": 4.0, "a": 3.0}
    assert columns[Signal.REQUEST_RATE].unavailable == {}
    assert columns[Signal.ERROR_RATIO].values == {"a": 0.25}
    assert columns[Signal.ERROR_RATIO].unavailable == {"b": "no series"}
    assert columns[Signal.ERROR_RATIO].value("b") is None
    assert columns[Signal.ERROR_RATIO].reason("b") == "no series"
    assert columns[Signal.ERROR_RATIO].reason("never-asked") == "not read"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from([0.0, 0.009, 0.01, 0.3])),
                          st.one_of(st.none(), st.sampled_from([0.0, 0.05, 0.1, 40.0])),
                          st.integers(min_value=1, max_value=4)),
                min_size=0, max_size=12))
def test_elevated_set_matches_documented_rule(rows: list[tuple[float | None, float | None, int]]) -> None:
    # Each row is one downstream service: (error ratio or unavailable, request rate or unavailable, hops).
    names = [f"s{index:02d}" for index in range(len(rows))]
    downstream = dict(sorted(((name, hops) for name, (_, _, hops) in zip(names, rows)), key=lambda item: item[1]))
    errors, rates = SignalColumn(), SignalColumn()
    for name, (ratio, rate, _) in zip(names, rows):
        if ratio is None:
            errors.unavailable[name] = "no series"
        else:
            errors.values[name] = ratio
        if rate is None:
            rates.unavailable[name] = "no series"
        else:
            rates.values[name] = rate

    elevated, assumptions = _elevated_downstream(downstream, errors, rates)

    expected = [name for name in downstream
                if errors.value(name) is None or is_error_ratio_elevated(errors.values[name], rates.value(name))]
    assert elevated == expected
    # Every unavailable ratio here has the same reason, so up to three get one line each and more share one line.
    unavailable = sum(1 for name in downstream if errors.value(name) is None)
    assert len(assumptions) == (unavailable if unavailable <= 3 else 1)


async def test_unavailable_error_ratios_share_assumption() -> None:
    # hub has seven services downstream, a1..a4 at one hop (a4 reads fine) and b1..b3 behind a1 at two.
    # Five have no error ratio for the same reason, so they share one line that names the three nearest.
    # b3's reason differs, so it keeps a line of its own.
    topology = make_topology(
        {"name": "hub"},
        *({"name": name, "depends_on": ["hub"]} for name in ("a1", "a2", "a3", "a4")),
        *({"name": name, "depends_on": ["a1"]} for name in ("b1", "b2", "b3")),
    )
    columns = {
        Signal.ERROR_RATIO: SignalColumn(values={"a4": 0.0},
                                         unavailable={**dict.fromkeys(("hub", "a1", "a2", "a3", "b1", "b2"),
                                                                      "unreachable"), "b3": "no series"}),
        Signal.REQUEST_RATE: SignalColumn(values={"hub": 10.0, "a4": 5.0}),
    }

    class Columns(TableMetrics):
        async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
            return columns

    assessment = await BlastRadiusCalculator(topology, Columns()).calculate_blast_radius("hub")

    assert assessment.elevated_downstream == ["a1", "a2", "a3", "b1", "b2", "b3"]
    assert assessment.error_propagation == pytest.approx(6 / 7)
    assert assessment.assumptions == [
        "error ratio of 5 downstream services unavailable (unreachable): a1, a2, a3 and 2 more, nearest first; "
        "all counted as elevated",
        "error ratio of downstream b3 unavailable (no series); counted as elevated",
    ]
