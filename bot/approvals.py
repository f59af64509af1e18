"""Approver policy, approval counting and the exactly-once execution claim.

The approver policy takes Slack user ids from ``settings.approvers`` and the
members of ``settings.approver_group`` (read through usergroups.users.list and
cached briefly). ``ApprovalDesk.vote`` records one click under a per-proposal
lock and, once enough distinct approvers agreed, claims the execution in the
durable execution store, so exactly one click ever gets ``execute=True``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airra.settings import Settings
from bot.locks import KeyedLocks
from bot.state import (
    ApprovalRecord,
    ApprovalStatus,
    ApprovalStore,
    ApprovalVote,
    ExecutionStore,
    utc_now,
)

log = logging.getLogger(__name__)

GROUP_CACHE_TTL_S = 60.0


class ApproverPolicy:
    """Decides whether a Slack user may approve, reject or pause actions."""

    def __init__(self, settings: Settings, client: AsyncWebClient, *, cache_ttl_s: float = GROUP_CACHE_TTL_S) -> None:
        self.approvers = frozenset(settings.approvers)
        self.group = settings.approver_group
        self.forbid_self_approval = settings.forbid_self_approval
        self.client = client
        self.cache_ttl_s = cache_ttl_s
        self._group_members: frozenset[str] = frozenset()
        self._group_read_at: float | None = None
        self._group_lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """True when anyone at all may approve."""
        return bool(self.approvers or self.group)

    async def is_approver(self, user_id: str) -> bool:
        """Tell whether the user is a configured approver or a member of the approver group."""
        if user_id in self.approvers:
            return True
        if not self.group:
            return False
        return user_id in await self._members()

    async def _members(self) -> frozenset[str]:
        async with self._group_lock:
            fresh = self._group_read_at is not None and time.monotonic() - self._group_read_at < self.cache_ttl_s
            if fresh:
                return self._group_members
            try:
                response = await self.client.usergroups_users_list(usergroup=self.group)
            except SlackApiError as exc:
                # Keep the last known members, and ask again on the next click: a Slack
                # hiccup must not lock every approver out for the whole cache period.
                log.warning("cannot read approver group %s: %s; using %d cached members",
                            self.group, exc.response.get("error"), len(self._group_members))
                return self._group_members
            self._group_members = frozenset(response.get("users") or [])
            self._group_read_at = time.monotonic()
            return self._group_members


class VoteOutcome(StrEnum):
    """Outcome of one Approve click."""

    NOT_FOUND = "not_found"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    SELF_APPROVAL = "self_approval"
    ALREADY_VOTED = "already_voted"
    WAITING = "waiting"
    APPROVED = "approved"


class VoteResult(BaseModel):
    """The outcome of a click and the record after it."""

    outcome: VoteOutcome
    record: ApprovalRecord | None = None
    execute: bool = False

    @property
    def changed(self) -> bool:
        return self.outcome in (VoteOutcome.WAITING, VoteOutcome.APPROVED, VoteOutcome.EXPIRED)


class ApprovalDesk:
    """Records approvals and claims executions exactly once.

    The in-process lock orders concurrent clicks on one proposal. The claim in
    the execution store, created with ``O_EXCL``, keeps the guarantee across
    restarts and processes that share the data directory (a local file system;
    ``O_EXCL`` is not reliable on every network file system).
    """

    def __init__(self, settings: Settings, approvals: ApprovalStore, executions: ExecutionStore) -> None:
        self.settings = settings
        self.approvals = approvals
        self.executions = executions
        # A proposal's lock exists only while a click or a status change is using it.
        self._locks = KeyedLocks()

    def lock(self, incident_id: str, proposal_id: str) -> AbstractAsyncContextManager[None]:
        """Return the lock that orders changes to one proposal, for ``async with``."""
        return self._locks.hold(f"{incident_id}|{proposal_id}")

    def new_record(self, **fields: object) -> ApprovalRecord:
        """Build a pending approval record that expires after ``settings.approval_ttl_s``."""
        now = utc_now()
        return ApprovalRecord.model_validate(
            {"created_at": now, "expires_at": now + timedelta(seconds=self.settings.approval_ttl_s), **fields}
        )

    async def vote(self, incident_id: str, proposal_id: str, user_id: str) -> VoteResult:
        """Record an approver's click; the caller has already checked that the user is an approver."""
        async with self.lock(incident_id, proposal_id):
            record = self.approvals.load(incident_id, proposal_id)
            if record is None:
                return VoteResult(outcome=VoteOutcome.NOT_FOUND)

            if record.status is ApprovalStatus.APPROVED:
                # A process that stopped after the quorum but before claiming left
                # the action unclaimed; the next approver's click claims it.
                won = self.executions.claim(incident_id, proposal_id, user_id=user_id)
                return VoteResult(outcome=VoteOutcome.APPROVED if won else VoteOutcome.ALREADY_DECIDED,
                                  record=record, execute=won)
            if record.status is not ApprovalStatus.PENDING:
                return VoteResult(outcome=VoteOutcome.ALREADY_DECIDED, record=record)

            if record.expired():
                record.status = ApprovalStatus.EXPIRED
                self.approvals.save(record)
                return VoteResult(outcome=VoteOutcome.EXPIRED, record=record)

            if self.settings.forbid_self_approval and record.requested_by == user_id:
                return VoteResult(outcome=VoteOutcome.SELF_APPROVAL, record=record)
            if user_id in record.approver_ids:
                return VoteResult(outcome=VoteOutcome.ALREADY_VOTED, record=record)

            record.approvals.append(ApprovalVote(user_id=user_id, at=utc_now()))
            if len(record.approvals) < max(1, record.required_approvals):
                self.approvals.save(record)
                log.info("approval %d/%d by %s for incident %s", len(record.approvals),
                         record.required_approvals, user_id, incident_id)
                return VoteResult(outcome=VoteOutcome.WAITING, record=record)

            record.status = ApprovalStatus.APPROVED
            self.approvals.save(record)
            won = self.executions.claim(incident_id, proposal_id, user_id=user_id)
            log.info("action approved by %s for incident %s (claim %s)", ", ".join(record.approver_ids),
                     incident_id, "won" if won else "already taken")
            return VoteResult(outcome=VoteOutcome.APPROVED, record=record, execute=won)

    async def set_status(self, incident_id: str, proposal_id: str, status: ApprovalStatus, *,
                         only_if_pending: bool = True, rejected_by: str | None = None) -> ApprovalRecord | None:
        """Move a record to ``status``; return it, or None when it was missing or already decided."""
        async with self.lock(incident_id, proposal_id):
            record = self.approvals.load(incident_id, proposal_id)
            if record is None or (only_if_pending and record.status is not ApprovalStatus.PENDING):
                return None
            record.status = status
            if rejected_by is not None:
                record.rejected_by = rejected_by
            self.approvals.save(record)
            return record

    async def claim_automatic(self, record: ApprovalRecord) -> bool:
        """Claim the execution of an action that runs without approval."""
        async with self.lock(record.incident_id, record.proposal_id):
            return self.executions.claim(record.incident_id, record.proposal_id, user_id=None)
