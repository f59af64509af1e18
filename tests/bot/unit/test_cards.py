"""The incident card and the reject modal stay within Slack's limits."""

from __future__ import annotations

from typing import Any

import pytest

from airra.actions import ActionType
from airra.categories import Category
from bot.cards import (
    APPROVE_ACTION_ID,
    PICK_ACTION_ID,
    REJECT_ACTION_ID,
    BlastLine,
    CandidateLine,
    CardState,
    IncidentCard,
    parse_button_value,
    parse_reject_submission,
    reject_modal,
    render_card,
)
from bot.testing.block_rules import validate_blocks, validate_view


def _card(**changes: Any) -> IncidentCard:
    fields: dict[str, Any] = dict(
        incident_id="inc-20261204-0007",
        proposal_id="p1",
        title="HighCPU on search",
        service="search",
        severity="critical",
        alert_count=3,
        state=CardState.AWAITING_APPROVAL,
        hypothesis_category=Category.CPU_SPIKE,
        hypothesis_description="cpu spike in search",
        confidence=0.82,
        blast=BlastLine(level="medium", affected_services=["api-gateway", "frontend"], users=500,
                        revenue_per_hour_usd=5.0, urgency=2.75),
        candidates=[
            CandidateLine(action=ActionType.SCALE_UP, success_probability=0.68, expected_cost_usd=0,
                          worst_case_cost_usd=41.25, risk=0.06, recommended=True),
            CandidateLine(action=ActionType.RESTART_POD, success_probability=0.35, expected_cost_usd=45.83,
                          worst_case_cost_usd=2200, risk=0.42, recommended=True),
        ],
        proposed_action=ActionType.SCALE_UP,
        params_text="replicas=4",
        reasoning="scale_up fixes cpu spikes most often",
        cost_text="expected $0.00, worst case $41.25",
        required_approvals=1,
        source_url="http://prometheus.example/graph",
        runbook_url="http://runbooks.example/search",
    )
    fields.update(changes)
    return IncidentCard(**fields)


def _elements(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {element["action_id"]: element
            for block in blocks if block["type"] == "actions" for element in block["elements"]}


def test_awaiting_card_has_buttons_and_select() -> None:
    rendered = render_card(_card())

    elements = _elements(rendered.blocks)
    assert validate_blocks(rendered.blocks) == []
    assert elements[APPROVE_ACTION_ID]["value"] == "inc-20261204-0007|p1"
    assert elements[REJECT_ACTION_ID]["value"] == "inc-20261204-0007|p1"
    assert [option["value"] for option in elements[PICK_ACTION_ID]["options"]] == [
        "inc-20261204-0007|p1|restart_pod"]
    assert "Awaiting approval 0/1" in rendered.blocks[0]["text"]["text"]
    assert rendered.text == "HighCPU on search: awaiting approval | proposed action: scale up"


def test_card_shows_blast_and_links() -> None:
    text = str(render_card(_card()).blocks)
    assert "MEDIUM · 2 downstream services (api-gateway, frontend)" in text
    assert "Users at risk: 500" in text
    assert "$5.00/h" in text
    assert "<http://runbooks.example/search|Runbook>" in text
    assert "`cpu_spike` (82% confidence)" in text


def test_two_approver_card_counts_votes() -> None:
    rendered = render_card(_card(required_approvals=2, approvers=["U0ALICE"]))
    assert "Awaiting approval 1/2 (approved by <@U0ALICE>)" in rendered.blocks[0]["text"]["text"]
    assert _elements(rendered.blocks)[APPROVE_ACTION_ID]["text"]["text"] == "Approve (1/2)"


@pytest.mark.parametrize("state", [CardState.EXECUTING, CardState.OUTCOME, CardState.EXPIRED,
                                   CardState.REJECTED, CardState.RESOLVED])
def test_decided_cards_have_no_buttons(state: CardState) -> None:
    rendered = render_card(_card(state=state, approvers=["U0ALICE"]))
    assert _elements(rendered.blocks) == {}
    assert validate_blocks(rendered.blocks) == []


def test_expired_card_says_so() -> None:
    rendered = render_card(_card(state=CardState.EXPIRED))
    assert "Approval expired" in rendered.blocks[0]["text"]["text"]


def test_oversized_card_fits_limits() -> None:
    long = "x" * 5000
    rendered = render_card(_card(title="T" * 4000, reasoning=long, hypothesis_description=long,
                                 status_note=long, blast=BlastLine(level="critical",
                                 affected_services=[f"service-{index}" for index in range(300)],
                                 users=10, revenue_per_hour_usd=1, urgency=5)))
    assert validate_blocks(rendered.blocks) == []
    assert APPROVE_ACTION_ID in _elements(rendered.blocks)
    assert rendered.overflow != ""


def test_unscoped_card_proposes_nothing() -> None:
    rendered = render_card(IncidentCard(incident_id="inc-1", title="DiskFull", state=CardState.NO_ACTION))
    assert _elements(rendered.blocks) == {}
    assert "no alert label names a service" in str(rendered.blocks)


def test_button_value_round_trip() -> None:
    assert parse_button_value("inc-20261204-0007|p2") == ("inc-20261204-0007", "p2")
    assert parse_button_value("inc-20261204-0007|p2|scale_up") == ("inc-20261204-0007", "p2")
    with pytest.raises(ValueError, match="expected 'incident-id|proposal-id'"):
        parse_button_value("inc-20261204-0007")


def test_reject_modal_is_valid_and_parses() -> None:
    view = reject_modal("inc-1", "p1", proposed_action=ActionType.SCALE_UP, hypothesis_category=Category.CPU_SPIKE)
    assert validate_view(view) == []

    view["state"] = {"values": {
        "reason": {"value": {"type": "plain_text_input", "value": " it was the cache "}},
        "correct_category": {"value": {"type": "static_select", "selected_option": {"value": "cache_issue"}}},
        "better_action": {"value": {"type": "static_select", "selected_option": None}},
    }}
    submission = parse_reject_submission(view)
    assert submission.incident_id == "inc-1"
    assert submission.proposal_id == "p1"
    assert submission.reason == "it was the cache"
    assert submission.correct_category is Category.CACHE_ISSUE
    assert submission.better_action is None


def test_expire_only_changes_own_proposal() -> None:
    card = _card(proposal_id="p2")
    card.expire("p1")
    assert card.state is CardState.AWAITING_APPROVAL
    card.expire("p2")
    assert card.state is CardState.EXPIRED


def test_resolve_keeps_finished_outcome() -> None:
    card = _card()
    card.show_outcome("`scale_up` executed")
    card.resolve()
    assert card.state is CardState.OUTCOME

    waiting = _card()
    waiting.resolve()
    assert waiting.state is CardState.RESOLVED
