"""PrometheusMetrics.read_many against a real Prometheus scraping the fake exporter.

The expected values follow from the exporter's loads as worked out in
test_prometheus_integration: rate() of a constant load within 2 %, the
error ratio exact, p95 interpolated inside its bucket (0.4875 for 0.3 s,
0.04875 for 0.05 s), and 0/0 = NaN for a service with no requests. Here
they must come out of one query per signal for all the services.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from airra.metrics import Signal
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.transport import QueryTransport
from airra.settings import Settings
from airra.topology import Topology
from tests.support.promstack import PromStack, prom_stack

pytestmark = pytest.mark.integration

RATE_WINDOW = "5s"
SETTLE_S = 7.0
NAN_REASON = "value is NaN (for example 0/0: no requests in the window)"


class CountingTransport:
    """A transport that passes queries to the real transport and records each one."""

    def __init__(self, transport: QueryTransport) -> None:
        self.transport = transport
        self.queries: list[str] = []

    async def query(self, promql: str) -> Any:
        self.queries.append(promql)
        return await self.transport.query(promql)

    async def close(self) -> None:
        await self.transport.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    directory = tmp_path_factory.mktemp("promstack-many")
    with prom_stack(directory, services=["orders", "payment-service", "cart", "inventory"],
                    rules={}, rate_rps=10.0, latency_s=0.05) as started:
        started.exporter.set_load("orders", error_ratio=0.2, client_error_ratio=0.1, latency_s=0.3)
        started.exporter.set_load("payment-service", rate_rps=4.0)
        started.exporter.set_load("cart", rate_rps=0.0)
        started.exporter.set_load("inventory", up=False)
        time.sleep(SETTLE_S)
        yield started


@pytest.fixture(params=["aiohttp", "prometheus-api-client"])
async def metrics(request: pytest.FixtureRequest, stack: PromStack, settings: Settings,
                  topology: Topology) -> AsyncIterator[tuple[PrometheusMetrics, CountingTransport]]:
    configured = settings.model_copy(update={"prometheus_url": stack.prometheus.url, "rate_window": RATE_WINDOW,
                                             "query_timeout_s": 5.0, "prometheus_client": request.param})
    source = PrometheusMetrics(configured, topology)
    counting = CountingTransport(source.transport)
    source.transport = counting
    yield source, counting
    await source.close()


async def test_request_rates_of_several_services_from_one_query(
        metrics: tuple[PrometheusMetrics, CountingTransport]) -> None:
    source, client = metrics

    snapshots = await source.read_many(["orders", "payment-service", "cart"], [Signal.REQUEST_RATE])

    assert len(client.queries) == 1
    assert snapshots["orders"].value(Signal.REQUEST_RATE) == pytest.approx(10.0, rel=0.02)
    assert snapshots["payment-service"].value(Signal.REQUEST_RATE) == pytest.approx(4.0, rel=0.02)
    assert snapshots["cart"].value(Signal.REQUEST_RATE) == 0.0


async def test_one_query_per_signal_with_exact_values(metrics: tuple[PrometheusMetrics, CountingTransport]) -> None:
    source, client = metrics
    signals = [Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99, Signal.AVAILABILITY]

    snapshots = await source.read_many(["orders", "payment-service", "cart", "inventory", "search"], signals)

    assert len(client.queries) == len(signals)
    orders, payment, cart = snapshots["orders"], snapshots["payment-service"], snapshots["cart"]
    assert orders.value(Signal.ERROR_RATIO) == pytest.approx(0.2, abs=1e-9)
    assert orders.value(Signal.LATENCY_P95) == pytest.approx(0.4875, abs=1e-9)
    assert orders.value(Signal.LATENCY_P99) == pytest.approx(0.4975, abs=1e-9)
    assert orders.value(Signal.AVAILABILITY) == 1.0
    assert payment.value(Signal.ERROR_RATIO) == 0.0
    assert payment.value(Signal.LATENCY_P95) == pytest.approx(0.04875, abs=1e-9)
    assert cart.unavailable() == {Signal.ERROR_RATIO: NAN_REASON, Signal.LATENCY_P95: NAN_REASON,
                                  Signal.LATENCY_P99: NAN_REASON}
    assert cart.value(Signal.AVAILABILITY) == 1.0
    assert snapshots["inventory"].value(Signal.AVAILABILITY) == 0.0
    assert snapshots["search"].unavailable() == {
        signal: "no series: the query matched nothing for this service" for signal in signals}


async def test_batched_values_equal_single_reads(metrics: tuple[PrometheusMetrics, CountingTransport]) -> None:
    source, _ = metrics
    names = ["orders", "payment-service", "cart"]
    signals = [Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.AVAILABILITY]

    many = await source.read_many(names, signals)
    single = {name: await source.read(name, signals) for name in names}

    for name in names:
        for signal in signals:
            assert many[name].readings[signal].value == pytest.approx(single[name].readings[signal].value, abs=1e-9)
            assert many[name].readings[signal].available == single[name].readings[signal].available


async def test_read_signals_one_query_per_signal(metrics: tuple[PrometheusMetrics, CountingTransport]) -> None:
    source, client = metrics
    needs = {
        "orders": [Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.AVAILABILITY],
        "payment-service": [Signal.REQUEST_RATE, Signal.ERROR_RATIO],
        "inventory": [Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.AVAILABILITY],
    }

    snapshots = await source.read_signals(needs)

    assert len(client.queries) == 4
    assert {name: list(snapshot.readings) for name, snapshot in snapshots.items()} == needs
    assert snapshots["orders"].value(Signal.REQUEST_RATE) == pytest.approx(10.0, rel=0.02)
    assert snapshots["orders"].value(Signal.ERROR_RATIO) == pytest.approx(0.2, abs=1e-9)
    assert snapshots["orders"].value(Signal.LATENCY_P95) == pytest.approx(0.4875, abs=1e-9)
    assert snapshots["orders"].value(Signal.AVAILABILITY) == 1.0
    assert snapshots["payment-service"].value(Signal.REQUEST_RATE) == pytest.approx(4.0, rel=0.02)
    assert snapshots["payment-service"].value(Signal.ERROR_RATIO) == 0.0
    assert snapshots["inventory"].value(Signal.AVAILABILITY) == 0.0


async def test_columns_equal_read_many(metrics: tuple[PrometheusMetrics, CountingTransport]) -> None:
    source, _ = metrics
    names = ["orders", "payment-service", "cart", "search"]
    signals = [Signal.ERROR_RATIO, Signal.REQUEST_RATE, Signal.AVAILABILITY]

    columns = await source.read_columns(names, signals)
    many = await source.read_many(names, signals)

    for signal in signals:
        assert list(columns[signal].values) == [name for name in names if many[name].value(signal) is not None]
        for name in names:
            reading = many[name].readings[signal]
            if reading.value is None:
                assert columns[signal].reason(name) == reading.unavailable_reason
            else:
                assert columns[signal].value(name) == pytest.approx(reading.value, abs=1e-9)
    assert columns[Signal.AVAILABILITY].reason("search") == "no series: the query matched nothing for this service"
