"""Guards and the guarded executor, on the sandbox cluster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airra.actions import ActionType, ClearCacheParams, RestartParams, RollbackParams, ScaleParams
from airra.errors import StoreError
from airra.execution.base import ActionRequest, ExecutionResult, Executor, ExecutionStatus
from airra.execution.guards import GuardedExecutor, Guards
from airra.sandbox import SandboxCluster
from airra.topology import Topology


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guards(settings, topology, tmp_path, clock) -> Guards:
    return Guards(settings, topology, tmp_path / "state", clock=clock)


def _request(service: str, action: ActionType, params, *, automatic: bool = False) -> ActionRequest:
    return ActionRequest(incident_id="inc-2", action_type=action, service=service, params=params, automatic=automatic)


def _scale_up(service: str = "cart", replicas: int = 4, *, automatic: bool = False) -> ActionRequest:
    return _request(service, ActionType.SCALE_UP, ScaleParams(replicas=replicas), automatic=automatic)


def test_allowed_action_passes(guards):
    decision = guards.check(_scale_up())

    assert decision.allowed
    assert decision.guard is None


def test_action_not_allowed_for_service(guards):
    decision = guards.check(_request("payment-provider", ActionType.SCALE_UP, ScaleParams(replicas=2)))
    drain = guards.check(_request("cart", ActionType.DRAIN_NODE, {"node": "node-1"}))

    assert decision.guard == "allowed_actions"
    assert "allowed: none" in decision.reason
    # drain_node is not in the sample topology's default allowed actions.
    assert drain.guard == "allowed_actions"


def test_unknown_service_blocked(guards):
    decision = guards.check(_scale_up("nope"))

    assert not decision.allowed
    assert "unknown service 'nope'" in decision.reason


def test_protected_service_gets_no_disruptive_action(settings, topology, tmp_path):
    # Even when the services file allows a restart of redis, it is disruptive on a protected cache.
    services = [s if s.name != "redis" else s.model_copy(update={"allowed_actions": (
        ActionType.SCALE_UP, ActionType.RESTART_POD)}) for s in topology]
    guards = Guards(settings, Topology(services), tmp_path)

    restart = guards.check(_request("redis", ActionType.RESTART_POD, RestartParams()))
    scale = guards.check(_request("redis", ActionType.SCALE_UP, ScaleParams(replicas=3)))

    assert restart.guard == "protected_service"
    assert "protected cache" in restart.reason
    assert scale.allowed


def test_rate_limit_counts_automatic_actions_per_hour(guards, clock):
    def run(request):
        now = datetime.now(UTC)
        guards.record(request, ExecutionResult(request=request, status=ExecutionStatus.SUCCEEDED, started_at=now,
                                               finished_at=now, changes=["x"]))

    for _ in range(3):  # the default limit is 3 per hour
        assert guards.check(_scale_up(automatic=True)).allowed
        run(_scale_up(automatic=True))
        clock.now += 60

    blocked = guards.check(_scale_up(automatic=True))
    assert blocked.guard == "auto_rate_limit"
    assert "3 automatic actions" in blocked.reason
    # Approved actions and other services are not limited.
    assert guards.check(_scale_up()).allowed
    assert guards.check(_scale_up("catalog", automatic=True)).allowed

    clock.now += 3600 - 120  # the first record is now exactly one hour old
    assert guards.check(_scale_up(automatic=True)).allowed


async def test_cooldown_after_rollback(settings, topology, tmp_path, clock):
    guards = Guards(settings, topology, tmp_path, clock=clock)
    executor = GuardedExecutor(SandboxCluster(topology), guards)

    rolled = await executor.execute(_request("cart", ActionType.ROLLBACK_DEPLOYMENT, RollbackParams()))
    assert rolled.status is ExecutionStatus.SUCCEEDED

    clock.now += 899
    blocked = await executor.execute(_scale_up())
    assert blocked.status is ExecutionStatus.BLOCKED
    assert blocked.blocked_by == "rollback_cooldown"
    assert "for another 1 s" in blocked.error
    assert (await executor.execute(_scale_up("catalog"))).status is ExecutionStatus.SUCCEEDED

    clock.now += 1
    assert (await executor.execute(_scale_up())).status is ExecutionStatus.SUCCEEDED


async def test_undo_starts_cooldown(settings, topology, tmp_path, clock):
    executor = GuardedExecutor(SandboxCluster(topology), Guards(settings, topology, tmp_path, clock=clock))

    result = await executor.execute(_scale_up())
    undo = await executor.rollback(result)
    again = await executor.execute(_scale_up())

    assert undo.status is ExecutionStatus.SUCCEEDED
    assert again.blocked_by == "rollback_cooldown"


async def test_pause_persists_and_blocks(settings, topology, tmp_path, clock):
    cluster = SandboxCluster(topology)
    guards = Guards(settings, topology, tmp_path, clock=clock)
    executor = GuardedExecutor(cluster, guards)
    assert isinstance(executor, Executor)
    done = await executor.execute(_scale_up())

    guards.pause("U123")
    restarted = Guards(settings, topology, tmp_path, clock=clock)
    blocked = await GuardedExecutor(cluster, restarted).execute(_scale_up(replicas=5))
    undo = await GuardedExecutor(cluster, restarted).rollback(done)

    assert restarted.paused
    assert blocked.status is ExecutionStatus.BLOCKED
    assert blocked.blocked_by == "pause"
    assert "U123" in blocked.error
    assert undo.blocked_by == "pause"
    assert cluster.deployments["cart"].replicas == 4
    assert len(cluster.events) == 1

    restarted.resume("U456")
    assert not Guards(settings, topology, tmp_path, clock=clock).paused


async def test_history_survives_restart(settings, topology, tmp_path, clock):
    executor = GuardedExecutor(SandboxCluster(topology), Guards(settings, topology, tmp_path, clock=clock))
    await executor.execute(_request("cart", ActionType.ROLLBACK_DEPLOYMENT, RollbackParams()))

    decision = Guards(settings, topology, tmp_path, clock=clock).check(_scale_up())

    assert decision.guard == "rollback_cooldown"


async def test_blocked_and_dry_run_are_not_counted(settings, topology, tmp_path, clock):
    cluster = SandboxCluster(topology)
    guards = Guards(settings, topology, tmp_path, clock=clock)
    executor = GuardedExecutor(cluster, guards)

    for _ in range(5):
        request = _scale_up(automatic=True).model_copy(update={"dry_run": True})
        assert (await executor.execute(request)).status is ExecutionStatus.DRY_RUN
    failed = await executor.execute(_request("cart", ActionType.CLEAR_CACHE, ClearCacheParams(), automatic=True))

    assert failed.status is ExecutionStatus.FAILED
    assert guards.check(_scale_up(automatic=True)).allowed


def test_unreadable_pause_file_fails_closed(settings, topology, tmp_path):
    (tmp_path / "pause.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(StoreError, match="pause switch"):
        Guards(settings, topology, tmp_path)
