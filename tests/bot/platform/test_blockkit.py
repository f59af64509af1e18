"""Block Kit builders, limit checks and fitting: a card is never rejected."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import blockkit
from bot.blockkit import (
    actions,
    button,
    check_blocks,
    context,
    field_sections,
    fields,
    fit_blocks,
    header,
    section,
    split_text,
    static_select,
)
from bot.testing import SlackApiStandIn


def oversized_card() -> list[dict]:
    """A card that breaks several limits at once: every one of them alone is rejected by Slack."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "checkout-api " * 20}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"hypothesis line {n:04d} " + "x" * 40 for n in range(120))}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*field {n}*"} for n in range(14)]},
        *[{"type": "section", "text": {"type": "mrkdwn", "text": f"candidate {n}"}} for n in range(55)],
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve " + "very " * 30}, "action_id": "approve", "value": "inc-1"},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "action_id": "reject", "value": "inc-1"},
            ],
        },
    ]


def test_check_blocks_lists_each_problem() -> None:
    problems = check_blocks(oversized_card())

    assert "/blocks: 59 blocks, limit 50" in problems
    assert "/blocks/0/text/text: 260 characters, limit 150" in problems
    assert "/blocks/1/text/text: 7439 characters, limit 3000" in problems
    assert "/blocks/2/fields: 14 fields, limit 10" in problems
    assert "/blocks/58/elements/0/text/text: 158 characters, limit 75" in problems
    assert any(problem.startswith("/blocks: ") and "characters of JSON" in problem for problem in problems)


def test_check_blocks_accepts_small_card() -> None:
    card = [header("checkout: memory_leak"), section("*Proposed:* restart_pod"), actions(button("Approve", "approve", "inc-1", "primary"))]

    assert check_blocks(card) == []


def test_fit_blocks_output_passes_own_check() -> None:
    fitted, overflow = fit_blocks(oversized_card())

    assert check_blocks(fitted) == []
    assert len(fitted) <= 50
    assert overflow


def test_fit_blocks_keeps_buttons_and_moves_text() -> None:
    card = oversized_card()

    fitted, overflow = fit_blocks(card)

    assert fitted[-2]["type"] == "actions"
    assert [element["action_id"] for element in fitted[-2]["elements"]] == ["approve", "reject"]
    assert fitted[-1]["elements"][0]["text"] == blockkit.OVERFLOW_NOTICE
    assert "hypothesis line 0119" in overflow
    assert "*field 13*" in overflow
    assert "candidate 54" in overflow
    assert card[1]["text"]["text"].startswith("hypothesis line 0000")  # the input is untouched
    assert len(card) == 59


def test_fit_blocks_leaves_fitting_card_alone() -> None:
    card = [header("checkout"), section("short"), actions(button("Approve", "approve", "inc-1"))]

    fitted, overflow = fit_blocks(card)

    assert fitted == card
    assert overflow == ""


def test_fit_blocks_exactly_50_with_overflow() -> None:
    card = [section("x" * 3500)] + [section(f"line {n}") for n in range(48)] + [actions(button("Approve", "approve"))]

    fitted, overflow = fit_blocks(card)

    assert len(fitted) == 50
    assert fitted[-1]["type"] == "context"
    assert fitted[-2]["type"] == "actions"
    assert "line 47" in overflow
    assert check_blocks(fitted) == []


async def test_fitted_card_is_accepted_by_stand_in(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    fitted, overflow = fit_blocks(oversized_card())

    response = await slack_client.chat_postMessage(channel="C0INCIDENT", text="checkout incident", blocks=fitted)

    assert response["ok"] is True
    assert slack_api.messages_in("C0INCIDENT")[0]["blocks"] == fitted
    assert overflow


async def test_unfitted_card_is_rejected_by_stand_in(slack_client: AsyncWebClient) -> None:
    from slack_sdk.errors import SlackApiError

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="checkout incident", blocks=oversized_card())

    assert error.value.response["error"] == "invalid_blocks"


def test_split_text_cuts_on_line_boundary() -> None:
    text = "first line\nsecond line\nthird line"

    head, rest = split_text(text, 26)

    assert head == "first line\nsecond line…"
    assert rest == "third line"


def test_split_text_balances_code_fence() -> None:
    text = "```\n" + "\n".join(f"row {n}" for n in range(10)) + "\n```"

    head, rest = split_text(text, 40)

    assert len(head) <= 40
    assert head.count("```") == 2
    assert head.endswith("…\n```")
    assert rest.startswith("```\n")
    assert rest.count("```") == 2


def test_split_text_leaves_short_text() -> None:
    assert split_text("short", 10) == ("short", "")


def test_button_label_is_cut_at_75() -> None:
    element = button("A" * 100, "approve", "inc-1")

    assert len(element["text"]["text"]) == 75
    assert element["text"]["text"].endswith("…")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action_id": "a" * 256}, "action_id"),
        ({"value": "v" * 2001}, "button value"),
        ({"style": "warning"}, "button style"),
    ],
)
def test_button_rejects_bad_ids_and_values(kwargs: dict, message: str) -> None:
    arguments = {"text": "Approve", "action_id": "approve", "value": "inc-1", **kwargs}

    with pytest.raises(ValueError, match=message):
        button(**arguments)


def test_header_cut_at_150() -> None:
    assert len(header("h" * 200)["text"]["text"]) == 150


def test_fields_more_than_ten_raise() -> None:
    with pytest.raises(ValueError, match="field_sections"):
        fields([str(n) for n in range(11)])


def test_field_sections_spread_by_ten() -> None:
    sections = field_sections([str(n) for n in range(23)])

    assert [len(block["fields"]) for block in sections] == [10, 10, 3]


def test_context_merges_past_ten() -> None:
    block = context(*[f"c{n}" for n in range(12)])

    assert len(block["elements"]) == 10
    assert block["elements"][-1]["text"] == "c9 · c10 · c11"


def test_static_select_initial_option() -> None:
    element = static_select("Pick another", "pick", [("scale_up (risk 0.12)", "scale_up"), ("rollback", "rollback")], initial_value="rollback")

    assert element["initial_option"] == {"text": {"type": "plain_text", "text": "rollback", "emoji": True}, "value": "rollback"}
    with pytest.raises(ValueError, match="not one of"):
        static_select("Pick", "pick", [("a", "a")], initial_value="b")


def test_actions_limit() -> None:
    with pytest.raises(ValueError, match="1 to 25"):
        actions(*[button(str(n), f"b{n}") for n in range(26)])


def test_escape() -> None:
    assert blockkit.escape("p99 < 200ms & rising > 5%") == "p99 &lt; 200ms &amp; rising &gt; 5%"


async def test_empty_texts_are_filled(slack_client: AsyncWebClient) -> None:
    card = [
        {"type": "header", "text": {"type": "plain_text", "text": ""}},
        {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": ""}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": ""}, "action_id": "approve"}]},
    ]

    problems = check_blocks(card)
    fitted, overflow = fit_blocks(card)
    response = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card", blocks=fitted)

    assert problems == [
        "/blocks/0/text/text: empty, Slack requires at least 1 character",
        "/blocks/1/text/text: empty, Slack requires at least 1 character",
        "/blocks/2/fields/0/text: empty, Slack requires at least 1 character",
        "/blocks/3/elements/0/text/text: empty, Slack requires at least 1 character",
    ]
    assert check_blocks(fitted) == []
    assert overflow == ""
    assert response["ok"] is True
