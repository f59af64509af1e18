"""PrometheusMetrics against a fake client that returns what Prometheus's API returns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from prometheus_api_client import PrometheusApiClientException

from airra.errors import ConfigError, MetricQueryError, UnknownServiceError
from airra.metrics import MetricsSource, Signal
from airra.metrics.http_api import PrometheusHttpApi
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.threaded_client import ThreadedClientTransport
from airra.settings import Settings
from airra.topology import Topology

Answer = Any | Callable[[str], Any]


def vector(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1796400000.123, value]}


def api_error(status: int, error_type: str, message: str) -> PrometheusApiClientException:
    body = f'{{"status":"error","errorType":"{error_type}","error":"{message}"}}'.encode()
    return PrometheusApiClientException(f"HTTP Status Code {status} ({body!r})")


class FakeClient:
    """Returns the canned result whose key is a substring of the query."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.queries: list[str] = []
        self.params: list[dict[str, Any] | None] = []

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        self.queries.append(query)
        self.params.append(params)
        for key, answer in self.answers.items():
            if key in query:
                if isinstance(answer, Exception):
                    raise answer
                return answer(query) if callable(answer) else answer
        return []


@pytest.fixture
def prom_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"prometheus_url": "http://127.0.0.1:9", "rate_window": "1m",
                                       "query_timeout_s": 0.5})


def metrics_with(answers: dict[str, Answer], settings: Settings, topology: Topology) -> tuple[PrometheusMetrics, FakeClient]:
    client = FakeClient(answers)
    return PrometheusMetrics(settings, topology, client=client), client


async def test_reads_values_from_strings(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = metrics_with({
        'status=~"5.."': [vector("0.125")],
        "http_requests_total": [vector("42.5")],
        "histogram_quantile(0.95": [vector("0.3")],
    }, prom_settings, topology)

    snapshot = await metrics.read("cart", [Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95])

    assert snapshot.service == "cart"
    assert snapshot.value(Signal.REQUEST_RATE) == 42.5
    assert snapshot.value(Signal.ERROR_RATIO) == 0.125
    assert snapshot.value(Signal.LATENCY_P95) == 0.3
    assert snapshot.unavailable() == {}
    assert snapshot.readings[Signal.REQUEST_RATE].query == 'sum(rate(http_requests_total{service="cart"}[1m]))'
    assert client.params[0] == {"timeout": "0.5"}


async def test_scalar_result(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = metrics_with({"up{": [1796400000.0, "1"]}, prom_settings, topology)
    snapshot = await metrics.read("cart", [Signal.AVAILABILITY])
    assert snapshot.value(Signal.AVAILABILITY) == 1.0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ([], "no series: the query matched nothing"),
        ([vector("NaN")], "value is NaN (for example 0/0: no requests in the window)"),
        ([vector("+Inf")], "value is +inf"),
        ([vector("-Inf")], "value is -inf"),
        ([vector("1", pod="a"), vector("2", pod="b")], "2 series: the query is not aggregated"),
        ([{"metric": {}, "values": [[1, "1"], [2, "2"]]}], "range vector"),
        ([1796400000.0, "hello"], "not a number: Prometheus returned 'hello'"),
        (api_error(400, "bad_data", "1:5: parse error: unexpected right parenthesis"),
         "bad_data: 1:5: parse error: unexpected right parenthesis"),
        (api_error(422, "execution", "many-to-many matching not allowed"),
         "execution: many-to-many matching not allowed"),
        (api_error(503, "timeout", "query timed out in expression evaluation"),
         "timeout: query timed out in expression evaluation"),
        (PrometheusApiClientException("HTTP Status Code 502 (b'<html>bad gateway</html>')"), "HTTP 502"),
        (requests.ConnectionError("refused"), "unreachable: cannot connect to Prometheus at http://127.0.0.1:9"),
        (requests.ReadTimeout("slow"), "timeout: no response from Prometheus within 1.5s"),
        (ValueError("Expecting value"), "invalid response: Prometheus returned no JSON"),
    ],
)
async def test_unavailable_reasons(answer: Answer, reason: str, prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = metrics_with({"http_requests_total": answer}, prom_settings, topology)

    reading = (await metrics.read("cart", [Signal.REQUEST_RATE])).readings[Signal.REQUEST_RATE]

    assert reading.value is None
    assert not reading.available
    assert reading.unavailable_reason is not None
    assert reading.unavailable_reason.startswith(reason)
    assert reading.query == 'sum(rate(http_requests_total{service="cart"}[1m]))'


async def test_queries_of_one_read_run_concurrently(prom_settings: Settings, topology: Topology) -> None:
    signals = list(Signal)
    # Every query waits until all of them are in flight, so a read that runs them in turn breaks the barrier.
    barrier = threading.Barrier(len(signals), timeout=5)

    def wait_for_all(query: str) -> list[dict[str, Any]]:
        barrier.wait()
        return [vector("1")]

    metrics, _ = metrics_with({"": wait_for_all}, prom_settings.model_copy(update={"query_timeout_s": 10}),
                              topology)
    snapshot = await metrics.read("cart", signals)

    assert [snapshot.value(signal) for signal in signals] == [1.0] * len(signals)


async def test_hung_query_times_out(prom_settings: Settings, topology: Topology) -> None:
    release = threading.Event()

    def hang(query: str) -> list[dict[str, Any]]:
        release.wait(10)
        return [vector("1")]

    metrics, _ = metrics_with({"up{": hang, "http_requests_total": [vector("3")]}, prom_settings, topology)
    try:
        snapshot = await metrics.read("cart", [Signal.AVAILABILITY, Signal.REQUEST_RATE])
    finally:
        release.set()

    assert snapshot.readings[Signal.AVAILABILITY].unavailable_reason == (
        "timeout: no response from Prometheus within 1.5s")
    assert snapshot.value(Signal.REQUEST_RATE) == 3.0


async def test_duplicate_signals_query_once(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = metrics_with({"": [vector("1")]}, prom_settings, topology)
    await metrics.read("cart", [Signal.AVAILABILITY, Signal.AVAILABILITY])
    assert len(client.queries) == 1


async def test_namespace_comes_from_topology(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = metrics_with({}, prom_settings, topology)
    await metrics.read("cart", [Signal.RESTARTS])
    assert f'namespace="{topology.service("cart").namespace}"' in client.queries[0]


async def test_unknown_service_raises(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = metrics_with({}, prom_settings, topology)
    with pytest.raises(UnknownServiceError):
        await metrics.read("no-such-service", [Signal.REQUEST_RATE])


async def test_query_value_raises_with_query(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = metrics_with({"bad": api_error(400, "bad_data", "parse error")}, prom_settings, topology)

    with pytest.raises(MetricQueryError, match=r"bad_data: parse error \(query: bad\)") as caught:
        await metrics.query_value("bad")
    assert caught.value.query == "bad"


async def test_check_lists_missing_signals(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = metrics_with({
        "http_requests_total": [vector("5")],
        "http_request_duration_seconds_bucket": [vector("0.2")],
        "up{": [vector("1")],
    }, prom_settings, topology)

    missing = await metrics.check()

    assert set(missing) == {Signal.CPU_UTILIZATION, Signal.MEMORY_UTILIZATION, Signal.MEMORY_GROWTH,
                            Signal.RESTARTS, Signal.ROLLOUT_AGE}
    assert all(reason.startswith("no series") for reason in missing.values())
    assert 'service="frontend"' in client.queries[0]


def test_is_a_metrics_source(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = metrics_with({}, prom_settings, topology)
    assert isinstance(metrics, MetricsSource)


def test_missing_url_is_config_error(settings: Settings, topology: Topology) -> None:
    with pytest.raises(ConfigError, match="AIRRA_PROMETHEUS_URL is not set"):
        PrometheusMetrics(settings, topology)


def test_bad_window_is_config_error(prom_settings: Settings, topology: Topology) -> None:
    with pytest.raises(ConfigError, match="'5 minutes' is not a Prometheus duration"):
        PrometheusMetrics(prom_settings.model_copy(update={"rate_window": "5 minutes"}), topology,
                          client=FakeClient({}))


def test_prometheus_api_client_gets_auth(prom_settings: Settings, topology: Topology) -> None:
    configured = Settings(prometheus_url="https://prom.test:9090/", prometheus_token="t0k",  # type: ignore[arg-type]
                          prometheus_verify_tls=False, prometheus_client="prometheus-api-client",
                          data_dir=prom_settings.data_dir)
    transport = PrometheusMetrics(configured, topology).transport
    assert isinstance(transport, ThreadedClientTransport)
    client = transport.client

    assert client.url == "https://prom.test:9090"  # type: ignore[attr-defined]
    assert client.headers == {"Accept-Encoding": "identity",  # type: ignore[attr-defined]
                              "Authorization": "Bearer t0k"}
    assert client._session.verify is False  # type: ignore[attr-defined]
    adapter = client._session.get_adapter("https://prom.test:9090/api/v1/query")  # type: ignore[attr-defined]
    assert adapter._pool_maxsize == 2 * len(Signal)
    assert adapter.max_retries.status == 0


def test_aiohttp_is_default_transport(prom_settings: Settings, topology: Topology) -> None:
    configured = Settings(prometheus_url="https://prom.test:9090/", prometheus_token="t0k",  # type: ignore[arg-type]
                          prometheus_verify_tls=False, data_dir=prom_settings.data_dir)
    transport = PrometheusMetrics(configured, topology).transport

    assert isinstance(transport, PrometheusHttpApi)
    assert transport._endpoint == "https://prom.test:9090/api/v1/query"
    assert transport._headers == {"Accept-Encoding": "identity", "Authorization": "Bearer t0k"}
    assert transport.verify_tls is False
    assert transport.max_connections == 2 * len(Signal)
    assert transport.timeout_s == 5.0


def test_unknown_client_setting_is_rejected(prom_settings: Settings) -> None:
    with pytest.raises(ValueError, match="prometheus_client"):
        Settings(prometheus_url="http://prom.test:9090", prometheus_client="httpx",  # type: ignore[arg-type]
                 data_dir=prom_settings.data_dir)
