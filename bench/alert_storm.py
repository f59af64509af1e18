"""Alert storm: 1,000 alerts over 20 services within 10 seconds, with Slack rate limiting.

The whole bot runs on the sandbox (``LocalBot``). Alertmanager webhooks of
ten alerts each arrive at a steady pace over the storm's duration, while the
Slack stand-in responds to some ``chat.postMessage`` and ``chat.update`` calls
with 429 and ``Retry-After``. The bot posts at most one message per second
per channel, as ``SlackPoster`` does in production.

Measured: the time from the first webhook until every alert is attached to
an incident, every card is posted and the bot's background work is done.
Also the peak resident memory during the storm, and, from the stand-in's
record, the cards and updates per service and the rate-limited calls.

Run: ``python -m bench.alert_storm`` (``--smoke`` for 60 alerts over 6 services).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from airra.settings import Settings
from airra.topology import Topology
from bench.common import BenchResult, command_line, finish, parser
from bench.slack_load import alert_batch
from bot.testing.harness import LocalBot

MODULE = "bench.alert_storm"

CHANNEL = "C0BENCHSTORM"
ALERTS_PER_WEBHOOK = 10
RATE_LIMITED_CALLS = 5
"""chat.postMessage calls, and as many chat.update calls, that the stand-in rejects with 429."""
RETRY_AFTER_S = 1
PRODUCTION_POST_INTERVAL_S = 1.0


class RssSampler:
    """Samples this process's resident memory in a thread and keeps the peak."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.process = psutil.Process()
        self.peak_bytes = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)


def storm_payloads(services: list[str], alerts: int) -> list[dict[str, Any]]:
    """Return webhook bodies carrying ``alerts`` distinct firing alerts, round-robin over ``services``."""
    payloads = []
    for number in range(alerts // ALERTS_PER_WEBHOOK):
        service = services[number % len(services)]
        names = [("HighErrorRate", "HighLatency", "PodCrashLooping")[index % 3] for index in range(ALERTS_PER_WEBHOOK)]
        payloads.append(alert_batch(service, names, first_index=number * ALERTS_PER_WEBHOOK))
    return payloads


async def storm(*, alerts: int, service_count: int, duration_s: float, post_interval_s: float,
                data_dir: Path, rate_limited: int, retry_after_s: int = RETRY_AFTER_S,
                card_update_interval_s: float | None = None) -> dict[str, Any]:
    """Run one storm and return what the stand-in and the incident store saw."""
    services = [service.name for service in Topology.load()][:service_count]
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, auto_enabled=False, approvers=["U0BENCHAPP"])
    local = LocalBot(settings, channels={CHANNEL: "incidents"}, min_post_interval_s=post_interval_s)
    payloads = storm_payloads(services, alerts)
    statuses: list[int] = []

    async with local:
        assert local.bot is not None
        if card_update_interval_s is not None:
            local.bot.flows.card_update_interval_s = card_update_interval_s
        local.api.fail_next("chat.postMessage", status=429, retry_after=retry_after_s, times=rate_limited)
        local.api.fail_next("chat.update", status=429, retry_after=retry_after_s, times=rate_limited)
        idle_rss = psutil.Process().memory_info().rss

        pause = duration_s / max(1, len(payloads))
        with RssSampler() as sampler:
            started = time.perf_counter()
            async with aiohttp.ClientSession() as session:
                async def deliver(payload: dict[str, Any]) -> None:
                    async with session.post(f"{local.base_url}/alertmanager", json=payload) as response:
                        statuses.append(response.status)

                deliveries = []
                for payload in payloads:
                    deliveries.append(asyncio.create_task(deliver(payload)))
                    await asyncio.sleep(pause)
                await asyncio.gather(*deliveries)
                sent_s = time.perf_counter() - started

            await local.bot.flows.drain()
            total_s = time.perf_counter() - started

        incidents = local.bot.flows.tracker.store.all()
        top_level = local.api.messages_in(CHANNEL)
        card_ts = {incident.card_ts: incident.service for incident in incidents if incident.card_ts}
        posts = [call for call in local.api.calls("chat.postMessage")]
        updates = [call for call in local.api.calls("chat.update")]
        fingerprints = {fingerprint for incident in incidents for fingerprint in incident.alerts}
        errors = sum(sample.value for metric in local.registry.collect() if metric.name == "airra_bot_errors"
                     for sample in metric.samples if sample.name.endswith("_total"))
        return {
            "services": services,
            "statuses": statuses,
            "sent_s": sent_s,
            "total_s": total_s,
            "idle_rss_mb": idle_rss / 1e6,
            "peak_rss_mb": sampler.peak_bytes / 1e6,
            "incidents": [(incident.service, incident.alert_count, incident.card_ts) for incident in incidents],
            "fingerprints": len(fingerprints),
            "alerts_attached": sum(incident.alert_count for incident in incidents),
            "cards_per_service": Counter(card_ts[message["ts"]] for message in top_level if message["ts"] in card_ts),
            "other_top_level": [message for message in top_level if message["ts"] not in card_ts],
            "updates_per_service": Counter(card_ts.get(call.args.get("ts"), "?") for call in updates if call.ok),
            "rate_limited": sum(1 for call in posts + updates if call.status == 429),
            "posts_ok": sum(1 for call in posts if call.ok),
            "bot_errors": errors,
        }


def run(*, smoke: bool, command: str, alerts: int | None = None, services: int | None = None,
        duration_s: float | None = None, post_interval_s: float | None = None) -> BenchResult:
    alert_count = alerts or (60 if smoke else 1000)
    service_count = services or (6 if smoke else 20)
    duration = duration_s
    if duration is None:
        duration = 0.3 if smoke else 10.0
    if post_interval_s is None:
        post_interval_s = 0.0 if smoke else PRODUCTION_POST_INTERVAL_S
    result = BenchResult("alert_storm", "Alert storm", command, smoke)
    rate_limited = 1 if smoke else RATE_LIMITED_CALLS
    retry_after_s = 0 if smoke else RETRY_AFTER_S
    with tempfile.TemporaryDirectory(prefix="airra-bench-storm-") as directory:
        # The smoke run refreshes cards sooner than the production 3 s, so that it takes seconds.
        data = asyncio.run(storm(alerts=alert_count, service_count=service_count, duration_s=duration,
                                 post_interval_s=post_interval_s, data_dir=Path(directory), rate_limited=rate_limited,
                                 retry_after_s=retry_after_s, card_update_interval_s=0.2 if smoke else None))

    cards = data["cards_per_service"]
    result.add("alerts sent", alert_count, key="alerts")
    result.add("services", service_count, key="services")
    result.add(f"webhooks of {ALERTS_PER_WEBHOOK} alerts, all answered", len(data["statuses"]), key="webhooks")
    result.add("time to send every webhook", data["sent_s"], "s", key="sent_s")
    result.add("time until every alert is attached and every card posted", data["total_s"], "s", key="total_s")
    result.add("resident memory before the storm", data["idle_rss_mb"], "MB", key="idle_rss_mb")
    result.add("peak resident memory during the storm", data["peak_rss_mb"], "MB", key="peak_rss_mb")
    result.add("incidents opened", len(data["incidents"]), key="incidents")
    result.add("alerts attached to incidents", data["alerts_attached"], key="alerts_attached")
    result.add("alerts lost", alert_count - data["fingerprints"], key="lost")
    result.add("cards per service, most", max(cards.values(), default=0), key="max_cards")
    result.add("card updates (chat.update) in all", sum(data["updates_per_service"].values()), key="updates")
    result.add("429 responses with Retry-After from the stand-in", data["rate_limited"], key="rate_limited")
    result.add("unhandled 429 (errors reported by the bot)", data["bot_errors"], key="unhandled_429")
    result.add("pacing of chat.postMessage per channel", post_interval_s, "s", key="post_interval_s")

    result.target("cards per service, most", result.values["max_cards"], 1, "")
    result.target("alerts lost", result.values["lost"], 0, "")
    result.target("unhandled 429", result.values["unhandled_429"], 0, "")

    result.check("every webhook answered 200", all(status == 200 for status in data["statuses"])
                 and len(data["statuses"]) == alert_count // ALERTS_PER_WEBHOOK)
    result.check("every alert attached to an incident", data["fingerprints"] == alert_count
                 and data["alerts_attached"] == alert_count)
    result.check("one incident per service", sorted(service for service, _, _ in data["incidents"])
                 == sorted(data["services"]))
    result.check("every incident has a posted card", all(card_ts for _, _, card_ts in data["incidents"]))
    result.check("at most one card per service", all(count == 1 for count in cards.values())
                 and len(cards) == service_count)
    result.check("no other top-level message", not data["other_top_level"])
    result.check("every rate-limited call retried (no unhandled 429)", data["bot_errors"] == 0
                 and data["rate_limited"] == 2 * rate_limited)
    result.notes.append(f"the stand-in answered the first {rate_limited} chat.postMessage and "
                        f"{rate_limited} chat.update calls with 429 and Retry-After: {retry_after_s}")
    result.notes.append(f"every card goes to one channel, so posting {service_count} cards takes at least "
                        f"{(service_count - 1) * post_interval_s:.0f} s at the production pacing")
    return result


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--alerts", type=int, help="alerts in the storm")
    arguments.add_argument("--services", type=int, help="services the alerts are spread over")
    arguments.add_argument("--duration", type=float, help="seconds over which the webhooks arrive")
    arguments.add_argument("--post-interval", type=float,
                           help=f"seconds between two posts in one channel (default {PRODUCTION_POST_INTERVAL_S:g}, "
                                "0 with --smoke)")
    options = arguments.parse_args(argv)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), alerts=options.alerts,
                 services=options.services, duration_s=options.duration, post_interval_s=options.post_interval)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
