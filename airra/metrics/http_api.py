"""A transport that sends instant queries over Prometheus's HTTP API with aiohttp.

The queries run on the event loop, so concurrent queries cost no worker
threads and little of the GIL; they share one ``aiohttp.ClientSession``
and its keep-alive connections. Every query has a timeout, sent to
Prometheus as the ``timeout`` parameter and enforced on the client as well.

A session belongs to the event loop that created it. The transport opens
its session on the first query in a running loop. It closes the session
when the transport is closed, or when that loop shuts down: ``asyncio.run``
and ``asyncio.Runner`` cancel the loop's remaining tasks, and a task of the
transport closes the session then. A query from a later loop opens a new
session, so a command that calls ``asyncio.run`` twice never reuses a
session of a closed loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import aiohttp

from airra.metrics.transport import (
    CLIENT_SLACK_S,
    DISCONNECTED,
    QueryFailed,
    basic_auth_header,
    incomplete_response_reason,
    redact_password,
    response_result,
    timeout_parameter,
    timeout_reason,
    unreachable_reason,
)
from airra.settings import Settings

log = logging.getLogger(__name__)


class PrometheusHttpApi:
    """Sends instant queries to ``<url>/api/v1/query`` over one aiohttp session.

    Args:
        url: Prometheus's base URL, e.g. ``http://prometheus:9090``.
        timeout_s: timeout of one query.
        max_connections: queries in flight at once; more wait for a free connection.
        token: bearer token, sent as the Authorization header.
        basic_auth: user and password for basic auth, used instead of the token when both are given.
        verify_tls: check the server's certificate on https.
    """

    def __init__(self, url: str, *, timeout_s: float, max_connections: int, token: str | None = None,
                 basic_auth: tuple[str, str] | None = None, verify_tls: bool = True) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.verify_tls = verify_tls
        self._endpoint = f"{url.rstrip('/')}/api/v1/query"
        # Uncompressed responses: Prometheus spends about three quarters of its CPU per instant query
        # compressing the response when asked for gzip, while a response is a few series, and a
        # by-service query's service list is chunked (MAX_SERVICES_REGEX_CHARS) to keep it small.
        self._headers: dict[str, str] = {"Accept-Encoding": "identity"}
        # With both set, basic auth wins, as it does in prometheus-api-client (requests).
        if basic_auth:
            # aiohttp's BasicAuth helper is deprecated and its replacement needs aiohttp 3.12+.
            self._headers["Authorization"] = basic_auth_header(*basic_auth)
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, max_connections: int) -> PrometheusHttpApi:
        """Build the transport from the Prometheus settings (URL, token or basic auth, TLS check, timeout)."""
        if not settings.prometheus_url:
            raise ValueError("settings.prometheus_url is not set; the transport needs Prometheus's base URL")
        token = settings.prometheus_token.get_secret_value() if settings.prometheus_token else None
        basic_auth = None
        if settings.prometheus_username:
            password = settings.prometheus_password.get_secret_value() if settings.prometheus_password else ""
            basic_auth = (settings.prometheus_username, password)
        return cls(settings.prometheus_url, timeout_s=settings.query_timeout_s, max_connections=max_connections,
                   token=token, basic_auth=basic_auth, verify_tls=settings.prometheus_verify_tls)

    async def query(self, promql: str) -> Any:
        """Return the query's ``data.result``.

        Raises:
            QueryFailed: with the reason the query failed.
        """
        session = self._session_of_running_loop()
        params = {"query": promql, "timeout": timeout_parameter(self.timeout_s)}
        try:
            async with session.get(self._endpoint, params=params, proxy=self._proxy) as response:
                status = response.status
                body = await response.read()
        except TimeoutError:
            raise QueryFailed(timeout_reason(self.timeout_s)) from None
        except aiohttp.ServerDisconnectedError:
            raise QueryFailed(unreachable_reason(self.url, DISCONNECTED)) from None
        except aiohttp.ClientPayloadError:
            raise QueryFailed(incomplete_response_reason(self.url)) from None
        except aiohttp.ClientConnectionError as exc:
            raise QueryFailed(unreachable_reason(self.url, exc)) from None
        except aiohttp.ClientError as exc:
            raise QueryFailed(f"request failed: {type(exc).__name__}: {exc}") from None
        return response_result(status, body)

    async def close(self) -> None:
        """Close the session and its connections; a later query opens a new one."""
        session, closer = self._session, self._closer
        self._session, self._loop, self._closer = None, None, None
        if session is not None and not session.closed:
            await session.close()
        if closer is not None:
            closer.cancel()

    def _session_of_running_loop(self) -> aiohttp.ClientSession:
        """Return the session of the running loop, opening one on the first query in this loop."""
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session

        if self._session is not None and not self._session.closed:
            # Its loop has stopped without shutting down, so it cannot close the session any more.
            log.warning("the Prometheus session of a previous event loop was left open; opening a new one")
        connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self.verify_tls)
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s + CLIENT_SLACK_S),
            raise_for_status=False,
        )
        # HTTP(S)_PROXY and NO_PROXY apply, as they do to requests in prometheus-api-client. They are
        # read once per session: aiohttp's trust_env reads them (and ~/.netrc) again on every request,
        # which cost 0.7 ms of the event loop per query.
        self._proxy = environment_proxy(self._endpoint)
        self._session, self._loop = session, loop
        self._closer = loop.create_task(_close_at_shutdown(session), name="prometheus-session-closer")
        log.debug("opened an HTTP session to Prometheus at %s", redact_password(self.url))
        return session


def environment_proxy(url: str) -> str | None:
    """Return the proxy that HTTP_PROXY, HTTPS_PROXY (or ALL_PROXY) and NO_PROXY give for ``url``, or None."""
    proxies = getproxies_environment()
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    host = parts.hostname or ""
    if proxy_bypass_environment(f"{host}:{parts.port}" if parts.port else host, proxies):
        return None
    return proxy


async def _close_at_shutdown(session: aiohttp.ClientSession) -> None:
    """Wait until cancelled, which the loop's shutdown does, then close the session."""
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await session.close()

