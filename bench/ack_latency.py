"""Acknowledgement latency under load: AIRRA versus a bare Bolt app, both over HTTP.

Two server processes run side by side: AIRRA (``LocalBot`` on the sandbox,
one open incident whose card has an Approve button) and a bare Bolt
``AsyncApp`` behind the same aiohttp adapter (``bot.server``) whose
``/airra`` command and Approve action listeners only acknowledge. A burst
of correctly signed requests (half ``/airra status`` and ``/airra blast
payment-service``, half Approve clicks) hits each server at once; the
latency of each request is the time until its full HTTP response.

Bursts alternate between the two servers. Then an alert storm is posted to
AIRRA's Alertmanager webhook while more bursts run, so its incidents are
being analysed in the background while it acknowledges.

Run: ``python -m bench.ack_latency`` (``--smoke`` for 10-request bursts).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

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
)
from bot.cards import APPROVE_ACTION_ID
from bot.server import build_web_app, start_web_app
from bot.testing.harness import SIGNING_SECRET, LocalBot
from bot.testing.slack_api import DEFAULT_TOKEN, SlackApiStandIn

MODULE = "bench.ack_latency"

CHANNEL = "C0BENCHINC"
APPROVER = "U0BENCHAPP"
OPERATOR = "U0BENCHOPS"
CARD_SERVICE = "payment-service"

TARGET_P99_RATIO = 1.2
QUIET_BETWEEN_BURSTS_S = 0.5

PROFILE_VARIABLE = "AIRRA_BENCH_PROFILE"
"""When set, each server child writes cProfile statistics to <value>.airra and <value>.bare."""
SLACK_ACK_LIMIT_S = 3.0


# --- the two servers, each in its own process ---------------------------------------


async def serve_airra(data_dir: Path) -> None:
    """Run AIRRA with one incident card, announce it, and serve until stdin closes."""
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, approvers=[APPROVER], auto_enabled=False,
                        verify_wait_s=0.2, verify_samples=2, verify_interval_s=0.1)
    local = LocalBot(settings, channels={CHANNEL: "incidents"}, users={APPROVER: "approver", OPERATOR: "operator"})
    async with local:
        assert local.bot is not None
        status, _ = await local.post_webhook(alert_batch(CARD_SERVICE, ["HighErrorRate"], first_index=0))
        if status != 200:
            raise RuntimeError(f"the webhook that opens the benchmark incident got HTTP {status}")
        card = await _wait_for_card(local)
        value = next(element["value"] for block in card["blocks"] if block.get("type") == "actions"
                     for element in block["elements"] if element.get("action_id") == APPROVE_ACTION_ID)
        api_origin = local.api.base_url.removesuffix("/api/")
        announce({"url": local.base_url, "api_origin": api_origin, "card": card, "approve_value": value})

        await wait_for_stdin_close()
        await local.settle()
        incidents = local.bot.flows.tracker.store.all()
        announce({"incidents": len(incidents), "alerts_attached": sum(i.alert_count for i in incidents),
                  "ephemerals": len(local.api.ephemerals), "responses": len(local.api.responses)})


async def _wait_for_card(local: LocalBot) -> dict[str, Any]:
    def card() -> dict[str, Any] | None:
        for message in local.api.messages_in(CHANNEL):
            for block in message.get("blocks", []):
                if block.get("type") == "actions" and any(
                        element.get("action_id") == APPROVE_ACTION_ID for element in block.get("elements", [])):
                    return message
        return None

    await local.api.wait_for(lambda: card() is not None, timeout=30)
    found = card()
    assert found is not None
    return found


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


async def serve_bare() -> None:
    """Run the bare Bolt app behind the bot's aiohttp adapter and serve until stdin closes."""
    api = SlackApiStandIn(channels={CHANNEL: "incidents"}, users={APPROVER: "approver", OPERATOR: "operator"})
    await api.start()
    client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=api.base_url)
    runner, port = await start_web_app(build_web_app(bolt_app=bare_app(client)), host="127.0.0.1", port=0)
    try:
        announce({"url": f"http://127.0.0.1:{port}", "api_origin": api.base_url.removesuffix("/api/")})
        await wait_for_stdin_close()
    finally:
        await runner.cleanup()
        await api.stop()
    announce({"responses": len(api.responses)})


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
    with tempfile.TemporaryDirectory(prefix="airra-bench-ack-") as data_dir:
        airra_child = ServerChild(MODULE, ["--serve", "airra", "--data-dir", data_dir]).start()
        bare_child = ServerChild(MODULE, ["--serve", "bare"]).start()
        with airra_child as airra, bare_child as bare:
            return await _measure_servers(airra, bare, services=services, burst=burst, rounds=rounds,
                                          storm_alerts=storm_alerts, storm_rounds=storm_rounds,
                                          storm_duration_s=storm_duration_s, quiet_s=quiet_s)


async def _measure_servers(airra: ServerChild, bare: ServerChild, *, services: list[str], burst: int, rounds: int,
                           storm_alerts: int, storm_rounds: int, storm_duration_s: float,
                           quiet_s: float) -> dict[str, Any]:
    """Alternate bursts between the two servers, idle and during an alert storm."""
    card, value = airra.info["card"], airra.info["approve_value"]
    builders = {
        "airra": SignedRequests(SIGNING_SECRET, api_origin=airra.info["api_origin"]),
        "bare": SignedRequests(SIGNING_SECRET, api_origin=bare.info["api_origin"]),
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
            results = await send_burst(session, urls[name], requests)
            statuses.extend(status for _, status in results)
            if into is not None:
                into[name].extend(latency for latency, _ in results)
            if into is idle:
                burst_p99[name].append(percentile([latency for latency, _ in results], 99))

        for name in ("airra", "bare"):
            await one_burst(name, None)  # warm-up: connections, Bolt's first auth.test
        cpu_before = {name: _cpu_seconds(child) for name, child in (("airra", airra), ("bare", bare))}
        for number in range(rounds):
            order = ("airra", "bare") if number % 2 == 0 else ("bare", "airra")
            for name in order:
                # Each burst starts once the previous one's follow-up work is done, on a quiet machine.
                await asyncio.sleep(quiet_s)
                await one_burst(name, idle)
        await asyncio.sleep(quiet_s)
        cpu_per_request = {name: (_cpu_seconds(child) - cpu_before[name]) / (rounds * burst)
                           for name, child in (("airra", airra), ("bare", bare))}

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
    round_count = rounds or (1 if smoke else 6)
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
    result.values["alerts_attached"] = float(final.get("alerts_attached", 0))
    result.notes.append("each server runs in its own process; the load generator in a third; bursts alternate "
                        "between the servers so both see the same machine noise")
    result.notes.append("the bare app has two listeners that only acknowledge: the /airra command and the "
                        "Approve action, so both apps route the same requests")
    return result


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--serve"]:
        server = serve_airra(Path(args[args.index("--data-dir") + 1])) if args[1] == "airra" else serve_bare()
        profile_to = os.environ.get(PROFILE_VARIABLE)
        if profile_to:
            cProfile.runctx("asyncio.run(server)", globals(), {"server": server}, f"{profile_to}.{args[1]}")
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
