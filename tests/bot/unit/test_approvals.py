"""Approval counting and the exactly-once execution claim."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from airra.settings import Settings
from bot.approvals import ApprovalDesk, ApproverPolicy, VoteOutcome
from bot.state import ApprovalStatus, FileApprovalStore, FileExecutionStore, utc_now


def _desk(state_dir: Path, settings: Settings) -> ApprovalDesk:
    return ApprovalDesk(settings, FileApprovalStore(state_dir), FileExecutionStore(state_dir))


def _pending(desk: ApprovalDesk, *, required: int = 1, requested_by: str | None = None) -> None:
    record = desk.new_record(incident_id="inc-20261204-0001", proposal_id="p1", service="checkout",
                             action_type="scale_up", params={"replicas": 4}, required_approvals=required,
                             requested_by=requested_by, blast_level="low")
    desk.approvals.save(record)


async def test_one_approver_claims_once(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk)

    first = await desk.vote("inc-20261204-0001", "p1", "U0ALICE")
    second = await desk.vote("inc-20261204-0001", "p1", "U0BOB")

    assert first.outcome is VoteOutcome.APPROVED
    assert first.execute is True
    assert second.outcome is VoteOutcome.ALREADY_DECIDED
    assert second.execute is False
    assert desk.approvals.load("inc-20261204-0001", "p1").status is ApprovalStatus.APPROVED


async def test_two_approvers_need_distinct_users(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk, required=2)

    first = await desk.vote("inc-20261204-0001", "p1", "U0ALICE")
    again = await desk.vote("inc-20261204-0001", "p1", "U0ALICE")
    second = await desk.vote("inc-20261204-0001", "p1", "U0BOB")

    assert first.outcome is VoteOutcome.WAITING
    assert first.execute is False
    assert again.outcome is VoteOutcome.ALREADY_VOTED
    assert second.outcome is VoteOutcome.APPROVED
    assert second.execute is True
    assert second.record is not None
    assert second.record.approver_ids == ["U0ALICE", "U0BOB"]


async def test_concurrent_votes_execute_once(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk)

    results = await asyncio.gather(*(desk.vote("inc-20261204-0001", "p1", f"U{index:03d}") for index in range(20)))

    assert sum(result.execute for result in results) == 1


async def test_claim_survives_restart(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk)
    assert (await desk.vote("inc-20261204-0001", "p1", "U0ALICE")).execute is True

    restarted = _desk(tmp_path, settings)
    result = await restarted.vote("inc-20261204-0001", "p1", "U0BOB")

    assert result.execute is False
    assert restarted.executions.load("inc-20261204-0001", "p1").claimed_by == "U0ALICE"


async def test_approved_but_unclaimed_is_claimed_after_restart(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk)
    record = desk.approvals.load("inc-20261204-0001", "p1")
    record.status = ApprovalStatus.APPROVED
    desk.approvals.save(record)

    restarted = _desk(tmp_path, settings)
    first = await restarted.vote("inc-20261204-0001", "p1", "U0BOB")
    second = await restarted.vote("inc-20261204-0001", "p1", "U0BOB")

    assert first.execute is True
    assert second.execute is False


async def test_self_approval_forbidden(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, forbid_self_approval=True)
    desk = _desk(tmp_path, settings)
    _pending(desk, requested_by="U0ALICE")

    own = await desk.vote("inc-20261204-0001", "p1", "U0ALICE")
    other = await desk.vote("inc-20261204-0001", "p1", "U0BOB")

    assert own.outcome is VoteOutcome.SELF_APPROVAL
    assert own.execute is False
    assert other.outcome is VoteOutcome.APPROVED


async def test_expired_request_never_executes(tmp_path: Path, settings: Settings) -> None:
    desk = _desk(tmp_path, settings)
    _pending(desk)
    record = desk.approvals.load("inc-20261204-0001", "p1")
    record.expires_at = utc_now() - timedelta(seconds=1)
    desk.approvals.save(record)

    result = await desk.vote("inc-20261204-0001", "p1", "U0ALICE")

    assert result.outcome is VoteOutcome.EXPIRED
    assert result.execute is False
    assert desk.approvals.load("inc-20261204-0001", "p1").status is ApprovalStatus.EXPIRED
    assert desk.executions.load("inc-20261204-0001", "p1") is None


def test_new_record_expires_after_ttl(tmp_path: Path, data_dir: Path) -> None:
    desk = _desk(tmp_path, Settings(data_dir=data_dir, approval_ttl_s=90))
    record = desk.new_record(incident_id="inc-1", proposal_id="p1", service="checkout", action_type="scale_up",
                             required_approvals=1)
    assert record.expires_at - record.created_at == timedelta(seconds=90)


def test_execution_claim_is_exclusive(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path)
    assert store.claim("inc-1", "p1", user_id="U0ALICE") is True
    assert FileExecutionStore(tmp_path).claim("inc-1", "p1", user_id="U0BOB") is False
    assert store.claim("inc-1", "p2", user_id="U0BOB") is True


class FakeUsergroupsClient:
    """The one Web API method the approver policy calls, returning a list of outcomes in turn."""

    def __init__(self, outcomes: list[list[str] | str]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    async def usergroups_users_list(self, *, usergroup: str) -> dict[str, object]:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, str):
            raise SlackApiError(outcome, SlackResponse(client=None, http_verb="POST", api_url="", req_args={},
                                                       data={"ok": False, "error": outcome}, headers={},
                                                       status_code=200))
        return {"ok": True, "users": outcome}


async def test_group_members_cached(data_dir: Path) -> None:
    client = FakeUsergroupsClient([["U0DAVE"], ["U0ERIN"]])
    policy = ApproverPolicy(Settings(data_dir=data_dir, approvers=["U0ALICE"], approver_group="S0ONCALL"),
                            client, cache_ttl_s=3600)  # type: ignore[arg-type]

    assert await policy.is_approver("U0ALICE") is True
    assert client.calls == 0
    assert await policy.is_approver("U0DAVE") is True
    assert await policy.is_approver("U0ERIN") is False
    assert client.calls == 1


async def test_group_failure_keeps_members_and_retries(data_dir: Path) -> None:
    client = FakeUsergroupsClient([["U0DAVE"], "ratelimited", ["U0DAVE", "U0ERIN"]])
    policy = ApproverPolicy(Settings(data_dir=data_dir, approver_group="S0ONCALL"), client,  # type: ignore[arg-type]
                            cache_ttl_s=0)

    assert await policy.is_approver("U0DAVE") is True
    assert await policy.is_approver("U0DAVE") is True
    assert await policy.is_approver("U0ERIN") is True
    assert client.calls == 3


async def test_no_approvers_configured(data_dir: Path) -> None:
    policy = ApproverPolicy(Settings(data_dir=data_dir), FakeUsergroupsClient([[]]))  # type: ignore[arg-type]
    assert policy.configured is False
    assert await policy.is_approver("U0ALICE") is False
