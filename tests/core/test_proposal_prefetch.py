"""A proposal reads its metrics in batches: one query per signal against Prometheus, nothing twice."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.blast_radius import DOWNSTREAM_SIGNALS
from airra.diagnosis import DEPENDENCY_SIGNALS
from airra.execution.base import ServiceState
from airra.metrics import MetricsSnapshot, Reading, Signal
from airra.metrics.prometheus import PrometheusMetrics
from airra.proposal import Proposer, ReadOnceMetrics
from airra.settings import Settings
from airra.topology import Topology

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class CountingBatchSource:
    def __init__(self) -> None:
        self.batches: list[tuple[tuple[str, ...], tuple[Signal, ...]]] = []

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        raise AssertionError("a batched source must not be read one service at a time")

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        self.batches.append((tuple(services), tuple(signals)))
        return {
            name: MetricsSnapshot(service=name, readings={
                signal: Reading.of(name, signal, float(len(name))) for signal in signals
            })
            for name in services
        }


async def test_prefetch_batches_services_by_signals() -> None:
    source = CountingBatchSource()
    metrics = ReadOnceMetrics(source)
    downstream = {Signal.ERROR_RATIO, Signal.REQUEST_RATE}

    await metrics.prefetch({
        "orders": set(Signal),
        "api-gateway": downstream,
        "frontend": downstream,
    })

    assert sorted(source.batches) == sorted([
        (("api-gateway", "frontend"), tuple(sorted(downstream))),
        (("orders",), tuple(sorted(Signal))),
    ])
    snapshot = await metrics.read("frontend", [Signal.REQUEST_RATE])
    assert snapshot.value(Signal.REQUEST_RATE) == 8.0
    assert len(source.batches) == 2


async def test_read_many_queries_only_missing() -> None:
    source = CountingBatchSource()
    metrics = ReadOnceMetrics(source)
    await metrics.read_many(["orders"], [Signal.ERROR_RATIO])

    result = await metrics.read_many(["orders", "cart"], [Signal.ERROR_RATIO])

    assert source.batches == [(("orders",), (Signal.ERROR_RATIO,)), (("cart",), (Signal.ERROR_RATIO,))]
    assert result["cart"].value(Signal.ERROR_RATIO) == 4.0
    assert result["orders"].value(Signal.ERROR_RATIO) == 6.0


class CountingSignalsSource(CountingBatchSource):
    """A batched source that also reads a different set of signals per service in one call."""

    def __init__(self) -> None:
        super().__init__()
        self.signal_reads: list[dict[str, list[Signal]]] = []

    async def read_signals(self, signals_by_service: Mapping[str, Sequence[Signal]]) -> dict[str, MetricsSnapshot]:
        self.signal_reads.append({name: list(signals) for name, signals in signals_by_service.items()})
        return {
            name: MetricsSnapshot(service=name, readings={
                signal: Reading.of(name, signal, float(len(name))) for signal in signals
            })
            for name, signals in signals_by_service.items()
        }


async def test_prefetch_reads_all_needs_in_one_call() -> None:
    source = CountingSignalsSource()
    metrics = ReadOnceMetrics(source)
    downstream = {Signal.ERROR_RATIO, Signal.REQUEST_RATE}

    await metrics.prefetch({"orders": set(Signal), "frontend": downstream})

    assert source.signal_reads == [{"frontend": sorted(downstream), "orders": sorted(Signal)}]
    assert source.batches == []
    snapshot = await metrics.read("frontend", [Signal.REQUEST_RATE])
    assert snapshot.value(Signal.REQUEST_RATE) == 8.0


async def test_prefetch_skips_cached_readings() -> None:
    source = CountingSignalsSource()
    metrics = ReadOnceMetrics(source)
    await metrics.read_many(["orders"], [Signal.ERROR_RATIO])

    await metrics.prefetch({"orders": {Signal.ERROR_RATIO, Signal.REQUEST_RATE}, "cart": {Signal.ERROR_RATIO}})
    await metrics.prefetch({"orders": {Signal.ERROR_RATIO}})

    assert source.signal_reads == [{"cart": [Signal.ERROR_RATIO], "orders": [Signal.REQUEST_RATE]}]


class ServiceRegexClient:
    """Returns for every instant query values that depend only on the service and the metric asked.

    A by-service query gets one series per service of its regex, any other
    query one series, so the same (service, signal) reads the same value
    whichever query form or batch it comes from.
    """

    def __init__(self) -> None:
        self.queries: list[str] = []

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        self.queries.append(query)
        regex = re.search(r'service=~"([^"]*)"', query)
        if regex is None:
            return [{"metric": {}, "value": [1796400000, str(self._value(query, query))]}]

        services = [name.replace("\\\\", "\\").replace("\\-", "-") for name in regex.group(1).split("|")]
        shape = re.sub(r'service=~"[^"]*"', "", query)
        return [{"metric": {"service": name}, "value": [1796400000, str(self._value(name, shape))]}
                for name in services]

    @staticmethod
    def _value(service: str, shape: str) -> float:
        return zlib.crc32(f"{service} {shape}".encode()) % 1000 / 1000


class WithoutReadSignals:
    """Hides ``read_signals``, so that the proposal reads by set of signals as for any batched source."""

    def __init__(self, source: PrometheusMetrics) -> None:
        self.source = source

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        return await self.source.read(service, signals)

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        return await self.source.read_many(services, signals)


async def test_proposal_same_with_fewer_queries(settings: Settings, topology: Topology) -> None:
    configured = settings.model_copy(update={"prometheus_url": "http://127.0.0.1:9", "rate_window": "1m"})
    alert = Alert(source=AlertSource.ALERTMANAGER_WEBHOOK, status=AlertStatus.FIRING, alertname="HighErrorRate",
                  service="payment-service", severity="critical", fingerprint="fp", starts_at=NOW)

    async def state(service: str) -> ServiceState:
        return ServiceState(service=service, replicas=3, ready_replicas=3, revision=7, previous_revision=6)

    proposals = {}
    queries = {}
    for path in ("by signal", "by set of signals"):
        client = ServiceRegexClient()
        source = PrometheusMetrics(configured, topology, client=client)
        wrapped = source if path == "by signal" else WithoutReadSignals(source)
        proposer = Proposer(topology, wrapped, state, configured, clock=lambda: NOW)
        proposals[path] = await proposer.propose(alert, incident_id="INC-1")
        queries[path] = client.queries
        await source.close()

    # payment-service has 4 downstream services and 5 dependencies, all read through
    # by-service forms, so each signal is one query.
    assert len(queries["by signal"]) == len(Signal)
    assert len(queries["by set of signals"]) == len(Signal) + len(DOWNSTREAM_SIGNALS) + len(DEPENDENCY_SIGNALS)
    assert proposals["by signal"].model_dump() == proposals["by set of signals"].model_dump()
    assert proposals["by signal"].blast is not None
    assert proposals["by signal"].blast.affected_services_count == 4
