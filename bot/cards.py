"""Block Kit for the incident card, its states and the reject modal.

The card is rendered from ``IncidentCard``, a plain view model that
``bot.flows`` fills from the incident, the proposal and the approval record,
so this module never reads the decision core's objects. Every text is cut to
Slack's limits here, and ``render_card`` passes the blocks through
``bot.blockkit.fit_blocks`` for the message-wide limits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from airra.actions import ActionType
from airra.categories import Category
from airra.incidents import Incident
from airra.proposal import Proposal
from bot import blockkit
from bot.blockkit import button, context, escape, fields, fit_blocks, section, static_select, truncate
from bot.state import ApprovalRecord, ApprovalStatus

APPROVE_ACTION_ID = "airra_approve"
REJECT_ACTION_ID = "airra_reject"
PICK_ACTION_ID = "airra_pick_action"
REJECT_MODAL_ID = "airra_reject_modal"

REASON_BLOCK = "reason"
CATEGORY_BLOCK = "correct_category"
BETTER_ACTION_BLOCK = "better_action"

# An alert summary can be pages long; the card keeps its start so the state line stays visible.
MAX_TITLE_SHOWN = 300
MAX_CANDIDATES_SHOWN = 5
MAX_AFFECTED_SHOWN = 8


class CardState(StrEnum):
    """State of the incident as the card shows it."""

    AWAITING_APPROVAL = "awaiting_approval"
    NO_ACTION = "no_action"
    AUTOMATIC = "automatic"
    EXECUTING = "executing"
    OUTCOME = "outcome"
    EXPIRED = "expired"
    REJECTED = "rejected"
    RESOLVED = "resolved"


class CandidateLine(BaseModel):
    """One candidate action of the what-if simulation."""

    action: ActionType
    success_probability: float
    expected_cost_usd: float
    worst_case_cost_usd: float
    risk: float
    recommended: bool


class BlastLine(BaseModel):
    """The blast radius, as shown on the card."""

    level: str
    affected_services: list[str] = Field(default_factory=list)
    users: int
    revenue_per_hour_usd: float
    urgency: float


class IncidentCard(BaseModel):
    """Everything the incident card shows."""

    incident_id: str
    proposal_id: str | None = None
    title: str
    service: str | None = None
    severity: str | None = None
    alert_count: int = 1
    state: CardState
    hypothesis_category: Category | None = None
    hypothesis_description: str | None = None
    confidence: float | None = None
    blast: BlastLine | None = None
    candidates: list[CandidateLine] = Field(default_factory=list)
    proposed_action: ActionType | None = None
    params_text: str | None = None
    reasoning: str | None = None
    cost_text: str | None = None
    approval_text: str | None = None
    required_approvals: int = 1
    approvers: list[str] = Field(default_factory=list)
    status_note: str | None = Field(default=None, description="one line on the latest change, e.g. the outcome")
    source_url: str | None = None
    runbook_url: str | None = None

    @property
    def button_value(self) -> str:
        return f"{self.incident_id}|{self.proposal_id or ''}"

    def set_approvers(self, approvers: list[str]) -> None:
        """Show who approved so far."""
        self.approvers = list(approvers)

    def show_executing(self, approvers: list[str], *, automatic: bool) -> None:
        """Show that the action is running, and who approved it."""
        self.state = CardState.EXECUTING
        self.approvers = [] if automatic else list(approvers)

    def show_outcome(self, note: str) -> None:
        """Show how the action ended."""
        self.state = CardState.OUTCOME
        self.status_note = note

    def show_rejected(self, note: str) -> None:
        """Show who rejected the proposal and why."""
        self.state = CardState.REJECTED
        self.status_note = note

    def expire(self, proposal_id: str) -> None:
        """Show that the approval of ``proposal_id`` expired.

        A later proposal may already be on the card; only its own expiry changes it.
        """
        if self.proposal_id == proposal_id and self.state is CardState.AWAITING_APPROVAL:
            self.state = CardState.EXPIRED

    def resolve(self) -> None:
        """Show the incident resolved; a running or finished action keeps its state."""
        if self.state in (CardState.AWAITING_APPROVAL, CardState.NO_ACTION, CardState.AUTOMATIC):
            self.state = CardState.RESOLVED


def parse_button_value(value: str) -> tuple[str, str]:
    """Split a button value into (incident id, proposal id).

    Raises:
        ValueError: when the value is not ``incident|proposal``.
    """
    incident_id, separator, proposal_id = value.partition("|")
    proposal_id = proposal_id.split("|", 1)[0]
    if not separator or not incident_id or not proposal_id:
        raise ValueError(f"invalid AIRRA button value {value!r}: expected 'incident-id|proposal-id'")
    return incident_id, proposal_id


def card_from_proposal(incident: Incident, proposal: Proposal, record: ApprovalRecord) -> IncidentCard:
    """Fill the card model from an incident, its proposal and the approval asked for it."""
    top = proposal.top_hypothesis
    blast = proposal.blast
    simulation = proposal.simulation
    proposed = proposal.proposed_simulation

    if record.status is ApprovalStatus.AUTOMATIC:
        state = CardState.AUTOMATIC
    elif proposal.proposed_action is not None:
        state = CardState.AWAITING_APPROVAL
    else:
        state = CardState.NO_ACTION

    params = proposal.params.model_dump(exclude_none=True) if proposal.params is not None else {}
    return IncidentCard(
        incident_id=incident.id,
        proposal_id=record.proposal_id,
        title=incident.title,
        service=incident.service,
        severity=incident.severity,
        alert_count=incident.alert_count,
        state=state,
        hypothesis_category=top.category if top is not None else None,
        hypothesis_description=top.description if top is not None else None,
        confidence=top.confidence if top is not None else None,
        blast=BlastLine(
            level=blast.level.value,
            affected_services=sorted(blast.downstream, key=lambda name: (blast.downstream[name], name)),
            users=blast.estimated_users_impacted,
            revenue_per_hour_usd=blast.revenue_impact_per_hour,
            urgency=blast.urgency_multiplier,
        ) if blast is not None else None,
        candidates=[
            CandidateLine(action=action.action_type, success_probability=action.success_probability,
                          expected_cost_usd=action.expected_cost, worst_case_cost_usd=action.worst_case_cost,
                          risk=action.adjusted_risk, recommended=action.recommended)
            for action in (simulation.actions if simulation is not None else [])
        ],
        proposed_action=proposal.proposed_action,
        params_text=", ".join(f"{key}={value}" for key, value in params.items()) or None,
        reasoning=proposal.reasoning or None,
        cost_text=(f"expected ${proposed.expected_cost:,.2f}, worst case ${proposed.worst_case_cost:,.2f}; "
                   f"risk {proposed.adjusted_risk:.3f}; undo: {proposed.undo}") if proposed is not None else None,
        approval_text=proposal.approval_reasoning or None,
        required_approvals=record.required_approvals,
        approvers=record.approver_ids,
        source_url=incident.source_url,
        runbook_url=incident.runbook_url,
    )


def unscoped_card(incident: Incident) -> IncidentCard:
    """Fill the card of an incident whose alerts name no known service: no diagnosis, no action."""
    return IncidentCard(incident_id=incident.id, title=incident.title, service=None, severity=incident.severity,
                        alert_count=incident.alert_count, state=CardState.NO_ACTION,
                        source_url=incident.source_url, runbook_url=incident.runbook_url)


# --- The card ----------------------------------------------------------------


class RenderedCard(BaseModel):
    """A card ready to send: fallback text, blocks within Slack's limits, and what did not fit."""

    text: str
    blocks: list[dict[str, Any]]
    overflow: str = Field(default="", description="text moved out of the blocks; post it in the thread")


def render_card(card: IncidentCard) -> RenderedCard:
    """Render an incident card into blocks that fit Slack's limits."""
    blocks: list[dict[str, Any]] = [
        section(f":rotating_light: *{escape(truncate(card.title, MAX_TITLE_SHOWN))}*\n{_state_line(card)}"),
        fields(_summary_fields(card)),
    ]

    if card.hypothesis_category is not None:
        blocks.append(section(_hypothesis_text(card)))
    if card.blast is not None:
        blocks.append(section(_blast_text(card.blast)))
    if card.candidates:
        blocks.append(section(_candidates_text(card.candidates)))
    if card.proposed_action is not None:
        blocks.append(section(_proposal_text(card)))
    elif card.service is None:
        blocks.append(section("No action proposed: no alert label names a service of the topology."))
    elif card.reasoning:
        blocks.append(section(f"*No action proposed.* {escape(card.reasoning)}"))

    links = _links(card)
    if links:
        blocks.append(context(links))
    if card.status_note:
        blocks.append(context(card.status_note))

    elements = _action_elements(card)
    if elements:
        blocks.append(blockkit.actions(*elements, block_id=f"approval:{card.incident_id}"[: blockkit.MAX_ID]))

    fitted, overflow = fit_blocks(blocks)
    return RenderedCard(text=card_fallback_text(card), blocks=fitted, overflow=overflow)


def card_fallback_text(card: IncidentCard) -> str:
    """Return the plain-text version of the card, for notifications and screen readers."""
    # The title comes from alert annotations: escaped, a "<!channel>" in one would notify the whole channel.
    parts = [f"{escape(truncate(card.title, MAX_TITLE_SHOWN))}: {_STATE_WORDS[card.state]}"]
    if card.proposed_action is not None:
        parts.append(f"proposed action: {card.proposed_action.label}")
    if card.status_note:
        parts.append(card.status_note)
    return truncate(" | ".join(parts), blockkit.MAX_SECTION_TEXT)


_STATE_WORDS = {
    CardState.AWAITING_APPROVAL: "awaiting approval",
    CardState.NO_ACTION: "no action proposed",
    CardState.AUTOMATIC: "running automatically",
    CardState.EXECUTING: "executing",
    CardState.OUTCOME: "action finished",
    CardState.EXPIRED: "approval expired",
    CardState.REJECTED: "proposal rejected",
    CardState.RESOLVED: "resolved",
}


def _state_line(card: IncidentCard) -> str:
    if card.state is CardState.AWAITING_APPROVAL:
        needed = max(1, card.required_approvals)
        line = f":hourglass_flowing_sand: Awaiting approval {len(card.approvers)}/{needed}"
        if card.approvers:
            line += f" (approved by {_mentions(card.approvers)})"
        return line
    if card.state is CardState.EXECUTING:
        return f":gear: Executing, approved by {_mentions(card.approvers) or 'policy (automatic)'}"
    if card.state is CardState.AUTOMATIC:
        return ":robot_face: Runs automatically: the policy allows this action without approval"
    if card.state is CardState.OUTCOME:
        who = _mentions(card.approvers) or "policy (automatic)"
        return f":white_check_mark: Action finished, approved by {who}"
    if card.state is CardState.EXPIRED:
        return ":alarm_clock: Approval expired: nobody approved in time. Ask for a fresh proposal with `/airra analyze`."
    if card.state is CardState.REJECTED:
        return ":no_entry_sign: Proposal rejected"
    if card.state is CardState.RESOLVED:
        return ":large_green_circle: Resolved"
    return ":mag: No action proposed"


def _summary_fields(card: IncidentCard) -> list[str]:
    fields = [
        f"*Incident*\n`{card.incident_id}`",
        f"*Service*\n{escape(card.service) if card.service else '_unscoped_'}",
        f"*Severity*\n{escape(card.severity) if card.severity else 'unknown'}",
        f"*Alerts*\n{card.alert_count}",
    ]
    return fields


def _hypothesis_text(card: IncidentCard) -> str:
    category = card.hypothesis_category.value if card.hypothesis_category else "unknown"
    confidence = f" ({card.confidence:.0%} confidence)" if card.confidence is not None else ""
    text = f"*Top hypothesis:* `{category}`{confidence}"
    if card.hypothesis_description:
        text += f"\n{escape(card.hypothesis_description)}"
    return text


def _blast_text(blast: BlastLine) -> str:
    affected = ", ".join(blast.affected_services[:MAX_AFFECTED_SHOWN])
    if len(blast.affected_services) > MAX_AFFECTED_SHOWN:
        affected += f" and {len(blast.affected_services) - MAX_AFFECTED_SHOWN} more"
    return (
        f"*Blast radius:* {blast.level.upper()} · {len(blast.affected_services)} downstream services"
        f"{f' ({escape(affected)})' if affected else ''}\n"
        f"Users at risk: {blast.users:,} · Revenue at risk: ${blast.revenue_per_hour_usd:,.2f}/h · "
        f"Urgency: {blast.urgency:.2f}x"
    )


def _candidates_text(candidates: list[CandidateLine]) -> str:
    lines = ["*What-if candidates:*"]
    for number, candidate in enumerate(candidates[:MAX_CANDIDATES_SHOWN], start=1):
        mark = ":white_check_mark:" if candidate.recommended else ":x:"
        lines.append(
            f"{number}. {mark} `{candidate.action.value}` success {candidate.success_probability:.0%}, "
            f"risk {candidate.risk:.3f}, cost ${candidate.expected_cost_usd:,.2f} "
            f"(worst ${candidate.worst_case_cost_usd:,.2f})"
        )
    return "\n".join(lines)


def _proposal_text(card: IncidentCard) -> str:
    assert card.proposed_action is not None
    text = f"*Proposed action:* `{card.proposed_action.value}`"
    if card.params_text:
        text += f" ({escape(card.params_text)})"
    if card.cost_text:
        text += f"\n*Cost:* {escape(card.cost_text)}"
    if card.reasoning:
        text += f"\n*Why:* {escape(card.reasoning)}"
    if card.approval_text:
        text += f"\n*Approval:* {escape(card.approval_text)}"
    return text


def _links(card: IncidentCard) -> str:
    links = [f"<{url}|{label}>" for url, label in ((card.source_url, "Alert source"), (card.runbook_url, "Runbook"))
             if url and _linkable(url)]
    return " · ".join(links)


_MAX_LINK_URL = 1400
"""Both links fit one context element of 3,000 characters; a URL cut to fit would leave its link open."""


def _linkable(url: str) -> bool:
    """True for an http(s) URL that mrkdwn can carry inside ``<…|label>``.

    The URLs come from alert annotations: a ``|`` or ``>`` would end the link early and
    show the rest (``<!here>`` included) as markup, and other schemes are no alert source.
    """
    return (url.startswith(("http://", "https://")) and len(url) <= _MAX_LINK_URL
            and not any(character in url for character in "<>| \t\n"))


def _action_elements(card: IncidentCard) -> list[dict[str, Any]]:
    if card.state is not CardState.AWAITING_APPROVAL or card.proposal_id is None:
        return []

    elements: list[dict[str, Any]] = []
    if card.proposed_action is not None:
        approve_label = "Approve" if card.required_approvals < 2 else f"Approve ({len(card.approvers)}/2)"
        elements.append(button(approve_label, APPROVE_ACTION_ID, card.button_value, "primary"))
        elements.append(button("Reject", REJECT_ACTION_ID, card.button_value, "danger"))

    # Only recommended candidates: the others would be proposed as nothing at all.
    others = [candidate for candidate in card.candidates
              if candidate.recommended and candidate.action is not card.proposed_action]
    if others:
        elements.append(static_select("Pick another action", PICK_ACTION_ID, [
            (f"{candidate.action.label} ({candidate.success_probability:.0%})",
             f"{card.button_value}|{candidate.action.value}")
            for candidate in others[:MAX_CANDIDATES_SHOWN]
        ]))
    return elements


# --- The reject modal --------------------------------------------------------


def reject_modal(incident_id: str, proposal_id: str, *, proposed_action: ActionType | None,
                 hypothesis_category: Category | None) -> dict[str, Any]:
    """Build the modal that collects why a proposal was rejected."""
    category_options = [{"text": blockkit.plain_text(category.value.replace("_", " ")), "value": category.value}
                        for category in Category]
    action_options = [{"text": blockkit.plain_text(action.label), "value": action.value} for action in ActionType]
    what = proposed_action.label if proposed_action else "the proposal"
    diagnosis = f" for `{hypothesis_category.value}`" if hypothesis_category else ""
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL_ID,
        "private_metadata": f"{incident_id}|{proposal_id}",
        "title": {"type": "plain_text", "text": "Reject proposal"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Reject *{what}*{diagnosis} on incident `{incident_id}`."),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why is it wrong?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
            {
                "type": "input",
                "block_id": CATEGORY_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Correct category"},
                "element": {"type": "static_select", "action_id": "value", "options": category_options},
            },
            {
                "type": "input",
                "block_id": BETTER_ACTION_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Better action"},
                "element": {"type": "static_select", "action_id": "value", "options": action_options},
            },
        ],
    }


class RejectSubmission(BaseModel):
    """Values submitted in the reject modal."""

    incident_id: str
    proposal_id: str
    reason: str
    correct_category: Category | None = None
    better_action: ActionType | None = None


def parse_reject_submission(view: dict[str, Any]) -> RejectSubmission:
    """Read the submitted reject modal.

    Raises:
        ValueError: when the modal's metadata or values are not the bot's own.
    """
    incident_id, proposal_id = parse_button_value(view.get("private_metadata", ""))
    values = view.get("state", {}).get("values", {})

    def selected(block_id: str) -> str | None:
        option = values.get(block_id, {}).get("value", {}).get("selected_option")
        return option.get("value") if option else None

    reason = values.get(REASON_BLOCK, {}).get("value", {}).get("value") or ""
    category = selected(CATEGORY_BLOCK)
    action = selected(BETTER_ACTION_BLOCK)
    return RejectSubmission(
        incident_id=incident_id,
        proposal_id=proposal_id,
        reason=reason.strip(),
        correct_category=Category(category) if category else None,
        better_action=ActionType(action) if action else None,
    )


# --- Small helpers -----------------------------------------------------------


def _mentions(user_ids: list[str]) -> str:
    return ", ".join(f"<@{user_id}>" for user_id in user_ids)
