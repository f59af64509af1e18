"""Signed Slack requests and Alertmanager payloads for the load benchmarks, and server child processes.

``SignedRequests`` builds requests exactly as ``SlackDriver`` sends them,
but returns the body and headers instead of sending them, so a benchmark
can prepare a burst first and time only the HTTP round trips.

``ServerChild`` runs a server in its own Python process, as in production,
so the load generator and the server under test do not share an event loop.
The child prints one JSON line when it is ready and stops when its standard
input closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psutil

from bench.common import REPO_ROOT
from bot.testing.driver import DriverResponse, SlackDriver

EVENTS_PATH = "/slack/events"


@dataclass(frozen=True)
class PreparedRequest:
    """A signed request ready to send: path, raw body and headers."""

    path: str
    body: bytes
    headers: dict[str, str]


class SignedRequests(SlackDriver):
    """Builds the driver's signed requests without sending them.

    Args:
        signing_secret: the secret the server checks signatures with.
        api_origin: origin of the Slack Web API stand-in, for ``response_url`` values.
    """

    def __init__(self, signing_secret: str, *, api_origin: str) -> None:
        super().__init__("http://127.0.0.1:9", signing_secret)
        self.api_origin = api_origin.rstrip("/")
        self._urls = itertools.count(1)
        self._captured: PreparedRequest | None = None

    async def raw(self, path: str, body: bytes, headers: Any) -> DriverResponse:
        self._captured = PreparedRequest(path, body, dict(headers))
        return DriverResponse(status=0, body="")

    def _response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        return f"{self.api_origin}/response/{channel_id}/{user_id}/{message_ts or '-'}/{next(self._urls)}"

    async def slash(self, text: str, *, user_id: str, channel_id: str) -> PreparedRequest:
        """Return a signed ``/airra`` slash command."""
        await self.slash_command(text, user_id=user_id, channel_id=channel_id)
        return self._take()

    async def click(self, *, action_id: str, value: str, user_id: str, channel_id: str,
                    message: dict[str, Any]) -> PreparedRequest:
        """Return a signed ``block_actions`` click on a button of ``message``."""
        await self.block_action(action_id=action_id, value=value, user_id=user_id, channel_id=channel_id,
                                message_ts=message["ts"], message=message)
        return self._take()

    def _take(self) -> PreparedRequest:
        assert self._captured is not None
        captured, self._captured = self._captured, None
        return captured


async def send_timed(session: aiohttp.ClientSession, base_url: str, request: PreparedRequest) -> tuple[float, int]:
    """Send one prepared request; return (seconds until the full response, HTTP status)."""
    started = time.perf_counter()
    async with session.post(base_url + request.path, data=request.body, headers=request.headers) as response:
        await response.read()
        return time.perf_counter() - started, response.status


async def send_burst(session: aiohttp.ClientSession, base_url: str,
                     requests: Sequence[PreparedRequest]) -> list[tuple[float, int]]:
    """Send every request at once and return each one's (latency, status)."""
    return list(await asyncio.gather(*(send_timed(session, base_url, request) for request in requests)))


def unlimited_session(timeout_s: float = 30.0) -> aiohttp.ClientSession:
    """Return a client session with no connection cap, so a burst is not queued on the client side."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False),
                                 timeout=aiohttp.ClientTimeout(total=timeout_s))


# --- Alertmanager payloads -----------------------------------------------------------


def alert_batch(service: str, alertnames: Sequence[str], *, first_index: int, status: str = "firing",
                receiver: str = "airra") -> dict[str, Any]:
    """Return an Alertmanager webhook body (version 4) with one alert per name, all for ``service``.

    Fingerprints are unique per (service, index), so every alert is a distinct alert.
    """
    starts_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    alerts = []
    for offset, alertname in enumerate(alertnames):
        index = first_index + offset
        labels = {"alertname": alertname, "service": service, "severity": "critical", "instance": f"pod-{index}"}
        alerts.append({
            "status": status,
            "labels": labels,
            "annotations": {"summary": f"{alertname} on {service} (pod-{index})"},
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            "fingerprint": f"{service}-{index:06d}",
        })
    return {
        "version": "4",
        "receiver": receiver,
        "status": status,
        "groupKey": f'{{}}:{{service="{service}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"service": service},
        "commonLabels": {"service": service, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }


# --- server child processes ------------------------------------------------------------


class ServerChild:
    """A server started as ``python -m <module> <arguments>`` that announces itself with one JSON line."""

    def __init__(self, module: str, arguments: Sequence[str], *, ready_timeout_s: float = 60.0) -> None:
        self.command = [sys.executable, "-m", module, *arguments]
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        # The child's log goes to a file: a pipe that is not read during the run would fill up and block it.
        self._log = tempfile.TemporaryFile(mode="w+", prefix="airra-bench-child-")

    def start(self) -> ServerChild:
        """Start the process without waiting for it, so that several children start in parallel."""
        if self.process is None:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self._log, text=True, cwd=REPO_ROOT)
        return self

    def __enter__(self) -> ServerChild:
        """Start the process if needed and wait for its ready line."""
        self.start()
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise RuntimeError(f"{' '.join(self.command)} exited before it was ready: {self.log_tail()}")
        self.info = json.loads(line)
        return self

    def log_tail(self, characters: int = 3000) -> str:
        """Return the end of the child's error output."""
        self._log.seek(0)
        return self._log.read()[-characters:]

    def stop(self) -> dict[str, Any]:
        """Close the child's standard input, wait for it, and return its final JSON line, if any."""
        if self.process is None:
            return {}
        try:
            output, _ = self.process.communicate(input="", timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.process = None
        lines = [line for line in output.splitlines() if line.startswith("{")]
        final = dict(json.loads(lines[-1])) if lines else {}
        final["log_tail"] = self.log_tail()
        self._log.close()
        return final

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.stop()


IDLE_WINDOW_S = 0.1
IDLE_CPU_S = 0.005
"""A child that used less CPU than this over ``IDLE_WINDOW_S`` counts as idle."""


async def wait_until_idle(children: Sequence[ServerChild], *, timeout_s: float = 10.0) -> bool:
    """Wait until no child used more than ``IDLE_CPU_S`` of CPU over ``IDLE_WINDOW_S``; False on timeout.

    A fixed pause after a burst is not enough on a busy machine: one server's
    leftover follow-up work would then run during the other server's burst.
    """
    processes = [psutil.Process(child.process.pid) for child in children if child.process is not None]

    def cpu_seconds() -> list[float]:
        return [times.user + times.system for times in (process.cpu_times() for process in processes)]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    before = cpu_seconds()
    while loop.time() < deadline:
        await asyncio.sleep(IDLE_WINDOW_S)
        after = cpu_seconds()
        if all(now - then < IDLE_CPU_S for now, then in zip(after, before)):
            return True
        before = after
    return False


async def wait_for_stdin_close() -> None:
    """Return when the parent closes this process's standard input."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def announce(info: dict[str, Any]) -> None:
    """Print the child's ready line."""
    print(json.dumps(info), flush=True)
