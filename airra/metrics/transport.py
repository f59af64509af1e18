"""The contract between ``PrometheusMetrics`` and the HTTP client that sends its instant queries.

A transport sends one PromQL instant query to ``/api/v1/query`` and returns
the response's ``data.result``. It raises ``QueryFailed`` with the reason a
reading shows as unavailable for every failure: a timeout, an unreachable
server, an error response of Prometheus (``bad_data``, ``execution``,
``timeout`` and others), or a body that is not Prometheus's JSON. Both
transports word each of these reasons the same way, with the helpers below.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

# Enough of a response for a reason that quotes it.
_QUOTED_CHARS = 200

DISCONNECTED = "the server closed the connection without a response"
"""The cause an unreachable reason names when a connection closes before any response."""

CLIENT_SLACK_S = 1.0
"""Seconds on top of the query timeout before the client gives up.

Prometheus gets the query timeout itself as the ``timeout`` parameter, so its
own timeout error arrives first when the server is slow."""


class QueryFailed(Exception):
    """An instant query that returned no ``data.result``; ``reason`` is the text its reading shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueryTransport(Protocol):
    """Sends instant queries to Prometheus; tests and benchmarks may wrap one."""

    async def query(self, promql: str) -> Any:
        """Return the ``data.result`` of an instant query.

        Raises:
            QueryFailed: with the reason, for every failure of the query.
        """
        ...

    async def close(self) -> None:
        """Release the connections and workers of the transport."""
        ...


def basic_auth_header(username: str, password: str) -> str:
    """Return the Authorization header of basic auth, with the credentials encoded as UTF-8 (RFC 7617)."""
    credentials = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {credentials}"


def timeout_parameter(timeout_s: float) -> str:
    """Return the ``timeout`` parameter Prometheus accepts for ``timeout_s`` seconds.

    Prometheus reads a bare number as seconds, and rejects a fraction with a
    unit ("0.5s").
    """
    return f"{timeout_s:g}"


def timeout_reason(timeout_s: float) -> str:
    return f"timeout: no response from Prometheus within {timeout_s + CLIENT_SLACK_S:g}s"


def unreachable_reason(url: str, cause: BaseException | str) -> str:
    detail = cause if isinstance(cause, str) else root_cause(cause)
    return f"unreachable: cannot connect to Prometheus at {redact_password(url)} ({detail})"


def no_json_reason(exc: ValueError) -> str:
    return f"invalid response: Prometheus returned no JSON ({exc})"


def incomplete_response_reason(url: str) -> str:
    return (f"request failed: Prometheus at {redact_password(url)} closed the connection before the response "
            "was complete")


def redact_password(url: str) -> str:
    """Return the URL with the password of its user info replaced by ``***``, for reasons that cards show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def response_result(status: int, body: bytes) -> Any:
    """Return ``data.result`` of a response, or raise QueryFailed with the reason it has none.

    Both transports read an HTTP response through here, so that an error
    page or a body that is not Prometheus's JSON reads the same in either.
    """
    text = body.decode("utf-8", errors="replace")
    if status != 200:
        reason = error_body_reason(text)
        raise QueryFailed(reason or f"HTTP {status}: {text[:_QUOTED_CHARS]}")

    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise QueryFailed(no_json_reason(exc)) from None
    if not isinstance(payload, dict):
        raise QueryFailed(f"invalid response: unexpected body {text[:_QUOTED_CHARS]}")
    if payload.get("status") != "success":
        raise QueryFailed(error_body_reason(payload) or f"invalid response: status is not success in "
                                                        f"{text[:_QUOTED_CHARS]}")

    data = payload.get("data")
    if not isinstance(data, dict) or "result" not in data:
        raise QueryFailed(f"invalid response: no data.result in {text[:_QUOTED_CHARS]}")
    return data["result"]


def error_body_reason(body: Any) -> str | None:
    """Return "errorType: error" from Prometheus's JSON error body, or None when the body is not one."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, dict) and body.get("errorType"):
        return f"{body['errorType']}: {body.get('error', 'no message')}"
    return None


def root_cause(exc: BaseException) -> str:
    """Return the innermost error of a chain, e.g. "Connection refused" of a ConnectionRefusedError."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    # An SSL error's errno is OpenSSL's code, not a POSIX one: errno 1 would read "Operation not permitted".
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS certificate verification failed: {exc.verify_message}; trust the CA that signed it, "
                "or set AIRRA_PROMETHEUS_VERIFY_TLS=false")
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    # asyncio words a refused connection "Connect call failed (host, port)"; its errno has the standard text.
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
