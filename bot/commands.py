"""The ``/airra`` slash command: parse the arguments, run the subcommand, build the response.

    /airra help
    /airra analyze SERVICE [CATEGORY]     open an incident by hand
    /airra blast SERVICE
    /airra simulate SERVICE CATEGORY [ACTION,ACTION...]
    /airra calibration
    /airra feedback [DAYS]
    /airra status
    /airra pause | resume                 stop or allow all execution (approvers only)

``parse_command`` turns the text into a ``Command``, or raises ``UsageError``
showing the right form. ``CommandRunner.run`` returns a ``CommandAnswer``,
which the listener sends back to the user.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from airra.actions import ActionType, parse_action_type
from airra.alerts import Alert, AlertSource, AlertStatus
from airra.blast_radius import BlastRadiusCalculator, render_blast_report
from airra.calibration import ConfidenceTracker
from airra.categories import Category, parse_category
from airra.errors import UnknownServiceError
from airra.execution.guards import Guards
from airra.feedback import FeedbackCollector
from airra.incidents import IncidentTracker
from airra.proposal import Proposer
from airra.simulation import render_comparison_report
from airra.topology import Topology
from bot.approvals import ApproverPolicy
from bot.audit import AuditKind, AuditLog
from bot.flows import IncidentFlows
from bot.state import ApprovalStatus

log = logging.getLogger(__name__)

DEFAULT_FEEDBACK_DAYS = 30
MAX_FEEDBACK_DAYS = 3650
CARD_WAIT_S = 20.0
"""Seconds ``analyze`` waits for its card before it responds through the response_url."""


class Subcommand(StrEnum):
    HELP = "help"
    ANALYZE = "analyze"
    BLAST = "blast"
    SIMULATE = "simulate"
    CALIBRATION = "calibration"
    FEEDBACK = "feedback"
    STATUS = "status"
    PAUSE = "pause"
    RESUME = "resume"


USAGE: dict[Subcommand, str] = {
    Subcommand.HELP: "/airra help",
    Subcommand.ANALYZE: "/airra analyze SERVICE [CATEGORY]",
    Subcommand.BLAST: "/airra blast SERVICE",
    Subcommand.SIMULATE: "/airra simulate SERVICE CATEGORY [ACTION,ACTION...]",
    Subcommand.CALIBRATION: "/airra calibration",
    Subcommand.FEEDBACK: "/airra feedback [DAYS]",
    Subcommand.STATUS: "/airra status",
    Subcommand.PAUSE: "/airra pause",
    Subcommand.RESUME: "/airra resume",
}

HELP_TEXT = "\n".join([
    "*AIRRA commands*",
    "`/airra analyze SERVICE [CATEGORY]`: open an incident by hand and propose an action",
    "`/airra blast SERVICE`: blast radius of a failure of SERVICE",
    "`/airra simulate SERVICE CATEGORY [ACTION,ACTION...]`: what-if comparison of candidate actions",
    "`/airra calibration`: how well stated confidence matched verified outcomes",
    "`/airra feedback [DAYS]`: operator feedback report (default 30 days)",
    "`/airra status`: open incidents, pending approvals, whether execution is paused",
    "`/airra pause` / `/airra resume`: stop or allow all execution (approvers only)",
])


class UsageError(ValueError):
    """Invalid ``/airra`` arguments; the message shows the right form."""


class Command(BaseModel):
    """A parsed ``/airra`` command."""

    subcommand: Subcommand
    service: str | None = None
    category: Category | None = None
    actions: list[ActionType] = Field(default_factory=list)
    days: int = DEFAULT_FEEDBACK_DAYS


class CommandAnswer(BaseModel):
    """The response to a command: ephemeral text, or a report for the channel."""

    text: str
    ephemeral: bool = True
    report: bool = Field(default=False, description="long preformatted text; sent in parts that fit")


def parse_command(text: str, topology: Topology) -> Command:
    """Parse the text after ``/airra``.

    Raises:
        UsageError: naming what is wrong and showing the right form.
        UnknownServiceError: for a service the topology lacks, with close matches.
    """
    words = text.split()
    if not words:
        return Command(subcommand=Subcommand.HELP)
    name, arguments = words[0].lower(), words[1:]
    try:
        subcommand = Subcommand(name)
    except ValueError:
        raise UsageError(f"Unknown subcommand `{name}`.\n{HELP_TEXT}") from None
    usage = f"Usage: `{USAGE[subcommand]}`"

    if subcommand in (Subcommand.HELP, Subcommand.CALIBRATION, Subcommand.STATUS,
                      Subcommand.PAUSE, Subcommand.RESUME):
        if arguments:
            raise UsageError(f"`{name}` takes no arguments. {usage}")
        return Command(subcommand=subcommand)

    if subcommand is Subcommand.FEEDBACK:
        if len(arguments) > 1:
            raise UsageError(f"Too many arguments. {usage}")
        if not arguments:
            return Command(subcommand=subcommand)
        if not arguments[0].isdigit() or not 1 <= int(arguments[0]) <= MAX_FEEDBACK_DAYS:
            raise UsageError(f"DAYS must be a whole number from 1 to {MAX_FEEDBACK_DAYS}, "
                             f"not `{arguments[0]}`. {usage}")
        return Command(subcommand=subcommand, days=int(arguments[0]))

    if subcommand is Subcommand.ANALYZE and len(arguments) > 2 and _is_category(" ".join(arguments[1:])):
        # A category typed as words, like `memory leak`, is one argument.
        arguments = [arguments[0], " ".join(arguments[1:])]

    limits = {Subcommand.ANALYZE: (1, 2), Subcommand.BLAST: (1, 1), Subcommand.SIMULATE: (2, 3)}
    low, high = limits[subcommand]
    if not low <= len(arguments) <= high:
        expected = f"{low} argument" if low == high == 1 else (
            f"{low} arguments" if low == high else f"{low} to {high} arguments")
        raise UsageError(f"`{name}` takes {expected}, got {len(arguments)}. {usage}")

    service = _service(arguments[0], topology)
    category = _category(arguments[1], usage) if len(arguments) > 1 else None
    actions = _actions(arguments[2], usage) if len(arguments) > 2 else []
    return Command(subcommand=subcommand, service=service, category=category, actions=actions)


def _service(name: str, topology: Topology) -> str:
    resolved = topology.resolve(name)
    if resolved is None:
        raise UnknownServiceError(name, topology.names)
    return resolved


def _is_category(text: str) -> bool:
    try:
        parse_category(text)
    except ValueError:
        return False
    return True


def _category(text: str, usage: str) -> Category:
    try:
        return parse_category(text)
    except ValueError as exc:
        raise UsageError(f"{exc}. {usage}") from None


def _actions(text: str, usage: str) -> list[ActionType]:
    try:
        return [parse_action_type(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise UsageError(f"{exc}. {usage}") from None


class CommandRunner:
    """Runs ``/airra`` subcommands against the decision core and the incident flows."""

    def __init__(self, *, topology: Topology, metrics: Any, proposer: Proposer, tracker: IncidentTracker,
                 confidence: ConfidenceTracker, feedback: FeedbackCollector, flows: IncidentFlows,
                 policy: ApproverPolicy, audit: AuditLog, guards: Guards | None) -> None:
        self.topology = topology
        self.metrics = metrics
        self.proposer = proposer
        self.tracker = tracker
        self.confidence = confidence
        self.feedback = feedback
        self.flows = flows
        self.policy = policy
        self.audit = audit
        self.guards = guards

    async def run(self, text: str, *, user_id: str, channel_id: str | None) -> CommandAnswer:
        """Run one command and return its response; bad arguments return the usage."""
        try:
            command = parse_command(text, self.topology)
        except UsageError as exc:
            return CommandAnswer(text=str(exc))
        except UnknownServiceError as exc:
            return CommandAnswer(text=_unknown_service(exc))
        log.info("/airra %s by %s", command.subcommand.value, user_id)

        handler = {
            Subcommand.HELP: self._help,
            Subcommand.ANALYZE: self._analyze,
            Subcommand.BLAST: self._blast,
            Subcommand.SIMULATE: self._simulate,
            Subcommand.CALIBRATION: self._calibration,
            Subcommand.FEEDBACK: self._feedback,
            Subcommand.STATUS: self._status,
            Subcommand.PAUSE: self._pause,
            Subcommand.RESUME: self._resume,
        }[command.subcommand]
        return await handler(command, user_id=user_id, channel_id=channel_id)

    async def _help(self, command: Command, **_: Any) -> CommandAnswer:
        return CommandAnswer(text=HELP_TEXT)

    async def _analyze(self, command: Command, *, user_id: str, channel_id: str | None) -> CommandAnswer:
        assert command.service is not None
        existing = self.flows.open_incident_for(command.service)
        if existing is not None:
            refusal = await self.flows.repropose_by_hand(existing, requested_by=user_id, category=command.category)
            if refusal is not None:
                return CommandAnswer(text=refusal)
            where = f" in <#{existing.channel}>" if existing.channel else ""
            return CommandAnswer(text=f"Incident `{existing.id}` for `{command.service}` is already open, so its card"
                                      f"{where} gets a fresh proposal instead of a second card.")
        incident = await self.flows.open_by_hand(command.service, requested_by=user_id, category=command.category,
                                                 channel=channel_id)
        error = await self.flows.card_error(incident.id, timeout_s=CARD_WAIT_S)
        if error is not None:
            # An incident without a card cannot be seen or approved, so it is closed rather than left open.
            await self.flows.tracker.resolve(incident.id)
            return CommandAnswer(text=f"Could not post the card of incident `{incident.id}` here: Slack answered "
                                      f"`{error}`. Invite AIRRA with `/invite @airra`, or run the command in a "
                                      "channel it is in. The incident was closed.")
        return CommandAnswer(text=f"Opened incident `{incident.id}` for `{command.service}`; "
                                  "the card with the proposal follows in this channel.")

    async def _blast(self, command: Command, **_: Any) -> CommandAnswer:
        assert command.service is not None
        assessment = await BlastRadiusCalculator(self.topology, self.metrics).calculate_blast_radius(command.service)
        return CommandAnswer(text=render_blast_report(assessment), report=True)

    async def _simulate(self, command: Command, **_: Any) -> CommandAnswer:
        assert command.service is not None and command.category is not None
        alert = Alert(source=AlertSource.MANUAL, status=AlertStatus.FIRING, alertname="WhatIfSimulation",
                      service=command.service, fingerprint=f"simulate-{command.service}",
                      starts_at=datetime.now(UTC))
        excluded = [action for action in ActionType if command.actions and action not in command.actions]
        proposal = await self.proposer.propose(alert, incident_id=f"simulate-{command.service}",
                                               category=command.category, exclude_actions=excluded)
        if proposal.simulation is None or not proposal.simulation.actions:
            reasons = "; ".join(f"{action}: {why}" for action, why in proposal.excluded_actions.items())
            return CommandAnswer(text=f"No candidate action to simulate for `{command.service}`. {reasons}".strip())
        return CommandAnswer(text=render_comparison_report(proposal.simulation), report=True)

    async def _calibration(self, command: Command, **_: Any) -> CommandAnswer:
        return CommandAnswer(text=self.confidence.generate_calibration_report(), report=True)

    async def _feedback(self, command: Command, **_: Any) -> CommandAnswer:
        return CommandAnswer(text=self.feedback.generate_feedback_report(command.days), report=True)

    async def _status(self, command: Command, **_: Any) -> CommandAnswer:
        open_incidents = self.tracker.store.find_active()
        paused = bool(self.guards is not None and getattr(self.guards, "paused", False))
        lines = [f"*Execution:* {'paused (`/airra resume` to allow)' if paused else 'allowed'}",
                 f"*Open incidents:* {len(open_incidents)}"]
        for incident in open_incidents[:20]:
            record = self.flows.approvals.latest_for(incident.id)
            pending = ""
            if record is not None and record.status is ApprovalStatus.PENDING:
                pending = (f", awaiting approval of `{record.action_type}` "
                           f"({len(record.approvals)}/{record.required_approvals})")
            lines.append(f"• `{incident.id}` {incident.service or 'unscoped'}: {incident.alert_count} alerts{pending}")
        if len(open_incidents) > 20:
            lines.append(f"…and {len(open_incidents) - 20} more")
        return CommandAnswer(text="\n".join(lines))

    async def _pause(self, command: Command, *, user_id: str, **_: Any) -> CommandAnswer:
        return await self._switch(user_id, pause=True)

    async def _resume(self, command: Command, *, user_id: str, **_: Any) -> CommandAnswer:
        return await self._switch(user_id, pause=False)

    async def _switch(self, user_id: str, *, pause: bool) -> CommandAnswer:
        word = "pause" if pause else "resume"
        if not await self.policy.is_approver(user_id):
            return CommandAnswer(text=f"Only approvers may {word} execution. Nothing was changed.")
        if self.guards is None:
            return CommandAnswer(text="No execution guards are configured, so there is nothing to "
                                      f"{word}. Nothing was changed.")
        if pause:
            self.guards.pause(by=user_id)
        else:
            self.guards.resume(by=user_id)
        self.audit.record(AuditKind.PAUSE if pause else AuditKind.RESUME, incident_id=None, user_id=user_id)
        state = "paused: no action runs until `/airra resume`" if pause else "resumed: approved actions run again"
        return CommandAnswer(text=f"Execution {state} (by <@{user_id}>).", ephemeral=False)


def _unknown_service(exc: UnknownServiceError) -> str:
    if exc.close_matches:
        matches = ", ".join(f"`{name}`" for name in exc.close_matches)
        return f"Unknown service `{exc.name}`. Did you mean: {matches}?"
    return f"Unknown service `{exc.name}`. Run `/airra status` or `airra services` to list the known services."
