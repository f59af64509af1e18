"""The aiohttp transport against a local HTTP server that responds as Prometheus's API does.

test_prometheus_integration covers the real Prometheus's responses. This
server also sends what a healthy Prometheus never does (an HTML error page, a
body that is not JSON or no response at all), and it records each request.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from airra.metrics import Signal
from airra.metrics.http_api import PrometheusHttpApi
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.threaded_client import ThreadedClientTransport, connect_prometheus_api_client
from airra.metrics.transport import QueryFailed
from airra.settings import Settings
from airra.topology import Topology

Handler = Callable[[web.Request], Any]


def success(result: Any) -> web.Response:
    return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})


@dataclass
class CannedPrometheus:
    """An aiohttp server on 127.0.0.1 whose /api/v1/query responds with ``handler``."""

    handler: Handler
    requests: list[web.Request] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    url: str = ""

    async def _query(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        response = self.handler(request)
        return await response if asyncio.iscoroutine(response) else response


@pytest.fixture
async def canned() -> AsyncIterator[CannedPrometheus]:
    server = CannedPrometheus(lambda request: success([]))
    app = web.Application()
    app.router.add_get("/api/v1/query", server._query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def api(canned: CannedPrometheus) -> AsyncIterator[PrometheusHttpApi]:
    transport = PrometheusHttpApi(canned.url, timeout_s=0.5, max_connections=4)
    yield transport
    await transport.close()


async def test_returns_data_result(canned: CannedPrometheus, api: PrometheusHttpApi) -> None:
    canned.handler = lambda request: success([{"metric": {}, "value": [1796400000.5, "42.5"]}])

    result = await api.query('sum(rate(http_requests_total{service="cart"}[1m]))')

    assert result == [{"metric": {}, "value": [1796400000.5, "42.5"]}]
    assert canned.requests[0].query["query"] == 'sum(rate(http_requests_total{service="cart"}[1m]))'
    assert canned.requests[0].query["timeout"] == "0.5"
    assert canned.requests[0].headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (400, '{"status":"error","errorType":"bad_data","error":"1:5: parse error"}', "application/json",
         "bad_data: 1:5: parse error"),
        (422, '{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}',
         "application/json", "execution: many-to-many matching not allowed"),
        (503, '{"status":"error","errorType":"timeout","error":"query timed out in query execution"}',
         "application/json", "timeout: query timed out in query execution"),
        (502, "<html>bad gateway</html>", "text/html", "HTTP 502: <html>bad gateway</html>"),
        (200, "<html>login</html>", "text/html",
         "invalid response: Prometheus returned no JSON (Expecting value: line 1 column 1 (char 0))"),
        (200, '{"status":"success","data":{}}', "application/json",
         'invalid response: no data.result in {"status":"success","data":{}}'),
        (200, "[1, 2]", "application/json", "invalid response: unexpected body [1, 2]"),
    ],
)
async def test_failure_reasons(status: int, body: str, content_type: str, reason: str,
                               canned: CannedPrometheus, api: PrometheusHttpApi) -> None:
    canned.handler = lambda request: web.Response(status=status, text=body, content_type=content_type)

    with pytest.raises(QueryFailed) as caught:
        await api.query("up")

    assert caught.value.reason == reason


async def test_hung_server_times_out(canned: CannedPrometheus) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return success([])

    canned.handler = hang
    transport = PrometheusHttpApi(canned.url, timeout_s=0.01, max_connections=4)
    try:
        with pytest.raises(QueryFailed) as caught:
            await transport.query("up")
    finally:
        await transport.close()

    # The client waits the query timeout plus one second of slack for Prometheus's own timeout error.
    assert caught.value.reason == "timeout: no response from Prometheus within 1.01s"


async def test_refused_connection_is_unreachable(canned: CannedPrometheus) -> None:
    transport = PrometheusHttpApi("http://127.0.0.1:9", timeout_s=0.5, max_connections=4)
    try:
        with pytest.raises(QueryFailed) as caught:
            await transport.query("up")
    finally:
        await transport.close()

    assert caught.value.reason == "unreachable: cannot connect to Prometheus at http://127.0.0.1:9 (Connection refused)"


async def test_bearer_token_is_sent(canned: CannedPrometheus) -> None:
    transport = PrometheusHttpApi(canned.url, timeout_s=0.5, max_connections=4, token="t0k")
    try:
        await transport.query("up")
    finally:
        await transport.close()

    assert canned.requests[0].headers["Authorization"] == "Bearer t0k"


async def test_basic_auth_is_sent(canned: CannedPrometheus) -> None:
    transport = PrometheusHttpApi(canned.url, timeout_s=0.5, max_connections=4, basic_auth=("airra", "s3cret"))
    try:
        await transport.query("up")
    finally:
        await transport.close()

    # base64("airra:s3cret")
    assert canned.requests[0].headers["Authorization"] == "Basic YWlycmE6czNjcmV0"


def test_settings_configure_transport(settings: Settings) -> None:
    configured = settings.model_copy(update={"prometheus_url": "https://prom.test:9090/", "query_timeout_s": 2.5,
                                             "prometheus_username": "airra", "prometheus_verify_tls": False})
    transport = PrometheusHttpApi.from_settings(configured, max_connections=7)

    assert transport.url == "https://prom.test:9090/"
    assert transport._endpoint == "https://prom.test:9090/api/v1/query"
    assert transport.timeout_s == 2.5
    assert transport.max_connections == 7
    assert transport.verify_tls is False
    # base64("airra:")
    assert transport._headers == {"Accept-Encoding": "identity", "Authorization": "Basic YWlycmE6"}


async def test_concurrent_queries_reuse_connections(canned: CannedPrometheus, api: PrometheusHttpApi) -> None:
    canned.handler = lambda request: success([])

    for _ in range(3):
        await asyncio.gather(*(api.query(f"up{{n='{index}'}}") for index in range(8)))

    assert len(canned.requests) == 24
    # max_connections is 4, so the later rounds reuse the connections that the first round opened.
    assert len(canned.peers) <= 4


async def test_close_closes_session(api: PrometheusHttpApi) -> None:
    await api.query("up")
    session = api._session
    assert session is not None

    await api.close()

    assert session.closed
    assert api._session is None


def test_session_closes_with_its_event_loop(settings: Settings, topology: Topology) -> None:
    async def serve_and_read(source: PrometheusMetrics) -> tuple[float | None, Any]:
        canned = CannedPrometheus(lambda request: success([{"metric": {}, "value": [1796400000, "1"]}]))
        app = web.Application()
        app.router.add_get("/api/v1/query", canned._query)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        assert isinstance(source.transport, PrometheusHttpApi)
        source.transport._endpoint = f"http://127.0.0.1:{port}/api/v1/query"
        try:
            snapshot = await source.read("cart", [Signal.AVAILABILITY])
            return snapshot.value(Signal.AVAILABILITY), source.transport._session
        finally:
            await runner.cleanup()

    source = PrometheusMetrics(settings.model_copy(update={"prometheus_url": "http://127.0.0.1:9"}), topology)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Two asyncio.run calls, as two commands of one process would make.
        first_value, first_session = asyncio.run(serve_and_read(source))
        second_value, second_session = asyncio.run(serve_and_read(source))
        gc.collect()

    assert first_value == 1.0
    assert second_value == 1.0
    assert first_session is not second_session
    assert first_session.closed
    assert second_session.closed
    assert [str(warning.message) for warning in caught if "nclosed" in str(warning.message)] == []


async def test_threaded_client_requests_uncompressed(canned: CannedPrometheus, settings: Settings) -> None:
    configured = settings.model_copy(update={"prometheus_url": canned.url, "query_timeout_s": 2.0})
    threaded = ThreadedClientTransport(connect_prometheus_api_client(configured, 2), url=canned.url,
                                       timeout_s=2.0, pool_size=2)
    try:
        await threaded.query("up")
    finally:
        await threaded.close()

    assert canned.requests[0].query["timeout"] == "2"
    assert canned.requests[0].headers["Accept-Encoding"] == "identity"
