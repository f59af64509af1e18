"""Guards checked before any action runs, and the executor that enforces them.

The guards run in this order: the global pause switch, the service's
allowed actions, and no disruptive action on a protected service
(databases, caches, brokers, external providers). Then come a cooldown on a
service after a rollback of it and at most N automatic actions per service
per hour. The pause switch and the
action history are files in the state directory, so a restart keeps both.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from airra.actions import ActionType, profile_of
from airra.errors import StoreError, UnknownServiceError
from airra.execution.base import ActionRequest, Executor, ExecutionResult, ExecutionStatus, ServiceState
from airra.settings import Settings
from airra.topology import Topology

log = logging.getLogger(__name__)

PAUSE_GUARD = "pause"
ALLOWED_ACTIONS_GUARD = "allowed_actions"
PROTECTED_GUARD = "protected_service"
COOLDOWN_GUARD = "rollback_cooldown"
RATE_LIMIT_GUARD = "auto_rate_limit"

RATE_WINDOW_S = 3600.0

PAUSE_FILE = "pause.json"
HISTORY_FILE = "guard_history.json"


class GuardDecision(BaseModel):
    """Whether an action may run; when not, the guard that blocked it and why."""

    allowed: bool
    guard: str | None = None
    reason: str


class PauseState(BaseModel):
    """The global pause switch as persisted."""

    paused: bool = False
    by: str | None = None
    at: datetime | None = None


class ActionRecord(BaseModel):
    """One executed action or undo, as the rate limit and cooldown count it."""

    service: str
    action_type: ActionType
    automatic: bool
    at: float
    is_rollback: bool = False

    @property
    def starts_cooldown(self) -> bool:
        """True for a rollback of the service: a rolled-back deployment or an undo."""
        return self.is_rollback or self.action_type is ActionType.ROLLBACK_DEPLOYMENT


class Guards:
    """The checks every action passes before it runs.

    Args:
        settings: ``max_auto_actions_per_hour`` and ``rollback_cooldown_s``.
        topology: allowed actions and protection of each service.
        state_dir: where ``pause.json`` and the action history are kept.
        clock: wall-clock seconds; the history must survive restarts, so not monotonic.
    """

    def __init__(self, settings: Settings, topology: Topology, state_dir: Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.topology = topology
        self.state_dir = Path(state_dir)
        self.clock = clock
        self._pause = self._load_pause()
        self._history = self._load_history()

    # --- Pause switch ----------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._pause.paused

    @property
    def pause_state(self) -> PauseState:
        return self._pause.model_copy()

    def pause(self, by: str) -> None:
        """Stop every action until ``resume``; ``by`` names who paused (a Slack user id)."""
        self._pause = PauseState(paused=True, by=by, at=datetime.now(UTC))
        self._write(PAUSE_FILE, self._pause.model_dump_json())
        log.warning("actions paused by %s", by)

    def resume(self, by: str) -> None:
        """Allow actions again; ``by`` names who resumed."""
        self._pause = PauseState(paused=False, by=by, at=datetime.now(UTC))
        self._write(PAUSE_FILE, self._pause.model_dump_json())
        log.warning("actions resumed by %s", by)

    # --- Checks ---------------------------------------------------------------------------

    def check(self, request: ActionRequest) -> GuardDecision:
        """Return whether ``request`` may run now, naming the first guard that blocks it."""
        action = request.action_type.value
        if self._pause.paused:
            return _blocked(PAUSE_GUARD, f"actions are paused (by {self._pause.by}); resume them before "
                                         f"running {action}")

        try:
            service = self.topology.service(request.service)
        except UnknownServiceError as exc:
            return _blocked(ALLOWED_ACTIONS_GUARD, str(exc))

        if request.action_type not in service.allowed_actions:
            allowed = ", ".join(a.value for a in service.allowed_actions) or "none"
            return _blocked(ALLOWED_ACTIONS_GUARD, f"{action} is not allowed on {service.name} (allowed: {allowed}); "
                                                   "change allowed_actions in the services file to permit it")

        if service.protected and profile_of(request.action_type).disruptive:
            return _blocked(PROTECTED_GUARD, f"{action} is disruptive and {service.name} is a protected "
                                             f"{service.kind.value}; act on it by hand if needed")

        now = self.clock()
        cooldown_s = self.settings.rollback_cooldown_s
        last_rollback = max((r.at for r in self._history if r.service == service.name and r.starts_cooldown),
                            default=None)
        if last_rollback is not None and now - last_rollback < cooldown_s:
            remaining = cooldown_s - (now - last_rollback)
            return _blocked(COOLDOWN_GUARD, f"{service.name} was rolled back {now - last_rollback:.0f} s ago; "
                                            f"no action runs on it for another {remaining:.0f} s")

        if request.automatic:
            limit = self.settings.max_auto_actions_per_hour
            recent = [r for r in self._history
                      if r.service == service.name and r.automatic and not r.is_rollback
                      and now - r.at < RATE_WINDOW_S]
            if len(recent) >= limit:
                return _blocked(RATE_LIMIT_GUARD, f"{service.name} already had {len(recent)} automatic actions "
                                                  f"in the last hour (limit {limit}); ask a human to approve this one")

        return GuardDecision(allowed=True, reason="every guard passed")

    def record(self, request: ActionRequest, result: ExecutionResult) -> None:
        """Count an action or undo that reached the cluster (not blocked, not a dry run)."""
        if result.status in (ExecutionStatus.BLOCKED, ExecutionStatus.DRY_RUN):
            return
        if result.status is ExecutionStatus.FAILED and not result.saved_state and not result.changes:
            return  # nothing was changed, so nothing to count
        self._history.append(ActionRecord(service=request.service, action_type=request.action_type,
                                          automatic=request.automatic, at=self.clock(),
                                          is_rollback=result.is_rollback))
        self._prune()
        self._write(HISTORY_FILE, json.dumps([r.model_dump(mode="json") for r in self._history]))

    # --- Persistence ------------------------------------------------------------------------

    def _prune(self) -> None:
        horizon = self.clock() - max(RATE_WINDOW_S, self.settings.rollback_cooldown_s)
        self._history = [r for r in self._history if r.at >= horizon]

    def _write(self, name: str, text: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / name
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    def _load_pause(self) -> PauseState:
        path = self.state_dir / PAUSE_FILE
        if not path.exists():
            return PauseState()
        try:
            return PauseState.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, OSError) as exc:
            # A pause switch that cannot be read must not silently unpause.
            raise StoreError(f"{path}: cannot read the pause switch ({exc}); fix or delete the file") from None

    def _load_history(self) -> list[ActionRecord]:
        path = self.state_dir / HISTORY_FILE
        if not path.exists():
            return []
        try:
            records = [ActionRecord.model_validate(item) for item in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, ValidationError, OSError, TypeError) as exc:
            log.warning("%s: cannot read the guard history (%s); starting with an empty history", path, exc)
            return []
        return records


def _blocked(guard: str, reason: str) -> GuardDecision:
    return GuardDecision(allowed=False, guard=guard, reason=reason)


class GuardedExecutor:
    """An ``Executor`` that checks the guards first and returns BLOCKED without calling ``inner``."""

    def __init__(self, inner: Executor, guards: Guards) -> None:
        self.inner = inner
        self.guards = guards

    async def service_state(self, service: str) -> ServiceState:
        """Return the inner executor's state of ``service``."""
        return await self.inner.service_state(service)

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Run ``request`` on the inner executor if every guard allows it."""
        decision = self.guards.check(request)
        if not decision.allowed:
            log.info("incident %s: %s on %s blocked by %s: %s", request.incident_id, request.action_type.value,
                     request.service, decision.guard, decision.reason)
            now = datetime.now(UTC)
            return ExecutionResult(request=request, status=ExecutionStatus.BLOCKED, started_at=now, finished_at=now,
                                   error=decision.reason, blocked_by=decision.guard)
        result = await self.inner.execute(request)
        self.guards.record(request, result)
        return result

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Undo ``result`` unless actions are paused; an undo starts the service's cooldown."""
        request = result.request
        if self.guards.paused:
            now = datetime.now(UTC)
            reason = f"actions are paused (by {self.guards.pause_state.by}); resume them before undoing"
            return ExecutionResult(request=request, status=ExecutionStatus.BLOCKED, started_at=now, finished_at=now,
                                   error=reason, blocked_by=PAUSE_GUARD, is_rollback=True)
        undo = await self.inner.rollback(result)
        self.guards.record(request, undo)
        return undo
