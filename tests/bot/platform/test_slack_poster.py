"""SlackPoster against the stand-in: retries 429s, paces per channel, splits long reports."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.blockkit import actions, button, check_blocks, header, section
from bot import messaging
from bot.messaging import SlackPoster, pack_report, retry_after_s, split_report
from bot.testing import SlackApiStandIn


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def report_text(rows: int) -> str:
    lines = ["*Verification report*", "```"]
    lines += [f"sample {n:03d}  error_rate 0.{n:03d}  latency_p99 {200 + n} ms  " + "-" * 20 for n in range(rows)]
    lines += ["```", "Outcome: SUCCESS"]
    return "\n".join(lines)


async def test_429_is_retried_and_posted_once(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    slack_api.fail_next("chat.postMessage", retry_after=1, times=1)

    ts = await poster.post("C0INCIDENT", text="checkout: memory_leak", incident_id="inc-1")

    assert [call.status for call in slack_api.calls("chat.postMessage")] == [429, 200]
    assert [message["ts"] for message in slack_api.messages_in("C0INCIDENT")] == [ts]


async def test_429_after_client_retries_waits_retry_after(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    fake = FakeTime()
    # No retries in slack_sdk's handler: the poster's own loop must take over.
    poster = SlackPoster(slack_client, min_interval_s=0, rate_limit_retries=0, clock=fake.clock, sleep=fake.sleep)
    slack_api.fail_next("chat.postMessage", retry_after=7, times=2)

    await poster.post("C0INCIDENT", text="still delivered")

    assert fake.sleeps == [7.0, 7.0]
    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == ["still delivered"]
    assert slack_api.call_count("chat.postMessage") == 3


async def test_rate_limit_handler_added_once(slack_client: AsyncWebClient) -> None:
    SlackPoster(slack_client)
    SlackPoster(slack_client)

    handlers = [handler for handler in slack_client.retry_handlers if isinstance(handler, AsyncRateLimitErrorRetryHandler)]
    assert len(handlers) == 1
    assert handlers[0].max_retry_count == 3


async def test_burst_is_paced_per_channel_without_loss(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    slack_api.add_channel("C0PAYMENTS", "payments")
    fake = FakeTime()
    poster = SlackPoster(slack_client, min_interval_s=1.0, clock=fake.clock, sleep=fake.sleep)
    sends: list[tuple[str, float]] = []
    original = slack_client.chat_postMessage

    async def recording(**arguments: Any) -> Any:
        sends.append((arguments["channel"], fake.now))
        return await original(**arguments)

    slack_client.chat_postMessage = recording  # type: ignore[method-assign]

    await asyncio.gather(
        *[poster.post("C0INCIDENT", text=f"alert {n}") for n in range(12)],
        *[poster.post("C0PAYMENTS", text=f"payments {n}") for n in range(3)],
    )

    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == [f"alert {n}" for n in range(12)]
    assert [message["text"] for message in slack_api.messages_in("C0PAYMENTS")] == [f"payments {n}" for n in range(3)]
    for channel in ("C0INCIDENT", "C0PAYMENTS"):
        times = [at for sent_channel, at in sends if sent_channel == channel]
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert all(gap >= 1.0 for gap in gaps), (channel, gaps)


async def test_oversized_report_is_split_and_accepted(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    card = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")
    text = report_text(400)

    posted = await poster.post_report("C0INCIDENT", card["ts"], "Verification: checkout", text, incident_id="inc-2")

    replies = slack_api.thread("C0INCIDENT", card["ts"])
    assert len(text) > 13_000  # more than one message can carry
    assert len(posted) >= 3
    assert [reply["ts"] for reply in replies] == posted
    assert all(call.ok for call in slack_api.calls("chat.postMessage"))
    assert replies[0]["blocks"][0] == header("Verification: checkout")
    sections = [block["text"]["text"] for reply in replies for block in reply["blocks"] if block["type"] == "section"]
    assert all(len(part) <= 3000 for part in sections)
    assert all(part.count("```") % 2 == 0 for part in sections)
    joined = "\n".join(sections)
    for n in (0, 199, 399):
        assert f"sample {n:03d}" in joined
    assert joined.endswith("Outcome: SUCCESS")


async def test_report_without_thread_starts_one(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)

    posted = await poster.post_report("C0INCIDENT", None, text=report_text(400))

    assert [message["ts"] for message in slack_api.messages_in("C0INCIDENT")] == posted[:1]
    assert [reply["ts"] for reply in slack_api.thread("C0INCIDENT", posted[0])] == posted[1:]


async def test_oversized_card_posts_with_overflow_in_thread(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    card = [
        header("checkout: memory_leak"),
        section("\n".join(f"evidence {n:03d}: heap grew " + "x" * 60 for n in range(80))),
        actions(button("Approve", "approve", "inc-3", "primary"), button("Reject", "reject", "inc-3", "danger")),
    ]

    ts = await poster.post("C0INCIDENT", card, "checkout: memory_leak", incident_id="inc-3")

    posted_card = slack_api.message("C0INCIDENT", ts)
    assert check_blocks(posted_card["blocks"]) == []
    assert [block["type"] for block in posted_card["blocks"]] == ["header", "section", "actions", "context"]
    thread_text = "\n".join(block["text"]["text"] for reply in slack_api.thread("C0INCIDENT", ts) for block in reply["blocks"])
    assert "evidence 079" in thread_text


async def test_update_replaces_blocks(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    ts = await poster.post("C0INCIDENT", [section("Proposed: restart_pod")], "proposed")

    await poster.update("C0INCIDENT", ts, [section("Approved by <@U0ALICE>")], "approved", incident_id="inc-4")

    message = slack_api.message("C0INCIDENT", ts)
    assert message["text"] == "approved"
    assert message["blocks"] == [section("Approved by <@U0ALICE>")]


async def test_rejected_blocks_fall_back_to_text(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    slack_api.fail_next("chat.postMessage", error="invalid_blocks", status=200)

    ts = await poster.post("C0INCIDENT", [header("checkout card"), section("Proposed: restart_pod")], "checkout card")

    # Without its blocks the message still carries the card's content.
    assert slack_api.message("C0INCIDENT", ts)["blocks"] == []
    assert slack_api.message("C0INCIDENT", ts)["text"] == "*checkout card*\n\nProposed: restart_pod"


async def test_react_twice_is_fine(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    ts = await poster.post("C0INCIDENT", text="correct")

    await poster.react("C0INCIDENT", ts, "white_check_mark")
    await poster.react("C0INCIDENT", ts, "white_check_mark")

    assert slack_api.message("C0INCIDENT", ts)["reactions"][0]["count"] == 1


async def test_ephemeral_goes_to_one_user(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)

    await poster.ephemeral("C0INCIDENT", "U0DAVE", "Only approvers can approve this action.")

    assert [item["text"] for item in slack_api.ephemerals_for("U0DAVE")] == ["Only approvers can approve this action."]


def test_split_report_keeps_every_line() -> None:
    text = report_text(300)

    parts = split_report(text)

    assert len(parts) > 1
    assert all(len(part) <= 3000 for part in parts)
    rebuilt = [line for part in parts for line in part.splitlines() if line != "```"]
    original = [line for line in text.splitlines() if line != "```"]
    assert rebuilt == original


def test_split_report_cuts_a_very_long_line() -> None:
    parts = split_report("y" * 7000)

    assert [len(part) for part in parts] == [2992, 2992, 1016]


def test_split_report_short_text_is_one_part() -> None:
    assert split_report("Outcome: SUCCESS") == ["Outcome: SUCCESS"]
    assert split_report("") == []


def test_pack_report_respects_json_size() -> None:
    messages = pack_report(split_report(report_text(400)), title="Report")

    assert all(check_blocks(blocks) == [] for blocks in messages)
    assert messages[0][0]["type"] == "header"


def test_retry_after_parsing() -> None:
    assert retry_after_s({"Retry-After": "30"}) == 30.0
    assert retry_after_s({"retry-after": ["12"]}) == 12.0
    assert retry_after_s({}) == 1.0
    assert retry_after_s({"Retry-After": "soon"}) == 1.0


async def test_concurrent_reports_stay_contiguous(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    card = await slack_client.chat_postMessage(channel="C0INCIDENT", text="card")

    first, second = await asyncio.gather(
        poster.post_report("C0INCIDENT", card["ts"], "Verification", report_text(300)),
        poster.post_report("C0INCIDENT", card["ts"], "Rollback", report_text(300)),
    )

    thread = [reply["ts"] for reply in slack_api.thread("C0INCIDENT", card["ts"])]
    assert len(first) > 1
    assert len(second) > 1
    assert thread in (first + second, second + first)


async def test_repeated_update_posts_overflow_once(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)
    long_card = [header("checkout"), section("\n".join(f"evidence {n:03d} " + "x" * 60 for n in range(80)))]
    ts = await poster.post("C0INCIDENT", long_card, "checkout")
    replies_after_post = len(slack_api.thread("C0INCIDENT", ts))

    await poster.update("C0INCIDENT", ts, long_card, "checkout: approved")
    await poster.update("C0INCIDENT", ts, long_card, "checkout: executing")

    assert replies_after_post >= 1
    assert len(slack_api.thread("C0INCIDENT", ts)) == replies_after_post


async def test_blocks_without_text_get_summary(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    poster = SlackPoster(slack_client, min_interval_s=0)

    ts = await poster.post("C0INCIDENT", [header("checkout: memory_leak"), section("details")])

    assert slack_api.message("C0INCIDENT", ts)["text"] == "*checkout: memory_leak*"


async def test_paced_storm_meets_rate_limit(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    # Slack's limit scaled down twentyfold: 20 posts a second per channel, bursts of 2.
    slack_api.limit_post_rate(20, burst=2)
    poster = SlackPoster(slack_client, min_interval_s=0.06)

    await asyncio.gather(*[poster.post("C0INCIDENT", text=f"alert {n}") for n in range(15)])

    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == [f"alert {n}" for n in range(15)]
    assert [call.status for call in slack_api.calls("chat.postMessage")] == [200] * 15


async def test_unpaced_storm_is_delayed_not_lost(slack_client: AsyncWebClient, slack_api: SlackApiStandIn) -> None:
    slack_api.limit_post_rate(20, burst=2)
    poster = SlackPoster(slack_client, min_interval_s=0)

    await asyncio.gather(*[poster.post("C0INCIDENT", text=f"alert {n}") for n in range(5)])

    statuses = [call.status for call in slack_api.calls("chat.postMessage")]
    assert [message["text"] for message in slack_api.messages_in("C0INCIDENT")] == [f"alert {n}" for n in range(5)]
    assert statuses.count(429) >= 1
    assert statuses.count(200) == 5


async def test_remembered_overflows_are_bounded(slack_client: AsyncWebClient, slack_api: SlackApiStandIn,
                                                monkeypatch: Any) -> None:
    monkeypatch.setattr(messaging, "MAX_REMEMBERED_OVERFLOWS", 2)
    poster = SlackPoster(slack_client, min_interval_s=0)
    long_card = [header("checkout"), section("\n".join(f"evidence {n:03d} " + "x" * 60 for n in range(80)))]
    first, second, third = [await poster.post("C0INCIDENT", long_card, f"card {n}") for n in range(3)]
    replies = {ts: len(slack_api.thread("C0INCIDENT", ts)) for ts in (first, second, third)}
    assert min(replies.values()) >= 1

    await poster.update("C0INCIDENT", third, long_card, "card 2: approved")
    await poster.update("C0INCIDENT", first, long_card, "card 0: approved")

    # The third card's overflow is still remembered, so it gets no new reply. The
    # first card's overflow was forgotten when the third card was posted, so it is posted again.
    assert len(slack_api.thread("C0INCIDENT", third)) == replies[third]
    assert len(slack_api.thread("C0INCIDENT", first)) == 2 * replies[first]
    assert len(poster._overflow_posted) == 2
