"""PrometheusMetrics.read_columns, which returns the by-service results as columns equal to read_many's readings."""

from __future__ import annotations

import pytest

from airra.metrics import ColumnMetricsSource, Signal
from airra.metrics.queries import QueryConfig
from airra.settings import Settings
from airra.topology import Topology
from tests.metrics.test_read_many import SERVICES, prom_settings, series, source

__all__ = ["prom_settings"]

NO_SERIES = "no series: the query matched nothing for this service"
NAN = "value is NaN (for example 0/0: no requests in the window)"


async def test_columns_keep_requested_order(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = source({
        'status=~"5.."': [series("orders", "NaN"), series("cart", "0.25")],
        "http_requests_total": [series("payment-service", "7"), series("cart", "12.5"), series("orders", "0")],
    }, prom_settings, topology)
    assert isinstance(metrics, ColumnMetricsSource)

    columns = await metrics.read_columns(["orders", *SERVICES], [Signal.REQUEST_RATE, Signal.ERROR_RATIO])

    assert len(client.queries) == 2
    assert list(columns) == [Signal.REQUEST_RATE, Signal.ERROR_RATIO]
    rates, errors = columns[Signal.REQUEST_RATE], columns[Signal.ERROR_RATIO]
    assert list(rates.values.items()) == [("orders", 0.0), ("cart", 12.5), ("payment-service", 7.0)]
    assert rates.unavailable == {}
    assert errors.values == {"cart": 0.25}
    assert errors.unavailable == {"orders": NAN, "payment-service": NO_SERIES}


async def test_columns_equal_read_many(prom_settings: Settings, topology: Topology) -> None:
    responses = {
        'status=~"5.."': [series("cart", "+Inf"), series("orders", "0.5")],
        "http_requests_total": [series("cart", "3"), series("cart", "4")],
    }
    signals = [Signal.ERROR_RATIO, Signal.REQUEST_RATE]
    columnar, _ = source(responses, prom_settings, topology)
    snapshots_source, _ = source(responses, prom_settings, topology)

    columns = await columnar.read_columns(SERVICES, signals)
    snapshots = await snapshots_source.read_many(SERVICES, signals)

    for name in SERVICES:
        for signal in signals:
            reading = snapshots[name].readings[signal]
            assert columns[signal].value(name) == reading.value
            if reading.value is None:
                assert columns[signal].reason(name) == reading.unavailable_reason
    # The fake response has two series for cart, as if the by-service query were not aggregated.
    assert columns[Signal.REQUEST_RATE].reason("cart").startswith("2 series:")
    assert columns[Signal.ERROR_RATIO].reason("cart") == "value is +inf"


async def test_failed_query_column_all_unavailable(prom_settings: Settings, topology: Topology) -> None:
    metrics, _ = source({"http_requests_total": "not a list of series"}, prom_settings, topology)

    columns = await metrics.read_columns(SERVICES, [Signal.REQUEST_RATE])

    assert columns[Signal.REQUEST_RATE].values == {}
    assert list(columns[Signal.REQUEST_RATE].unavailable) == SERVICES
    assert all(reason.startswith("invalid response: unexpected result")
               for reason in columns[Signal.REQUEST_RATE].unavailable.values())


async def test_overridden_service_gets_its_own_query(prom_settings: Settings, topology: Topology) -> None:
    queries = QueryConfig(overrides={"orders": {Signal.REQUEST_RATE: "sum(rate(orders_hits[$window]))"}})
    metrics, client = source({
        "orders_hits": [{"metric": {}, "value": [1796400000.5, "42"]}],
        "http_requests_total": [series("cart", "1"), series("payment-service", "2")],
    }, prom_settings, topology, queries=queries)

    columns = await metrics.read_columns(SERVICES, [Signal.REQUEST_RATE])

    assert sorted(client.queries) == sorted([
        'sum by (service) (rate(http_requests_total{service=~"cart|payment\\\\-service"}[1m]))',
        "sum(rate(orders_hits[1m]))",
    ])
    assert list(columns[Signal.REQUEST_RATE].values.items()) == [("cart", 1.0), ("orders", 42.0),
                                                                 ("payment-service", 2.0)]


async def test_unknown_service_raises(prom_settings: Settings, topology: Topology) -> None:
    metrics, client = source({}, prom_settings, topology)

    with pytest.raises(Exception, match="no-such-service"):
        await metrics.read_columns(["cart", "no-such-service"], [Signal.REQUEST_RATE])
    assert client.queries == []
