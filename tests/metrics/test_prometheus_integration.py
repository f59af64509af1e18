"""PrometheusMetrics against a real Prometheus scraping the fake exporter.

Expected values, worked out from the exporter's load and PromQL semantics:

* The exporter's counters grow linearly in wall-clock time. rate() over a
  window whose samples all saw one load returns that load's slope, because
  Prometheus extrapolates the increase to the window edges proportionally.
  The only error is the gap between a scrape's timestamp and the moment the
  exporter computes its values. That gap is milliseconds, but it varies
  between scrapes on a busy machine: a 40 ms difference over the 4 s sampled
  span is 1 %, so 10 req/s must read within 2 %.
* Errors and all requests come from the same scrape, so the error ratio is
  the load's exact share: 0.2 up to float rounding.
* Every request of a service takes the same latency L, so all of them sit in
  the bucket (lower, upper] containing L, and histogram_quantile interpolates
  linearly: p = lower + (upper - lower) * q. For L = 0.3 s in (0.25, 0.5]:
  p95 = 0.4875, p99 = 0.4975. For L = 0.05 s in (0.025, 0.05]: p95 = 0.04875.
* A service with no requests gives 0/0 = NaN as its error ratio.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from airra.metrics import Signal
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.queries import QueryConfig
from airra.settings import Settings
from airra.topology import Topology
from tests.support.promstack import FakeExporter, PromStack, prom_stack, prometheus_server

pytestmark = pytest.mark.integration

RATE_WINDOW = "5s"
# A window of 5 s plus two 1 s scrapes: after this, every sample in the window saw the new load.
SETTLE_S = 7.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    directory = tmp_path_factory.mktemp("promstack")
    with prom_stack(directory, services=["orders", "payment-service", "cart", "inventory"],
                    rules={}, rate_rps=10.0, latency_s=0.05) as started:
        started.exporter.set_load("orders", error_ratio=0.2, client_error_ratio=0.1, latency_s=0.3)
        started.exporter.set_load("payment-service", rate_rps=4.0)
        started.exporter.set_load("cart", rate_rps=0.0)
        started.exporter.set_load("inventory", up=False)
        time.sleep(SETTLE_S)
        yield started


@pytest.fixture(params=["aiohttp", "prometheus-api-client"])
def client_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The settings with each of the two HTTP clients, so that every test runs against both."""
    return settings.model_copy(update={"prometheus_client": request.param})


@pytest.fixture
async def metrics(stack: PromStack, client_settings: Settings, topology: Topology) -> AsyncIterator[PrometheusMetrics]:
    configured = client_settings.model_copy(update={"prometheus_url": stack.prometheus.url,
                                                    "rate_window": RATE_WINDOW, "query_timeout_s": 5.0})
    source = PrometheusMetrics(configured, topology)
    yield source
    await source.close()


async def test_request_rate_sums_pods_and_statuses(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("orders", [Signal.REQUEST_RATE])
    assert snapshot.value(Signal.REQUEST_RATE) == pytest.approx(10.0, rel=0.02)


async def test_error_ratio_counts_only_5xx(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("orders", [Signal.ERROR_RATIO])
    assert snapshot.value(Signal.ERROR_RATIO) == pytest.approx(0.2, abs=1e-9)


async def test_latency_quantiles_interpolate_bucket(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("orders", [Signal.LATENCY_P95, Signal.LATENCY_P99])

    assert snapshot.value(Signal.LATENCY_P95) == pytest.approx(0.4875, abs=1e-9)
    assert snapshot.value(Signal.LATENCY_P99) == pytest.approx(0.4975, abs=1e-9)


async def test_healthy_service_values(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("payment-service", [Signal.REQUEST_RATE, Signal.ERROR_RATIO,
                                                      Signal.LATENCY_P95, Signal.AVAILABILITY])

    assert snapshot.value(Signal.REQUEST_RATE) == pytest.approx(4.0, rel=0.02)
    assert snapshot.value(Signal.ERROR_RATIO) == 0.0
    assert snapshot.value(Signal.LATENCY_P95) == pytest.approx(0.04875, abs=1e-9)
    assert snapshot.value(Signal.AVAILABILITY) == 1.0


async def test_idle_service_ratio_is_nan(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("cart", [Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95])

    assert snapshot.value(Signal.REQUEST_RATE) == 0.0
    assert snapshot.readings[Signal.ERROR_RATIO].unavailable_reason == (
        "value is NaN (for example 0/0: no requests in the window)")
    assert snapshot.readings[Signal.LATENCY_P95].unavailable_reason == (
        "value is NaN (for example 0/0: no requests in the window)")


async def test_down_service_availability_zero(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("inventory", [Signal.AVAILABILITY])
    assert snapshot.value(Signal.AVAILABILITY) == 0.0


async def test_unexported_service_has_no_series(metrics: PrometheusMetrics) -> None:
    snapshot = await metrics.read("search", [Signal.REQUEST_RATE, Signal.AVAILABILITY])

    assert snapshot.unavailable() == {
        Signal.REQUEST_RATE: "no series: the query matched nothing",
        Signal.AVAILABILITY: "no series: the query matched nothing",
    }


async def test_self_check_lists_kubernetes_signals(metrics: PrometheusMetrics) -> None:
    missing = await metrics.check("orders")

    assert set(missing) == {Signal.CPU_UTILIZATION, Signal.MEMORY_UTILIZATION, Signal.MEMORY_GROWTH,
                            Signal.RESTARTS, Signal.ROLLOUT_AGE}
    assert set(missing.values()) == {"no series: the query matched nothing"}


async def test_prometheus_errors_become_reasons(stack: PromStack, client_settings: Settings,
                                                topology: Topology) -> None:
    queries = QueryConfig({
        Signal.REQUEST_RATE: 'sum(rate(http_requests_total{service="$service"}[$window])',
        Signal.ERROR_RATIO: 'http_requests_total{service="$service"} * on(service) http_requests_total',
        Signal.AVAILABILITY: 'up{service="$service"}[$window]',
        Signal.LATENCY_P95: "1/0",
        Signal.LATENCY_P99: 'http_requests_total{service="$service"}',
    })
    configured = client_settings.model_copy(update={"prometheus_url": stack.prometheus.url,
                                                    "rate_window": RATE_WINDOW})
    metrics = PrometheusMetrics(configured, topology, queries=queries)
    try:
        reasons = (await metrics.read("orders", list(queries.defaults)[:5])).unavailable()
    finally:
        await metrics.close()

    assert reasons[Signal.REQUEST_RATE].startswith("bad_data: invalid parameter \"query\": ")
    assert "unclosed left parenthesis" in reasons[Signal.REQUEST_RATE]
    assert reasons[Signal.ERROR_RATIO].startswith("execution: found duplicate series for the match group")
    assert reasons[Signal.AVAILABILITY].startswith("range vector")
    assert reasons[Signal.LATENCY_P95] == "value is +inf"
    assert reasons[Signal.LATENCY_P99].startswith("8 series: the query is not aggregated")


async def test_stopped_prometheus_is_unreachable(stack: PromStack, client_settings: Settings, topology: Topology,
                                                 tmp_path: Path) -> None:
    exporter: FakeExporter = stack.exporter
    with prometheus_server(tmp_path / "second", exporter=exporter, rules={}) as server:
        configured = client_settings.model_copy(update={"prometheus_url": server.url, "rate_window": RATE_WINDOW,
                                                        "query_timeout_s": 2.0})
        metrics = PrometheusMetrics(configured, topology)
        try:
            before = await metrics.read("payment-service", [Signal.AVAILABILITY])

            # The first read left an open keep-alive connection, which the stop closes.
            server.stop()
            after = await metrics.read("payment-service", [Signal.AVAILABILITY, Signal.REQUEST_RATE])
        finally:
            await metrics.close()

    assert before.value(Signal.AVAILABILITY) == 1.0
    expected = f"unreachable: cannot connect to Prometheus at {server.url} (Connection refused)"
    assert after.unavailable() == {Signal.AVAILABILITY: expected, Signal.REQUEST_RATE: expected}


async def test_query_timeout_is_prometheus_timeout(stack: PromStack, client_settings: Settings,
                                                    topology: Topology) -> None:
    # A microsecond is too short for any evaluation, so Prometheus itself gives up.
    configured = client_settings.model_copy(update={"prometheus_url": stack.prometheus.url,
                                                    "rate_window": RATE_WINDOW, "query_timeout_s": 1e-6})
    metrics = PrometheusMetrics(configured, topology)
    try:
        snapshot = await metrics.read("orders", [Signal.REQUEST_RATE])
    finally:
        await metrics.close()

    # The reason must be Prometheus's own timeout error, not the client's. That
    # error names the stage the deadline passed in, which on a busy machine may
    # be the queue, the preparation or the evaluation of the query.
    reason = snapshot.readings[Signal.REQUEST_RATE].unavailable_reason
    assert reason is not None
    assert reason.startswith("timeout: query timed out in ")
    assert "no response from Prometheus" not in reason


async def test_fractional_timeout_is_accepted(stack: PromStack, client_settings: Settings,
                                              topology: Topology) -> None:
    configured = client_settings.model_copy(update={"prometheus_url": stack.prometheus.url,
                                                    "rate_window": RATE_WINDOW, "query_timeout_s": 2.5})
    metrics = PrometheusMetrics(configured, topology)
    try:
        snapshot = await metrics.read("orders", [Signal.ERROR_RATIO])
    finally:
        await metrics.close()
    assert snapshot.value(Signal.ERROR_RATIO) == pytest.approx(0.2, abs=1e-9)
