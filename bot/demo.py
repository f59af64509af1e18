"""``airra demo``: play a complete incident on this machine, with no Slack workspace.

Everything real runs: the Bolt app over HTTP on 127.0.0.1, slack_sdk's client
talking to a local Slack Web API stand-in, Alertmanager's webhook format, the
sandbox cluster whose metrics react to actions, verification, and the JSONL
stores. Only the people are simulated: an approver's click and an operator's
thread reply are signed requests, exactly as Slack sends them.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airra.actions import ActionType
from airra.calibration import ConfidenceTracker
from airra.categories import Category
from airra.feedback import FeedbackCollector
from airra.settings import Settings
from bot.cards import (
    APPROVE_ACTION_ID,
    BETTER_ACTION_BLOCK,
    CATEGORY_BLOCK,
    REASON_BLOCK,
    REJECT_ACTION_ID,
    REJECT_MODAL_ID,
)
from bot.testing.harness import LocalBot
from bot.testing.slack_api import render_text

CHANNEL = "C0INCDEMO1"
APPROVER = "U0DEMOALEX"
SECOND_APPROVER = "U0DEMOSAM"
ALERTS_BOT = "B0ALERTMGR1"
WAIT_S = 30.0


@dataclass(frozen=True)
class DemoScenario:
    """One incident the demo can play."""

    title: str
    service: str
    fault: Category
    alertname: str
    summary: str
    thread_replies: tuple[str, ...]
    reject_first: bool = False


SCENARIOS: dict[str, DemoScenario] = {
    "memory-leak": DemoScenario(
        title="memory leak in payment-service",
        service="payment-service",
        fault=Category.MEMORY_LEAK,
        alertname="ContainerMemoryNearLimit",
        summary="payment-service working set above 90% of its memory limit and growing",
        thread_replies=("correct", "resolved"),
    ),
    "cpu-spike": DemoScenario(
        title="CPU spike in search",
        service="search",
        fault=Category.CPU_SPIKE,
        alertname="CPUThrottlingHigh",
        summary="search containers are throttled 65% of the time",
        thread_replies=("correct", "resolved"),
    ),
    "bad-deployment": DemoScenario(
        title="bad deployment of orders",
        service="orders",
        fault=Category.DEPLOYMENT_REGRESSION,
        alertname="HighErrorRate",
        summary="orders answers 9% of requests with 5xx since the last rollout",
        thread_replies=("wrong, it was deployment_regression", "resolved"),
    ),
    "wrong-action": DemoScenario(
        title="memory leak reported as an error spike; the first proposal is rejected and corrected",
        service="payment-service",
        fault=Category.MEMORY_LEAK,
        alertname="HighErrorRate",
        summary="payment-service 5xx ratio above 5%",
        thread_replies=("resolved",),
        reject_first=True,
    ),
}


class Transcript:
    """Prints the conversation as it happens, with elapsed time."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.started:5.1f}s] {text}")

    def message(self, message: dict[str, Any], *, indent: str = "    ") -> None:
        print(textwrap.indent(render_text(message), indent, predicate=lambda _line: True))

    def thread(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.message(message, indent="    │ ")
            print("    │")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``airra demo``."""
    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        print(f"airra demo: unknown scenario {args.scenario!r}; use one of: {', '.join(SCENARIOS)}")
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="airra-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(play(scenario, seed=args.seed, data_dir=data_dir, services_file=settings.services_file))


def demo_settings(data_dir: Path, services_file: Path) -> Settings:
    """Settings of the demo: short verification windows, one channel, two approvers."""
    return Settings(
        services_file=services_file,
        data_dir=data_dir,
        default_channel=CHANNEL,
        approvers=[APPROVER, SECOND_APPROVER],
        verify_wait_s=0.5,
        verify_samples=3,
        verify_interval_s=0.25,
        auto_enabled=False,
    )


async def play(scenario: DemoScenario, *, seed: int, data_dir: Path, services_file: Path) -> int:
    """Play one scenario and print the conversation; return the exit code."""
    settings = demo_settings(data_dir, services_file)
    out = Transcript()
    print(f"AIRRA demo: {scenario.title} (seed {seed})")

    local = LocalBot(settings, seed=seed, channels={CHANNEL: "incidents"},
                     users={APPROVER: "alex", SECOND_APPROVER: "sam"})
    async with local:
        assert local.runtime.sandbox is not None and local.driver is not None
        local.runtime.sandbox.inject_fault(scenario.service, scenario.fault)
        out.step(f"Sandbox cluster started; true cause injected: {scenario.fault.value} in {scenario.service}. "
                 f"Bot on {local.base_url}, Slack Web API stand-in on {local.api.base_url}")

        status, answer = await local.post_webhook(alertmanager_payload(scenario))
        out.step(f"Alertmanager → POST /alertmanager ({scenario.alertname} on {scenario.service}): "
                 f"HTTP {status} {answer}")
        if status != 200:
            return 1

        card = await wait_for_card(local)
        out.step("AIRRA posted the incident card in #incidents:")
        out.message(card)

        if scenario.reject_first:
            card = await reject_and_correct(local, out, card)

        await approve(local, out, card)
        thread = await wait_for_outcome(local, card)
        out.step("Execution and verification, in the incident thread:")
        out.thread(thread)

        for reply in scenario.thread_replies:
            await operator_reply(local, out, card, reply)

        await local.settle()
        out.step("The card as it stands now:")
        out.message(local.api.message(CHANNEL, card["ts"]) or card)

        print_reports(out, data_dir)
    return 0


def alertmanager_payload(scenario: DemoScenario) -> dict[str, Any]:
    """Build an Alertmanager webhook body (version 4) with one firing alert."""
    # The alert starts now: the risk adjustment credits ongoing downtime by the
    # second, so an older start would make the printed risk depend on timing.
    starts_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    labels = {"alertname": scenario.alertname, "service": scenario.service, "severity": "critical",
              "namespace": "shop"}
    return {
        "version": "4",
        "receiver": "airra",
        "status": "firing",
        "groupKey": f'{{}}:{{alertname="{scenario.alertname}", service="{scenario.service}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": scenario.alertname, "service": scenario.service},
        "commonLabels": labels,
        "commonAnnotations": {"summary": scenario.summary},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": {
                "summary": scenario.summary,
                "runbook_url": f"https://runbooks.example.internal/{scenario.alertname}",
            },
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            "fingerprint": f"demo-{scenario.service}-{scenario.alertname}".lower(),
        }],
    }


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for block in message.get("blocks", []):
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    found[element["action_id"]] = element.get("value", "")
    return found


async def wait_for_card(local: LocalBot, *, after: str | None = None) -> dict[str, Any]:
    """Wait for a top-level message with an Approve button (newer than ``after``) and return it."""

    def newest() -> dict[str, Any] | None:
        for message in reversed(local.api.messages_in(CHANNEL)):
            if APPROVE_ACTION_ID in _buttons(message) and (after is None or float(message["ts"]) > float(after)):
                return message
        return None

    await local.api.wait_for(lambda: newest() is not None, timeout=WAIT_S)
    found = newest()
    assert found is not None
    return found


async def approve(local: LocalBot, out: Transcript, card: dict[str, Any]) -> None:
    """Click Approve as the approvers; a two-approver action gets a second, distinct click."""
    assert local.driver is not None
    for user, name in ((APPROVER, "alex"), (SECOND_APPROVER, "sam")):
        current = local.api.message(CHANNEL, card["ts"]) or card
        value = _buttons(current).get(APPROVE_ACTION_ID)
        if value is None:
            return
        started = time.monotonic()
        response = await local.driver.block_action(action_id=APPROVE_ACTION_ID, value=value, user_id=user,
                                                   channel_id=CHANNEL, message_ts=card["ts"])
        elapsed_ms = (time.monotonic() - started) * 1000
        out.step(f"@{name} (approver) clicks [ Approve ]: signed block_actions request, "
                 f"acknowledged with HTTP {response.status} in {elapsed_ms:.0f} ms")
        await local.settle()
        updated = local.api.message(CHANNEL, card["ts"]) or card
        if APPROVE_ACTION_ID not in _buttons(updated):
            return
        out.step("The card waits for a second, distinct approver:")
        out.message(updated)


async def reject_and_correct(local: LocalBot, out: Transcript, card: dict[str, Any]) -> dict[str, Any]:
    """Reject the first proposal through the modal, naming the true cause and a better action."""
    assert local.driver is not None
    value = _buttons(card)[REJECT_ACTION_ID]
    response = await local.driver.block_action(action_id=REJECT_ACTION_ID, value=value, user_id=APPROVER,
                                               channel_id=CHANNEL, message_ts=card["ts"])
    out.step(f"@alex clicks [ Reject ]: HTTP {response.status}; AIRRA opens the reject modal")
    await local.api.wait_for(lambda: bool(local.api.views), timeout=WAIT_S)

    view = local.api.views[-1]
    submission = await local.driver.view_submission(
        callback_id=REJECT_MODAL_ID,
        private_metadata=view.get("private_metadata", ""),
        user_id=APPROVER,
        values={
            REASON_BLOCK: {"value": "memory keeps growing until OOM; a rollback will not fix a leak"},
            CATEGORY_BLOCK: {"value": {"selected_option": _option(Category.MEMORY_LEAK.value)}},
            BETTER_ACTION_BLOCK: {"value": {"selected_option": _option(ActionType.RESTART_POD.value)}},
        },
    )
    out.step(f"@alex submits the modal (correct category memory_leak, better action restart_pod): "
             f"HTTP {submission.status}")
    def reproposed() -> bool:
        current = local.api.message(CHANNEL, card["ts"]) or {}
        return _buttons(current).get(APPROVE_ACTION_ID, value) != value

    await local.api.wait_for(reproposed, timeout=WAIT_S)
    await local.settle()
    corrected = local.api.message(CHANNEL, card["ts"]) or card
    out.step("AIRRA re-proposes with the operator's correction:")
    out.message(corrected)
    return corrected


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


async def wait_for_outcome(local: LocalBot, card: dict[str, Any]) -> list[dict[str, Any]]:
    """Wait until the thread contains the verification report and return the thread."""

    def verified() -> bool:
        text = "\n".join(render_text(message) for message in local.api.thread(CHANNEL, card["ts"]))
        return "Overall improvement" in text or "execution failed" in text.lower() or "blocked" in text.lower()

    await local.api.wait_for(verified, timeout=WAIT_S)
    await local.settle()
    return local.api.thread(CHANNEL, card["ts"])


async def operator_reply(local: LocalBot, out: Transcript, card: dict[str, Any], text: str) -> None:
    """Post an operator's reply in the incident thread, as Slack delivers it to the bot."""
    assert local.driver is not None
    before = len(local.api.thread(CHANNEL, card["ts"])) + 1
    posted = local.api.post_as_user(CHANNEL, SECOND_APPROVER, text, thread_ts=card["ts"])
    ts = posted["ts"]
    event = {
        "type": "message",
        "user": SECOND_APPROVER,
        "text": text,
        "ts": ts,
        "thread_ts": card["ts"],
        "parent_user_id": "U0AIRRABOT",
        "channel": CHANNEL,
        "channel_type": "channel",
    }
    response = await local.driver.event(event)
    out.step(f'@sam replies in the thread: "{text}" (event delivered, HTTP {response.status})')
    await local.settle()
    for reply in local.api.thread(CHANNEL, card["ts"])[before:]:
        out.message(reply, indent="    │ ")
    reactions = [r["name"] for r in local.api.reactions if r.get("timestamp") == ts]
    if reactions:
        print(f"    (AIRRA reacted with :{':, :'.join(reactions)}:)")


def print_reports(out: Transcript, data_dir: Path) -> None:
    """Print the calibration and feedback reports and where the stores are."""
    confidence = data_dir / "confidence_tracking.jsonl"
    feedback = data_dir / "operator_feedback.jsonl"
    out.step("Calibration report (airra report calibration):")
    print(textwrap.indent(ConfidenceTracker(confidence).generate_calibration_report(), "    "))
    out.step("Feedback report (airra report feedback):")
    print(textwrap.indent(FeedbackCollector(feedback).generate_feedback_report(30), "    "))

    out.step(f"Data written under {data_dir}:")
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            print(f"    {path.relative_to(data_dir)}  ({path.stat().st_size} bytes)")
    print(f"\nRun `AIRRA_DATA_DIR={data_dir} airra report calibration` to read the stores again.")
