"""SandboxMetrics.read_many: one pass over many services, the same readings as read."""

from __future__ import annotations

import pytest

from airra.categories import Category
from airra.metrics import BatchMetricsSource, Signal
from airra.sandbox import SandboxCluster, SandboxMetrics
from airra.topology import Topology

SIGNALS = [Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.AVAILABILITY, Signal.RESTARTS]


def _pair(topology: Topology, *faults: tuple[str, Category]) -> tuple[SandboxMetrics, SandboxMetrics]:
    """Two identical clusters with the same faults and a frozen clock, one source on each."""
    sources = []
    for _ in range(2):
        cluster = SandboxCluster(topology, seed=3, clock=lambda: 1000.0)
        for service, category in faults:
            cluster.inject_fault(service, category)
        sources.append(SandboxMetrics(cluster))
    return sources[0], sources[1]


def test_is_a_batch_source(topology: Topology) -> None:
    assert isinstance(SandboxMetrics(SandboxCluster(topology)), BatchMetricsSource)


@pytest.mark.parametrize("faults", [
    (),
    (("payment-service", Category.ERROR_SPIKE),),
    (("payment-service", Category.DATABASE_ISSUE), ("frontend", Category.NODE_FAILURE)),
])
async def test_equals_one_read_per_service(topology: Topology, faults: tuple[tuple[str, Category], ...]) -> None:
    batched, single = _pair(topology, *faults)
    names = [service.name for service in topology]

    # Two rounds: the second read of each service draws different noise, in both sources alike.
    for _ in range(2):
        many = await batched.read_many(names, SIGNALS)
        one_by_one = {name: await single.read(name, SIGNALS) for name in names}
        assert list(many) == names
        assert {name: snapshot.readings for name, snapshot in many.items()} == {
            name: snapshot.readings for name, snapshot in one_by_one.items()}


async def test_fault_reaches_downstream_through_batched_read(topology: Topology) -> None:
    batched, _ = _pair(topology, ("payment-service", Category.ERROR_SPIKE))
    downstream = topology.downstream("payment-service")
    healthy = next(service.name for service in topology
                   if service.name not in downstream and service.name != "payment-service")

    snapshots = await batched.read_many(["payment-service", *downstream, healthy], [Signal.ERROR_RATIO])

    # An error spike adds 0.12 to the error ratio; the baseline is below 0.005 and the noise ±2 %.
    assert snapshots["payment-service"].value(Signal.ERROR_RATIO) > 0.12 * 0.98
    for name, hops in downstream.items():
        assert snapshots[name].value(Signal.ERROR_RATIO) >= 0.12 * 0.5**hops * 0.98
    assert snapshots[healthy].value(Signal.ERROR_RATIO) < 0.005 * 1.02


async def test_repeated_and_unknown_names(topology: Topology) -> None:
    batched, _ = _pair(topology)

    snapshots = await batched.read_many(["frontend", "frontend", "no-such-service"], [Signal.REQUEST_RATE])

    assert list(snapshots) == ["frontend", "no-such-service"]
    assert batched._reads["frontend"] == 1
    reason = snapshots["no-such-service"].unavailable()[Signal.REQUEST_RATE]
    assert "no-such-service" in reason
