"""The reusable test servers of tests/support: the fake exporter and the binary check."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.promstack import FakeExporter, ServiceLoad, require_binary


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    with FakeExporter(["orders", 'we"ird'], pods=2, rate_rps=0.0) as started:
        yield started


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(url: str, body: dict[str, object] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_idle_exporter_exposes_zero_counters(exporter: FakeExporter) -> None:
    status, text = get(f"{exporter.url}/metrics?service=orders")

    assert status == 200
    assert 'http_requests_total{service="orders",pod="orders-0",status="500"} 0.0' in text
    assert 'http_request_duration_seconds_bucket{service="orders",pod="orders-1",le="+Inf"} 0.0' in text
    assert "we" not in text


def test_label_values_are_escaped(exporter: FakeExporter) -> None:
    _, text = get(f"{exporter.url}/metrics")
    assert 'service="we\\"ird",pod="we\\"ird-0"' in text


def test_control_api_changes_load(exporter: FakeExporter) -> None:
    status, body = post(f"{exporter.url}/control/orders", {"error_ratio": 0.25, "latency_s": 0.3})

    assert status == 200
    assert json.loads(body)["error_ratio"] == 0.25
    assert exporter.load("orders") == ServiceLoad(rate_rps=0.0, error_ratio=0.25, latency_s=0.3)
    _, listing = get(f"{exporter.url}/control")
    assert json.loads(listing)["orders"]["latency_s"] == 0.3


def test_invalid_load_is_400(exporter: FakeExporter) -> None:
    assert post(f"{exporter.url}/control/orders", {"error_ratio": 1.5})[0] == 400
    assert post(f"{exporter.url}/control/orders", {"colour": "red"})[0] == 400
    assert post(f"{exporter.url}/control/nobody", {"error_ratio": 0.1})[0] == 400


def test_restart_returns_to_baseline(exporter: FakeExporter) -> None:
    exporter.set_load("orders", error_ratio=0.5, up=False)
    status, body = post(f"{exporter.url}/control/orders/restart")

    assert status == 200
    assert json.loads(body) == {"rate_rps": 0.0, "error_ratio": 0.0, "client_error_ratio": 0.0,
                                "latency_s": 0.05, "up": True}


def test_down_service_fails_scrape(exporter: FakeExporter) -> None:
    exporter.set_load("orders", up=False)

    assert get(f"{exporter.url}/metrics?service=orders")[0] == 503
    status, text = get(f"{exporter.url}/metrics")
    assert status == 200
    assert 'service="orders"' not in text


def test_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-server not found: install the Debian package"):
        require_binary("no-such-server")


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-server not found"):
        require_binary("no-such-server")


def test_installed_binary_is_found() -> None:
    assert require_binary("sh").endswith("/sh")
