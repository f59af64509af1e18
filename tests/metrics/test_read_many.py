"""PrometheusMetrics.read_many and the by-service query forms, against a fake client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airra.errors import ConfigError, UnknownServiceError
from airra.metrics import BatchMetricsSource, Signal
from airra.metrics import prometheus as prometheus_module
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.queries import QueryConfig
from airra.settings import Settings
from airra.topology import Topology

SERVICES = ["cart", "orders", "payment-service"]


def series(service: str, value: str) -> dict[str, Any]:
    return {"metric": {"service": service}, "value": [1796400000.5, value]}


class ScriptedClient:
    """Returns the first canned result whose key occurs in the query, and records the queries."""

    def __init__(self, answers: dict[str, Any | Callable[[str], Any]]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        self.queries.append(query)
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


def source(answers: dict[str, Any], settings: Settings, topology: Topology,
           queries: QueryConfig | None = None) -> tuple[PrometheusMetrics, ScriptedClient]:
    client = ScriptedClient(answers)
    return PrometheusMetrics(settings, topology, client=client, queries=queries), client


async def test_one_query_per_signal(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = source({
        'status=~"5.."': [series("cart", "0.25"), series("orders", "NaN")],
        "http_requests_total": [series("cart", "12.5"), series("orders", "0"), series("payment-service", "7")],
    }, prom_settings, topology)
    assert isinstance(metrics, BatchMetricsSource)

    snapshots = await metrics.read_many(SERVICES, [Signal.REQUEST_RATE, Signal.ERROR_RATIO])

    assert sorted(client.queries) == sorted([
        'sum by (service) (rate(http_requests_total{service=~"cart|orders|payment\\\\-service"}[1m]))',
        'sum by (service) (rate(http_requests_total{service=~"cart|orders|payment\\\\-service",status=~"5.."}[1m]))'
        ' / sum by (service) (rate(http_requests_total{service=~"cart|orders|payment\\\\-service"}[1m]))',
    ])
    assert list(snapshots) == SERVICES
    assert snapshots["cart"].value(Signal.REQUEST_RATE) == 12.5
    assert snapshots["cart"].value(Signal.ERROR_RATIO) == 0.25
    assert snapshots["orders"].value(Signal.REQUEST_RATE) == 0.0
    assert snapshots["payment-service"].value(Signal.REQUEST_RATE) == 7.0
    assert snapshots["orders"].unavailable() == {
        Signal.ERROR_RATIO: "value is NaN (for example 0/0: no requests in the window)"}
    assert snapshots["payment-service"].unavailable() == {
        Signal.ERROR_RATIO: "no series: the query matched nothing for this service"}


async def test_overridden_service_is_read_on_its_own(prom_settings: Settings, topology: Topology) -> None:
    queries = QueryConfig(overrides={"orders": {Signal.REQUEST_RATE: 'sum(rate(orders_total{job="$service"}[$window]))'}})
    metrics, client = source({
        "orders_total": [{"metric": {}, "value": [1.0, "3"]}],
        "http_requests_total": [series("cart", "1"), series("payment-service", "2")],
    }, prom_settings, topology, queries)

    snapshots = await metrics.read_many(SERVICES, [Signal.REQUEST_RATE])

    assert sorted(client.queries) == sorted([
        'sum by (service) (rate(http_requests_total{service=~"cart|payment\\\\-service"}[1m]))',
        'sum(rate(orders_total{job="orders"}[1m]))',
    ])
    assert {name: snapshot.value(Signal.REQUEST_RATE) for name, snapshot in snapshots.items()} == {
        "cart": 1.0, "orders": 3.0, "payment-service": 2.0}


async def test_signal_without_by_service_form_reads_each_service(prom_settings: Settings,
                                                                  topology: Topology) -> None:
    metrics, client = source({"kube_pod_container_status_restarts_total": [{"metric": {}, "value": [1.0, "2"]}]},
                             prom_settings, topology)

    snapshots = await metrics.read_many(["cart", "orders"], [Signal.RESTARTS])

    assert len(client.queries) == 2
    assert snapshots["orders"].value(Signal.RESTARTS) == 2.0


async def test_long_lists_are_split(prom_settings: Settings, topology: Topology,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Each name costs its escaped, URL-encoded length plus 3 for the encoded '|':
    # cart 7, orders 9, payment%5C%5C-service 24. At a limit of 18 that makes two
    # queries: cart|orders and payment-service alone.
    monkeypatch.setattr(prometheus_module, "MAX_SERVICES_REGEX_CHARS", 18)

    def answer(query: str) -> list[dict[str, Any]]:
        matcher = query.split('service=~"', 1)[1].split('"', 1)[0]
        return [series(name.replace("\\\\-", "-"), "5") for name in matcher.split("|")]

    metrics, client = source({"http_requests_total": answer}, prom_settings, topology)

    snapshots = await metrics.read_many(SERVICES, [Signal.REQUEST_RATE])

    assert sorted(client.queries) == sorted([
        'sum by (service) (rate(http_requests_total{service=~"cart|orders"}[1m]))',
        'sum by (service) (rate(http_requests_total{service=~"payment\\\\-service"}[1m]))',
    ])
    assert {name: snapshot.value(Signal.REQUEST_RATE) for name, snapshot in snapshots.items()} == {
        "cart": 5.0, "orders": 5.0, "payment-service": 5.0}


async def test_failed_query_makes_every_service_unavailable(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = source({"http_requests_total": ConnectionError("boom")}, prom_settings, topology)

    snapshots = await metrics.read_many(["cart", "orders"], [Signal.REQUEST_RATE])

    for name in ("cart", "orders"):
        assert snapshots[name].unavailable()[Signal.REQUEST_RATE] == "query failed: ConnectionError: boom"


async def test_two_series_for_one_service(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = source({"http_requests_total": [series("cart", "1"), series("cart", "2"), series("orders", "4")]},
                        prom_settings, topology)

    snapshots = await metrics.read_many(["cart", "orders"], [Signal.REQUEST_RATE])

    assert snapshots["cart"].unavailable()[Signal.REQUEST_RATE].startswith("2 series:")
    assert snapshots["orders"].value(Signal.REQUEST_RATE) == 4.0


async def test_unknown_service_raises(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = source({}, prom_settings, topology)

    with pytest.raises(UnknownServiceError):
        await metrics.read_many(["cart", "no-such-service"], [Signal.REQUEST_RATE])
    assert client.queries == []


def test_by_service_form_escapes_names() -> None:
    query = QueryConfig().render_by_service(Signal.AVAILABILITY, ['a"b', "c.d"], "5m")
    assert query == 'avg by (service) (up{service=~"a\\"b|c\\\\.d"})'


def test_replaced_default_needs_by_service_form() -> None:
    replaced = QueryConfig(defaults={Signal.ERROR_RATIO: 'sum(rate(errs{app="$service"}[$window]))'})
    assert not replaced.batched(Signal.ERROR_RATIO, "cart")
    assert replaced.batched(Signal.REQUEST_RATE, "cart")

    both = QueryConfig(defaults={Signal.ERROR_RATIO: 'sum(rate(errs{app="$service"}[$window]))'},
                       by_service={Signal.ERROR_RATIO: 'sum by (service) (rate(errs{service=~"$services_regex"}[$window]))'})
    assert both.batched(Signal.ERROR_RATIO, "cart")
    assert both.render_by_service(Signal.ERROR_RATIO, ["cart"], "1m") == (
        'sum by (service) (rate(errs{service=~"cart"}[1m]))')


def test_service_override_unbatches_that_service() -> None:
    queries = QueryConfig(overrides={"cart": {Signal.REQUEST_RATE: "sum(rate(cart_total[$window]))"}})
    assert not queries.batched(Signal.REQUEST_RATE, "cart")
    assert queries.batched(Signal.REQUEST_RATE, "orders")
    assert queries.batched(Signal.ERROR_RATIO, "cart")


def test_by_service_placeholders_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"by_service.request_rate: unknown placeholder \$service;"):
        QueryConfig(by_service={Signal.REQUEST_RATE: 'sum by (service) (x{service="$service"})'})


def test_queries_file_by_service_section(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(
        "defaults:\n"
        "  request_rate: sum(rate(reqs{app=\"$service\"}[$window]))\n"
        "by_service:\n"
        "  request_rate: label_replace(sum by (app) (rate(reqs{app=~\"$services_regex\"}[$window])),"
        " \"service\", \"$$1\", \"app\", \"(.*)\")\n",
        encoding="utf-8")

    queries = QueryConfig.load(path)

    assert queries.render_by_service(Signal.REQUEST_RATE, ["cart", "orders"], "1m") == (
        'label_replace(sum by (app) (rate(reqs{app=~"cart|orders"}[1m])), "service", "$1", "app", "(.*)")')
    assert queries.batched(Signal.LATENCY_P95, "cart")
