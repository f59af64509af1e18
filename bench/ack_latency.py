"""Acknowledgement latency under load: AIRRA versus a bare Bolt app, both over HTTP.

Two server processes run side by side. One is AIRRA, wired as
``airra serve`` wires it, on the sandbox, with one open incident whose card
has an Approve button. The other is a bare Bolt ``AsyncApp`` behind the
same aiohttp adapter (``bot.server``), whose ``/airra`` command and Approve
action listeners only acknowledge. A burst of correctly signed requests
(half ``/airra status`` and ``/airra blast payment-service``, half Approve
clicks) hits each server at once. The latency of each request is the time
until its full HTTP response.

The Slack Web API stand-in that receives both apps' replies runs in a
third server process, as Slack is remote in production: its work must not
land on the event loop of the server under test.

Bursts alternate between the two servers, each one starting once every
server process is idle again. Then an alert storm is posted to AIRRA's
Alertmanager webhook while more bursts run, so its incidents are being
analysed in the background while it acknowledges.

Run: ``python -m bench.ack_latency`` (``--smoke`` for 10-request bursts).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from prometheus_client import CollectorRegistry
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from airra.runtime import Runtime
from airra.settings import Settings
from airra.topology import Topology
from bench.common import BenchResult, command_line, finish, median, parser, percentile, ratio
from bench.slack_load import (
    PreparedRequest,
    ServerChild,
    SignedRequests,
    alert_batch,
    announce,
    send_burst,
    unlimited_session,
    wait_for_stdin_close,
    wait_until_idle,
)
from bot.app import build_bot
from bot.cards import APPROVE_ACTION_ID
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.server import build_web_app, start_web_app
from bot.testing.harness import SIGNING_SECRET
from bot.testing.slack_api import DEFAULT_TOKEN, SlackApiStandIn
from bot.traffic import MAX_FOLLOW_UP_DELAY_S, SlackTraffic
from bot.webhook import make_alertmanager_handler

MODULE = "bench.ack_latency"

CHANNEL = "C0BENCHINC"
APPROVER = "U0BENCHAPP"
OPERATOR = "U0BENCHOPS"
CARD_SERVICE = "payment-service"

TARGET_P99_RATIO = 1.2
QUIET_BETWEEN_BURSTS_S = 0.5

PROFILE_VARIABLE = "AIRRA_BENCH_PROFILE"
"""When set, each server child writes cProfile statistics to <value>.airra, <value>.bare and <value>.slack."""
SLACK_ACK_LIMIT_S = 3.0


# --- the two servers, each in its own process ---------------------------------------


async def serve_slack() -> None:
    """Run the Slack Web API stand-in both apps reply to, and serve until stdin closes."""
    api = SlackApiStandIn(channels={CHANNEL: "incidents"}, users={APPROVER: "approver", OPERATOR: "operator"})
    await api.start()
    try:
        announce({"api_url": api.base_url, "api_origin": api.base_url.removesuffix("/api/")})
        await wait_for_stdin_close()
    finally:
        await api.stop()
    announce({"ephemerals": len(api.ephemerals), "responses": len(api.responses),
              "messages": sum(len(messages) for messages in api.messages.values())})


async def serve_airra(data_dir: Path, api_url: str) -> None:
    """Run AIRRA against the remote stand-in with one incident card, announce it, and serve until stdin closes."""
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, approvers=[APPROVER], auto_enabled=False,
                        verify_wait_s=0.2, verify_samples=2, verify_interval_s=0.1)
    runtime = Runtime.build(settings, sandbox=True, seed=0)
    collections = OldestGenerationCollections()
    gc.callbacks.append(collections.observe)
    async with aiohttp.ClientSession() as api_session:
        # One session for every Web API call, as in production; without it slack_sdk opens a connection per call.
        client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=api_url, session=api_session)
        metrics = BotMetrics(CollectorRegistry())
        bot = build_bot(runtime, client=client, poster=SlackPoster(client), signing_secret=SIGNING_SECRET,
                        metrics=metrics)
        await bot.start()
        webhook = make_alertmanager_handler(topology=runtime.topology, on_batch=bot.on_webhook_batch,
                                            token=settings.webhook_token)
        traffic = SlackTraffic()
        web_app = build_web_app(bolt_app=bot.app, webhook_handler=webhook, registry=metrics.registry,
                                traffic=traffic)
        runner, port = await start_web_app(web_app, host="127.0.0.1", port=0)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{url}/alertmanager",
                                        json=alert_batch(CARD_SERVICE, ["HighErrorRate"], first_index=0)) as response:
                    if response.status != 200:
                        raise RuntimeError(f"the webhook that opens the benchmark incident got HTTP {response.status}")
            card = await _wait_for_card(bot.flows.tracker.store.all, client)
            value = next(element["value"] for block in card["blocks"] if block.get("type") == "actions"
                         for element in block["elements"] if element.get("action_id") == APPROVE_ACTION_ID)
            # As `airra serve` does once it listens: start-up objects leave the collector's view.
            gc.collect()
            gc.freeze()
            announce({"url": url, "card": card, "approve_value": value})

            await wait_for_stdin_close()
            for _ in range(3):
                await asyncio.sleep(0.05)
                await bot.flows.drain()
            incidents = bot.flows.tracker.store.all()
            announce({"incidents": len(incidents), "alerts_attached": sum(i.alert_count for i in incidents),
                      "follow_up_waits": traffic.waits, "follow_up_waits_at_bound": traffic.waits_at_bound,
                      "gc_oldest_count": collections.count, "gc_oldest_max_s": collections.longest_s,
                      "gc_oldest_total_s": collections.total_s})
        finally:
            await bot.flows.drain()
            await bot.close()
            await runner.cleanup()


class OldestGenerationCollections:
    """Times the garbage collector's full (generation 2) collections, which stop the event loop."""

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.longest_s = 0.0
        self._started = 0.0

    def observe(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        self.count += 1
        self.total_s += elapsed
        self.longest_s = max(self.longest_s, elapsed)


async def _wait_for_card(incidents: Any, client: AsyncWebClient, timeout_s: float = 30.0) -> dict[str, Any]:
    """Wait until the benchmark incident's card is posted and return the message as Slack returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        posted = [incident for incident in incidents() if incident.card_ts and incident.channel]
        if posted:
            answer = await client.conversations_replies(channel=posted[0].channel, ts=posted[0].card_ts)
            message = dict(answer["messages"][0])
            if any(block.get("type") == "actions" for block in message.get("blocks", [])):
                return message
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the benchmark incident's card was not posted within {timeout_s:.0f} s")


def bare_app(client: AsyncWebClient) -> AsyncApp:
    """Return a Bolt app whose ``/airra`` and Approve listeners only acknowledge."""
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET, process_before_response=False)

    @app.command("/airra")
    async def on_command(ack: Any) -> None:
        await ack()

    @app.action(APPROVE_ACTION_ID)
    async def on_approve(ack: Any) -> None:
        await ack()

    return app


async def serve_bare(api_url: str) -> None:
    """Run the bare Bolt app behind the bot's aiohttp adapter and serve until stdin closes."""
    async with aiohttp.ClientSession() as api_session:
        client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=api_url, session=api_session)
        runner, port = await start_web_app(build_web_app(bolt_app=bare_app(client)), host="127.0.0.1", port=0)
        try:
            announce({"url": f"http://127.0.0.1:{port}"})
            await wait_for_stdin_close()
        finally:
            await runner.cleanup()


# --- the load ---------------------------------------------------------------------------


async def build_burst(builder: SignedRequests, size: int, card: dict[str, Any], approve_value: str) -> list[PreparedRequest]:
    """Return ``size`` signed requests: slash commands and Approve clicks, alternating."""
    requests: list[PreparedRequest] = []
    for index in range(size):
        if index % 2 == 0:
            text = "status" if index % 4 == 0 else f"blast {CARD_SERVICE}"
            requests.append(await builder.slash(text, user_id=OPERATOR, channel_id=CHANNEL))
        else:
            requests.append(await builder.click(action_id=APPROVE_ACTION_ID, value=approve_value, user_id=APPROVER,
                                                channel_id=CHANNEL, message=card))
    return requests


async def post_storm(session: aiohttp.ClientSession, url: str, services: list[str], alerts: int,
                     per_webhook: int, duration_s: float) -> int:
    """Post ``alerts`` firing alerts over ``services`` to a webhook, spread over ``duration_s``; return the 200s."""
    webhooks = max(1, alerts // per_webhook)
    pause = duration_s / webhooks
    accepted = 0
    for number in range(webhooks):
        service = services[number % len(services)]
        names = ["HighErrorRate", "HighLatency"] * (per_webhook // 2 + 1)
        payload = alert_batch(service, names[:per_webhook], first_index=1 + number * per_webhook)
        async with session.post(f"{url}/alertmanager", json=payload) as response:
            accepted += int(response.status == 200)
        await asyncio.sleep(pause)
    return accepted


async def measure(*, burst: int, rounds: int, storm_alerts: int, storm_rounds: int,
                  storm_duration_s: float, quiet_s: float = QUIET_BETWEEN_BURSTS_S) -> dict[str, Any]:
    """Run the bursts against both servers and return the latencies and counts."""
    services = [service.name for service in Topology.load()][:20]
    with tempfile.TemporaryDirectory(prefix="airra-bench-ack-") as data_dir, \
            ServerChild(MODULE, ["--serve", "slack"]) as slack:
        api_url = slack.info["api_url"]
        airra_child = ServerChild(MODULE, ["--serve", "airra", "--data-dir", data_dir, "--api-url", api_url]).start()
        bare_child = ServerChild(MODULE, ["--serve", "bare", "--api-url", api_url]).start()
        with airra_child as airra, bare_child as bare:
            data = await _measure_servers(airra, bare, slack, services=services, burst=burst, rounds=rounds,
                                          storm_alerts=storm_alerts, storm_rounds=storm_rounds,
                                          storm_duration_s=storm_duration_s, quiet_s=quiet_s)
        data["slack_final"] = slack.stop()
        return data


async def _measure_servers(airra: ServerChild, bare: ServerChild, slack: ServerChild, *, services: list[str], burst: int, rounds: int,
                           storm_alerts: int, storm_rounds: int, storm_duration_s: float,
                           quiet_s: float) -> dict[str, Any]:
    """Alternate bursts between the two servers, idle and during an alert storm."""
    card, value = airra.info["card"], airra.info["approve_value"]
    builders = {
        "airra": SignedRequests(SIGNING_SECRET, api_origin=slack.info["api_origin"]),
        "bare": SignedRequests(SIGNING_SECRET, api_origin=slack.info["api_origin"]),
    }
    urls = {"airra": airra.info["url"], "bare": bare.info["url"]}
    idle: dict[str, list[float]] = {"airra": [], "bare": []}
    storm: dict[str, list[float]] = {"airra": [], "bare": []}
    # p99 of each burst, per server, in order: adjacent bursts of the two servers form a pair.
    burst_p99: dict[str, list[float]] = {"airra": [], "bare": []}
    statuses: list[int] = []

    async with unlimited_session() as session:
        async def one_burst(name: str, into: dict[str, list[float]] | None) -> None:
            requests = await build_burst(builders[name], burst, card, value)
            # The load generator's own garbage collection would pause whichever burst it falls in,
            # always the same one of a run: collect before the burst, none during it.
            gc.collect()
            gc.disable()
            try:
                results = await send_burst(session, urls[name], requests)
            finally:
                gc.enable()
            statuses.extend(status for _, status in results)
            if into is not None:
                into[name].extend(latency for latency, _ in results)
            if into is idle:
                burst_p99[name].append(percentile([latency for latency, _ in results], 99))

        children = [airra, bare, slack]
        for name in ("airra", "bare"):
            await one_burst(name, None)  # warm-up: connections, Bolt's first auth.test
        measured = (("airra", airra), ("bare", bare), ("slack", slack))
        cpu_before = {name: _cpu_seconds(child) for name, child in measured}
        for number in range(rounds):
            order = ("airra", "bare") if number % 2 == 0 else ("bare", "airra")
            for name in order:
                # Each burst starts once the previous one's follow-up work is done, on a quiet machine:
                # leftover work of one server would otherwise slow the other's burst.
                await asyncio.sleep(quiet_s)
                await wait_until_idle(children)
                await one_burst(name, idle)
        await asyncio.sleep(quiet_s)
        await wait_until_idle(children)
        cpu_per_request = {name: (_cpu_seconds(child) - cpu_before[name]) / (rounds * burst)
                           for name, child in measured}

        storm_task = asyncio.create_task(post_storm(session, urls["airra"], services, storm_alerts,
                                                    per_webhook=10, duration_s=storm_duration_s))
        await asyncio.sleep(0.2)
        for number in range(storm_rounds):
            for name in (("airra", "bare") if number % 2 == 0 else ("bare", "airra")):
                await one_burst(name, storm)
        accepted = await storm_task

    airra_final = airra.stop()
    bare.stop()
    return {"idle": idle, "storm": storm, "burst_p99": burst_p99, "cpu_per_request": cpu_per_request,
            "statuses": statuses, "accepted_webhooks": accepted,
            "storm_webhooks": max(1, storm_alerts // 10), "airra_final": airra_final}


def _cpu_seconds(child: ServerChild) -> float:
    """Return the CPU time (user and system) the child process has used so far."""
    assert child.process is not None
    times = psutil.Process(child.process.pid).cpu_times()
    return times.user + times.system


def run(*, smoke: bool, command: str, burst: int | None = None, rounds: int | None = None,
        storm_alerts: int | None = None) -> BenchResult:
    size = burst or (10 if smoke else 200)
    round_count = rounds or (1 if smoke else 10)
    alerts = storm_alerts or (20 if smoke else 1000)
    storm_rounds = 1 if smoke else 4
    result = BenchResult("ack_latency", "Acknowledgement latency under load", command, smoke)
    data = asyncio.run(measure(burst=size, rounds=round_count, storm_alerts=alerts, storm_rounds=storm_rounds,
                               storm_duration_s=0.3 if smoke else float(storm_rounds),
                               quiet_s=0.05 if smoke else QUIET_BETWEEN_BURSTS_S))

    idle, storm = data["idle"], data["storm"]
    result.add("concurrent requests per burst (half slash commands, half Approve clicks)", size, key="burst")
    result.add("bursts per server, idle", round_count, key="rounds")
    for scenario, latencies in (("idle", idle), ("alert storm in flight", storm)):
        suffix = "" if scenario == "idle" else "_storm"
        for name, label in (("airra", "AIRRA"), ("bare", "bare Bolt app")):
            for q in (50, 99):
                value = percentile(latencies[name], q) * 1000
                result.add(f"{label} p{q}, {scenario}", value, "ms", key=f"{name}_p{q}{suffix}")
        result.add(f"AIRRA ÷ bare at p50, {scenario}",
                   ratio(result.values[f"airra_p50{suffix}"], result.values[f"bare_p50{suffix}"]), "×",
                   key=f"ratio_p50{suffix}")
        result.add(f"AIRRA ÷ bare at p99, {scenario}",
                   ratio(result.values[f"airra_p99{suffix}"], result.values[f"bare_p99{suffix}"]), "×",
                   key=f"ratio_p99{suffix}")
    result.add("alerts posted during the storm bursts", alerts, key="storm_alerts")

    cpu = data["cpu_per_request"]
    result.add("server CPU per idle request, AIRRA (acknowledgement and follow-up work)", cpu["airra"] * 1000,
               "ms", key="airra_cpu_ms")
    result.add("server CPU per idle request, bare Bolt app", cpu["bare"] * 1000, "ms", key="bare_cpu_ms")
    result.add("Slack stand-in CPU per idle request (its own process, receiving the replies)", cpu["slack"] * 1000,
               "ms", key="slack_cpu_ms")
    pair_ratios = [ratio(airra_p99, bare_p99)
                   for airra_p99, bare_p99 in zip(data["burst_p99"]["airra"], data["burst_p99"]["bare"])]
    result.add("AIRRA ÷ bare at p99, median over adjacent idle bursts", median(pair_ratios), "×",
               key="ratio_p99_pairs")
    result.notes.append("per-burst p99 ratios, idle: " + ", ".join(f"{value:.2f}" for value in pair_ratios))
    result.target("AIRRA p99 ÷ bare p99, idle (median over adjacent bursts)", result.values["ratio_p99_pairs"],
                  TARGET_P99_RATIO)
    result.target("AIRRA p99 during the alert storm", result.values["airra_p99_storm"] / 1000, SLACK_ACK_LIMIT_S, " s")

    final = data["airra_final"]
    result.check("every request answered 200", all(status == 200 for status in data["statuses"]))
    result.check("every storm webhook accepted", data["accepted_webhooks"] == data["storm_webhooks"])
    result.check("AIRRA attached every storm alert", final.get("alerts_attached", 0) >= alerts + 1)
    replies = data["slack_final"]
    result.check("the Slack stand-in got AIRRA's replies (ephemerals and command responses)",
                 replies.get("ephemerals", 0) > 0 and replies.get("responses", 0) > 0)
    result.values["alerts_attached"] = float(final.get("alerts_attached", 0))
    waits, at_bound = final.get("follow_up_waits", 0), final.get("follow_up_waits_at_bound", 0)
    result.add("AIRRA follow-up steps that waited for requests in flight (whole run)", waits, key="follow_up_waits")
    result.add(f"of which started at the {MAX_FOLLOW_UP_DELAY_S * 1000:.0f} ms bound, requests still in flight", at_bound,
               key="follow_up_waits_at_bound")
    result.add("AIRRA full garbage collections (generation 2) over the whole run", final.get("gc_oldest_count", 0),
               key="gc_full_count")
    result.add("longest of them (the event loop stops meanwhile)", final.get("gc_oldest_max_s", 0.0) * 1000, "ms",
               key="gc_full_longest_ms")
    result.notes.append("each server runs in its own process, the Slack stand-in that receives the replies in a "
                        "third, the load generator in a fourth; bursts alternate between the servers so both see "
                        "the same machine noise, and each starts once every server process is idle")
    result.notes.append("the bare app has two listeners that only acknowledge: the /airra command and the "
                        "Approve action, so both apps route the same requests")
    return result


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--serve"]:
        role = args[1]
        if role == "slack":
            server = serve_slack()
        else:
            api_url = args[args.index("--api-url") + 1]
            server = (serve_airra(Path(args[args.index("--data-dir") + 1]), api_url) if role == "airra"
                      else serve_bare(api_url))
        profile_to = os.environ.get(PROFILE_VARIABLE)
        if profile_to:
            cProfile.runctx("asyncio.run(server)", globals(), {"server": server}, f"{profile_to}.{role}")
        else:
            asyncio.run(server)
        return 0
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--burst", type=int, help="concurrent requests per burst")
    arguments.add_argument("--rounds", type=int, help="idle bursts per server")
    arguments.add_argument("--storm-alerts", type=int, help="alerts posted during the storm bursts")
    options = arguments.parse_args(args)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), burst=options.burst,
                 rounds=options.rounds, storm_alerts=options.storm_alerts)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
