"""A transport that runs a synchronous Prometheus client in worker threads.

It serves prometheus-api-client's ``PrometheusConnect`` (chosen with
``AIRRA_PROMETHEUS_CLIENT=prometheus-api-client``) and any object with the
same ``custom_query``, such as the fakes of the tests. Each query runs in a
thread of the transport's own pool, so the queries of one read run
concurrently. Every query has a timeout, sent to Prometheus as the
``timeout`` parameter and enforced on the client as well.
"""

from __future__ import annotations

import ast
import asyncio
import http.client
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import requests
import urllib3.exceptions
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from airra.metrics.transport import (
    CLIENT_SLACK_S,
    DISCONNECTED,
    QueryFailed,
    basic_auth_header,
    error_body_reason,
    incomplete_response_reason,
    no_json_reason,
    response_result,
    timeout_parameter,
    timeout_reason,
    unreachable_reason,
)
from airra.settings import Settings

log = logging.getLogger(__name__)

# The last HTTP response of each worker thread. PrometheusConnect's errors keep only
# part of the body, or none (a KeyError for a body without "data"), so the reason
# of a failed query is read from the response itself, as the aiohttp transport does.
_last_response = threading.local()


class PrometheusClient(Protocol):
    """The part of ``PrometheusConnect`` this module uses; tests pass a fake."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None,
                     timeout: float | None = None) -> Any: ...


class ThreadedClientTransport:
    """Sends each instant query through a synchronous client in a worker thread."""

    def __init__(self, client: PrometheusClient, *, url: str, timeout_s: float, pool_size: int) -> None:
        self.client = client
        self.url = url
        self.timeout_s = timeout_s
        # Not asyncio's default executor: it has min(32, CPUs + 4) threads, too few on small
        # machines to run every signal of a read at once.
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="promql")

    async def query(self, promql: str) -> Any:
        """Return the query's ``data.result``.

        Raises:
            QueryFailed: with the reason the query failed.
        """
        try:
            # Twice the slack before the read stops waiting for the thread, so that
            # the HTTP client's own timeout arrives first.
            return await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._executor, self._custom_query, promql),
                timeout=self.timeout_s + 2 * CLIENT_SLACK_S)
        except asyncio.TimeoutError:
            raise QueryFailed(timeout_reason(self.timeout_s)) from None
        except requests.JSONDecodeError as exc:
            raise QueryFailed(no_json_reason(exc)) from None
        except requests.RequestException as exc:
            raise QueryFailed(self._request_failure_reason(exc)) from None
        except PrometheusApiClientException as exc:
            raise QueryFailed(_api_error_reason(exc)) from None
        except ValueError as exc:
            raise QueryFailed(no_json_reason(exc)) from None

    async def close(self) -> None:
        """Stop the worker threads; queries still running finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _custom_query(self, promql: str) -> Any:
        """Run the query in a worker thread; a failed response raises QueryFailed read from its body."""
        _last_response.value = None
        try:
            return self.client.custom_query(promql, params={"timeout": timeout_parameter(self.timeout_s)},
                                            timeout=self.timeout_s + CLIENT_SLACK_S)
        except (PrometheusApiClientException, LookupError, TypeError, ValueError):
            response: requests.Response | None = _last_response.value
            if response is None:
                raise
            response_result(response.status_code, response.content)
            raise

    def _request_failure_reason(self, exc: requests.RequestException) -> str:
        """Word a failed request as the aiohttp transport words the same failure."""
        chain = list(_exception_chain(exc))
        if any(_is_timeout(inner) for inner in chain):
            return timeout_reason(self.timeout_s)
        # requests raises ChunkedEncodingError for a body cut short, and urllib3 IncompleteRead.
        if any(isinstance(inner, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.IncompleteRead,
                                  http.client.IncompleteRead)) for inner in chain):
            return incomplete_response_reason(self.url)
        if any(isinstance(inner, http.client.RemoteDisconnected) for inner in chain):
            return unreachable_reason(self.url, DISCONNECTED)
        if isinstance(exc, requests.ConnectionError):
            # The socket's own error (refused, reset, TLS), not urllib3's wrapping of it; requests'
            # exceptions derive from OSError too, so they are left out.
            socket_errors = [inner for inner in chain
                             if isinstance(inner, OSError) and not isinstance(inner, requests.RequestException)]
            return unreachable_reason(self.url, socket_errors[0] if socket_errors else exc)
        return f"request failed: {exc}"


def connect_prometheus_api_client(settings: Settings, pool_size: int) -> PrometheusConnect:
    """Build a ``PrometheusConnect`` with the settings' auth and TLS check and a pool of ``pool_size`` connections."""
    # Uncompressed responses, as with the aiohttp transport: compressing a response of a few series
    # costs Prometheus more CPU than evaluating the query.
    headers: dict[str, str] = {"Accept-Encoding": "identity"}
    # Basic auth as a header, not requests' auth tuple: requests encodes the credentials as
    # Latin-1, so a non-ASCII name or password would not match what the aiohttp transport sends.
    if settings.prometheus_username:
        password = settings.prometheus_password.get_secret_value() if settings.prometheus_password else ""
        headers["Authorization"] = basic_auth_header(settings.prometheus_username, password)
    elif settings.prometheus_token is not None:
        headers["Authorization"] = f"Bearer {settings.prometheus_token.get_secret_value()}"

    # One quick retry for a dropped connection only. The client's default retries
    # 503 responses (Prometheus's query timeout) with backoff, for seconds.
    retry = _DroppedConnectionRetry(total=1, connect=1, read=1, status=0, backoff_factor=0.1)
    url = str(settings.prometheus_url).rstrip("/")
    client = PrometheusConnect(
        url=url,
        headers=headers,
        disable_ssl=not settings.prometheus_verify_tls,
        retry=retry,
        timeout=settings.query_timeout_s,  # type: ignore[arg-type]
    )
    # PrometheusConnect mounts an adapter of 10 connections; with more worker threads
    # requests would open and discard extra connections, so mount a pool that fits them.
    client._session.mount(url, HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size))
    client._session.hooks["response"].append(_remember_response)
    return client


class _DroppedConnectionRetry(Retry):
    """Retries a request whose connection failed or was closed before the response, but not a read timeout.

    A kept-alive connection that the server or a proxy closes for idleness just
    as a query is sent fails with no response. Sending the query again on a
    new connection is safe. A query that timed out is not sent again, because
    Prometheus would evaluate it twice. aiohttp retries the first case in the same way.
    """

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        if isinstance(kwargs.get("error"), urllib3.exceptions.ReadTimeoutError):
            return Retry.increment(self.new(read=0), *args, **kwargs)
        return super().increment(*args, **kwargs)


def _remember_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    _last_response.value = response


def _is_timeout(exc: BaseException) -> bool:
    # urllib3 2 derives NewConnectionError, a refused connection, from ConnectTimeoutError.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield the error and every error inside it: causes, contexts, and those that requests and urllib3 wrap."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending += [inner for inner in wrapped if isinstance(inner, BaseException)]


def _api_error_reason(exc: PrometheusApiClientException) -> str:
    """Read the error type and message from the client's 'HTTP Status Code N (b'...')' text."""
    text = str(exc)
    status = text.split("(", 1)[0].removeprefix("HTTP Status Code").strip()
    reason = None
    if "(" in text and text.endswith(")"):
        try:
            raw = ast.literal_eval(text[text.index("(") + 1:-1])
        except (ValueError, SyntaxError):
            raw = None
        reason = error_body_reason(raw)
    return reason or f"HTTP {status or 'error'}: {text[:200]}"
