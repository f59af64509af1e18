"""The aiohttp transport goes through HTTP_PROXY unless NO_PROXY names the host, as the requests library does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from airra.metrics.http_api import PrometheusHttpApi, environment_proxy
from airra.metrics.transport import QueryFailed

# Nothing listens on port 9 here, so only the proxy can respond to a query sent to it.
PROMETHEUS_URL = "http://127.0.0.1:9"


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A forward proxy on 127.0.0.1 that responds to every query itself and records each request's target."""
    targets: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        targets.append(str(request.url))
        return web.json_response({"status": "success",
                                  "data": {"resultType": "vector",
                                           "result": [{"metric": {}, "value": [1796400000.0, "7"]}]}})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", targets
    finally:
        await runner.cleanup()


async def test_query_goes_through_http_proxy(proxy: tuple[str, list[str]], monkeypatch: Any) -> None:
    proxy_url, targets = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = PrometheusHttpApi(PROMETHEUS_URL, timeout_s=2, max_connections=2)

    try:
        result = await transport.query("sum(up)")
    finally:
        await transport.close()

    assert result == [{"metric": {}, "value": [1796400000.0, "7"]}]
    [target] = targets
    assert target.startswith("http://127.0.0.1:9/api/v1/query?")


async def test_no_proxy_host_is_reached_directly(proxy: tuple[str, list[str]], monkeypatch: Any) -> None:
    proxy_url, targets = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = PrometheusHttpApi(PROMETHEUS_URL, timeout_s=2, max_connections=2)

    try:
        with pytest.raises(QueryFailed, match="unreachable"):
            await transport.query("sum(up)")
    finally:
        await transport.close()

    assert targets == []


def test_environment_proxy_scheme_and_no_proxy(monkeypatch: Any) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert environment_proxy("http://prometheus:9090/api/v1/query") is None

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "prometheus.internal,.svc")
    assert environment_proxy("http://prometheus:9090/api/v1/query") is None
    assert environment_proxy("https://prometheus:9090/api/v1/query") == "http://127.0.0.1:3128"
    assert environment_proxy("https://prometheus.internal/api/v1/query") is None
    assert environment_proxy("https://prometheus.monitoring.svc:9090/api/v1/query") is None
