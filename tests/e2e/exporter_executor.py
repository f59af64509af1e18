"""An executor wired to the fake exporter: a restart restarts the exporter's service.

It takes the Kubernetes executor's place, so the
end-to-end test exercises the bot's real execution path while the
effect of an action shows up in the real Prometheus.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airra.actions import ActionType, ScaleParams
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, ServiceState
from tests.support.promstack import FakeExporter


class ExporterExecutor:
    """Runs actions against ``FakeExporter`` services.

    ``restart_pod`` resets the service's injected fault unless the service
    is in ``persistent_faults``, whose fault survives a restart (as a bad
    configuration would). ``scale_up``/``scale_down`` change only the
    replica count: the exporter's load does not depend on it.
    """

    def __init__(self, exporter: FakeExporter, *, persistent_faults: set[str] | None = None,
                 replicas: int = 3) -> None:
        self.exporter = exporter
        self.persistent_faults = persistent_faults or set()
        self.replicas = {service: replicas for service in exporter.services}
        self.executed: list[ActionRequest] = []

    async def service_state(self, service: str) -> ServiceState:
        replicas = self.replicas.get(service, 0)
        return ServiceState(service=service, replicas=replicas, ready_replicas=replicas,
                            revision=2, previous_revision=1)

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        started = datetime.now(UTC)
        self.executed.append(request)
        service = request.service

        if request.action_type is ActionType.RESTART_POD:
            fault = self.exporter.load(service)
            self.exporter.restart(service)
            if service in self.persistent_faults:
                self.exporter.set_load(service, error_ratio=fault.error_ratio, latency_s=fault.latency_s)
            changes = [f"restarted {service} in the exporter"]
            saved: dict[str, object] = {}
        elif request.action_type in (ActionType.SCALE_UP, ActionType.SCALE_DOWN):
            assert isinstance(request.params, ScaleParams)
            saved = {"replicas": self.replicas[service]}
            self.replicas[service] = request.params.replicas
            changes = [f"scaled {service} from {saved['replicas']} to {request.params.replicas} replicas"]
        else:
            return ExecutionResult(request=request, status=ExecutionStatus.FAILED, started_at=started,
                                   finished_at=datetime.now(UTC),
                                   error=f"{request.action_type.value} is not wired to the exporter")

        return ExecutionResult(request=request, status=ExecutionStatus.SUCCEEDED, changes=changes,
                               saved_state=saved, started_at=started, finished_at=datetime.now(UTC))

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        started = datetime.now(UTC)
        service = result.request.service
        if "replicas" in result.saved_state:
            self.replicas[service] = int(result.saved_state["replicas"])  # type: ignore[call-overload]
        return ExecutionResult(request=result.request, status=ExecutionStatus.SUCCEEDED, changes=["undone"],
                               started_at=started, finished_at=datetime.now(UTC), is_rollback=True)
