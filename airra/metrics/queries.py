"""The PromQL that AIRRA runs per signal, with per-service overrides.

Metric names differ between shops, so every query is a template that a YAML
file can replace, for all services or for one. Templates use ``$name``
placeholders, which PromQL itself never contains:

``$service``
    the service name, escaped for a double-quoted label value;
``$service_regex``
    the service name, regex-escaped then escaped, for ``=~`` matchers;
``$namespace``, ``$deployment``
    the service's Kubernetes namespace and deployment, escaped;
``$deployment_regex``
    the deployment name, regex-escaped then escaped;
``$pod_regex``
    a regex matching the deployment's pods (``<deployment>-<hash>-<id>``);
``$window``
    the range of ``rate()`` and ``increase()``, a Prometheus duration.

The defaults follow the ``http_requests_total{service,status}`` and
``http_request_duration_seconds`` conventions, aggregated with ``sum`` and
``sum by (le)`` so that several pods or instances give one value, plus the
cAdvisor and kube-state-metrics names for CPU, memory, restarts and rollouts.

Reading many services at once (the blast radius reads every downstream
service) uses a by-service form of a signal's default. That is one query for
all the services, aggregated ``by (service)``. Its result has one series per
service, with the service's name in the ``service`` label. Its only
placeholders are ``$window`` and

``$services_regex``
    the services' names, each regex-escaped, joined with ``|`` and escaped
    for a double-quoted string, for a ``service=~"$services_regex"`` matcher.

Request rate, error ratio, both latencies and availability have a built-in
by-service form; the Kubernetes signals select pods by deployment and are
read service by service. A service with its own override of a signal is read
on its own for that signal. Replacing a signal's default in ``defaults``
switches its built-in by-service form off, since it would no longer match
the new default; give the new one under ``by_service`` to keep the batching.
A ``$`` that PromQL needs, as in ``label_replace``'s ``$1``, is written ``$$``.

A queries file looks like::

    defaults:
      error_ratio: sum(rate(http_server_errors_total{app="$service"}[$window])) / sum(rate(http_server_requests_total{app="$service"}[$window]))
    by_service:
      error_ratio: label_replace(sum by (app) (rate(http_server_errors_total{app=~"$services_regex"}[$window])) / sum by (app) (rate(http_server_requests_total{app=~"$services_regex"}[$window])), "service", "$$1", "app", "(.*)")
    services:
      checkout:
        latency_p95: histogram_quantile(0.95, sum by (le) (rate(checkout_latency_bucket[$window])))
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airra.errors import ConfigError
from airra.metrics import Signal
from airra.yaml_files import load_yaml_file

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_PLACEHOLDERS = frozenset({"service", "service_regex", "namespace", "deployment", "deployment_regex", "pod_regex",
                           "window"})

_BY_SERVICE_PLACEHOLDERS = frozenset({"services_regex", "window"})

_HTTP = 'http_requests_total{service="$service"}'
_HTTP_5XX = 'http_requests_total{service="$service",status=~"5.."}'
_PODS = 'namespace="$namespace",pod=~"$pod_regex"'
_CONTAINERS = f'{_PODS},container!="",container!="POD"'

DEFAULT_QUERIES: dict[Signal, str] = {
    Signal.REQUEST_RATE: f"sum(rate({_HTTP}[$window]))",
    Signal.ERROR_RATIO: f"sum(rate({_HTTP_5XX}[$window])) / sum(rate({_HTTP}[$window]))",
    Signal.LATENCY_P95: (
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="$service"}[$window])))'
    ),
    Signal.LATENCY_P99: (
        'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="$service"}[$window])))'
    ),
    Signal.AVAILABILITY: 'avg(up{service="$service"})',
    Signal.CPU_UTILIZATION: (
        f"sum(rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[$window]))"
        f' / sum(kube_pod_container_resource_limits{{{_PODS},resource="cpu"}})'
    ),
    Signal.MEMORY_UTILIZATION: (
        f"sum(container_memory_working_set_bytes{{{_CONTAINERS}}})"
        f' / sum(kube_pod_container_resource_limits{{{_PODS},resource="memory"}})'
    ),
    # Relative growth per hour: the summed slope of the working set, times 3600, over its current size.
    Signal.MEMORY_GROWTH: (
        f"sum(deriv(container_memory_working_set_bytes{{{_CONTAINERS}}}[$window])) * 3600"
        f" / sum(container_memory_working_set_bytes{{{_CONTAINERS}}})"
    ),
    Signal.RESTARTS: f"sum(increase(kube_pod_container_status_restarts_total{{{_PODS}}}[$window]))",
    # NOTE: a rollback to an older revision reuses its ReplicaSet, so this reads the
    # age of the newest ReplicaSet, which is then older than the rollback itself.
    Signal.ROLLOUT_AGE: (
        'time() - max(kube_replicaset_created{namespace="$namespace",replicaset=~"$deployment_regex-[a-z0-9]+"})'
    ),
}
"""Default query template per signal."""

_HTTP_MANY = 'http_requests_total{service=~"$services_regex"}'
_HTTP_5XX_MANY = 'http_requests_total{service=~"$services_regex",status=~"5.."}'
_BUCKETS_MANY = 'http_request_duration_seconds_bucket{service=~"$services_regex"}'

DEFAULT_BY_SERVICE_QUERIES: dict[Signal, str] = {
    Signal.REQUEST_RATE: f"sum by (service) (rate({_HTTP_MANY}[$window]))",
    # Both sides keep only the service label, so the division pairs each service with itself.
    Signal.ERROR_RATIO: (
        f"sum by (service) (rate({_HTTP_5XX_MANY}[$window])) / sum by (service) (rate({_HTTP_MANY}[$window]))"
    ),
    Signal.LATENCY_P95: f"histogram_quantile(0.95, sum by (service, le) (rate({_BUCKETS_MANY}[$window])))",
    Signal.LATENCY_P99: f"histogram_quantile(0.99, sum by (service, le) (rate({_BUCKETS_MANY}[$window])))",
    Signal.AVAILABILITY: 'avg by (service) (up{service=~"$services_regex"})',
}
"""By-service form of each default that has one: the same value for many services in one query."""

BY_SERVICE_LABEL = "service"
"""The label of a by-service result that names the service of each series."""


def escape_label_value(value: str) -> str:
    """Escape a value for a double-quoted PromQL string: backslash, quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_regex_value(value: str) -> str:
    """Escape a value for an ``=~`` matcher: regex metacharacters first, then the string."""
    return escape_label_value(re.escape(value))


def validate_window(window: str) -> str:
    """Return ``window`` if it is a Prometheus duration such as ``5m`` or ``1m30s``.

    Raises:
        ConfigError: naming the value and an example of a valid one.
    """
    if not _DURATION.match(window):
        raise ConfigError(f"rate window {window!r} is not a Prometheus duration; use e.g. 5m, 30s or 1h")
    return window


class QueryConfig:
    """Query templates per signal, with per-service overrides."""

    def __init__(self, defaults: Mapping[Signal, str] | None = None,
                 overrides: Mapping[str, Mapping[Signal, str]] | None = None,
                 by_service: Mapping[Signal, str] | None = None) -> None:
        self.defaults: dict[Signal, str] = {**DEFAULT_QUERIES, **(defaults or {})}
        self.overrides: dict[str, dict[Signal, str]] = {
            service: dict(templates) for service, templates in (overrides or {}).items()
        }
        # A built-in by-service form stays only while its signal keeps the built-in default.
        self.by_service: dict[Signal, str] = {
            signal: template for signal, template in DEFAULT_BY_SERVICE_QUERIES.items()
            if self.defaults[signal] == DEFAULT_QUERIES[signal]
        }
        self.by_service.update(by_service or {})
        for where, template in self._all_templates():
            _check_placeholders(template, where)
        for signal, template in self.by_service.items():
            _check_placeholders(template, f"by_service.{signal.value}", allowed=_BY_SERVICE_PLACEHOLDERS)

    @classmethod
    def load(cls, path: str | Path) -> QueryConfig:
        """Load a queries YAML file (``defaults`` and ``services`` mappings).

        Raises:
            ConfigError: naming the file and the offending key.
        """
        path = Path(path)
        try:
            document = load_yaml_file(path, setting="AIRRA_QUERIES_FILE", what="queries") or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: queries file not found; fix AIRRA_QUERIES_FILE or unset it") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: expected a mapping with 'defaults' and/or 'services'")

        unknown = set(document) - {"defaults", "services", "by_service"}
        if unknown:
            raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; "
                              "use 'defaults', 'by_service' and 'services'")

        defaults = _signal_map(document.get("defaults") or {}, f"{path}: defaults")
        by_service = _signal_map(document.get("by_service") or {}, f"{path}: by_service")
        services = document.get("services") or {}
        if not isinstance(services, dict):
            raise ConfigError(f"{path}: 'services' must map service names to signal queries")
        overrides = {
            str(service): _signal_map(templates or {}, f"{path}: services.{service}")
            for service, templates in services.items()
        }
        config = cls(defaults, overrides, by_service)
        log.info("loaded queries from %s: %d default overrides, %d by-service forms, %d services with overrides",
                 path, len(defaults), len(by_service), len(overrides))
        unbatched = sorted(signal.value for signal in DEFAULT_BY_SERVICE_QUERIES if signal not in config.by_service)
        if unbatched:
            log.info("%s: %s replaced without a by_service form; those signals are read one query per service",
                     path, ", ".join(unbatched))
        return config

    def template(self, signal: Signal, service: str) -> str:
        """Return the template for ``signal``, the service's override if it has one."""
        return self.overrides.get(service, {}).get(signal) or self.defaults[signal]

    def render(self, signal: Signal, service: str, window: str, *,
               namespace: str = "default", deployment: str | None = None) -> str:
        """Return the PromQL for one signal of one service, with label values escaped."""
        deployment = deployment or service
        values = {
            "service": escape_label_value(service),
            "service_regex": escape_regex_value(service),
            "namespace": escape_label_value(namespace),
            "deployment": escape_label_value(deployment),
            "deployment_regex": escape_regex_value(deployment),
            "pod_regex": escape_regex_value(deployment) + "-[a-z0-9]+-[a-z0-9]+",
            "window": validate_window(window),
        }
        return string.Template(self.template(signal, service)).substitute(values)

    def batched(self, signal: Signal, service: str) -> bool:
        """Return True when ``service`` can be read with others through the signal's by-service form."""
        return signal in self.by_service and signal not in self.overrides.get(service, {})

    def render_by_service(self, signal: Signal, services: Sequence[str], window: str) -> str:
        """Return the by-service PromQL of ``signal`` for ``services``, with their names escaped.

        Raises:
            KeyError: when the signal has no by-service form; check ``batched`` first.
        """
        values = {
            "services_regex": "|".join(escape_regex_value(service) for service in services),
            "window": validate_window(window),
        }
        return string.Template(self.by_service[signal]).substitute(values)

    def _all_templates(self) -> list[tuple[str, str]]:
        templates = [(f"defaults.{signal.value}", template) for signal, template in self.defaults.items()]
        for service, signals in self.overrides.items():
            templates += [(f"services.{service}.{signal.value}", template) for signal, template in signals.items()]
        return templates


def _signal_map(raw: Any, where: str) -> dict[Signal, str]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must map signal names to PromQL strings")

    result: dict[Signal, str] = {}
    for key, template in raw.items():
        try:
            signal = Signal(str(key))
        except ValueError:
            valid = ", ".join(signal.value for signal in Signal)
            raise ConfigError(f"{where}.{key}: unknown signal; use one of: {valid}") from None
        if not isinstance(template, str) or not template.strip():
            raise ConfigError(f"{where}.{key}: expected a PromQL string, got {template!r}")
        result[signal] = template.strip()
    return result


def _check_placeholders(template: str, where: str, *, allowed: frozenset[str] = _PLACEHOLDERS) -> None:
    for match in string.Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            raise ConfigError(f"{where}: a '$' at character {match.start()} starts no placeholder; "
                              "write $$ for a literal dollar sign")
    names = {
        match.group("named") or match.group("braced")
        for match in string.Template.pattern.finditer(template)
        if match.group("named") or match.group("braced")
    }
    unknown = names - allowed
    if unknown:
        valid = ", ".join(f"${name}" for name in sorted(allowed))
        raise ConfigError(f"{where}: unknown placeholder {', '.join('$' + name for name in sorted(unknown))}; "
                          f"use {valid}")
