"""Metrics source that queries a real Prometheus over its HTTP API.

The queries of one ``read`` run concurrently, so a read costs about one
query's latency. They go through a transport (``airra.metrics.transport``):
by default aiohttp on the event loop (``airra.metrics.http_api``), or
prometheus-api-client's ``PrometheusConnect`` in worker threads with
``AIRRA_PROMETHEUS_CLIENT=prometheus-api-client``, or any synchronous client
passed in (``airra.metrics.threaded_client``). Every query has a timeout,
sent to Prometheus as the ``timeout`` parameter and enforced on the client
as well.

``read_many`` reads many services with one query per signal, through the
signal's by-service form (see ``airra.metrics.queries``), and maps each
series of the result to its service by the ``service`` label. A service that
has no series in the result reads "no series". Services with their own
override of a signal, and signals without a by-service form, are read one
query per service as ``read`` does. A long list of services is split so that
no query's service regex, URL-encoded, grows past ``MAX_SERVICES_REGEX_CHARS``.
``read_signals`` does the same for a different set of signals per service.

A failed query never raises out of ``read`` (only an unknown service does).
Prometheus returns values as strings, and each of these becomes ``Reading.unavailable`` with its reason: "NaN"
(for example 0/0 when a service had no requests), "+Inf"/"-Inf", an empty
result ("no series"), a result of several series (a query that forgot to
aggregate), the error types ``bad_data``, ``execution``, ``timeout`` and
others, and an unreachable server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airra.errors import ConfigError, MetricQueryError
from airra.metrics import MetricsSnapshot, Reading, Signal, SignalColumn
from airra.metrics.http_api import PrometheusHttpApi
from airra.metrics.queries import BY_SERVICE_LABEL, QueryConfig, escape_regex_value, validate_window
from airra.metrics.threaded_client import PrometheusClient, ThreadedClientTransport, connect_prometheus_api_client
from airra.metrics.transport import QueryFailed, QueryTransport
from airra.settings import Settings
from airra.topology import ServiceKind, Topology

__all__ = ["MAX_SERVICES_REGEX_CHARS", "PrometheusClient", "PrometheusMetrics"]

log = logging.getLogger(__name__)

# Queries in flight at once, in connections or worker threads: every signal of two concurrent reads.
_POOL_SIZE = 2 * len(Signal)

MAX_SERVICES_REGEX_CHARS = 3000
"""Maximum URL-encoded length of the service regex in one by-service query.

The query travels in the URL, and a proxy in front of Prometheus may reject
long request lines (nginx's default buffer is 8 KB). The error ratio contains
the regex twice, so 3,000 characters keep its query near 6.5 KB."""


def _check_override_services(queries: QueryConfig, topology: Topology, *, source: str) -> None:
    """Raise ConfigError for an override under a name that is not a service's own name, since it would never apply."""
    for name in queries.overrides:
        if name not in topology:
            known = topology.resolve(name)
            hint = f"'{known}'" if known else "the name that `airra services` lists"
            raise ConfigError(f"{source}: services.{name} is not a service name of the services file; use {hint}")


class PrometheusMetrics:
    """Reads AIRRA's signals from Prometheus with configurable PromQL.

    ``client`` is a synchronous client with ``PrometheusConnect.custom_query``,
    run in worker threads; without it the transport is the one that
    ``settings.prometheus_client`` names. ``close`` releases its connections.
    """

    def __init__(self, settings: Settings, topology: Topology, *, queries: QueryConfig | None = None,
                 client: PrometheusClient | None = None) -> None:
        if client is None and not settings.prometheus_url:
            raise ConfigError("AIRRA_PROMETHEUS_URL is not set; set it to the Prometheus base URL, "
                              "e.g. http://prometheus:9090, or run with the sandbox")
        self.settings = settings
        self.topology = topology
        self.window = validate_window(settings.rate_window)
        self.timeout_s = settings.query_timeout_s
        self.url = settings.prometheus_url or "<custom client>"
        if queries is None:
            queries = QueryConfig.load(settings.queries_file) if settings.queries_file else QueryConfig()
        _check_override_services(queries, topology, source=str(settings.queries_file or "query overrides"))
        self.queries = queries
        self.transport: QueryTransport = _transport(settings, client, self.url)

    async def close(self) -> None:
        """Close the transport's connections or stop its worker threads."""
        await self.transport.close()

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        """Read the signals of one service, all queries at once.

        Raises:
            UnknownServiceError: when the service is not in the topology.
        """
        target = self.topology.service(service)
        started = time.monotonic()
        queries = {
            signal: self.queries.render(signal, service, self.window, namespace=target.namespace,
                                        deployment=target.deployment_name)
            for signal in dict.fromkeys(signals)
        }

        results = await asyncio.gather(*(self._reading(service, signal, query) for signal, query in queries.items()))
        snapshot = MetricsSnapshot(service=service, readings={reading.signal: reading for reading in results})

        unavailable = snapshot.unavailable()
        elapsed_ms = (time.monotonic() - started) * 1000
        if unavailable:
            log.warning("read %d signals of %s in %.0f ms, %d unavailable: %s", len(queries), service,
                        elapsed_ms, len(unavailable),
                        "; ".join(f"{signal.value}: {reason}" for signal, reason in unavailable.items()))
        else:
            log.info("read %d signals of %s in %.0f ms", len(queries), service, elapsed_ms)
        return snapshot

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        """Read the signals of many services, one query per signal for all the services it can batch.

        Raises:
            UnknownServiceError: when a service is not in the topology.
        """
        requested = list(dict.fromkeys(signals))
        return await self.read_signals({name: requested for name in services})

    async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
        """Read the signals of many services as one column of floats per signal.

        The same queries as ``read_many``, whose by-service results are
        already columns. No reading or snapshot is built per service, which
        matters for the thousands of services downstream of a shared back end.

        Raises:
            UnknownServiceError: when a service is not in the topology.
        """
        names = list(dict.fromkeys(services))
        requested = list(dict.fromkeys(signals))
        started = time.monotonic()
        parts = await self._read_parts({signal: names for signal in requested})

        merged: dict[Signal, dict[str, float | str]] = {signal: {} for signal in requested}
        for signal, _, outcomes in parts:
            merged[signal].update(outcomes)
        columns: dict[Signal, SignalColumn] = {}
        reasons: Counter[str] = Counter()
        for signal, by_service in merged.items():
            column = columns[signal] = SignalColumn()
            # In the order of the request, as the contract promises.
            for name in names:
                outcome = by_service[name]
                if isinstance(outcome, str):
                    column.unavailable[name] = outcome
                    reasons[outcome] += 1
                else:
                    column.values[name] = outcome

        _log_read("as columns ", len(requested), len(names), len(parts), started, reasons)
        return columns

    async def read_signals(self, signals_by_service: Mapping[str, Sequence[Signal]]) -> dict[str, MetricsSnapshot]:
        """Read its own signals of each service, one query per signal for all the services that need it.

        A proposal reads every signal of the alerting service and a few
        signals of its neighbours. Here a neighbour's request rate comes from
        the same by-service query as the service's own. Each snapshot has the
        signals requested for its service.

        Raises:
            UnknownServiceError: when a service is not in the topology.
        """
        requests = {name: list(dict.fromkeys(signals)) for name, signals in signals_by_service.items()}
        services_by_signal: dict[Signal, list[str]] = {}
        for name, signals in requests.items():
            for signal in signals:
                services_by_signal.setdefault(signal, []).append(name)
        started = time.monotonic()
        parts = await self._read_parts(services_by_signal)

        readings: dict[str, dict[Signal, Reading]] = {name: {} for name in requests}
        for signal, query, outcomes in parts:
            for name, outcome in outcomes.items():
                if isinstance(outcome, str):
                    readings[name][signal] = Reading.unavailable(name, signal, outcome, query=query)
                else:
                    readings[name][signal] = Reading.of(name, signal, outcome, query=query)
        snapshots = {
            name: MetricsSnapshot(service=name, readings={signal: readings[name][signal] for signal in signals})
            for name, signals in requests.items()
        }

        reasons = Counter(reason for snapshot in snapshots.values() for reason in snapshot.unavailable().values())
        _log_read("", len(services_by_signal), len(requests), len(parts), started, reasons)
        return snapshots

    async def _read_parts(self, services_by_signal: Mapping[Signal, Sequence[str]]
                          ) -> list[tuple[Signal, str, dict[str, float | str]]]:
        """Run the queries of a read at once and return, per query, its signal, its text and each service's outcome.

        A signal is one by-service query for its services that have that form
        (split into chunks of services), and one query for each other service.
        An outcome is the value or the reason there is none.

        Raises:
            UnknownServiceError: when a service is not in the topology, before any query is sent.
        """
        targets = {name: self.topology.service(name) for names in services_by_signal.values() for name in names}

        # (signal, query, its services, whether it is a by-service query)
        plan: list[tuple[Signal, str, list[str], bool]] = []
        for signal, names in services_by_signal.items():
            batched = [name for name in names if self.queries.batched(signal, name)]
            for chunk in _chunks(batched, MAX_SERVICES_REGEX_CHARS):
                plan.append((signal, self.queries.render_by_service(signal, chunk, self.window), chunk, True))
            for name in names:
                if not self.queries.batched(signal, name):
                    query = self.queries.render(signal, name, self.window, namespace=targets[name].namespace,
                                                deployment=targets[name].deployment_name)
                    plan.append((signal, query, [name], False))

        outcomes = await asyncio.gather(*(self._outcomes(query, names, by_service=by_service)
                                          for _, query, names, by_service in plan))
        return [(signal, query, result) for (signal, query, _, _), result in zip(plan, outcomes)]

    async def query_value(self, query: str) -> float:
        """Run one instant query that must return one finite number.

        Raises:
            MetricQueryError: with the reason and the query when there is no such number.
        """
        outcome = await self._run(query)
        if isinstance(outcome, str):
            raise MetricQueryError(outcome, query=query)
        return outcome

    async def check(self, service: str | None = None) -> dict[Signal, str]:
        """Run every default query once for a sample service and return those with no value.

        Meant for start-up: a signal listed here will read as unavailable for
        every service until the exporter provides it or the queries file
        names the shop's metrics.
        """
        sample = service or next(
            (candidate.name for candidate in self.topology if candidate.kind is ServiceKind.SERVICE),
            next(iter(self.topology)).name,
        )
        snapshot = await self.read(sample, list(Signal))
        missing = snapshot.unavailable()
        if missing:
            log.warning("metrics self-check on %s: %d of %d signals unavailable (%s); override their queries "
                        "in AIRRA_QUERIES_FILE if the exporters use other names",
                        sample, len(missing), len(Signal), ", ".join(signal.value for signal in missing))
        else:
            log.info("metrics self-check on %s: all %d signals available", sample, len(Signal))
        return missing

    async def _reading(self, service: str, signal: Signal, query: str) -> Reading:
        outcome = await self._run(query)
        if isinstance(outcome, str):
            return Reading.unavailable(service, signal, outcome, query=query)
        return Reading.of(service, signal, outcome, query=query)

    async def _outcomes(self, query: str, services: list[str], *, by_service: bool) -> dict[str, float | str]:
        """Run one query and return each of ``services``' value, or the reason it has none.

        A by-service query maps its series to services by their label; any
        other query is one service's and must return one series.
        """
        if not by_service:
            return {services[0]: await self._run(query)}

        outcome = await self._fetch(query)
        if isinstance(outcome, str):
            return dict.fromkeys(services, outcome)

        values = _values_by_service(outcome.result)
        if isinstance(values, str):
            return dict.fromkeys(services, values)
        return {service: values.get(service, _NO_SERIES) for service in services}

    async def _run(self, query: str) -> float | str:
        """Return the query's value, or the reason it has none."""
        outcome = await self._fetch(query)
        if isinstance(outcome, str):
            return outcome
        return _value(outcome.result)

    async def _fetch(self, query: str) -> _Result | str:
        """Return the query's ``data.result``, or the reason the query failed."""
        try:
            return _Result(await self.transport.query(query))
        except QueryFailed as exc:
            return exc.reason
        except Exception as exc:
            # One broken query must not cost the other readings of the decision.
            log.exception("query failed unexpectedly: %s", query)
            return f"query failed: {type(exc).__name__}: {exc}"


def _log_read(form: str, signals: int, services: int, queries: int, started: float, reasons: Counter[str]) -> None:
    """Log one line for a batched read, with its unavailable readings' most common reasons."""
    elapsed_ms = (time.monotonic() - started) * 1000
    if not reasons:
        log.info("read %d signals of %d services %sin %d queries in %.0f ms", signals, services, form, queries,
                 elapsed_ms)
        return

    # Distinct reasons only: one refused connection would otherwise repeat once per service.
    common = "; ".join(f"{reason} ({count}×)" for reason, count in reasons.most_common(3))
    log.warning("read %d signals of %d services %sin %d queries in %.0f ms, %d readings unavailable: %s",
                signals, services, form, queries, elapsed_ms, sum(reasons.values()), common)


class _Result:
    """A query's raw ``data.result``, kept apart from the str that stands for a failure."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


_NO_SERIES = "no series: the query matched nothing for this service"


def _chunks(services: list[str], max_chars: int) -> list[list[str]]:
    """Split services into runs whose joined, escaped regex stays within ``max_chars`` once URL-encoded."""
    chunks: list[list[str]] = []
    current: list[str] = []
    length = 0
    for service in services:
        # The joining '|' encodes to three characters (%7C), as do the escaping backslashes (%5C).
        size = len(quote(escape_regex_value(service), safe="")) + 3
        if current and length + size > max_chars:
            chunks.append(current)
            current, length = [], 0
        current.append(service)
        length += size
    if current:
        chunks.append(current)
    return chunks


def _values_by_service(result: Any) -> dict[str, float | str] | str:
    """Map each series of a by-service result to its service's value, or the reason it has none.

    Returns one reason for the whole result when it is not a list of series.
    """
    if not isinstance(result, list) or not all(isinstance(series, dict) for series in result):
        return f"invalid response: unexpected result {str(result)[:120]}"

    values: dict[str, float | str] = {}
    counts: dict[str, int] = {}
    for series in result:
        labels = series.get("metric")
        service = labels.get(BY_SERVICE_LABEL) if isinstance(labels, dict) else None
        if not isinstance(service, str):
            continue
        counts[service] = counts.get(service, 0) + 1
        if "values" in series:
            values[service] = "range vector: an instant query needs a function such as rate() around the range"
            continue
        pair = series.get("value")
        if not isinstance(pair, list) or len(pair) != 2:
            values[service] = f"invalid response: series without a value {str(series)[:120]}"
            continue
        values[service] = _number(pair[1])

    for service, count in counts.items():
        if count > 1:
            values[service] = (f"{count} series: the by-service query is not aggregated to one series per "
                               f"service; aggregate it with sum by ({BY_SERVICE_LABEL}) (...)")
    return values


def _transport(settings: Settings, client: PrometheusClient | None, url: str) -> QueryTransport:
    """Build the transport: the client passed in, in threads, or the one the settings name."""
    if client is None and settings.prometheus_client == "prometheus-api-client":
        client = connect_prometheus_api_client(settings, _POOL_SIZE)
    if client is not None:
        return ThreadedClientTransport(client, url=url, timeout_s=settings.query_timeout_s, pool_size=_POOL_SIZE)
    return PrometheusHttpApi.from_settings(settings, max_connections=_POOL_SIZE)


def _value(result: Any) -> float | str:
    """Convert a ``data.result`` of an instant query to a float, or return why it has no value."""
    if isinstance(result, list) and not result:
        return "no series: the query matched nothing"

    # A scalar result is a bare [time, "value"] pair, not a list of series.
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _number(result[1])

    if not isinstance(result, list) or not all(isinstance(series, dict) for series in result):
        return f"invalid response: unexpected result {str(result)[:120]}"
    if len(result) > 1:
        return (f"{len(result)} series: the query is not aggregated; wrap it in sum(...) "
                "or histogram_quantile(..., sum by (le) (...))")

    series = result[0]
    if "values" in series:
        return "range vector: an instant query needs a function such as rate() around the range"
    pair = series.get("value")
    if not isinstance(pair, list) or len(pair) != 2:
        return f"invalid response: series without a value {str(series)[:120]}"
    return _number(pair[1])


def _number(text: Any) -> float | str:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return f"not a number: Prometheus returned {text!r}"
    if math.isnan(value):
        return "value is NaN (for example 0/0: no requests in the window)"
    if math.isinf(value):
        return f"value is {value:+}"
    return value
