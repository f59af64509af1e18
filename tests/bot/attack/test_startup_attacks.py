"""Start-up against Slack: a token Slack rejects and a Web API that cannot be reached stop with a clear message."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from airra.errors import ConfigError
from airra.settings import Settings
from bot.serve import check_slack_settings, serve
from bot.testing import SlackApiStandIn


def _settings(data_dir: Path, api_url: str, token: str) -> Settings:
    return Settings(data_dir=data_dir, host="127.0.0.1", port=0, slack_api_url=api_url,
                    slack_bot_token=SecretStr(token), slack_signing_secret=SecretStr("s3cret"),
                    approvers=["U0ALICE"], default_channel="C0INCIDENT")


async def _serve_briefly(settings: Settings) -> None:
    stop = asyncio.Event()
    stop.set()
    await serve(settings, check_slack_settings(settings), sandbox=True, stop=stop)


async def test_revoked_token_stops_start_up(slack_api: SlackApiStandIn, data_dir: Path) -> None:
    settings = _settings(data_dir, slack_api.base_url, "xoxb-revoked-or-from-another-workspace")

    with pytest.raises(ConfigError) as raised:
        await _serve_briefly(settings)

    message = str(raised.value)
    assert "SLACK_BOT_TOKEN" in message
    assert "invalid_auth" in message
    assert "OAuth & Permissions" in message
    assert "revoked-or-from" not in message


async def test_unreachable_slack_stops_start_up_with_reason(data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}/api/"
    settings = _settings(data_dir, url, "xoxb-test")

    with pytest.raises(ConfigError) as raised:
        await _serve_briefly(settings)

    message = str(raised.value)
    assert f"cannot reach the Slack Web API at {url}" in message
    assert "AIRRA_SLACK_API_URL" in message


async def test_valid_token_starts(slack_api: SlackApiStandIn, data_dir: Path) -> None:
    await _serve_briefly(_settings(data_dir, slack_api.base_url, "xoxb-test"))

    assert slack_api.call_count("auth.test") == 1


async def test_missing_default_channel_is_warned(slack_api: SlackApiStandIn, data_dir: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(data_dir, slack_api.base_url, "xoxb-test").model_copy(update={"default_channel": None})

    with caplog.at_level(logging.WARNING, logger="bot.serve"):
        await _serve_briefly(settings)

    [warning] = [record.getMessage() for record in caplog.records if "AIRRA_DEFAULT_CHANNEL" in record.getMessage()]
    assert "services have no slack_channel (frontend, mobile-bff" in warning
    assert "without a card" in warning
