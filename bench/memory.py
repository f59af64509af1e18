"""Memory: the bot's resident memory at idle and while 1,000 incidents pass through it.

The whole bot runs on the sandbox (``LocalBot``). Incidents arrive in batches:
a firing Alertmanager webhook per incident, then, once its card is posted,
the resolved webhook that closes it. After each batch the bot's background
work is drained, garbage is collected and the resident memory is sampled.

The Slack stand-in lives in the same process and records every message and
request, as a workspace does. Its records of finished batches are dropped
before each sample, so the samples measure the bot and not the stand-in.

Memory settles when the growth over the second half of the incidents is at
most half the growth over the first half. ``--trace`` adds tracemalloc's
largest growth by source line to the notes (it slows the run several times).

Run: ``python -m bench.memory`` (``--smoke`` for 20 incidents).
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil

from airra.settings import Settings
from airra.topology import Topology
from bench.common import BenchResult, command_line, finish, parser
from bench.slack_load import alert_batch
from bot.testing.harness import LocalBot

MODULE = "bench.memory"

CHANNEL = "C0BENCHMEM"
SETTLE_FACTOR = 0.5


def rss_mb() -> float:
    """Return this process's resident memory in MB, after a full garbage collection."""
    gc.collect()
    return psutil.Process().memory_info().rss / 1e6


def _forget_finished(local: LocalBot) -> None:
    """Drop the stand-in's records of finished incidents, which Slack, not the bot, would keep."""
    local.api.requests.clear()
    local.api.ephemerals.clear()
    local.api.responses.clear()
    local.api.reactions.clear()
    for messages in local.api.messages.values():
        messages.clear()


async def drive(*, incidents: int, batch: int, data_dir: Path, trace: bool, rest_s: float = 1.0) -> dict[str, Any]:
    """Open and resolve ``incidents`` incidents in batches; return the memory samples."""
    services = [service.name for service in Topology.load()]
    # No grouping and no reopening, so that every firing alert opens an incident of its own.
    settings = Settings(data_dir=data_dir, default_channel=CHANNEL, auto_enabled=False, approvers=["U0BENCHAPP"],
                        grouping_window_s=0, reopen_window_s=0)
    local = LocalBot(settings, channels={CHANNEL: "incidents"})
    samples: list[tuple[float, int, float]] = []
    missing_cards = 0

    async with local:
        assert local.bot is not None
        tracker = local.bot.flows.tracker
        started = time.perf_counter()
        await local.settle()
        idle = rss_mb()
        samples.append((0.0, 0, idle))
        if trace:
            tracemalloc.start(10)
            before = tracemalloc.take_snapshot()

        done = 0
        while done < incidents:
            count = min(batch, incidents - done)
            firing = [alert_batch(services[(done + offset) % len(services)], ["HighErrorRate"],
                                  first_index=done + offset) for offset in range(count)]
            for payload in firing:
                payload["groupKey"] = f"bench-{payload['alerts'][0]['fingerprint']}"
                status, _ = await local.post_webhook(payload)
                if status != 200:
                    raise RuntimeError(f"firing webhook got HTTP {status}")
            await local.settle()

            # find_active reads memory only: all() reads every incident file, and its passing
            # peak would count in the samples.
            opened = tracker.store.find_active()
            missing_cards += sum(1 for incident in opened if not incident.card_ts)
            for payload in firing:
                for alert in payload["alerts"]:
                    alert["status"] = "resolved"
                    alert["endsAt"] = alert["startsAt"]
                payload["status"] = "resolved"
                await local.post_webhook(payload)
            await local.settle()

            done += count
            _forget_finished(local)
            samples.append((time.perf_counter() - started, done, rss_mb()))

        await asyncio.sleep(rest_s)
        samples.append((time.perf_counter() - started, done, rss_mb()))
        top_growth: list[str] = []
        if trace:
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            top_growth = _growth_by_project_line(after.compare_to(before, "traceback"))

        stored = tracker.store.all()
        return {
            "samples": samples,
            "idle_mb": idle,
            "incidents": len(stored),
            "still_open": sum(1 for incident in stored if incident.is_open),
            "missing_cards": missing_cards,
            "card_locks": len(local.bot.flows._card_locks),
            "timers": len(local.bot.flows._timers),
            "top_growth": top_growth,
        }


def _growth_by_project_line(stats: list[tracemalloc.StatisticDiff], top: int = 8) -> list[str]:
    """Sum memory growth by the innermost line of airra/ or bot/ that allocated it, largest first."""
    sizes: dict[str, float] = {}
    for stat in stats:
        where = "outside the project"
        for frame in reversed(stat.traceback):
            parts = Path(frame.filename).parts
            if ("airra" in parts or "bot" in parts) and "testing" not in parts and "site-packages" not in parts:
                where = f"{'/'.join(parts[-2:])}:{frame.lineno}"
                break
        sizes[where] = sizes.get(where, 0.0) + stat.size_diff
    ordered = sorted(sizes.items(), key=lambda item: -item[1])[:top]
    return [f"{size / 1e6:+.2f} MB allocated under {where}" for where, size in ordered]


def run(*, smoke: bool, command: str, incidents: int | None = None, batch: int | None = None,
        trace: bool = False) -> BenchResult:
    count = incidents or (20 if smoke else 1000)
    size = batch or (5 if smoke else 50)
    rest_s = 0.1 if smoke else 1.0
    result = BenchResult("memory", "Memory at idle and over 1,000 incidents", command, smoke)
    with tempfile.TemporaryDirectory(prefix="airra-bench-memory-") as directory:
        data = asyncio.run(drive(incidents=count, batch=size, data_dir=Path(directory), trace=trace, rest_s=rest_s))

    samples = data["samples"]
    idle = data["idle_mb"]
    middle = min(samples, key=lambda sample: abs(sample[1] - count / 2))
    last = samples[-1]
    first_half = middle[2] - idle
    second_half = last[2] - middle[2]
    result.add("incidents opened and resolved", data["incidents"], key="incidents")
    result.add("resident memory at idle", idle, "MB", key="idle_mb")
    result.add(f"resident memory after {middle[1]} incidents", middle[2], "MB", key="middle_mb")
    result.add(f"resident memory after {last[1]} incidents, {rest_s:g} s later", last[2], "MB", key="final_mb")
    result.add("growth over the first half", first_half, "MB", key="first_half_mb")
    result.add("growth over the second half", second_half, "MB", key="second_half_mb")
    result.add("growth per incident over the second half",
               second_half * 1000 / max(1, last[1] - middle[1]), "kB", key="per_incident_kb")
    result.add("peak resident memory", max(sample[2] for sample in samples), "MB", key="peak_mb")
    result.add("approval expiry timers still waiting", data["timers"], key="timers")
    result.values["settled"] = float(second_half <= SETTLE_FACTOR * max(first_half, 0.0) + 1.0)
    result.target("growth over the second half ÷ growth over the first half",
                  second_half / first_half if first_half > 0 else 0.0, SETTLE_FACTOR)

    result.check("every incident got a card", data["missing_cards"] == 0)
    result.check("every incident resolved", data["still_open"] == 0 and data["incidents"] == count)
    trail = ", ".join(f"{done}: {mb:.0f}" for _, done, mb in samples[:: max(1, len(samples) // 10)])
    result.notes.append(f"resident MB by incidents done: {trail}, {last[1]} (+{rest_s:g} s): {last[2]:.0f}")
    result.notes.append(f"settles when the second half grows at most {SETTLE_FACTOR:g}× the first half (+1 MB): "
                        + ("yes" if result.values["settled"] else "NO"))
    result.notes += [f"tracemalloc: {line}" for line in data["top_growth"]]
    return result


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--incidents", type=int, help="incidents driven through the bot")
    arguments.add_argument("--batch", type=int, help="incidents per batch between samples")
    arguments.add_argument("--trace", action="store_true", help="attribute the growth with tracemalloc")
    options = arguments.parse_args(argv)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), incidents=options.incidents,
                 batch=options.batch, trace=options.trace)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
