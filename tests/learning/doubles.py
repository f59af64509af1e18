"""Test doubles for the learning tests: hand-built snapshots and a scripted metrics source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from airra.actions import ActionType, RestartParams, ScaleParams
from airra.errors import MetricQueryError
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus
from airra.metrics import MetricsSnapshot, Reading, Signal

SERVICE = "payment-service"
_KEYS = {
    "error": Signal.ERROR_RATIO,
    "p95": Signal.LATENCY_P95,
    "p99": Signal.LATENCY_P99,
    "avail": Signal.AVAILABILITY,
    "rps": Signal.REQUEST_RATE,
}
_DEFAULTS = {"error": 0.0, "p95": 0.2, "p99": 0.3, "avail": 1.0, "rps": 100.0}


def snapshot(service: str = SERVICE, **values: float | None) -> MetricsSnapshot:
    """Build a snapshot; unspecified signals get healthy defaults, None means "no series"."""
    readings = {}
    for key, signal in _KEYS.items():
        value = values.get(key, _DEFAULTS[key])
        if value is None:
            readings[signal] = Reading.unavailable(service, signal, "no series")
        else:
            readings[signal] = Reading.of(service, signal, value)
    return MetricsSnapshot(service=service, readings=readings)


class ScriptedMetrics:
    """A metrics source that returns prepared snapshots in order and counts reads.

    An exception in the script is raised instead of returned, like a failed query.
    """

    def __init__(self, script: Sequence[MetricsSnapshot | Exception]) -> None:
        self.script = list(script)
        self.reads: list[tuple[str, tuple[Signal, ...]]] = []

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        self.reads.append((service, tuple(signals)))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


class RecordingSleep:
    """A no-op sleep that records the requested delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def execution(
    status: ExecutionStatus = ExecutionStatus.SUCCEEDED,
    *,
    action_type: ActionType = ActionType.RESTART_POD,
    error: str | None = None,
    incident_id: str = "inc-1",
) -> ExecutionResult:
    """Build an execution result of one action on the test service."""
    params = ScaleParams(replicas=4) if action_type in (ActionType.SCALE_UP, ActionType.SCALE_DOWN) else RestartParams()
    moment = datetime(2026, 12, 4, 10, 15, tzinfo=UTC)
    return ExecutionResult(
        request=ActionRequest(incident_id=incident_id, action_type=action_type, service=SERVICE, params=params),
        status=status,
        started_at=moment,
        finished_at=moment,
        error=error,
    )


def query_failure() -> MetricQueryError:
    return MetricQueryError("Prometheus timed out", query="up")
