"""The stand-in Web API follows Slack's contract, seen through slack_sdk's real client."""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.testing import SlackApiStandIn, render_text


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_auth_test_returns_bot_identity(slack_client: AsyncWebClient) -> None:
    response = await slack_client.auth_test()

    assert response["user_id"] == "U0AIRRABOT"
    assert response["bot_id"] == "B0AIRRABOT"
    assert response["team_id"] == "T0AIRRA001"


async def test_missing_and_wrong_tokens(slack_api: SlackApiStandIn) -> None:
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=slack_api.base_url).auth_test()
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-other", base_url=slack_api.base_url).auth_test()

    assert missing.value.response["error"] == "not_authed"
    assert wrong.value.response["error"] == "invalid_auth"


async def test_post_message_returns_increasing_ts(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    first = await slack_client.chat_postMessage(channel="C0INCIDENT", text="one")
    second = await slack_client.chat_postMessage(channel="#incidents", text="two")

    assert first["channel"] == "C0INCIDENT"
    assert second["channel"] == "C0INCIDENT"
    assert first["message"]["text"] == "one"
    assert float(second["ts"]) > float(first["ts"])
    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == ["one", "two"]


async def test_thread_replies_are_kept_apart(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    parent = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    await slack_client.chat_postMessage(channel="C0INCIDENT", text="progress", thread_ts=parent["ts"])

    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == ["card"]
    assert [message["text"] for message in slack_api.thread("C0INCIDENT", parent["ts"])] == ["progress"]
    assert slack_api.message("C0INCIDENT", parent["ts"])["reply_count"] == 1


async def test_unknown_channel_and_thread(slack_client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as channel:
        await slack_client.chat_postMessage(channel="C0NOWHERE", text="x")
    with pytest.raises(SlackApiError) as thread:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="x", thread_ts="1.000001")

    assert channel.value.response["error"] == "channel_not_found"
    assert thread.value.response["error"] == "thread_not_found"


async def test_channel_without_bot_is_not_in_channel(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    slack_api.add_channel("C0PRIVATE", "secret", is_private=True, is_member=False)

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0PRIVATE", text="x")

    assert error.value.response["error"] == "not_in_channel"


async def test_message_needs_text_or_blocks(slack_client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        await slack_client.api_call("chat.postMessage", json={"channel": "C0INCIDENT", "text": ""})

    assert error.value.response["error"] == "no_text"


async def test_invalid_blocks_carry_json_pointers(slack_client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]},
        {
            "type": "actions",
            "block_id": "b" * 256,
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "a" * 76}, "action_id": "x" * 256, "value": "v" * 2001}],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
    ]

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="card", blocks=blocks)

    assert error.value.response["error"] == "invalid_blocks"
    assert error.value.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        "must be less than 3001 characters [json-pointer:/blocks/1/text/text]",
        "no more than 10 items allowed [json-pointer:/blocks/2/fields]",
        "must be less than 2001 characters [json-pointer:/blocks/3/fields/0/text]",
        "must be less than 256 characters [json-pointer:/blocks/4/block_id]",
        "must be less than 256 characters [json-pointer:/blocks/4/elements/0/action_id]",
        "must be less than 76 characters [json-pointer:/blocks/4/elements/0/text/text]",
        "must be less than 2001 characters [json-pointer:/blocks/4/elements/0/value]",
        "no more than 10 items allowed [json-pointer:/blocks/5/elements]",
    ]


async def test_too_many_blocks_and_action_elements(slack_client: AsyncWebClient) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "b"}
    blocks = [{"type": "divider"}] * 50 + [{"type": "actions", "elements": [button] * 26}]

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="x", blocks=blocks)

    assert error.value.response["errors"] == [
        "no more than 50 items allowed [json-pointer:/blocks]",
        "no more than 25 items allowed [json-pointer:/blocks/50/elements]",
    ]


async def test_blocks_over_total_size_are_too_long(slack_client: AsyncWebClient) -> None:
    # Five sections of 2,900 characters: each within limits, 14,500+ together.
    blocks = [section("x" * 2900) for _ in range(5)]

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="report", blocks=blocks)

    assert error.value.response["error"] == "msg_blocks_too_long"


async def test_text_over_40000_is_too_long(slack_client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_postMessage(channel="C0INCIDENT", text="x" * 40_001)

    assert error.value.response["error"] == "msg_too_long"


async def test_update_changes_message_in_place(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="proposed", blocks=[section("proposed")])

    await slack_client.chat_update(channel="C0INCIDENT", ts=posted["ts"], text="approved", blocks=[section("approved by <@U0ALICE>")])

    messages = slack_api.messages_in("C0INCIDENT")
    assert len(messages) == 1
    assert messages[0]["text"] == "approved"
    assert messages[0]["blocks"][0]["text"]["text"] == "approved by <@U0ALICE>"
    assert messages[0]["edited"]["user"] == "U0AIRRABOT"


async def test_update_unknown_message(slack_client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_update(channel="C0INCIDENT", ts="1.000001", text="x")

    assert error.value.response["error"] == "message_not_found"


async def test_ephemeral_is_recorded_for_user(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    response = await slack_client.chat_postEphemeral(channel="C0INCIDENT", user="U0DAVE", text="You are not an approver.")

    assert response["message_ts"]
    assert [ephemeral["text"] for ephemeral in slack_api.ephemerals_for("U0DAVE")] == ["You are not an approver."]
    assert slack_api.messages_in("C0INCIDENT") == []


async def test_reaction_twice_is_already_reacted(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="wrong, it was cpu_spike")
    await slack_client.reactions_add(channel="C0INCIDENT", timestamp=posted["ts"], name="white_check_mark")

    with pytest.raises(SlackApiError) as error:
        await slack_client.reactions_add(channel="C0INCIDENT", timestamp=posted["ts"], name="white_check_mark")

    assert error.value.response["error"] == "already_reacted"
    assert slack_api.message("C0INCIDENT", posted["ts"])["reactions"] == [
        {"name": "white_check_mark", "users": ["U0AIRRABOT"], "count": 1}
    ]


async def test_views_open_needs_unused_trigger(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    view = {"type": "modal", "callback_id": "reject_reason", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}

    opened = await slack_client.views_open(trigger_id="123.456.abc", view=view)
    with pytest.raises(SlackApiError) as reused:
        await slack_client.views_open(trigger_id="123.456.abc", view=view)
    with pytest.raises(SlackApiError) as missing:
        await slack_client.api_call("views.open", json={"view": view})

    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["callback_id"] == "reject_reason"
    assert slack_api.views[0]["id"] == opened["view"]["id"]
    assert reused.value.response["error"] == "exchanged_trigger_id"
    assert missing.value.response["error"] == "invalid_arguments"


async def test_views_open_checks_title_length(slack_client: AsyncWebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}

    with pytest.raises(SlackApiError) as error:
        await slack_client.views_open(trigger_id="1.2.3", view=view)

    assert error.value.response["error"] == "invalid_arguments"
    assert error.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


async def test_usergroup_membership(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    slack_api.set_usergroup("S0ONCALL", ["U0ALICE", "U0BOB"])

    members = await slack_client.usergroups_users_list(usergroup="S0ONCALL")
    with pytest.raises(SlackApiError) as error:
        await slack_client.usergroups_users_list(usergroup="S0NONE")

    assert members["users"] == ["U0ALICE", "U0BOB"]
    assert error.value.response["error"] == "no_such_subteam"


async def test_info_methods(slack_client: AsyncWebClient) -> None:
    channel = await slack_client.conversations_info(channel="C0INCIDENT")
    user = await slack_client.users_info(user="U0ALICE")
    with pytest.raises(SlackApiError) as error:
        await slack_client.users_info(user="U0NOBODY")

    assert channel["channel"]["name"] == "incidents"
    assert channel["channel"]["is_member"] is True
    assert user["user"]["name"] == "alice"
    assert error.value.response["error"] == "user_not_found"


async def test_permalink(slack_client: AsyncWebClient) -> None:
    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")

    link = await slack_client.chat_getPermalink(channel="C0INCIDENT", message_ts=posted["ts"])

    assert link["permalink"].endswith("/archives/C0INCIDENT/p" + posted["ts"].replace(".", ""))


async def test_fail_next_answers_429_with_retry_after(slack_api: SlackApiStandIn) -> None:
    # A client without retry handlers gets the raw 429.
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.base_url, retry_handlers=[])
    slack_api.fail_next("chat.postMessage", retry_after=7, times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as error:
            await client.chat_postMessage(channel="C0INCIDENT", text="x")
        assert error.value.response.status_code == 429
        assert error.value.response.headers["Retry-After"] == "7"
        assert error.value.response.data == {"ok": False, "error": "ratelimited"}
    await client.chat_postMessage(channel="C0INCIDENT", text="x")

    assert slack_api.call_count("chat.postMessage") == 3
    assert [call.status for call in slack_api.calls("chat.postMessage")] == [429, 429, 200]
    assert len(slack_api.messages_in("C0INCIDENT")) == 1


async def test_fail_next_with_plain_error(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    slack_api.fail_next("chat.update", error="cant_update_message", status=200)
    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="x")

    with pytest.raises(SlackApiError) as error:
        await slack_client.chat_update(channel="C0INCIDENT", ts=posted["ts"], text="y")

    assert error.value.response.status_code == 200
    assert error.value.response["error"] == "cant_update_message"


async def test_form_encoded_blocks_are_decoded(slack_api: SlackApiStandIn) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.base_url)
    blocks = [section("form body")]

    await client.api_call("chat.postMessage", data={"channel": "C0INCIDENT", "text": "t", "blocks": json.dumps(blocks)})

    assert slack_api.messages_in("C0INCIDENT")[0]["blocks"] == blocks


def test_render_text_shows_card_layout() -> None:
    message = {
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "checkout: memory_leak"}},
            section("*Proposed:* restart_pod <https://runbooks.example/checkout|runbook>"),
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Blast:* HIGH"}, {"type": "mrkdwn", "text": "*Users:* 1200"}]},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "requested by <@U0ALICE>"}, {"type": "plain_text", "text": "inc-1"}]},
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "approve"},
                    {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick another"}, "action_id": "pick"},
                ],
            },
        ]
    }

    assert render_text(message) == "\n".join(
        [
            "checkout: memory_leak",
            "=====================",
            "*Proposed:* restart_pod runbook (https://runbooks.example/checkout)",
            "  *Blast:* HIGH",
            "  *Users:* 1200",
            "─" * 40,
            "requested by @U0ALICE · inc-1",
            "[ Approve ]  [ Pick another ▾ ]",
        ]
    )


def test_render_text_without_blocks_uses_text() -> None:
    assert render_text({"text": "Recorded: wrong category <#C0INCIDENT|incidents>"}) == "Recorded: wrong category #incidents"


async def test_response_url_replaces_or_whispers(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    import aiohttp

    posted = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    on_card = slack_api.response_url(channel="C0INCIDENT", user="U0BOB", message_ts=posted["ts"])
    on_command = slack_api.response_url(channel="C0INCIDENT", user="U0BOB")

    async with aiohttp.ClientSession() as session:
        await session.post(on_card, json={"replace_original": True, "text": "approved"})
        await session.post(on_command, json={"text": "Usage: /airra blast SERVICE"})
        await session.post(on_command, json={"response_type": "in_channel", "text": "status: 2 open incidents"})

    assert slack_api.message("C0INCIDENT", posted["ts"])["text"] == "approved"
    assert [item["text"] for item in slack_api.ephemerals_for("U0BOB")] == ["Usage: /airra blast SERVICE"]
    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == ["approved", "status: 2 open incidents"]
    assert len(slack_api.responses) == 3


async def test_render_channel_indents_thread(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    parent = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    await slack_client.chat_postMessage(channel="C0INCIDENT", text="executing restart_pod", thread_ts=parent["ts"])

    assert slack_api.render_channel("C0INCIDENT") == "card\n\n    │ executing restart_pod"


async def test_wait_for_messages_times_out(slack_api: SlackApiStandIn) -> None:
    with pytest.raises(TimeoutError, match="within 0.1 s"):
        await slack_api.wait_for_messages("C0INCIDENT", 1, timeout=0.1)


async def test_add_message_from_other_app(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    alert = slack_api.add_message(
        "C0INCIDENT", "", bot_id="B0ALERTS01", username="Alertmanager", subtype="bot_message",
        attachments=[{"title": "[FIRING:1] HighMemoryUsage checkout"}],
    )
    await slack_client.reactions_add(channel="C0INCIDENT", timestamp=alert["ts"], name="eyes")

    event = slack_api.message_event("C0INCIDENT", alert)
    assert event["type"] == "message"
    assert event["channel_type"] == "channel"
    assert event["bot_id"] == "B0ALERTS01"
    assert event["subtype"] == "bot_message"
    assert "user" not in event
    assert slack_api.message("C0INCIDENT", alert["ts"])["reactions"][0]["name"] == "eyes"


async def test_thread_reply_event_names_parent_user(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    card = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")

    reply = slack_api.post_as_user("C0INCIDENT", "U0ALICE", "wrong, it was cpu_spike", thread_ts=card["ts"])
    event = slack_api.message_event("C0INCIDENT", reply)

    assert event["user"] == "U0ALICE"
    assert event["thread_ts"] == card["ts"]
    assert event["parent_user_id"] == "U0AIRRABOT"
    assert [message["text"] for message in slack_api.thread("C0INCIDENT", card["ts"])] == ["wrong, it was cpu_spike"]


async def test_views_open_rejects_expired_trigger(slack_client: AsyncWebClient) -> None:
    import time

    four_seconds_ago_ms = int((time.time() - 4) * 1000)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}

    with pytest.raises(SlackApiError) as error:
        await slack_client.views_open(trigger_id=f"{four_seconds_ago_ms}.1.abcdef", view=view)

    assert error.value.response["error"] == "expired_trigger_id"


async def test_response_url_rejects_invalid_blocks(slack_api: SlackApiStandIn) -> None:
    import aiohttp

    url = slack_api.response_url(channel="C0INCIDENT", user="U0BOB")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]

    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "report", "blocks": blocks}) as response:
            status, body = response.status, await response.text()

    assert status == 400
    assert body == "invalid_blocks"
    assert slack_api.ephemerals_for("U0BOB") == []


async def test_reply_to_reply_joins_thread(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    card = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    reply = slack_api.post_as_user("C0INCIDENT", "U0ALICE", "correct", thread_ts=card["ts"])

    await slack_client.chat_postMessage(channel="C0INCIDENT", text="Recorded.", thread_ts=reply["ts"])

    assert [message["text"] for message in slack_api.thread("C0INCIDENT", card["ts"])] == ["correct", "Recorded."]
