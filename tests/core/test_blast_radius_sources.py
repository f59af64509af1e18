"""Every kind of metrics source must produce the blast radius that the per-service ``read`` path produces.

A source may implement only ``read``, also ``read_many``, or ``read_columns``.
A batched or columnar result may list the services in another order, add
services that were not requested, leave some out or carry NaN. None of that
may change the assessment, so its score, level, elevated services and
assumptions stay those of one ``read`` per service.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airra.blast_radius import BlastAssessment, BlastRadiusCalculator, render_blast_report
from airra.metrics import MetricsSnapshot, Reading, Signal, SignalColumn, columns_from_snapshots, read_columns
from airra.topology import Topology
from tests.core.conftest import make_topology

# A table value is a float, None for "no series", or MISSING for a reading that the source leaves out.
MISSING = "missing"
Table = Mapping[str, Mapping[Signal, Any]]


class ReadOnlyMetrics:
    """A source with only ``read``. NaN and infinities are returned as values, as a careless source might."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        readings: dict[Signal, Reading] = {}
        for signal in signals:
            value = self.table.get(service, {}).get(signal)
            if value == MISSING:
                continue
            if value is None:
                readings[signal] = Reading.unavailable(service, signal, "no series")
            else:
                readings[signal] = Reading(service=service, signal=signal, value=value)
        return MetricsSnapshot(service=service, readings=readings)


class BatchMetrics(ReadOnlyMetrics):
    """A source with ``read_many`` that may reorder, add or leave out services."""

    def __init__(self, table: Table, *, order: str = "requested", extra: Sequence[str] = (),
                 left_out: Sequence[str] = ()) -> None:
        super().__init__(table)
        self.order = order
        self.extra = list(extra)
        self.left_out = set(left_out)

    def names(self, services: Sequence[str]) -> list[str]:
        names = [name for name in dict.fromkeys(services) if name not in self.left_out] + self.extra
        if self.order == "reversed":
            names.reverse()
        elif self.order == "sorted":
            names.sort()
        return names

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        return {name: await self.read(name, signals) for name in self.names(services)}


class ColumnMetrics(BatchMetrics):
    """A source with ``read_columns`` built by hand, so a reading it leaves out is in neither map."""

    def __init__(self, table: Table, *, signals_left_out: Sequence[Signal] = (), **options: Any) -> None:
        super().__init__(table, **options)
        self.signals_left_out = set(signals_left_out)

    async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
        columns = {signal: SignalColumn() for signal in signals if signal not in self.signals_left_out}
        for name in self.names(services):
            for signal, column in columns.items():
                value = self.table.get(name, {}).get(signal)
                if value == MISSING:
                    continue
                if value is None:
                    column.unavailable[name] = "no series"
                else:
                    column.values[name] = value
        return columns


def fan_topology() -> Topology:
    """Build core <- zeta and core <- alpha <- leaf, listing zeta first so that the traversal meets it before alpha."""
    return make_topology(
        {"name": "core", "criticality": "high"},
        {"name": "zeta", "depends_on": ["core"]},
        {"name": "alpha", "depends_on": ["core"]},
        {"name": "leaf", "depends_on": ["alpha"]},
    )


def healthy(**overrides: Mapping[Signal, Any]) -> dict[str, Mapping[Signal, Any]]:
    """Return the fan topology's table with 40 req/s and no errors for every service not in ``overrides``."""
    table: dict[str, Mapping[Signal, Any]] = {
        name: {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 40.0} for name in ("core", "zeta", "alpha", "leaf")
    }
    table.update(overrides)
    return table


async def assess(metrics: Any, service: str = "core", topology: Topology | None = None) -> BlastAssessment:
    return await BlastRadiusCalculator(topology or fan_topology(), metrics).calculate_blast_radius(service)


def sources(table: Table, **options: Any) -> list[Any]:
    return [ReadOnlyMetrics(table), BatchMetrics(table, **options), ColumnMetrics(table, **options)]


@pytest.mark.parametrize("order", ["requested", "reversed", "sorted"])
async def test_elevated_order_is_hops_then_name(order: str) -> None:
    hit = {Signal.ERROR_RATIO: 0.5, Signal.REQUEST_RATE: 5.0}
    table = healthy(zeta=hit, alpha=hit, leaf=hit)

    for metrics in sources(table, order=order):
        assessment = await assess(metrics)

        assert assessment.elevated_downstream == ["alpha", "zeta", "leaf"], type(metrics).__name__
        assert assessment.assumptions == []


@pytest.mark.parametrize("order", ["requested", "reversed", "sorted"])
async def test_assumptions_in_hop_then_name_order(order: str) -> None:
    for metrics in sources({}, order=order):
        assessment = await assess(metrics)

        assert assessment.elevated_downstream == ["alpha", "zeta", "leaf"], type(metrics).__name__
        assert [line.split(" unavailable")[0] for line in assessment.assumptions] == [
            "request rate of core",
            "error ratio of downstream alpha",
            "error ratio of downstream zeta",
            "error ratio of downstream leaf",
        ]


async def test_report_orders_unavailable_by_hops() -> None:
    report = render_blast_report(await assess(ReadOnlyMetrics({})))

    assumed = [line for line in report.splitlines() if "downstream" in line and "assumption" in line]
    assert [line.split("downstream ")[1].split(" ")[0] for line in assumed] == ["alpha", "zeta", "leaf"]


@pytest.mark.parametrize("kind", [BatchMetrics, ColumnMetrics])
async def test_service_left_out_counts_as_unavailable(kind: type[BatchMetrics]) -> None:
    metrics = kind(healthy(), left_out=["alpha"])

    assessment = await assess(metrics)

    assert assessment.elevated_downstream == ["alpha"]
    assert assessment.assumptions == ["error ratio of downstream alpha unavailable (not read); counted as elevated"]
    assert assessment.error_propagation == pytest.approx(1 / 3)


async def test_left_out_failing_service_assumed_rate() -> None:
    assessment = await assess(ColumnMetrics(healthy(), left_out=["core"]))

    assert assessment.request_rate is None
    assert assessment.effective_request_rate == 100.0
    assert assessment.assumptions[0].startswith("request rate of core unavailable (not read); assumed 100 req/s")
    assert assessment.elevated_downstream == []


async def test_signal_left_out_counts_as_unavailable() -> None:
    metrics = ColumnMetrics(healthy(), signals_left_out=[Signal.ERROR_RATIO])

    assessment = await assess(metrics)

    assert assessment.elevated_downstream == ["alpha", "zeta", "leaf"]
    assert assessment.assumptions[0] == "error ratio of downstream alpha unavailable (not read); counted as elevated"
    assert assessment.effective_request_rate == 40.0


async def test_unrequested_services_are_ignored() -> None:
    # ghost is not in the topology, and core's own errors are not downstream errors.
    table = healthy(core={Signal.ERROR_RATIO: 0.9, Signal.REQUEST_RATE: 40.0},
                    ghost={Signal.ERROR_RATIO: 0.9, Signal.REQUEST_RATE: 40.0})

    for metrics in (BatchMetrics(table, extra=["ghost"]), ColumnMetrics(table, extra=["ghost"])):
        assessment = await assess(metrics)

        assert assessment.elevated_downstream == []
        assert assessment.error_propagation == 0.0


@pytest.mark.parametrize("value, reason", [(math.nan, "value is NaN"), (math.inf, "value is +inf"),
                                           (-math.inf, "value is -inf")])
async def test_non_finite_error_ratio_unavailable(value: float, reason: str) -> None:
    table = healthy(alpha={Signal.ERROR_RATIO: value, Signal.REQUEST_RATE: 40.0})

    for metrics in sources(table):
        assessment = await assess(metrics)

        assert assessment.elevated_downstream == ["alpha"], type(metrics).__name__
        assert assessment.assumptions == [f"error ratio of downstream alpha unavailable ({reason}); counted as elevated"]


@pytest.mark.parametrize("value, reason", [(math.nan, "value is NaN"), (math.inf, "value is +inf")])
async def test_non_finite_request_rate_is_assumed(value: float, reason: str) -> None:
    table = healthy(core={Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: value})

    for metrics in sources(table):
        assessment = await assess(metrics)

        assert assessment.request_rate is None, type(metrics).__name__
        assert assessment.effective_request_rate == 100.0
        # 100 req/s x 10 users per req/s.
        assert assessment.estimated_users_impacted == 1000
        assert assessment.assumptions[0].startswith(f"request rate of core unavailable ({reason}); assumed 100 req/s")


async def test_high_errors_nan_rate_elevated() -> None:
    # Without a usable rate the 50 % error ratio cannot be dismissed as noise, as with no rate at all.
    table = healthy(zeta={Signal.ERROR_RATIO: 0.5, Signal.REQUEST_RATE: math.nan},
                    alpha={Signal.ERROR_RATIO: 0.5, Signal.REQUEST_RATE: None})

    for metrics in sources(table):
        assessment = await assess(metrics)

        assert assessment.elevated_downstream == ["alpha", "zeta"], type(metrics).__name__
        assert assessment.assumptions == []


async def test_cycle_excludes_failing_service() -> None:
    topology = make_topology(
        {"name": "core", "depends_on": ["alpha"]},
        {"name": "alpha", "depends_on": ["core"]},
        {"name": "leaf", "depends_on": ["alpha"]},
    )
    table = {"core": {Signal.ERROR_RATIO: 0.9, Signal.REQUEST_RATE: 40.0},
             "alpha": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 40.0},
             "leaf": {Signal.ERROR_RATIO: 0.2, Signal.REQUEST_RATE: 40.0}}

    for metrics in sources(table):
        assessment = await assess(metrics, topology=topology)

        assert assessment.downstream == {"alpha": 1, "leaf": 2}
        assert assessment.elevated_downstream == ["leaf"]


async def test_service_without_downstream() -> None:
    for metrics in sources(healthy(), order="reversed", extra=["ghost"]):
        assessment = await assess(metrics, service="leaf")

        assert assessment.downstream == {}
        assert assessment.elevated_downstream == []
        assert assessment.error_propagation == 0.0
        assert assessment.assumptions == []


async def test_read_columns_leaves_source_result_unchanged() -> None:
    class CachedColumns(ReadOnlyMetrics):
        def __init__(self) -> None:
            super().__init__({})
            self.cached = {Signal.REQUEST_RATE: SignalColumn(values={"a": 2.0})}

        async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
            return self.cached

    metrics = CachedColumns()

    columns = await read_columns(metrics, ["a"], [Signal.ERROR_RATIO, Signal.REQUEST_RATE])

    assert list(columns) == [Signal.ERROR_RATIO, Signal.REQUEST_RATE]
    assert columns[Signal.ERROR_RATIO].reason("a") == "not read"
    assert columns[Signal.REQUEST_RATE].value("a") == 2.0
    assert list(metrics.cached) == [Signal.REQUEST_RATE]


def test_snapshot_columns_keep_finite_values() -> None:
    snapshot = MetricsSnapshot(service="a", readings={
        Signal.ERROR_RATIO: Reading(service="a", signal=Signal.ERROR_RATIO, value=math.nan),
        Signal.REQUEST_RATE: Reading(service="a", signal=Signal.REQUEST_RATE, value=2.5),
    })

    columns = columns_from_snapshots({"a": snapshot}, [Signal.ERROR_RATIO, Signal.REQUEST_RATE])

    assert columns[Signal.ERROR_RATIO].values == {}
    assert columns[Signal.ERROR_RATIO].unavailable == {"a": "value is NaN"}
    assert columns[Signal.REQUEST_RATE].values == {"a": 2.5}


VALUES = st.sampled_from([None, MISSING, 0.0, 0.005, 0.01, 0.3, 0.05, 0.1, 40.0, 150.0, math.nan, math.inf, -1.0])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, dict[Signal, Any]], str]:
    """Draw a topology of up to 8 services (cycles allowed), a table of readings and the failing service."""
    count = draw(st.integers(min_value=1, max_value=8))
    names = [f"s{index}" for index in draw(st.permutations(range(count)))]
    services = []
    for name in names:
        depends_on = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        services.append({"name": name, "depends_on": [other for other in depends_on if other != name]})
    table = {name: {Signal.ERROR_RATIO: draw(VALUES), Signal.REQUEST_RATE: draw(VALUES)} for name in names}
    return services, table, draw(st.sampled_from(names))


def comparable(assessment: BlastAssessment) -> str:
    # NaN != NaN, but both print as nan, so the reprs compare equal.
    # The downstream map is sorted because its order may differ.
    fields = assessment.model_dump()
    fields["downstream"] = sorted(fields["downstream"].items())
    return repr(fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sampled_from(["requested", "reversed", "sorted"]), st.booleans())
def test_every_source_matches_read_path(world: tuple[list[dict[str, Any]], dict[str, dict[Signal, Any]], str],
                                            order: str, extra: bool) -> None:
    services, table, service = world
    topology = make_topology(*services)
    expected = asyncio.run(assess(ReadOnlyMetrics(table), service, topology))
    options: dict[str, Any] = {"order": order, "extra": ["ghost"] if extra else []}

    for metrics in (BatchMetrics(table, **options), ColumnMetrics(table, **options)):
        assessment = asyncio.run(assess(metrics, service, topology))

        assert comparable(assessment) == comparable(expected), type(metrics).__name__
        hops = [(assessment.downstream[name], name) for name in assessment.elevated_downstream]
        assert hops == sorted(hops)
