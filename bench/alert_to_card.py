"""Alert to card: from the Alertmanager webhook's arrival to the card's chat.postMessage, on real Prometheus.

A real Prometheus on 127.0.0.1 scrapes a fake exporter of five services
(``tests.support.promstack``); the bot reads its evidence through
``PrometheusMetrics``. For each of several services the benchmark posts an
Alertmanager webhook (version 4, as Alertmanager sends it) and takes the
time until the card's ``chat.postMessage`` reaches the Slack stand-in.

The baseline is the slowest single PromQL query the pipeline issues: every
query ``PrometheusMetrics`` sent is recorded, then each is timed on its own
against the same Prometheus, through the same transport the pipeline used,
and the slowest median is the baseline.

The benchmark also reports three phases of each incident: from the webhook
to the first query sent, from there to the last response, and from the last
response to the card.

Run: ``python -m bench.alert_to_card`` (``--smoke`` for one incident).
Needs Debian's ``prometheus`` package.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from airra.execution.guards import GuardedExecutor, Guards
from airra.metrics.prometheus import PrometheusMetrics
from airra.metrics.transport import QueryTransport
from airra.runtime import Runtime
from airra.settings import Settings
from airra.topology import Topology
from bench.common import BenchResult, command_line, finish, median, parser, ratio
from bench.slack_load import alert_batch
from bot.cards import APPROVE_ACTION_ID
from bot.testing.harness import LocalBot
from tests.e2e.exporter_executor import ExporterExecutor
from tests.support.promstack import prom_stack, query, wait_until

MODULE = "bench.alert_to_card"

CHANNEL = "C0BENCHCARD"
TARGET_RATIO = 2.0
PRODUCTION_QUERY_MS = 50.0
"""Evaluation time added to each query in the second configuration, a typical production query."""
RATE_WINDOW = "5s"

SERVICES = {
    "defaults": {"namespace": "shop", "min_replicas": 1, "max_replicas": 6, "users_per_rps": 10,
                 "revenue_per_user_hour": 0.01},
    "services": [
        {"name": "frontend", "depends_on": ["api-gateway"], "criticality": "high"},
        {"name": "api-gateway", "depends_on": ["orders", "inventory"], "criticality": "critical"},
        {"name": "orders", "depends_on": ["payment-service"], "criticality": "critical"},
        {"name": "payment-service", "criticality": "critical"},
        {"name": "inventory", "criticality": "medium"},
    ],
}


class RecordingTransport:
    """A wrapper of the Prometheus transport that records each query and how long it took in the pipeline.

    ``delay_s`` adds a wait before each query is sent, which models the
    evaluation time of a production Prometheus over real data. Concurrent
    queries wait at the same time, as they would on the server.
    """

    def __init__(self, transport: QueryTransport, *, delay_s: float = 0.0) -> None:
        self.transport = transport
        self.delay_s = delay_s
        self.calls: list[tuple[str, float, float]] = []

    async def query(self, promql: str) -> Any:
        started = time.perf_counter()
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return await self.transport.query(promql)
        finally:
            self.calls.append((promql, started, time.perf_counter()))

    async def close(self) -> None:
        await self.transport.close()


def _has_card(local: LocalBot, count: int) -> bool:
    cards = [message for message in local.api.messages_in(CHANNEL)
             if any(block.get("type") == "actions" and any(element.get("action_id") == APPROVE_ACTION_ID
                                                           for element in block.get("elements", []))
                    for block in message.get("blocks", []))
             or "no action" in message.get("text", "").lower()]
    return len(cards) >= count


async def measure(directory: Path, *, services: list[str], repeats: int, settle_window: bool,
                  query_delay_s: float = 0.0, prometheus_client: str = "aiohttp") -> dict[str, Any]:
    """Run one incident per service through the bot and time it, then time each recorded query alone."""
    services_file = directory / "services.yaml"
    services_file.write_text(yaml.safe_dump(SERVICES), encoding="utf-8")
    names = [entry["name"] for entry in SERVICES["services"]]

    with prom_stack(directory / "stack", services=names, rules={}, rate_rps=10.0, latency_s=0.05) as stack:
        if settle_window:
            # rate() over 5 s needs a full window of scrapes before the readings mean anything.
            wait_until(lambda: (query(stack.prometheus.url, 'sum(rate(http_requests_total{service="orders"}[5s]))')
                                .get("data", {}).get("result")), timeout_s=30, what="a full rate window")
        for service in services:
            stack.exporter.set_load(service, error_ratio=0.3, latency_s=0.4)

        settings = Settings(services_file=services_file, data_dir=directory / "data",
                            prometheus_url=stack.prometheus.url, rate_window=RATE_WINDOW, query_timeout_s=5,
                            default_channel=CHANNEL, approvers=["U0BENCHAPP"], auto_enabled=False,
                            prometheus_client=prometheus_client)
        topology = Topology.load(services_file)
        guards = Guards(settings, topology, settings.data_dir / "state")
        metrics = PrometheusMetrics(settings, topology)
        recorder = RecordingTransport(metrics.transport, delay_s=query_delay_s)
        metrics.transport = recorder
        runtime = Runtime(settings, topology, metrics, GuardedExecutor(ExporterExecutor(stack.exporter), guards),
                          guards)

        latencies: list[float] = []
        pipeline_queries: list[tuple[str, float, float]] = []
        phases: list[tuple[float, float, float]] = []
        async with LocalBot(settings, runtime=runtime, channels={CHANNEL: "incidents"}) as local:
            for number, service in enumerate(services):
                recorder.calls.clear()
                started = time.perf_counter()
                status, _ = await local.post_webhook(alert_batch(service, ["HighErrorRate"], first_index=number))
                if status != 200:
                    raise RuntimeError(f"the webhook for {service} got HTTP {status}")
                await local.api.wait_for(lambda: _has_card(local, number + 1), timeout=30)
                carded = time.perf_counter()
                latencies.append(carded - started)
                calls = [call for call in recorder.calls if call[1] < carded]
                pipeline_queries += calls
                if calls:
                    first_sent = min(call[1] for call in calls)
                    last_received = max(call[2] for call in calls)
                    phases.append((first_sent - started, last_received - first_sent, carded - last_received))
                await local.settle()

        # Each distinct query the pipeline sent, timed alone against the same Prometheus
        # through the same transport, so that both sides pay the same client cost.
        alone: dict[str, float] = {}
        cpu_started = time.process_time()
        for promql in dict.fromkeys(call[0] for call in pipeline_queries):
            durations = []
            for _ in range(repeats):
                started = time.perf_counter()
                await recorder.query(promql)
                durations.append(time.perf_counter() - started)
            alone[promql] = median(durations)

        client_cpu_s = (time.process_time() - cpu_started) / max(1, len(alone) * repeats)
        await metrics.close()

    return {"latencies": latencies, "pipeline_queries": pipeline_queries, "alone": alone,
            "client_cpu_s": client_cpu_s, "phases": phases}


def run(*, smoke: bool, command: str, repeats: int = 5, query_delays_ms: list[float] | None = None,
        prometheus_client: str = "aiohttp") -> BenchResult:
    """Measure once per added query evaluation time: as measured on this loopback Prometheus, and slower."""
    services = ["payment-service"] if smoke else ["payment-service", "orders", "inventory", "api-gateway", "frontend"]
    delays = query_delays_ms
    if delays is None:
        delays = [0.0] if smoke else [0.0, PRODUCTION_QUERY_MS]
    result = BenchResult("alert_to_card", "Alert to card on real Prometheus", command, smoke)
    result.add("incidents per configuration (one per service)", len(services), key="incidents")

    for delay_ms in delays:
        with tempfile.TemporaryDirectory(prefix="airra-bench-card-") as directory:
            data = asyncio.run(measure(Path(directory), services=services, repeats=3 if smoke else repeats,
                                       settle_window=not smoke, query_delay_s=delay_ms / 1000,
                                       prometheus_client=prometheus_client))
        _report(result, data, delay_ms, expected=len(services))
    result.notes.append(f"PromQL queries sent with the {prometheus_client} client (AIRRA_PROMETHEUS_CLIENT)")
    return result


def _report(result: BenchResult, data: dict[str, Any], delay_ms: float, *, expected: int) -> None:
    latencies = data["latencies"]
    alone = data["alone"]
    slowest_query, slowest_s = max(alone.items(), key=lambda item: item[1])
    in_pipeline = [finished - started for _, started, finished in data["pipeline_queries"]]
    suffix = "" if delay_ms == 0 else f"_{delay_ms:g}ms"
    label = "loopback Prometheus" if delay_ms == 0 else f"+{delay_ms:g} ms per query"

    result.add(f"[{label}] webhook to card, median", median(latencies) * 1000, "ms", key=f"card_ms{suffix}")
    result.add(f"[{label}] webhook to card, slowest", max(latencies) * 1000, "ms", key=f"card_max_ms{suffix}")
    result.add(f"[{label}] PromQL queries per incident", len(data["pipeline_queries"]) / len(latencies),
               key=f"queries_per_incident{suffix}")
    phases = data["phases"]
    if phases:
        result.add(f"[{label}] webhook to first query sent, median", median([phase[0] for phase in phases]) * 1000,
                   "ms", key=f"to_first_query_ms{suffix}")
        result.add(f"[{label}] first query sent to last response, median",
                   median([phase[1] for phase in phases]) * 1000, "ms", key=f"queries_ms{suffix}")
        result.add(f"[{label}] last response to card, median", median([phase[2] for phase in phases]) * 1000,
                   "ms", key=f"after_queries_ms{suffix}")
    result.add(f"[{label}] slowest single query alone (median of its runs)", slowest_s * 1000, "ms",
               key=f"slowest_query_ms{suffix}")
    result.add(f"[{label}] median query alone", median(list(alone.values())) * 1000, "ms",
               key=f"median_query_ms{suffix}")
    result.add(f"[{label}] slowest query inside the pipeline", max(in_pipeline) * 1000, "ms",
               key=f"slowest_in_pipeline_ms{suffix}")
    result.add(f"[{label}] client CPU per query (Python side, timed alone)", data["client_cpu_s"] * 1000, "ms",
               key=f"client_cpu_ms{suffix}")
    result.values[f"ratio{suffix}"] = ratio(median(latencies), slowest_s)
    result.target(f"[{label}] webhook to card ÷ slowest single query", result.values[f"ratio{suffix}"], TARGET_RATIO)
    result.check(f"[{label}] every incident got its card", len(latencies) == expected)
    result.check(f"[{label}] the pipeline queried Prometheus", bool(in_pipeline))
    if delay_ms == 0:
        result.notes.append(f"slowest query alone: `{slowest_query}`")
        result.notes.append("the webhooks are posted by the benchmark in Alertmanager's format, so the start time "
                            "is exact; Prometheus scrapes every second with a 5 s rate window")
    else:
        result.notes.append(f"+{delay_ms:g} ms per query: each query waits that long before it is sent, "
                            "as a production Prometheus evaluating real data would take. Concurrent queries "
                            "wait at the same time")


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--repeats", type=int, default=5, help="runs of each query timed alone")
    arguments.add_argument("--query-delay-ms", type=float, action="append",
                           help="evaluation time added to every query (repeatable; default 0 and "
                                f"{PRODUCTION_QUERY_MS:g}, only 0 with --smoke)")
    arguments.add_argument("--prometheus-client", choices=["aiohttp", "prometheus-api-client"], default="aiohttp",
                           help="HTTP client that sends the PromQL queries, the same choice as "
                                "AIRRA_PROMETHEUS_CLIENT")
    options = arguments.parse_args(argv)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), repeats=options.repeats,
                 query_delays_ms=options.query_delay_ms, prometheus_client=options.prometheus_client)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
