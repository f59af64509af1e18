"""A real Prometheus and Alertmanager on 127.0.0.1, scraping a fake service exporter.

Used by the integration tests, the end-to-end test and the benchmarks::

    with prom_stack(tmp_path, services=["orders"], webhook_url=url) as stack:
        stack.exporter.set_load("orders", error_ratio=0.2)
        ...  # query stack.prometheus.url, receive webhooks at url

Every server binds a free port on 127.0.0.1 and keeps its configuration,
data and log in a directory under the given path. Prometheus scrapes every
second, evaluates rules every second and resends firing alerts every second,
so an alert travels from a load change to a webhook in a few seconds.

When ``/usr/bin/prometheus`` or ``/usr/bin/prometheus-alertmanager`` is
missing, ``require_binary`` skips the test, unless the ``CI`` environment
variable is set, where it fails: CI installs both Debian packages.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import yaml

PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
_DEBIAN_PACKAGES = {PROMETHEUS_BINARY: "prometheus", ALERTMANAGER_BINARY: "prometheus-alertmanager"}

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (le) of the exporter's latency histogram, Prometheus client defaults."""

DEFAULT_RATE_WINDOW = "5s"
"""Range of rate() in the default alert rules: five 1 s scrapes."""

_READY_TIMEOUT_S = 20.0


# --- Binaries and ports ------------------------------------------------------

def require_binary(name: str) -> str:
    """Return the path of a server binary, or skip the test (fail under CI) when it is missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path is not None:
        return path

    package = _DEBIAN_PACKAGES.get(name, name)
    message = f"{name} not found: install the Debian package {package} to run the integration tests"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Fake service exporter ---------------------------------------------------

@dataclass
class ServiceLoad:
    """The traffic a fake service serves: rate, outcome shares and latency."""

    rate_rps: float = 10.0
    error_ratio: float = 0.0  # share of requests with a 5xx status, split evenly over 500 and 503
    client_error_ratio: float = 0.0  # share of requests with status 404, which is no server error
    latency_s: float = 0.05  # every request takes this long
    up: bool = True  # False makes the service's scrape fail, so up{service} is 0

    def __post_init__(self) -> None:
        if self.rate_rps < 0:
            raise ValueError(f"rate_rps must be >= 0, got {self.rate_rps}")
        if not 0 <= self.error_ratio + self.client_error_ratio <= 1:
            raise ValueError("error_ratio + client_error_ratio must be within 0..1, got "
                             f"{self.error_ratio} + {self.client_error_ratio}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s}")


@dataclass
class _ServiceCounters:
    load: ServiceLoad
    baseline: ServiceLoad
    pods: int
    updated_at: float
    requests: dict[str, float] = field(default_factory=lambda: {"200": 0.0, "404": 0.0, "500": 0.0, "503": 0.0})
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(LATENCY_BUCKETS))
    duration_sum: float = 0.0
    restarts: int = 0

    def advance(self, now: float) -> None:
        """Add the requests served since the last update at the current load."""
        elapsed = max(0.0, now - self.updated_at)
        self.updated_at = now
        served = self.load.rate_rps * elapsed
        errors = served * self.load.error_ratio
        client_errors = served * self.load.client_error_ratio

        self.requests["500"] += errors / 2
        self.requests["503"] += errors / 2
        self.requests["404"] += client_errors
        self.requests["200"] += served - errors - client_errors
        for index, bound in enumerate(LATENCY_BUCKETS):
            if self.load.latency_s <= bound:
                self.buckets[index] += served
        self.duration_sum += served * self.load.latency_s

    def reset(self, now: float) -> None:
        self.requests = {status: 0.0 for status in self.requests}
        self.buckets = [0.0] * len(LATENCY_BUCKETS)
        self.duration_sum = 0.0
        self.updated_at = now
        self.restarts += 1


class FakeExporter:
    """An HTTP exporter of ``http_requests_total`` and ``http_request_duration_seconds`` per service.

    Counters grow continuously with wall-clock time at the configured rate,
    as fractional request counts, so ``rate()`` over a window that saw one
    load returns that load's numbers up to the scrape timing jitter. The
    load of each service spreads evenly over ``pods`` series, labelled
    ``pod="<service>-<n>"``, so a query without ``sum`` returns
    several series.

    HTTP endpoints, besides the Python methods:

    * ``GET /metrics`` or ``/metrics?service=<name>``: the exposition text;
    * ``GET /control``: the current loads as JSON;
    * ``POST /control/<service>`` with a JSON object of ``ServiceLoad`` fields;
    * ``POST /control/<service>/restart``: back to the baseline load, counters reset.
    """

    def __init__(self, services: Iterable[str], *, pods: int = 2, **baseline: Any) -> None:
        now = time.time()
        self._lock = threading.Lock()
        self._services = {
            name: _ServiceCounters(load=ServiceLoad(**baseline), baseline=ServiceLoad(**baseline),
                                   pods=pods, updated_at=now)
            for name in services
        }
        if not self._services:
            raise ValueError("FakeExporter needs at least one service")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def services(self) -> list[str]:
        return list(self._services)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the exporter is not started; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeExporter:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeExporter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def load(self, service: str) -> ServiceLoad:
        """Return a copy of the service's current load."""
        with self._lock:
            return ServiceLoad(**asdict(self._counters(service).load))

    def set_load(self, service: str, **changes: Any) -> ServiceLoad:
        """Change fields of a service's load from now on, e.g. ``error_ratio=0.2``."""
        with self._lock:
            counters = self._counters(service)
            counters.advance(time.time())
            counters.load = ServiceLoad(**{**asdict(counters.load), **changes})
            return ServiceLoad(**asdict(counters.load))

    def restart(self, service: str, *, reset_counters: bool = True) -> ServiceLoad:
        """Return a service to its baseline load, as a restart that clears an injected fault does."""
        with self._lock:
            counters = self._counters(service)
            now = time.time()
            counters.advance(now)
            counters.load = ServiceLoad(**asdict(counters.baseline))
            if reset_counters:
                counters.reset(now)
            return ServiceLoad(**asdict(counters.load))

    def exposition(self, service: str | None = None) -> str | None:
        """Return the exposition text of one or all services; None when the one requested is down."""
        with self._lock:
            now = time.time()
            if service is not None:
                if not self._counters(service).load.up:
                    return None
                names = [service]
            else:
                names = [name for name, counters in self._services.items() if counters.load.up]
            lines: list[str] = []
            for name in names:
                self._services[name].advance(now)
            lines += ["# HELP http_requests_total Requests served, by status code.",
                      "# TYPE http_requests_total counter"]
            for name in names:
                counters = self._services[name]
                for pod in range(counters.pods):
                    for status, total in counters.requests.items():
                        lines.append(f'http_requests_total{{{_labels(name, pod)},status="{status}"}} '
                                     f"{total / counters.pods!r}")
            lines += ["# HELP http_request_duration_seconds Request latency.",
                      "# TYPE http_request_duration_seconds histogram"]
            for name in names:
                counters = self._services[name]
                total = sum(counters.requests.values()) / counters.pods
                for pod in range(counters.pods):
                    labels = _labels(name, pod)
                    for bound, count in zip(LATENCY_BUCKETS, counters.buckets):
                        lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound!r}"}} '
                                     f"{count / counters.pods!r}")
                    lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total!r}')
                    lines.append(f"http_request_duration_seconds_sum{{{labels}}} "
                                 f"{counters.duration_sum / counters.pods!r}")
                    lines.append(f"http_request_duration_seconds_count{{{labels}}} {total!r}")
            return "\n".join(lines) + "\n"

    def _counters(self, service: str) -> _ServiceCounters:
        try:
            return self._services[service]
        except KeyError:
            raise KeyError(f"unknown service {service!r}; the exporter serves {sorted(self._services)}") from None


def _labels(service: str, pod: int) -> str:
    return f'service="{_escape(service)}",pod="{_escape(service)}-{pod}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _handler_for(exporter: FakeExporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            if url.path == "/metrics":
                service = parse_qs(url.query).get("service", [None])[0]
                try:
                    text = exporter.exposition(service)
                except KeyError as exc:
                    return self._send(404, str(exc))
                if text is None:
                    return self._send(503, f"service {service} is down")
                return self._send(200, text, "text/plain; version=0.0.4")
            if url.path == "/control":
                loads = {name: asdict(exporter.load(name)) for name in exporter.services}
                return self._send(200, json.dumps(loads), "application/json")
            return self._send(404, "not found")

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path).path.strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                if len(parts) == 3 and parts[0] == "control" and parts[2] == "restart":
                    load = exporter.restart(parts[1])
                elif len(parts) == 2 and parts[0] == "control":
                    load = exporter.set_load(parts[1], **(json.loads(body or b"{}")))
                else:
                    return self._send(404, "not found")
            except (KeyError, TypeError, ValueError) as exc:
                return self._send(400, str(exc))
            return self._send(200, json.dumps(asdict(load)), "application/json")

        def _send(self, status: int, text: str, content_type: str = "text/plain") -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # scrapes every second would flood the test output

    return Handler


# --- Server processes --------------------------------------------------------

@dataclass
class ServerProcess:
    """A Prometheus or Alertmanager process started for a test."""

    name: str
    url: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Terminate the process and wait for it, killing it after 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def _start_server(name: str, command: list[str], directory: Path, port: int) -> ServerProcess:
    log_file = (directory / "server.log").open("ab")
    try:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=directory,
                                   start_new_session=True)
    finally:
        log_file.close()
    server = ServerProcess(name=name, url=f"http://127.0.0.1:{port}", port=port, directory=directory,
                           process=process)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: ServerProcess, *, timeout_s: float = _READY_TIMEOUT_S) -> None:
    """Poll ``/-/ready`` until it returns 200.

    Raises:
        RuntimeError: with the log tail, when the process exits or the time runs out.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.running:
            raise RuntimeError(f"{server.name} exited during start-up; its log ends with:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} was not ready within {timeout_s:g}s; its log ends with:\n{server.log_tail()}")


def alert_rules(*, error_ratio_threshold: float = 0.1, latency_p95_threshold_s: float = 0.5,
                rate_window: str = DEFAULT_RATE_WINDOW, for_duration: str = "0s") -> dict[str, Any]:
    """Return a Prometheus rule file with HighErrorRate and HighLatency per service."""
    requests_by_service = f"sum by (service) (rate(http_requests_total[{rate_window}]))"
    errors_by_service = f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{rate_window}]))'
    p95 = (f"histogram_quantile(0.95, sum by (service, le) "
           f"(rate(http_request_duration_seconds_bucket[{rate_window}])))")
    return {"groups": [{
        "name": "airra-test",
        "interval": "1s",
        "rules": [
            {
                "alert": "HighErrorRate",
                "expr": f"{errors_by_service} / {requests_by_service} > {error_ratio_threshold}",
                "for": for_duration,
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "{{ $labels.service }} returns 5xx for more than "
                               f"{error_ratio_threshold:.0%} of requests",
                    "runbook_url": "https://runbooks.test/high-error-rate",
                },
            },
            {
                "alert": "HighLatency",
                "expr": f"{p95} > {latency_p95_threshold_s}",
                "for": for_duration,
                "labels": {"severity": "warning"},
                "annotations": {"summary": "{{ $labels.service }} p95 latency above "
                                           f"{latency_p95_threshold_s}s"},
            },
        ],
    }]}


@contextlib.contextmanager
def prometheus_server(directory: Path, *, exporter: FakeExporter, alertmanager_url: str | None = None,
                      rules: dict[str, Any] | None = None, scrape_interval: str = "1s",
                      evaluation_interval: str = "1s") -> Iterator[ServerProcess]:
    """Run Prometheus scraping each exporter service as its own target, labelled ``service``.

    One target per service makes ``up{service="<name>"}`` the service's
    availability. ``rules=None`` loads ``alert_rules()``; pass ``{}`` for none.
    """
    binary = require_binary(PROMETHEUS_BINARY)
    directory.mkdir(parents=True, exist_ok=True)
    rules = alert_rules() if rules is None else rules
    (directory / "rules.yml").write_text(yaml.safe_dump(rules or {"groups": []}), encoding="utf-8")

    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(directory / "rules.yml")],
        "scrape_configs": [
            {
                "job_name": f"svc-{index}",
                "metrics_path": "/metrics",
                # The exporter's own service label matches the target's; keep it unprefixed.
                "honor_labels": True,
                "params": {"service": [service]},
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"], "labels": {"service": service}}],
            }
            for index, service in enumerate(exporter.services)
        ],
    }
    if alertmanager_url is not None:
        host = alertmanager_url.removeprefix("http://").rstrip("/")
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")

    server = _start_with_free_port("prometheus", directory, lambda port: [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ])
    try:
        # Prometheus hands discovered targets to the scrapers at most every 5 s,
        # so the first scrape comes seconds after /-/ready.
        wait_until(lambda: _scraped_targets(server.url) >= len(exporter.services), timeout_s=_READY_TIMEOUT_S,
                   interval_s=0.1, what=f"first scrape of {len(exporter.services)} exporter targets")
        yield server
    finally:
        server.stop()


def _scraped_targets(prometheus_url: str) -> int:
    try:
        body = query(prometheus_url, 'count(up{job=~"svc-.*"})')
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return 0
    result = body.get("data", {}).get("result", [])
    return int(float(result[0]["value"][1])) if result else 0


@contextlib.contextmanager
def alertmanager_server(directory: Path, *, webhook_url: str | None, webhook_token: str | None = None,
                        slack_api_url: str | None = None, group_by: Iterable[str] = ("service",),
                        group_wait: str = "1s", group_interval: str = "1s", repeat_interval: str = "1h",
                        resolve_timeout: str = "10s") -> Iterator[ServerProcess]:
    """Run Alertmanager, clustering off, with one receiver named ``airra``.

    The receiver posts webhooks to ``webhook_url`` and, when ``slack_api_url``
    is given, Slack messages with the default templates to that URL, as to
    an incoming-webhook URL of Slack. Both send resolved notifications.
    """
    binary = require_binary(ALERTMANAGER_BINARY)
    directory.mkdir(parents=True, exist_ok=True)

    receiver: dict[str, Any] = {"name": "airra"}
    if webhook_url is not None:
        webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
        if webhook_token is not None:
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": webhook_token}}
        receiver["webhook_configs"] = [webhook]
    if slack_api_url is not None:
        receiver["slack_configs"] = [{"api_url": slack_api_url, "channel": "#alerts", "send_resolved": True}]
    config = {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {"receiver": "airra", "group_by": list(group_by), "group_wait": group_wait,
                  "group_interval": group_interval, "repeat_interval": repeat_interval},
        "receivers": [receiver],
    }
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")

    server = _start_with_free_port("alertmanager", directory, lambda port: [
        binary,
        f"--config.file={directory / 'alertmanager.yml'}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ])
    try:
        yield server
    finally:
        server.stop()


def _start_with_free_port(name: str, directory: Path, command_for: Any, attempts: int = 3) -> ServerProcess:
    """Start a server on a free port, trying another port if that one was taken meanwhile."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        try:
            return _start_server(name, command_for(port), directory, port)
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")


@dataclass
class PromStack:
    """The fake exporter, Prometheus and, when a webhook URL was given, Alertmanager."""

    exporter: FakeExporter
    prometheus: ServerProcess
    alertmanager: ServerProcess | None = None


@contextlib.contextmanager
def prom_stack(directory: Path, *, services: Iterable[str], webhook_url: str | None = None,
               webhook_token: str | None = None, slack_api_url: str | None = None,
               rules: dict[str, Any] | None = None, pods: int = 2, **baseline: Any) -> Iterator[PromStack]:
    """Start the exporter, then Alertmanager (if a webhook or Slack URL is given), then Prometheus.

    ``baseline`` sets every service's starting ``ServiceLoad``, e.g. ``rate_rps=10``.
    """
    with contextlib.ExitStack() as stack:
        exporter = stack.enter_context(FakeExporter(services, pods=pods, **baseline))
        alertmanager = None
        if webhook_url is not None or slack_api_url is not None:
            alertmanager = stack.enter_context(alertmanager_server(
                directory / "alertmanager", webhook_url=webhook_url, webhook_token=webhook_token,
                slack_api_url=slack_api_url))
        prometheus = stack.enter_context(prometheus_server(
            directory / "prometheus", exporter=exporter, rules=rules,
            alertmanager_url=alertmanager.url if alertmanager is not None else None))
        yield PromStack(exporter=exporter, prometheus=prometheus, alertmanager=alertmanager)


def query(prometheus_url: str, promql: str) -> dict[str, Any]:
    """Run an instant query and return the decoded response body, errors included."""
    request = urllib.request.Request(f"{prometheus_url}/api/v1/query",
                                     data=f"query={quote(promql)}".encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def wait_until(predicate: Any, *, timeout_s: float, interval_s: float = 0.25, what: str = "condition") -> Any:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    Raises:
        AssertionError: naming ``what`` when ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:g}s")
        time.sleep(interval_s)
