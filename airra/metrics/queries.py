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

A queries file looks like::

    defaults:
      error_ratio: sum(rate(http_server_errors_total{app="$service"}[$window])) / sum(rate(http_server_requests_total{app="$service"}[$window]))
    services:
      checkout:
        latency_p95: histogram_quantile(0.95, sum by (le) (rate(checkout_latency_bucket[$window])))
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airra.errors import ConfigError
from airra.metrics import Signal
from airra.yaml_files import load_yaml_file

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_PLACEHOLDERS = frozenset({"service", "service_regex", "namespace", "deployment", "deployment_regex", "pod_regex",
                           "window"})

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
                 overrides: Mapping[str, Mapping[Signal, str]] | None = None) -> None:
        self.defaults: dict[Signal, str] = {**DEFAULT_QUERIES, **(defaults or {})}
        self.overrides: dict[str, dict[Signal, str]] = {
            service: dict(templates) for service, templates in (overrides or {}).items()
        }
        for where, template in self._all_templates():
            _check_placeholders(template, where)

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

        unknown = set(document) - {"defaults", "services"}
        if unknown:
            raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; use 'defaults' and 'services'")

        defaults = _signal_map(document.get("defaults") or {}, f"{path}: defaults")
        services = document.get("services") or {}
        if not isinstance(services, dict):
            raise ConfigError(f"{path}: 'services' must map service names to signal queries")
        overrides = {
            str(service): _signal_map(templates or {}, f"{path}: services.{service}")
            for service, templates in services.items()
        }
        config = cls(defaults, overrides)
        log.info("loaded queries from %s: %d default overrides, %d services with overrides",
                 path, len(defaults), len(overrides))
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


def _check_placeholders(template: str, where: str) -> None:
    for match in string.Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            raise ConfigError(f"{where}: a '$' at character {match.start()} starts no placeholder; "
                              "write $$ for a literal dollar sign")
    names = {
        match.group("named") or match.group("braced")
        for match in string.Template.pattern.finditer(template)
        if match.group("named") or match.group("braced")
    }
    unknown = names - _PLACEHOLDERS
    if unknown:
        valid = ", ".join(f"${name}" for name in sorted(_PLACEHOLDERS))
        raise ConfigError(f"{where}: unknown placeholder {', '.join('$' + name for name in sorted(unknown))}; "
                          f"use {valid}")
