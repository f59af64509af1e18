"""The ``/airra`` slash command listener."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blockkit import code_block
from bot.commands import CommandAnswer, CommandRunner
from bot.listeners.acknowledge import acknowledge

log = logging.getLogger(__name__)

COMMAND = "/airra"

# Slack accepts at most five messages through one response_url, within 30 minutes of the command.
MAX_RESPONSES = 5
# A report part goes into one section block as preformatted text, whose limit is 3,000 characters.
REPORT_PART_CHARS = 2900


def register_commands(app: AsyncApp, *, commands: CommandRunner) -> None:
    """Register the ``/airra`` listener."""

    @app.command(COMMAND)
    async def on_airra(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await acknowledge(ack)
        answer = await commands.run(command.get("text", ""), user_id=command["user_id"],
                                    channel_id=command.get("channel_id"))
        await send_answer(answer, respond=respond, commands=commands, channel_id=command.get("channel_id"))


async def send_answer(answer: CommandAnswer, *, respond: Any, commands: CommandRunner, channel_id: str | None) -> None:
    """Send a command's response; a long report goes in parts that each fit one message."""
    response_type = "ephemeral" if answer.ephemeral else "in_channel"
    if not answer.report:
        await respond(text=answer.text, response_type=response_type)
        return

    # Reports quote alert names and operator replies: escaped, they cannot close the code block or mention anyone.
    text = code_block(answer.text).removeprefix("```\n").removesuffix("\n```")
    parts = report_parts(text)
    if len(parts) > MAX_RESPONSES and channel_id is not None:
        await commands.flows.poster.post_report(channel=channel_id, thread_ts=None, text=text)
        return
    for part in parts[:MAX_RESPONSES]:
        await respond(text=part, response_type=response_type,
                      blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"```{part}```"}}])


def report_parts(text: str, *, limit: int = REPORT_PART_CHARS) -> list[str]:
    """Split a report at line breaks into parts of at most ``limit`` characters."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines():
        while len(line) > limit:
            if current:
                parts.append("\n".join(current))
                current, size = [], 0
            parts.append(line[:limit])
            line = line[limit:]
        if size + len(line) + 1 > limit and current:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        parts.append("\n".join(current))
    return parts or [""]
