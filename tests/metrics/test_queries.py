from __future__ import annotations

from pathlib import Path

import pytest

from airra.errors import ConfigError
from airra.metrics import Signal
from airra.metrics.queries import (
    DEFAULT_QUERIES,
    QueryConfig,
    escape_label_value,
    escape_regex_value,
    validate_window,
)


def test_default_request_rate_is_summed() -> None:
    assert QueryConfig().render(Signal.REQUEST_RATE, "cart", "5m") == (
        'sum(rate(http_requests_total{service="cart"}[5m]))'
    )


def test_default_error_ratio_is_5xx_over_all() -> None:
    assert QueryConfig().render(Signal.ERROR_RATIO, "cart", "30s") == (
        'sum(rate(http_requests_total{service="cart",status=~"5.."}[30s]))'
        ' / sum(rate(http_requests_total{service="cart"}[30s]))'
    )


def test_default_latency_sums_by_le() -> None:
    assert QueryConfig().render(Signal.LATENCY_P99, "cart", "5m") == (
        'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="cart"}[5m])))'
    )


def test_every_signal_has_a_default() -> None:
    assert set(DEFAULT_QUERIES) == set(Signal)


def test_kubernetes_queries_use_namespace_and_pods() -> None:
    query = QueryConfig().render(Signal.RESTARTS, "cart", "10m", namespace="shop", deployment="cart-v2")
    assert query == (
        'sum(increase(kube_pod_container_status_restarts_total{namespace="shop",pod=~"cart\\\\-v2-[a-z0-9]+-[a-z0-9]+"}[10m]))'
    )


def test_label_values_are_escaped() -> None:
    query = QueryConfig().render(Signal.AVAILABILITY, 'a"b\\c\nd', "5m")
    assert query == 'avg(up{service="a\\"b\\\\c\\nd"})'


def test_escape_helpers() -> None:
    assert escape_label_value('x"y') == 'x\\"y'
    assert escape_regex_value("a.b+c") == "a\\\\.b\\\\+c"


@pytest.mark.parametrize("window", ["5m", "30s", "1h30m", "250ms"])
def test_valid_windows(window: str) -> None:
    assert validate_window(window) == window


@pytest.mark.parametrize("window", ["5", "5 m", "m5", "5m]) or vector(1", ""])
def test_invalid_windows(window: str) -> None:
    with pytest.raises(ConfigError, match="is not a Prometheus duration"):
        validate_window(window)


def test_service_override_wins(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(
        "defaults:\n"
        "  request_rate: sum(rate(requests{app=\"$service\"}[$window]))\n"
        "services:\n"
        "  checkout:\n"
        "    request_rate: sum(rate(checkout_requests[$window]))\n",
        encoding="utf-8",
    )
    config = QueryConfig.load(path)

    assert config.render(Signal.REQUEST_RATE, "cart", "5m") == 'sum(rate(requests{app="cart"}[5m]))'
    assert config.render(Signal.REQUEST_RATE, "checkout", "5m") == "sum(rate(checkout_requests[5m]))"
    assert config.render(Signal.AVAILABILITY, "checkout", "5m") == 'avg(up{service="checkout"})'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults:\n  req_rate: x\n", "defaults.req_rate: unknown signal"),
        ("defaults:\n  request_rate: sum($svc)\n", r"unknown placeholder \$svc"),
        ("defaults:\n  request_rate: cost_in_$\n", "starts no placeholder"),
        ("defaults:\n  request_rate: 5\n", "expected a PromQL string"),
        ("services: [a]\n", "'services' must map"),
        ("queries: {}\n", "unknown top-level keys"),
        ("defaults: [\n", "invalid YAML"),
    ],
)
def test_bad_queries_file(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        QueryConfig.load(path)


def test_missing_queries_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="queries file not found"):
        QueryConfig.load(tmp_path / "absent.yaml")
