"""Incident flows: from an alert to a card, from a click to a verified outcome.

``IncidentFlows`` is what the Slack listeners and the webhook route call.
Each flow is one method named for what happened in the field: an alert
arrived, an approver clicked Approve, an operator replied in the thread.
Slow work (diagnosis, execution, verification) runs in background tasks, so
every Slack request is acknowledged at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airra.actions import ActionType, profile_of
from airra.alerts import Alert, AlertStatus
from airra.categories import Category
from airra.calibration import ConfidenceOutcomeRecord, ConfidenceTracker
from airra.execution.guards import Guards
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, Executor
from airra.feedback import FeedbackCollector, FeedbackType, OperatorFeedback
from airra.incidents import Incident, IncidentStatus, IncidentTracker, IngestKind, IngestOutcome
from airra.intake.alertmanager import WebhookBatch
from airra.proposal import ApprovalRequirement, Proposal, Proposer, render_proposal_text
from airra.blast_radius import BlastRadiusCalculator
from airra.settings import Settings
from airra.topology import Topology
from airra.verification import PostActionVerifier, VerificationResult, VerificationStatus
from bot.approvals import ApprovalDesk, ApproverPolicy, VoteOutcome
from bot.audit import AuditKind, AuditLog
from bot.blockkit import code_block, escape
from bot.cards import CardState, IncidentCard, RejectSubmission, card_from_proposal, render_card, unscoped_card
from bot.corrections import Correction, parse_correction
from bot.errors import describe_error
from bot.locks import KeyedLocks
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.state import (
    ApprovalRecord,
    ApprovalStatus,
    ApprovalStore,
    ExecutionPhase,
    ExecutionRecord,
    ExecutionStore,
    FileCardStore,
)
from bot.traffic import current_traffic

log = logging.getLogger(__name__)

Reply = Callable[[str], Awaitable[Any]]
"""Sends a short ephemeral message, visible only to the user who clicked."""

CARD_UPDATE_INTERVAL_S = 3.0

# Slack errors of cards that failed to post, kept for the /airra analyze that
# opened the incident. Only the newest are kept, because the command reads its
# own within seconds and alerts never read theirs.
MAX_CARD_ERRORS = 256


class IncidentFlows:
    """The incident response flows of the bot, wired to the decision core and to Slack."""

    def __init__(
        self,
        *,
        settings: Settings,
        topology: Topology,
        executor: Executor,
        tracker: IncidentTracker,
        proposer: Proposer,
        blast: BlastRadiusCalculator,
        verifier: PostActionVerifier,
        confidence: ConfidenceTracker,
        feedback: FeedbackCollector,
        policy: ApproverPolicy,
        desk: ApprovalDesk,
        approvals: ApprovalStore,
        executions: ExecutionStore,
        cards: FileCardStore,
        audit: AuditLog,
        client: AsyncWebClient,
        poster: SlackPoster,
        guards: Guards | None = None,
        metrics: BotMetrics | None = None,
        card_update_interval_s: float = CARD_UPDATE_INTERVAL_S,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.executor = executor
        self.tracker = tracker
        self.proposer = proposer
        self.blast = blast
        self.verifier = verifier
        self.confidence = confidence
        self.feedback = feedback
        self.policy = policy
        self.desk = desk
        self.approvals = approvals
        self.executions = executions
        self.cards = cards
        self.audit = audit
        self.client = client
        self.poster = poster
        self.guards = guards
        self.metrics = metrics
        self.card_update_interval_s = card_update_interval_s
        self._tasks: set[asyncio.Task[Any]] = set()
        # Expiry timers by (incident id, proposal id). They sleep for the approval TTL, so drain()
        # does not wait for them, and a decision or the incident's resolution cancels them.
        self._timers: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._card_locks = KeyedLocks()
        # Held from reading an incident's proposal count until the new count and record are written.
        self._proposal_locks = KeyedLocks()
        self._pending_card_updates: set[str] = set()
        # Slack's error for a card that could not be posted, kept for the command that opened the incident.
        self._card_errors: dict[str, str] = {}

    # --- Background work -----------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str, incident_id: str | None = None) -> asyncio.Task[Any]:
        """Run a flow step in the background; an error it raises is logged and reported in the incident thread.

        Started while the server serves Slack requests (a listener's step, or the
        analysis of an alert), the step first waits until no Slack request is in
        flight, at most ``SlackTraffic.max_delay_s``, so that its CPU work does not
        delay the acknowledgements. The task exists at once, so ``drain()`` waits for it.
        """
        traffic = current_traffic()
        step = coroutine
        if traffic is not None:
            async def after_acknowledgements() -> Any:
                try:
                    await traffic.wait_quiet()
                except asyncio.CancelledError:
                    coroutine.close()  # cancelled before it started: nothing ran, and no warning it never did
                    raise
                return await coroutine

            step = after_acknowledgements()
        task = asyncio.get_running_loop().create_task(self._reported(step, name, incident_id), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _reported(self, coroutine: Coroutine[Any, Any, Any], name: str, incident_id: str | None) -> Any:
        try:
            return await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.errors.labels(kind=type(exc).__name__).inc()
            text = describe_error(exc, where=name, incident_id=incident_id)
            if incident_id is not None:
                try:
                    await self._post_in_thread(incident_id, text)
                except Exception as report_error:  # noqa: BLE001 - reporting an error must never raise another
                    log.warning("incident %s: could not report the failure of %s in the thread: %s",
                                incident_id, name, report_error)
            return None

    async def drain(self) -> None:
        """Wait until every background step, including those they start, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the background steps and expiry timers still running."""
        pending = list(self._tasks) + list(self._timers.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def recover(self) -> None:
        """Pick up after a restart: re-arm approval expiry and report executions a stop cut short.

        An execution whose claim exists but which never finished is not run
        again: the action may have changed the cluster, so an operator checks.

        NOTE: this assumes one bot process per data directory. A second process
        starting next to a running one would report that one's executions in
        progress as interrupted.
        """
        for record in self.approvals.pending():
            incident = self.tracker.get(record.incident_id)
            # A resolution cancelled the timer and left the approval pending: an Approve click finds it stale.
            # Past its TTL it is marked expired here, without a card update, so pending() stays short.
            if incident is not None and not incident.is_open:
                if record.expired():
                    await self.desk.set_status(record.incident_id, record.proposal_id, ApprovalStatus.EXPIRED)
                    log.info("incident %s: approval of proposal %s expired while the bot was stopped",
                             record.incident_id, record.proposal_id)
                continue
            self._schedule_expiry(record)

        for execution in self.executions.unfinished():
            log.warning("incident %s: execution of proposal %s was interrupted by a restart in phase %s",
                        execution.incident_id, execution.proposal_id, execution.phase.value)
            execution.phase = ExecutionPhase.INTERRUPTED
            self.executions.save(execution)
            note = (":warning: AIRRA stopped while this action was running, so its outcome is unknown. "
                    "It will not be run again: check the service by hand.")
            await self._post_in_thread(execution.incident_id, note)
            await self._change_card(execution.incident_id, lambda card: card.show_outcome(note))

    def _schedule_expiry(self, record: ApprovalRecord) -> None:
        """Mark the approval expired and update the card once its TTL has passed."""
        # The timer keeps only the ids and the expiry time: a whole record (with its proposal)
        # held by every waiting timer added some 12 kB of memory per incident for the TTL.
        incident_id, proposal_id, expires_at = record.incident_id, record.proposal_id, record.expires_at

        async def expire_later() -> None:
            delay = (expires_at - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(max(0.0, delay))
            await self.expire(incident_id, proposal_id)

        key = (incident_id, proposal_id)
        self._cancel_expiry(incident_id, proposal_id)
        timer = asyncio.get_running_loop().create_task(expire_later(), name=f"expire {incident_id}")
        self._timers[key] = timer

        def forget(done: asyncio.Task[Any]) -> None:
            if self._timers.get(key) is done:
                del self._timers[key]

        timer.add_done_callback(forget)

    def _cancel_expiry(self, incident_id: str, proposal_id: str | None = None) -> None:
        """Cancel the expiry timer of a decided proposal, or of every proposal of a resolved incident."""
        current = asyncio.current_task()
        for key, timer in list(self._timers.items()):
            if key[0] != incident_id or (proposal_id is not None and key[1] != proposal_id):
                continue
            # A timer that is expiring its proposal right now ends by itself.
            if timer is not current:
                timer.cancel()
                del self._timers[key]

    async def expire(self, incident_id: str, proposal_id: str) -> None:
        """Expire a still-pending approval: the card loses its buttons and shows the expiry."""
        record = await self.desk.set_status(incident_id, proposal_id, ApprovalStatus.EXPIRED)
        if record is None:
            return
        log.info("incident %s: approval of proposal %s expired", incident_id, proposal_id)
        self._count_approval("expired")
        self.audit.record(AuditKind.APPROVAL_EXPIRED, incident_id=incident_id, user_id=None,
                          proposal_id=proposal_id, action=record.action_type)
        await self._change_card(incident_id, lambda card: card.expire(proposal_id))

    # --- Alerts --------------------------------------------------------------

    async def on_webhook_batch(self, batch: WebhookBatch) -> None:
        """Store the alerts of one Alertmanager notification; cards follow in the background."""
        await self._ingest(batch.alerts)

    async def on_alert_message(self, alerts: list[Alert]) -> None:
        """Store the alerts of one Alertmanager or Grafana post in a channel."""
        await self._ingest(alerts)

    async def _ingest(self, alerts: list[Alert]) -> None:
        """Store the alerts, starting each new or reopened incident's proposal while the incident is written.

        The proposal reads its metrics during the write, and records or posts
        nothing until ``stored`` is true, which means the write succeeded.
        """
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        proposing: set[str] = set()

        def start_proposals(outcomes: list[IngestOutcome]) -> None:
            for outcome in outcomes:
                incident = outcome.incident
                if incident is None or outcome.alert is None or incident.id in proposing:
                    continue
                if outcome.kind in (IngestKind.OPENED, IngestKind.REOPENED):
                    proposing.add(incident.id)
                    self.spawn(self.propose(incident.id, outcome.alert, note=_reopened_note(outcome),
                                            incident=incident, stored=stored),
                               name=f"propose {incident.id}", incident_id=incident.id)

        try:
            outcomes = await self.tracker.ingest_many(alerts, on_decided=start_proposals)
        except BaseException:
            stored.set_result(False)
            raise
        stored.set_result(True)
        for outcome in outcomes:
            self._after_ingest(outcome, proposing=outcome.incident is not None and outcome.incident.id in proposing)

    def _after_ingest(self, outcome: IngestOutcome, *, proposing: bool = False) -> None:
        incident = outcome.incident
        if incident is None or outcome.alert is None:
            return
        log.info("incident %s: alert %s ingested as %s", incident.id, outcome.alert.fingerprint, outcome.kind.value)
        if self.metrics is not None:
            self.metrics.alerts.labels(source=outcome.alert.source.value).inc()
            self.metrics.incidents.labels(kind=outcome.kind.value).inc()

        if outcome.kind in (IngestKind.OPENED, IngestKind.REOPENED):
            self.audit.record(AuditKind.INCIDENT_OPENED, incident_id=incident.id, user_id=None,
                              trigger=outcome.kind.value, service=incident.service, alertname=incident.alertname)
            if not proposing:
                self.spawn(self.propose(incident.id, outcome.alert, note=_reopened_note(outcome)),
                           name=f"propose {incident.id}", incident_id=incident.id)
        elif _needs_card(outcome) and not self._proposing(incident.id):
            # The first card was never posted: Slack was down, the bot stopped, or a write failed first.
            # This alert, even a repeat of a known one, is the chance to post it.
            log.info("incident %s: no card yet, proposing again", incident.id)
            self.spawn(self.propose(incident.id, outcome.alert), name=f"propose {incident.id}",
                       incident_id=incident.id)
        elif outcome.kind is IngestKind.UPDATED:
            self._schedule_card_refresh(incident.id)
        elif outcome.kind is IngestKind.RESOLVED:
            self.spawn(self.incident_resolved(incident.id), name=f"resolve {incident.id}", incident_id=incident.id)

    async def open_by_hand(self, service: str, *, requested_by: str, category: Category | None,
                           channel: str | None) -> Incident:
        """Open an incident from ``/airra analyze`` and start its proposal."""
        incident = await self.tracker.open_incident(service, title=f"{service}: incident opened by hand")
        if channel is not None:
            incident = await self.tracker.update(incident.id, channel=channel)
        incident = await self.tracker.update(incident.id, extra={**incident.extra, "requested_by": requested_by})
        self.audit.record(AuditKind.INCIDENT_OPENED, incident_id=incident.id, user_id=requested_by,
                          trigger="by_hand", service=service, category=str(category) if category else None)
        alert = next(iter(incident.alerts.values()))
        self.spawn(self.propose(incident.id, alert, category=category, requested_by=requested_by,
                                note=f"Opened by <@{requested_by}> with `/airra analyze`."),
                   name=f"propose {incident.id}", incident_id=incident.id)
        return incident

    def _is_open(self, incident_id: str) -> bool:
        incident = self.tracker.get(incident_id)
        return incident is not None and incident.is_open

    def _proposing(self, incident_id: str) -> bool:
        return any(task.get_name() == f"propose {incident_id}" for task in self._tasks)

    async def card_error(self, incident_id: str, *, timeout_s: float) -> str | None:
        """Wait up to ``timeout_s`` for the incident's first proposal; return Slack's error if its card failed."""
        pending = [task for task in self._tasks if task.get_name() == f"propose {incident_id}"]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        return self._card_errors.pop(incident_id, None)

    def open_incident_for(self, service: str) -> Incident | None:
        """Return the newest open incident of ``service`` with a firing alert, or None."""
        candidates = [incident for incident in self.tracker.store.find_active(service=service) if incident.firing]
        return max(candidates, key=lambda incident: incident.id, default=None)

    async def repropose_by_hand(self, incident: Incident, *, requested_by: str,
                                category: Category | None) -> str | None:
        """Replace the proposal on an open incident's card from ``/airra analyze``.

        A second card for the same service would offer the same action twice, and two approvers
        on two cards would run it twice. Returns why nothing was re-proposed, or None.
        """
        record = self.approvals.latest_for(incident.id)
        if record is not None and record.status in (ApprovalStatus.APPROVED, ApprovalStatus.AUTOMATIC):
            execution = self.executions.load(incident.id, record.proposal_id)
            if execution is None or execution.phase not in (ExecutionPhase.FINISHED, ExecutionPhase.INTERRUPTED):
                return (f"Incident `{incident.id}` for `{incident.service}` is already open and its action is running. "
                        f"Wait for the outcome in its thread, then run `/airra analyze {incident.service}` again.")

        log.info("incident %s: re-proposing by hand for %s", incident.id, requested_by)
        self.spawn(self.propose(incident.id, incident.firing[-1], category=category, requested_by=requested_by,
                                note=f"Re-proposed by <@{requested_by}> with `/airra analyze`."),
                   name=f"propose {incident.id}", incident_id=incident.id)
        return None

    # --- Proposal and card ---------------------------------------------------

    async def propose(self, incident_id: str, alert: Alert, *, category: Category | None = None,
                      exclude_actions: tuple[ActionType, ...] = (), requested_by: str | None = None,
                      note: str | None = None, proposal: Proposal | None = None, incident: Incident | None = None,
                      stored: asyncio.Future[bool] | None = None) -> ApprovalRecord | None:
        """Diagnose, post or refresh the incident card, and run the action when the policy allows.

        ``proposal`` skips the diagnosis when the caller already has one.
        ``incident`` and ``stored`` let the diagnosis start while the incident
        is still being written: nothing is recorded or posted before ``stored``
        is true, and nothing at all when it is false.
        """
        incident = incident or self.tracker.get(incident_id)
        if incident is None:
            log.warning("incident %s vanished before its proposal; nothing posted", incident_id)
            return None

        channel = self.channel_for(incident)
        if channel is None:
            log.warning("incident %s: no channel for service %s; set slack_channel in the services file or "
                        "AIRRA_DEFAULT_CHANNEL", incident.id, incident.service)
            return None

        if not incident.scoped:
            if not await _was_stored(stored, incident.id):
                return None
            card = unscoped_card(incident)
            await self._show_card(incident, channel, card)
            log.info("incident %s: unscoped, card without action posted", incident.id)
            return None

        if proposal is None:
            proposal = await self.proposer.propose(alert, incident_id=incident.id, category=category,
                                                   exclude_actions=exclude_actions)
        if not await _was_stored(stored, incident.id):
            return None
        log.info("incident %s: proposal %s, approval %s", incident.id,
                 proposal.proposed_action, proposal.approval.value)

        requested_by = requested_by or incident.extra.get("requested_by")
        # The writes of the record yield to the event loop, so a concurrent proposal would read the same count.
        async with self._proposal_locks.hold(incident.id):
            record = await self._record_proposal(incident, proposal, channel, requested_by)
        card = card_from_proposal(incident, proposal, record)
        if proposal.approval is ApprovalRequirement.AUTOMATIC and record.status is ApprovalStatus.PENDING:
            card.status_note = ":double_vertical_bar: Execution is paused, so this automatic action waits for an approver."
        if note:
            card.status_note = note
        await self._show_card(incident, channel, card)

        # Nothing waits or runs for an incident resolved while its proposal was computed.
        still_open = self._is_open(incident.id)
        if record.status is ApprovalStatus.PENDING and still_open:
            self._schedule_expiry(record)
        self.audit.record(AuditKind.DECISION, incident_id=incident.id, user_id=requested_by,
                          proposal_id=record.proposal_id, action=record.action_type or None,
                          approval=str(proposal.approval.value), category=record.hypothesis_category,
                          confidence=record.confidence, blast_level=record.blast_level)

        if record.status is ApprovalStatus.AUTOMATIC and not still_open:
            log.info("incident %s: resolved before its automatic action %s started; not run", incident.id,
                     record.action_type)
        elif record.status is ApprovalStatus.AUTOMATIC:
            if await self.desk.claim_automatic(record):
                await self.execute(record, approved_by=None)
        return record

    async def _record_proposal(self, incident: Incident, proposal: Proposal, channel: str,
                               requested_by: str | None) -> ApprovalRecord:
        # Read again: another proposal for this incident may have been recorded while this one was computed.
        incident = self.tracker.get(incident.id) or incident
        previous = self.approvals.latest_for(incident.id)
        # The newest record counts too: it and the incident's count are written at once, so after a
        # crash between the two writes the count may lag, and its id must not be given out again.
        number = max(int(incident.extra.get("proposals", 0)), _proposal_number(previous)) + 1
        proposal_id = f"p{number}"

        if previous is not None and previous.status is ApprovalStatus.PENDING:
            await self.desk.set_status(incident.id, previous.proposal_id, ApprovalStatus.SUPERSEDED)
            self._cancel_expiry(incident.id, previous.proposal_id)

        # While execution is paused an automatic action waits for an approver instead.
        automatic = (proposal.approval is ApprovalRequirement.AUTOMATIC and self.settings.auto_enabled
                     and proposal.proposed_action is not None and not self._paused())
        required = {ApprovalRequirement.TWO_APPROVERS: 2, ApprovalRequirement.AUTOMATIC: 0}.get(proposal.approval, 1)
        top = proposal.hypotheses[0] if proposal.hypotheses else None
        record = self.desk.new_record(
            incident_id=incident.id,
            proposal_id=proposal_id,
            service=incident.service,
            action_type=proposal.proposed_action.value if proposal.proposed_action else "",
            params=proposal.params.model_dump() if proposal.params is not None else {},
            required_approvals=0 if automatic else max(1, required),
            status=ApprovalStatus.AUTOMATIC if automatic else (
                ApprovalStatus.PENDING if proposal.proposed_action else ApprovalStatus.NO_ACTION),
            requested_by=requested_by,
            blast_level=proposal.blast.level.value if proposal.blast is not None else None,
            hypothesis_category=top.category.value if top is not None else None,
            hypothesis_description=top.description if top is not None else None,
            confidence=top.confidence if top is not None else None,
            learned_adjustment=top.terms.get("learned") if top is not None else None,
            reasoning=proposal.reasoning,
            approval_reasoning=proposal.approval_reasoning,
            proposal_text=render_proposal_text(proposal),
            proposal=proposal.model_dump(mode="json"),
            channel=channel,
        )
        # Both are written before the card is posted, each with an fsync, so they run at once in worker threads.
        await asyncio.gather(
            self.tracker.update(incident.id, extra={**incident.extra, "proposals": number, "proposal_id": proposal_id}),
            asyncio.to_thread(self.approvals.save, record),
        )
        return record

    def channel_for(self, incident: Incident) -> str | None:
        """Return the channel of an incident's card: where the alert was posted, else per service, else the default."""
        if incident.channel:
            return incident.channel
        if incident.service is not None and incident.service in self.topology:
            channel = self.topology.service(incident.service).slack_channel
            if channel:
                return channel
        return self.settings.default_channel

    async def _show_card(self, incident: Incident, channel: str, card: IncidentCard) -> None:
        """Post the card, or update it in place when the incident has one."""
        async with self._card_lock(incident.id):
            current = self.tracker.get(incident.id) or incident
            if not current.is_open and card.state is not CardState.RESOLVED:
                # A resolve that arrived during the diagnosis found no card to mark, so the card shows it here.
                card.resolve()
                if card.state is CardState.RESOLVED:
                    card.status_note = _RESOLVED_NOTE
            rendered = render_card(card)
            if current.card_ts:
                ts = current.card_ts
                await self.poster.update(channel=current.channel or channel, ts=ts, text=rendered.text,
                                         blocks=rendered.blocks, incident_id=incident.id)
            else:
                try:
                    ts = await self.poster.post(channel=channel, text=rendered.text, blocks=rendered.blocks,
                                                incident_id=incident.id)
                except SlackApiError as exc:
                    self._card_errors[incident.id] = str(exc.response.get("error") or exc)
                    while len(self._card_errors) > MAX_CARD_ERRORS:
                        del self._card_errors[next(iter(self._card_errors))]
                    raise
                await self.tracker.update(incident.id, card_ts=ts, channel=channel)
                log.info("incident %s: card posted in %s at %s", incident.id, channel, ts)
            self.cards.save(incident.id, card.model_dump(mode="json"))
            if rendered.overflow:
                await self.poster.post_report(channel=current.channel or channel, thread_ts=ts, text=rendered.overflow,
                                              incident_id=incident.id)

    async def _change_card(self, incident_id: str, change: Callable[[IncidentCard], None]) -> None:
        """Apply ``change`` to the stored card and update the message in place."""
        async with self._card_lock(incident_id):
            stored = self.cards.load(incident_id)
            incident = self.tracker.get(incident_id)
            if stored is None or incident is None or not incident.card_ts or not incident.channel:
                return
            card = IncidentCard.model_validate(stored)
            change(card)
            card.alert_count = incident.alert_count
            rendered = render_card(card)
            await self.poster.update(channel=incident.channel, ts=incident.card_ts, text=rendered.text,
                                     blocks=rendered.blocks, incident_id=incident_id)
            self.cards.save(incident_id, card.model_dump(mode="json"))

    def _card_lock(self, incident_id: str) -> AbstractAsyncContextManager[None]:
        return self._card_locks.hold(incident_id)

    def _schedule_card_refresh(self, incident_id: str) -> None:
        """Refresh the alert count once per ``card_update_interval_s`` at most, so a storm of alerts edits the card rarely."""
        if incident_id in self._pending_card_updates:
            return
        self._pending_card_updates.add(incident_id)

        async def refresh() -> None:
            await asyncio.sleep(self.card_update_interval_s)
            self._pending_card_updates.discard(incident_id)
            await self._change_card(incident_id, lambda card: None)

        self.spawn(refresh(), name=f"refresh card {incident_id}")

    async def incident_resolved(self, incident_id: str) -> None:
        """Mark the card resolved and post the resolution in the thread."""
        def resolved(card: IncidentCard) -> None:
            card.resolve()
            card.status_note = _RESOLVED_NOTE

        self._cancel_expiry(incident_id)
        await self._change_card(incident_id, resolved)
        await self._post_in_thread(incident_id, ":large_green_circle: Resolved: every alert of this incident stopped firing.")

    async def _post_in_thread(self, incident_id: str, text: str) -> None:
        incident = self.tracker.get(incident_id)
        if incident is None or not incident.card_ts or not incident.channel:
            return
        await self.poster.post(channel=incident.channel, text=text, thread_ts=incident.card_ts, incident_id=incident_id)

    async def _post_report_in_thread(self, incident_id: str, report: str, *, title: str | None = None) -> None:
        """Post preformatted text in the incident thread, split into messages that fit."""
        incident = self.tracker.get(incident_id)
        if incident is None or not incident.card_ts or not incident.channel:
            return
        await self.poster.post_report(channel=incident.channel, thread_ts=incident.card_ts, title=title,
                                      text=code_block(report), incident_id=incident_id)

    def _count_approval(self, decision: str) -> None:
        if self.metrics is not None:
            self.metrics.approvals.labels(decision=decision).inc()

    def _paused(self) -> bool:
        return self.guards is not None and self.guards.paused

    # --- Approve -------------------------------------------------------------

    async def approve(self, incident_id: str, proposal_id: str, user_id: str, reply: Reply) -> None:
        """Handle an Approve click: check the user and the situation, count the vote, execute once."""
        if not await self.policy.is_approver(user_id):
            self._count_approval("refused")
            self.audit.record(AuditKind.APPROVAL_REFUSED, incident_id=incident_id, user_id=user_id,
                              proposal_id=proposal_id, reason="not an approver")
            await reply(_not_an_approver(self.policy))
            return

        record = self.approvals.load(incident_id, proposal_id)
        if record is None:
            await reply(f"Incident `{incident_id}` has no proposal `{proposal_id}`; nothing was approved.")
            return

        if self._paused() and record.status is ApprovalStatus.PENDING:
            # Approving now would spend the one execution on a guaranteed block.
            await reply("Execution is paused, so nothing was approved. Approve again after `/airra resume`.")
            return

        if record.status is ApprovalStatus.PENDING and not record.expired():
            changed = await self._situation_changed(record)
            if changed is not None:
                if await self._ask_again(record, changed, user_id):
                    await reply(f"Not approved: {changed} A fresh proposal is on the card; "
                                "approve it if it still looks right.")
                else:
                    await reply(f"Not approved: {changed} Nothing was run.")
                return

        result = await self.desk.vote(incident_id, proposal_id, user_id)
        record = result.record or record
        if record.status is not ApprovalStatus.PENDING:
            self._cancel_expiry(incident_id, proposal_id)
        if result.outcome is VoteOutcome.EXPIRED:
            self.audit.record(AuditKind.APPROVAL_EXPIRED, incident_id=incident_id, user_id=user_id,
                              proposal_id=proposal_id)
            await self._change_card(incident_id, lambda card: card.expire(proposal_id))
            await reply("This approval request expired, so nothing was run. Ask for a fresh proposal with "
                        f"`/airra analyze {record.service}`.")
            return
        if result.outcome is VoteOutcome.SELF_APPROVAL:
            self._count_approval("refused")
            self.audit.record(AuditKind.APPROVAL_REFUSED, incident_id=incident_id, user_id=user_id,
                              proposal_id=proposal_id, reason="self approval")
            await reply("You opened this incident, and approving your own request is not allowed here; "
                        "ask another approver.")
            return
        if result.outcome is VoteOutcome.ALREADY_VOTED:
            await reply("You already approved this action; it needs a second, different approver.")
            return
        if result.outcome in (VoteOutcome.ALREADY_DECIDED, VoteOutcome.NOT_FOUND):
            await reply(f"Nothing to approve: this proposal is already {record.status.value}. "
                        f"{_NEXT_STEP.get(record.status, '').format(service=record.service or 'SERVICE')}".strip())
            return

        self._count_approval(result.outcome.value)
        self.audit.record(AuditKind.APPROVAL, incident_id=incident_id, user_id=user_id, proposal_id=proposal_id,
                          action=record.action_type, votes=len(record.approvals),
                          required=record.required_approvals)
        if result.outcome is VoteOutcome.WAITING:
            await self._change_card(incident_id, lambda card: card.set_approvers(record.approver_ids))
            await self._post_in_thread(
                incident_id, f"<@{user_id}> approved `{record.action_type}` "
                f"({len(record.approvals)}/{record.required_approvals}); waiting for a second approver.")
            return

        if not result.execute:
            await reply("This action is already running or finished; nothing more was started.")
            return
        self.spawn(self.execute(record, approved_by=user_id), name=f"execute {incident_id}",
                   incident_id=incident_id)

    async def _situation_changed(self, record: ApprovalRecord) -> str | None:
        """Return why the proposal is stale (alert no longer firing, blast level changed), or None."""
        incident = self.tracker.get(record.incident_id)
        if incident is None or not incident.is_open:
            return "the incident is resolved."
        if not incident.firing:
            return "the alert is no longer firing."
        if record.blast_level is None:
            return None
        assessment = await self.blast.calculate_blast_radius(record.service, incident_id=record.incident_id)
        if assessment.level.value != record.blast_level:
            return (f"the blast radius changed from {record.blast_level.upper()} to "
                    f"{assessment.level.value.upper()} since the proposal.")
        return None

    async def _ask_again(self, record: ApprovalRecord, reason: str, user_id: str) -> bool:
        """Retire a stale proposal; return True when a fresh one replaced it on the card."""
        retired = await self.desk.set_status(record.incident_id, record.proposal_id, ApprovalStatus.SUPERSEDED)
        self._cancel_expiry(record.incident_id, record.proposal_id)
        incident = self.tracker.get(record.incident_id)
        still_firing = incident is not None and incident.is_open and bool(incident.firing)
        if retired is None:
            # A concurrent click already retired it and asked again.
            return still_firing
        self.audit.record(AuditKind.APPROVAL_REFUSED, incident_id=record.incident_id, user_id=user_id,
                          proposal_id=record.proposal_id, reason=f"situation changed: {reason}")

        if not still_firing or incident is None:
            await self._post_in_thread(record.incident_id, f":warning: Not run: {reason}")
            await self._change_card(record.incident_id, lambda card: card.resolve())
            return False

        await self._post_in_thread(record.incident_id, f":warning: The situation changed: {reason} "
                                                       "Here is a fresh proposal; approve it again if it still fits.")
        await self.propose(incident.id, incident.firing[-1], note=f"Refreshed: {reason}")
        return True

    # --- Execute, verify, record ---------------------------------------------

    async def execute(self, record: ApprovalRecord, *, approved_by: str | None) -> None:
        """Run a claimed action, verify it, roll back when it made things worse, and record the outcome."""
        incident_id = record.incident_id
        action = ActionType(record.action_type)
        automatic = approved_by is None
        execution = self.executions.load(incident_id, record.proposal_id) or ExecutionRecord(
            incident_id=incident_id, proposal_id=record.proposal_id, claimed_by=approved_by,
            claimed_at=datetime.now(UTC))

        await self._change_card(incident_id, lambda card: card.show_executing(record.approver_ids, automatic=automatic))
        who = "automatically, as the policy allows" if automatic else f"approved by {_mentions(record.approver_ids)}"
        await self._post_in_thread(incident_id, f":gear: Executing `{action.value}` on `{record.service}`, {who}.")
        log.info("incident %s: executing %s on %s", incident_id, action.value, record.service)

        service = self.topology.service(record.service)
        before = await self.verifier.take_baseline(record.service)
        request = ActionRequest(
            incident_id=incident_id,
            action_type=action,
            service=record.service,
            namespace=service.namespace,
            deployment=service.deployment_name,
            params=profile_of(action).params_model.model_validate(record.params),
            automatic=automatic,
            requested_by=",".join(record.approver_ids) or None,
            dry_run=self.settings.dry_run,
        )
        result = await self.executor.execute(request)
        execution.phase = ExecutionPhase.EXECUTED
        execution.result = result.model_dump(mode="json")
        self.executions.save(execution)
        if self.metrics is not None:
            self.metrics.actions.labels(action=action.value, status=result.status.value).inc()
        self.audit.record(AuditKind.EXECUTION, incident_id=incident_id, user_id=approved_by,
                          proposal_id=record.proposal_id, action=action.value, status=result.status.value,
                          changes=result.changes, error=result.error, blocked_by=result.blocked_by)

        if result.status is not ExecutionStatus.SUCCEEDED:
            await self._execution_not_done(record, execution, result)
            return

        await self._post_in_thread(incident_id, ":hourglass: Done: " + "; ".join(result.changes or [action.label])
                                   + ". Verifying the effect on the metrics…")
        verification = await self.verifier.verify_action(record.service, result, before)
        execution.phase = ExecutionPhase.VERIFIED
        execution.verification_status = verification.status.value
        execution.verification_message = verification.message
        self.executions.save(execution)
        self.audit.record(AuditKind.VERIFICATION, incident_id=incident_id, user_id=approved_by,
                          proposal_id=record.proposal_id, status=verification.status.value,
                          improvement_pct=verification.overall_improvement_pct)
        await self._post_report_in_thread(incident_id, verification.message, title="Verification")
        log.info("incident %s: verification %s", incident_id, verification.status.value)

        rollback_note = await self._roll_back_if_degraded(record, execution, result, verification, approved_by)
        self._record_outcome(record, result, verification)

        execution.phase = ExecutionPhase.FINISHED
        self.executions.save(execution)
        note = _outcome_note(action, verification, rollback_note)
        await self._change_card(incident_id, lambda card: card.show_outcome(note))

    async def _execution_not_done(self, record: ApprovalRecord, execution: ExecutionRecord,
                                  result: ExecutionResult) -> None:
        if result.status is ExecutionStatus.BLOCKED:
            reason = f": {result.error.rstrip('.')}" if result.error else ""
            note = (f":no_entry: Not run: blocked by the {result.blocked_by or 'safety'} guard{reason}. "
                    f"Once it allows actions again, ask for a fresh proposal with `/airra analyze {record.service}`.")
        elif result.status is ExecutionStatus.DRY_RUN:
            note = ":memo: Dry run: " + "; ".join(result.changes or ["nothing would change"])
        else:
            note = f":x: `{record.action_type}` failed: {result.error or 'no reason given'}. Check the service by hand."
        execution.phase = ExecutionPhase.FINISHED
        self.executions.save(execution)
        await self._post_in_thread(record.incident_id, note)
        await self._change_card(record.incident_id, lambda card: card.show_outcome(note))

    async def _roll_back_if_degraded(self, record: ApprovalRecord, execution: ExecutionRecord,
                                     result: ExecutionResult, verification: VerificationResult,
                                     approved_by: str | None) -> str | None:
        if verification.status is not VerificationStatus.DEGRADED:
            return None
        profile = profile_of(result.request.action_type)
        if not profile.reversible:
            note = (f":warning: The metrics got worse, and `{profile.action_type.value}` cannot be undone "
                    f"({profile.undo}). Escalate to the service owner.")
            await self._post_in_thread(record.incident_id, note)
            return "degraded; no undo, escalate"

        await self._post_in_thread(record.incident_id, f":rewind: The metrics got worse; rolling back "
                                                       f"`{profile.action_type.value}` ({profile.undo}).")
        undo = await self.executor.rollback(result)
        execution.rollback = undo.model_dump(mode="json")
        self.executions.save(execution)
        self.audit.record(AuditKind.ROLLBACK, incident_id=record.incident_id, user_id=approved_by,
                          proposal_id=record.proposal_id, status=undo.status.value, error=undo.error)
        if undo.succeeded:
            await self._post_in_thread(record.incident_id, ":leftwards_arrow_with_hook: Rolled back automatically: "
                                       + "; ".join(undo.changes or ["previous state restored"]))
            return "degraded; rolled back automatically"
        await self._post_in_thread(record.incident_id, f":x: The automatic rollback {undo.status.value}: "
                                   f"{undo.error or 'no reason given'}. Restore the service by hand.")
        return f"degraded; rollback {undo.status.value}"

    def _record_outcome(self, record: ApprovalRecord, result: ExecutionResult,
                        verification: VerificationResult) -> None:
        """Append the verified outcome to the calibration store."""
        success = verification.status is VerificationStatus.SUCCESS or (
            self.settings.partial_success_counts and verification.status is VerificationStatus.PARTIAL_SUCCESS)
        incident = self.tracker.get(record.incident_id)
        opened_at = incident.opened_at if incident is not None else result.started_at
        self.confidence.record_outcome(ConfidenceOutcomeRecord(
            # One record per executed proposal: a repeated write is stored once.
            id=f"{record.incident_id}-{record.proposal_id}",
            incident_id=record.incident_id,
            service_name=record.service,
            hypothesis_category=record.hypothesis_category or "unknown",
            hypothesis_description=record.hypothesis_description or "",
            confidence_score=record.confidence if record.confidence is not None else 0.0,
            action_type=ActionType(record.action_type),
            action_executed=True,
            outcome_status=verification.status,
            outcome_success=success,
            before_metrics=verification.before_values(),
            after_metrics=verification.after_values(),
            verification_metrics=verification.improvements(),
            time_to_resolution_seconds=max(0.0, (result.finished_at - opened_at).total_seconds()),
            blast_radius_level=record.blast_level,
        ))
        log.info("incident %s: outcome %s recorded for calibration", record.incident_id, verification.status.value)

    # --- Reject and pick another action --------------------------------------

    async def may_reject(self, incident_id: str, proposal_id: str, user_id: str, reply: Reply) -> ApprovalRecord | None:
        """Check that the user may reject and the proposal is still open; return its record."""
        if not await self.policy.is_approver(user_id):
            self.audit.record(AuditKind.APPROVAL_REFUSED, incident_id=incident_id, user_id=user_id,
                              proposal_id=proposal_id, reason="not an approver (reject)")
            await reply(_not_an_approver(self.policy))
            return None
        record = self.approvals.load(incident_id, proposal_id)
        if record is None or record.status is not ApprovalStatus.PENDING:
            status = record.status.value if record is not None else "unknown"
            await reply(f"Nothing to reject: this proposal is {status}.")
            return None
        return record

    async def reject(self, submission: RejectSubmission, user_id: str) -> None:
        """Record a rejection from the reject modal as operator feedback and update the card."""
        record = await self.desk.set_status(submission.incident_id, submission.proposal_id,
                                            ApprovalStatus.REJECTED, rejected_by=user_id)
        if record is None:
            log.info("incident %s: rejection by %s ignored, proposal %s no longer pending",
                     submission.incident_id, user_id, submission.proposal_id)
            return
        self._cancel_expiry(record.incident_id, record.proposal_id)

        if submission.correct_category is not None:
            feedback_type = FeedbackType.HYPOTHESIS_INCORRECT
        elif submission.better_action is not None:
            feedback_type = FeedbackType.ACTION_INAPPROPRIATE
        else:
            feedback_type = FeedbackType.GENERAL_COMMENT
        self._record_feedback(record, user_id, feedback_type, submission.reason,
                              feedback_id=f"reject-{record.incident_id}-{record.proposal_id}",
                              correct_category=submission.correct_category, better_action=submission.better_action)
        self._count_approval("rejected")
        self.audit.record(AuditKind.REJECTION, incident_id=record.incident_id, user_id=user_id,
                          proposal_id=record.proposal_id, reason=submission.reason,
                          correct_category=submission.correct_category, better_action=submission.better_action)

        note = f":no_entry_sign: Rejected by <@{user_id}>"
        if submission.reason:
            note += f": {escape(submission.reason)}"
        await self._change_card(record.incident_id, lambda card: card.show_rejected(note))
        await self._post_in_thread(record.incident_id, note + ". Recorded as feedback.")

        if submission.correct_category is not None or submission.better_action is not None:
            await self._repropose_after_rejection(record, submission, user_id)

    async def _repropose_after_rejection(self, record: ApprovalRecord, submission: RejectSubmission,
                                         user_id: str) -> None:
        """Propose again with the category and action the rejecting operator named.

        The named action is proposed when the simulation recommends it for the
        category. Otherwise the best action for the category is proposed, and the
        thread explains why the named one was not.
        """
        incident = self.tracker.get(record.incident_id)
        if incident is None or not incident.is_open or not incident.firing:
            return
        alert = incident.firing[-1]
        category = submission.correct_category or (
            Category(record.hypothesis_category) if record.hypothesis_category else None)
        correction = ", ".join(part for part in (
            f"category `{category.value}`" if submission.correct_category is not None and category else "",
            f"action `{submission.better_action.value}`" if submission.better_action is not None else "",
        ) if part)
        note = f"Re-proposed after <@{user_id}>'s rejection ({correction})."

        if submission.better_action is not None:
            others = tuple(action for action in ActionType if action is not submission.better_action)
            proposal = await self.proposer.propose(alert, incident_id=incident.id, category=category,
                                                   exclude_actions=others)
            if proposal.proposed_action is submission.better_action:
                log.info("incident %s: re-proposing %s after a rejection by %s", incident.id,
                         submission.better_action.value, user_id)
                await self.propose(incident.id, alert, proposal=proposal, note=note)
                return
            simulated = next((row for row in (proposal.simulation.actions if proposal.simulation else [])
                              if row.action_type is submission.better_action), None)
            why = simulated.reasoning if simulated is not None else proposal.reasoning
            note += (f" `{submission.better_action.value}` cannot be proposed: {why or 'it is no candidate here'};"
                     " this is the best action for the category instead.")

        log.info("incident %s: re-proposing after a rejection by %s", incident.id, user_id)
        await self.propose(incident.id, alert, category=category, note=note)

    async def pick_action(self, incident_id: str, proposal_id: str, action: ActionType, user_id: str,
                          reply: Reply) -> None:
        """Re-propose with the chosen candidate instead of the recommended one."""
        if not await self.policy.is_approver(user_id):
            await reply(_not_an_approver(self.policy))
            return
        record = self.approvals.load(incident_id, proposal_id)
        incident = self.tracker.get(incident_id)
        if record is None or record.status is not ApprovalStatus.PENDING or incident is None or not incident.firing:
            await reply("This proposal is no longer open, so another action cannot be picked.")
            return
        others = tuple(candidate for candidate in ActionType if candidate is not action)
        category = Category(record.hypothesis_category) if record.hypothesis_category else None
        alert = incident.firing[-1]
        proposal = await self.proposer.propose(alert, incident_id=incident_id, category=category,
                                               exclude_actions=others)
        if proposal.proposed_action is not action:
            simulated = next((row for row in (proposal.simulation.actions if proposal.simulation else [])
                              if row.action_type is action), None)
            why = simulated.reasoning if simulated is not None else proposal.reasoning
            await reply(f"`{action.value}` cannot be proposed instead: {why or 'it is no candidate here'}. "
                        "The current proposal stays.")
            return

        self.audit.record(AuditKind.DECISION, incident_id=incident_id, user_id=user_id,
                          proposal_id=proposal_id, picked_action=action.value)
        await self.propose(incident_id, alert, proposal=proposal,
                           note=f"<@{user_id}> picked `{action.value}` instead of `{record.action_type}`.")

    # --- Thread replies ------------------------------------------------------

    def incident_for_thread(self, channel: str, thread_ts: str) -> Incident | None:
        """Return the incident whose card starts the thread, or None."""
        return self.tracker.store.find_by_card(channel, thread_ts)

    async def thread_reply(self, incident: Incident, *, user_id: str, text: str, channel: str, ts: str) -> Correction:
        """Record an operator's thread reply as feedback and confirm what was recorded."""
        correction = parse_correction(text)
        record = self.approvals.latest_for(incident.id)
        stored = self._record_feedback(record, user_id, correction.feedback_type, text, incident=incident,
                                       feedback_id=f"reply-{channel}-{ts}", correct_category=correction.category,
                                       better_action=correction.action)
        if not stored:
            # Slack redelivers an event it got no response to, and a restart clears the seen event ids.
            log.info("incident %s: thread reply %s already recorded; not acted on again", incident.id, ts)
            return correction
        self.audit.record(AuditKind.FEEDBACK, incident_id=incident.id, user_id=user_id,
                          feedback_type=correction.feedback_type.value, category=correction.category,
                          action=correction.action)
        log.info("incident %s: thread reply recorded as %s", incident.id, correction.feedback_type.value)

        if correction.feedback_type is FeedbackType.INCIDENT_RESOLVED and incident.is_open:
            await self.tracker.resolve(incident.id)
            self._cancel_expiry(incident.id)
            await self._change_card(incident.id, lambda card: card.resolve())

        await self.poster.react(channel, ts, "white_check_mark", incident_id=incident.id)
        if correction.is_correction:
            await self.poster.post(channel=channel, thread_ts=incident.card_ts, text=_confirmation(correction))

        if correction.category is not None and record is not None and record.status is ApprovalStatus.PENDING:
            await self._rediagnose(incident.id, correction.category, user_id)
        return correction

    async def _rediagnose(self, incident_id: str, category: Category, user_id: str) -> None:
        """Replace a pending proposal with one for the category an operator named."""
        incident = self.tracker.get(incident_id)
        if incident is None or not incident.is_open or not incident.firing:
            return
        log.info("incident %s: re-proposing for %s after a correction by %s", incident_id, category.value, user_id)
        await self.propose(incident_id, incident.firing[-1], category=category,
                           note=f"Re-proposed for `{category.value}` after <@{user_id}>'s correction.")

    async def explain(self, incident: Incident, *, channel: str) -> None:
        """Post the current proposal's reasoning in the thread, for a "why" question."""
        record = self.approvals.latest_for(incident.id)
        text = record.proposal_text if record is not None and record.proposal_text else (
            "No action was proposed for this incident: no alert label names a service of the topology."
            if not incident.scoped else "No proposal has been made for this incident yet.")
        await self.poster.post_report(channel=channel, thread_ts=incident.card_ts, title="Why this proposal",
                                      text=code_block(text), incident_id=incident.id)

    def _record_feedback(self, record: ApprovalRecord | None, user_id: str, feedback_type: FeedbackType,
                         text: str, *, feedback_id: str, incident: Incident | None = None,
                         correct_category: Category | None = None, better_action: ActionType | None = None) -> bool:
        """Append one operator feedback record, with what AIRRA had proposed; False when its id is stored already."""
        if incident is None and record is not None:
            incident = self.tracker.get(record.incident_id)

        incident_id = ""
        service = None
        if record is not None:
            incident_id, service = record.incident_id, record.service
        elif incident is not None:
            incident_id, service = incident.id, incident.service
        category = record.hypothesis_category if record is not None else None
        return self.feedback.record_feedback(OperatorFeedback(
            # Derived from the Slack message or proposal, so a redelivered event is stored once.
            feedback_id=feedback_id,
            incident_id=incident_id,
            service_name=service or "unscoped",
            operator_id=user_id,
            feedback_type=feedback_type,
            feedback_text=text,
            airra_hypothesis_category=Category(category) if category else None,
            airra_hypothesis_description=record.hypothesis_description if record is not None else None,
            airra_confidence=record.confidence if record is not None else None,
            airra_prior_adjustment=record.learned_adjustment if record is not None else None,
            airra_action_type=ActionType(record.action_type) if record is not None and record.action_type else None,
            correct_hypothesis_category=correct_category,
            correct_action_type=better_action,
        ))


# --- Card changes and wording ------------------------------------------------


def _outcome_note(action: ActionType, verification: VerificationResult, rollback_note: str | None) -> str:
    status = verification.status.value.replace("_", " ")
    note = f"`{action.value}` executed; verification: *{status}*"
    if verification.overall_improvement_pct is not None:
        note += f" ({verification.overall_improvement_pct:+.1f}%)"
    if rollback_note:
        note += f"; {rollback_note}"
    return note + ". Details in the thread."


def _mentions(user_ids: list[str]) -> str:
    return ", ".join(f"<@{user_id}>" for user_id in user_ids) or "nobody"


_NEXT_STEP = {
    ApprovalStatus.SUPERSEDED: "A newer proposal replaced it: approve the card as it is now.",
    ApprovalStatus.REJECTED: "Run `/airra analyze {service}` for a fresh proposal.",
    ApprovalStatus.EXPIRED: "Run `/airra analyze {service}` for a fresh proposal.",
    ApprovalStatus.NO_ACTION: "There is no action to approve; the card says why.",
}
"""Next step per status, for an approver who clicked Approve on a proposal that is no longer pending."""


def _not_an_approver(policy: ApproverPolicy) -> str:
    if not policy.configured:
        return ("Nobody may approve actions yet: set AIRRA_APPROVERS to Slack user ids or AIRRA_APPROVER_GROUP "
                "to a user group. Nothing was changed.")
    return "Only configured approvers may approve or reject actions, and you are not one of them. Nothing was changed."


def _confirmation(correction: Correction) -> str:
    if correction.feedback_type is FeedbackType.HYPOTHESIS_INCORRECT and correction.category is not None:
        return f"Recorded: the diagnosis was wrong; the cause was `{correction.category.value}`."
    if correction.feedback_type is FeedbackType.ACTION_INAPPROPRIATE and correction.action is not None:
        return f"Recorded: the better action was `{correction.action.value}`."
    words = {
        FeedbackType.HYPOTHESIS_CORRECT: "Recorded: the diagnosis was right.",
        FeedbackType.ACTION_SUCCESSFUL: "Recorded: the action worked.",
        FeedbackType.INCIDENT_RESOLVED: "Recorded: the incident is resolved.",
        FeedbackType.INCIDENT_ESCALATED: "Recorded: the incident was escalated.",
    }
    return words.get(correction.feedback_type, "Recorded as a comment.")


def _proposal_number(record: ApprovalRecord | None) -> int:
    """Return 3 for the record of proposal "p3", and 0 for no record or an id of another form."""
    if record is None or not record.proposal_id.startswith("p") or not record.proposal_id[1:].isdigit():
        return 0
    return int(record.proposal_id[1:])


_RESOLVED_NOTE = ":large_green_circle: Every alert of this incident is resolved."


def _needs_card(outcome: IngestOutcome) -> bool:
    """Return True for an alert of an open incident whose card was never posted."""
    incident = outcome.incident
    if incident is None or incident.card_ts is not None or incident.status is not IncidentStatus.OPEN:
        return False
    return outcome.kind is IngestKind.UPDATED or (
        outcome.kind is IngestKind.DUPLICATE and outcome.alert is not None and outcome.alert.status is AlertStatus.FIRING)


def _reopened_note(outcome: IngestOutcome) -> str | None:
    if outcome.kind is not IngestKind.REOPENED or outcome.alert is None:
        return None
    return f":repeat: Reopened: `{outcome.alert.alertname}` fired again after the incident was resolved."


async def _was_stored(stored: asyncio.Future[bool] | None, incident_id: str) -> bool:
    """Wait until the incident is written; return False, with a log line, when writing it failed."""
    if stored is None or await stored:
        return True
    log.warning("incident %s: writing the incident failed, so its proposal was dropped; it is proposed "
                "when its alerts arrive again (Alertmanager resends after the webhook's 5xx)", incident_id)
    return False
