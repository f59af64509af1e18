"""Both transports against one misbehaving server, where every failure must give the same reason.

A reading's reason is what an SRE reads on the card, so switching
AIRRA_PROMETHEUS_CLIENT must not change it. The server plays a Prometheus
behind a proxy that responds with plain-text errors, login pages or bodies
that are not Prometheus's JSON, or that drops the connection.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from airra.metrics.http_api import PrometheusHttpApi
from airra.metrics.threaded_client import ThreadedClientTransport, connect_prometheus_api_client
from airra.metrics.transport import QueryFailed
from airra.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def plain_400(request: web.Request) -> web.StreamResponse:
    return web.Response(status=400, text="bad request")


async def plain_503(request: web.Request) -> web.StreamResponse:
    return web.Response(status=503, text="Service Unavailable")


async def html_502(request: web.Request) -> web.StreamResponse:
    return web.Response(status=502, text="<h1>502 Bad Gateway</h1>", content_type="text/html")


async def binary_500(request: web.Request) -> web.StreamResponse:
    return web.Response(status=500, body=b"\xff\xfe oops")


async def login_page(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<html>login</html>", content_type="text/html")


async def truncated_json(request: web.Request) -> web.StreamResponse:
    return web.Response(text='{"status":"success","data":', content_type="application/json")


async def error_with_200(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "error", "errorType": "execution", "error": "expanding series"})


async def no_data(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "success"})


async def list_body(request: web.Request) -> web.StreamResponse:
    return web.json_response([1, 2])


async def hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(5)
    return web.Response()


async def reset_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 1000
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"status":"succ')
    assert request.transport is not None
    request.transport.close()
    return response


async def close_without_response(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.1)
    return web.Response()


async def reset_without_response(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    # A zero linger time makes the close send RST instead of FIN.
    request.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()
    await asyncio.sleep(0.1)
    return web.Response()


CASES: list[tuple[Handler, str]] = [
    (plain_400, "HTTP 400: bad request"),
    (plain_503, "HTTP 503: Service Unavailable"),
    (html_502, "HTTP 502: <h1>502 Bad Gateway</h1>"),
    (binary_500, "HTTP 500: \ufffd\ufffd oops"),
    (login_page, "invalid response: Prometheus returned no JSON (Expecting value: line 1 column 1 (char 0))"),
    (truncated_json, "invalid response: Prometheus returned no JSON (Expecting value: line 1 column 28 (char 27))"),
    (error_with_200, "execution: expanding series"),
    (no_data, 'invalid response: no data.result in {"status": "success"}'),
    (list_body, "invalid response: unexpected body [1, 2]"),
    (hang, "timeout: no response from Prometheus within 1.2s"),
    (reset_mid_body, "request failed: Prometheus at {url} closed the connection before the response was complete"),
    (close_without_response, "unreachable: cannot connect to Prometheus at {url} "
                             "(the server closed the connection without a response)"),
    (reset_without_response, "unreachable: cannot connect to Prometheus at {url} (Connection reset by peer)"),
]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[Handler]]]:
    """A server whose /prometheus/api/v1/query responds with the last handler of the list."""
    handlers: list[Handler] = []

    async def query(request: web.Request) -> web.StreamResponse:
        return await handlers[-1](request)

    app = web.Application()
    app.router.add_get("/prometheus/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/prometheus", handlers
    await runner.cleanup()


async def reason_of(transport: PrometheusHttpApi | ThreadedClientTransport) -> str:
    try:
        with pytest.raises(QueryFailed) as caught:
            await transport.query("up")
    finally:
        await transport.close()
    return caught.value.reason


@pytest.mark.parametrize(("handler", "expected"), CASES, ids=[handler.__name__ for handler, _ in CASES])
async def test_both_transports_same_reason(handler: Handler, expected: str, server: tuple[str, list[Handler]],
                                           settings: Settings) -> None:
    url, handlers = server
    handlers.append(handler)
    configured = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 0.2})

    aiohttp_reason = await reason_of(PrometheusHttpApi.from_settings(configured, max_connections=2))
    threaded_reason = await reason_of(ThreadedClientTransport(connect_prometheus_api_client(configured, 2), url=url,
                                                              timeout_s=0.2, pool_size=2))

    assert aiohttp_reason == expected.replace("{url}", url)
    assert threaded_reason == expected.replace("{url}", url)


async def test_refused_connection_same_reason(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/prometheus/"
    configured = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 0.2})

    aiohttp_reason = await reason_of(PrometheusHttpApi.from_settings(configured, max_connections=2))
    threaded_reason = await reason_of(ThreadedClientTransport(connect_prometheus_api_client(configured, 2), url=url,
                                                              timeout_s=0.2, pool_size=2))

    assert aiohttp_reason == f"unreachable: cannot connect to Prometheus at {url} (Connection refused)"
    assert threaded_reason == f"unreachable: cannot connect to Prometheus at {url} (Connection refused)"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


async def test_untrusted_certificate_same_reason(certificate: tuple[Path, Path], settings: Settings) -> None:
    async def query(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": []}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    checked = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 2.0})
    unchecked = checked.model_copy(update={"prometheus_verify_tls": False})

    try:
        aiohttp_reason = await reason_of(PrometheusHttpApi.from_settings(checked, max_connections=2))
        threaded_reason = await reason_of(ThreadedClientTransport(connect_prometheus_api_client(checked, 2), url=url,
                                                                  timeout_s=2.0, pool_size=2))
        unchecked_api = PrometheusHttpApi.from_settings(unchecked, max_connections=2)
        try:
            unchecked_result = await unchecked_api.query("up")
        finally:
            await unchecked_api.close()
    finally:
        await runner.cleanup()

    expected = (f"unreachable: cannot connect to Prometheus at {url} (TLS certificate verification failed: "
                "self-signed certificate; trust the CA that signed it, or set AIRRA_PROMETHEUS_VERIFY_TLS=false)")
    assert aiohttp_reason == expected
    assert threaded_reason == expected
    assert unchecked_result == []


_EMPTY_RESULT = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


async def test_stale_connection_retried_once(settings: Settings) -> None:
    """A kept-alive connection that the server closes as the next request arrives, as an idle timeout does."""
    requests_seen: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in (1, 2):
            head = await reader.readuntil(b"\r\n\r\n")
            requests_seen.append(number)
            if number == 2 or not head:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(_EMPTY_RESULT), _EMPTY_RESULT))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    configured = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 1.0})
    results: dict[str, list[Any]] = {}
    try:
        for name, transport in (
                ("aiohttp", PrometheusHttpApi.from_settings(configured, max_connections=1)),
                ("prometheus-api-client", ThreadedClientTransport(connect_prometheus_api_client(configured, 1),
                                                                  url=url, timeout_s=1.0, pool_size=1))):
            try:
                results[name] = [await transport.query("up") for _ in range(3)]
            finally:
                await transport.close()
    finally:
        server.close()

    assert results == {"aiohttp": [[], [], []], "prometheus-api-client": [[], [], []]}


async def test_slow_query_sent_once(server: tuple[str, list[Handler]], settings: Settings) -> None:
    url, handlers = server
    sent: list[str] = []

    async def hang_and_count(request: web.Request) -> web.StreamResponse:
        sent.append(request.query["query"])
        return await hang(request)

    handlers.append(hang_and_count)
    configured = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 0.2})

    reason = await reason_of(ThreadedClientTransport(connect_prometheus_api_client(configured, 2), url=url,
                                                     timeout_s=0.2, pool_size=2))

    assert reason == "timeout: no response from Prometheus within 1.2s"
    assert sent == ["up"]


async def test_non_ascii_basic_auth_same_header(server: tuple[str, list[Handler]], settings: Settings) -> None:
    url, handlers = server
    sent: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        sent.append(request.headers["Authorization"])
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": []}})

    handlers.append(record)
    configured = settings.model_copy(update={"prometheus_url": url, "prometheus_username": "zoë",
                                             "prometheus_password": SecretStr("pässwörd")})

    for transport in (PrometheusHttpApi.from_settings(configured, max_connections=1),
                      ThreadedClientTransport(connect_prometheus_api_client(configured, 1), url=url, timeout_s=1.0,
                                              pool_size=1)):
        try:
            await transport.query("up")
        finally:
            await transport.close()

    # base64 of the UTF-8 bytes of "zoë:pässwörd" (RFC 7617's charset="UTF-8"), which Prometheus's web config compares.
    assert sent == ["Basic em/Dqzpww6Rzc3fDtnJk", "Basic em/Dqzpww6Rzc3fDtnJk"]


async def test_reason_hides_url_password(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://airra:s3cret@127.0.0.1:{port}"
    configured = settings.model_copy(update={"prometheus_url": url, "query_timeout_s": 0.2})

    aiohttp_reason = await reason_of(PrometheusHttpApi.from_settings(configured, max_connections=2))
    threaded_reason = await reason_of(ThreadedClientTransport(connect_prometheus_api_client(configured, 2), url=url,
                                                              timeout_s=0.2, pool_size=2))

    # The reason is shown on the incident card, so the password in the URL must not be.
    expected = f"unreachable: cannot connect to Prometheus at http://airra:***@127.0.0.1:{port} (Connection refused)"
    assert aiohttp_reason == expected
    assert threaded_reason == expected
