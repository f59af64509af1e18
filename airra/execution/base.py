"""The executor interface, the request it takes and the result it returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from airra.actions import ActionParams, ActionType


class ServiceState(BaseModel):
    """State of a service as the cluster reports it, used to check prerequisites."""

    service: str
    replicas: int | None = None
    ready_replicas: int | None = None
    revision: int | None = Field(default=None, description="current ReplicaSet revision")
    previous_revision: int | None = Field(default=None, description="None when there is no earlier revision")
    feature_flags: dict[str, bool] = Field(default_factory=dict)
    nodes: list[str] = Field(default_factory=list, description="nodes running the service's pods")
    ready_nodes: int | None = None


class ActionRequest(BaseModel):
    """One action to execute, as approved."""

    incident_id: str
    action_type: ActionType
    service: str
    namespace: str | None = None
    deployment: str | None = None
    params: ActionParams
    automatic: bool = Field(default=False, description="runs without human approval")
    requested_by: str | None = Field(default=None, description="Slack user id of the approver, if any")
    dry_run: bool = False


class ExecutionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    BLOCKED = "blocked"


class ExecutionResult(BaseModel):
    """Outcome of an execution or a rollback.

    ``saved_state`` is everything needed to undo the action; it is persisted
    with the result, so a rollback works after a restart.
    """

    request: ActionRequest
    status: ExecutionStatus
    changes: list[str] = Field(default_factory=list, description="what was changed, one line each")
    saved_state: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    blocked_by: str | None = Field(default=None, description="name of the guard that blocked the action")
    is_rollback: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is ExecutionStatus.SUCCEEDED

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@runtime_checkable
class Executor(Protocol):
    """Carries out actions and undoes them.

    ``execute`` never raises for a failed action: it returns a FAILED result
    with the reason. ``rollback`` restores ``result.saved_state`` and returns
    its own result, whose status is the true outcome of the undo.
    """

    async def service_state(self, service: str) -> ServiceState: ...

    async def execute(self, request: ActionRequest) -> ExecutionResult: ...

    async def rollback(self, result: ExecutionResult) -> ExecutionResult: ...
