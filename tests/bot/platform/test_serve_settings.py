"""airra serve: settings checks name the variable; HTTP mode serves the bot with verification on."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from airra.errors import ConfigError
from airra.settings import Settings
from bot.serve import check_slack_settings, run, serve
from bot.server import build_web_app, start_web_app
from bot.testing import SlackApiStandIn, SlackDriver

SECRET = "0123456789abcdef0123456789abcdef"


def slack_settings(data_dir: Path, **values: str) -> Settings:
    return Settings(data_dir=data_dir, **{name: SecretStr(value) for name, value in values.items()})


def test_missing_bot_token_names_variable(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as error:
        check_slack_settings(slack_settings(data_dir, slack_signing_secret=SECRET))

    assert "SLACK_BOT_TOKEN is not set" in str(error.value)
    assert "OAuth & Permissions" in str(error.value)


def test_user_token_is_rejected_without_echo(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as error:
        check_slack_settings(slack_settings(data_dir, slack_bot_token="xoxp-1234-secretpart", slack_signing_secret=SECRET))

    assert "SLACK_BOT_TOKEN is invalid" in str(error.value)
    assert "'xoxp-'" in str(error.value)
    assert "secretpart" not in str(error.value)


def test_http_mode_needs_signing_secret(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as error:
        check_slack_settings(slack_settings(data_dir, slack_bot_token="xoxb-1-2"))

    assert "SLACK_SIGNING_SECRET is not set" in str(error.value)
    assert "Basic Information" in str(error.value)


def test_app_token_must_be_xapp(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as error:
        check_slack_settings(slack_settings(data_dir, slack_bot_token="xoxb-1-2", slack_app_token="xoxb-3-4"))

    assert "SLACK_APP_TOKEN is invalid" in str(error.value)
    assert "App-Level Tokens" in str(error.value)


def test_socket_mode_needs_no_signing_secret(data_dir: Path) -> None:
    credentials = check_slack_settings(slack_settings(data_dir, slack_bot_token="xoxb-1-2", slack_app_token="xapp-1-abc"))

    assert credentials.socket_mode is True
    assert credentials.signing_secret is None


def test_settings_read_from_slack_variables(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-9-9")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)

    credentials = check_slack_settings(Settings(data_dir=data_dir))

    assert credentials.bot_token == "xoxb-9-9"
    assert credentials.socket_mode is False


def test_run_stops_before_start_on_bad_settings(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        run(argparse.Namespace(sandbox=True), Settings(data_dir=data_dir))


async def test_socket_mode_app_has_no_events_route() -> None:
    runner, port = await start_web_app(build_web_app(bolt_app=None), host="127.0.0.1", port=0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/slack/events", data=b"{}") as response:
                assert response.status == 404
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
    finally:
        await runner.cleanup()


async def test_http_mode_serves_verified_bot(data_dir: Path, slack_api: SlackApiStandIn) -> None:
    settings = Settings(
        data_dir=data_dir,
        port=0,
        slack_api_url=slack_api.base_url,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr(SECRET),
    )
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, check_slack_settings(settings), sandbox=True, stop=stop, on_ready=ready.set_result))

    try:
        port = await asyncio.wait_for(ready, timeout=20)
        async with SlackDriver(f"http://127.0.0.1:{port}", SECRET, slack_api=slack_api) as slack:
            challenge = await slack.url_verification("ch4llenge")
            async with SlackDriver(f"http://127.0.0.1:{port}", "wrong-secret") as forger:
                forged = await forger.url_verification("ch4llenge")
            session = slack._client_session()
            async with session.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                exposition = await metrics.text()

        assert challenge.status == 200
        assert json.loads(challenge.body) == {"challenge": "ch4llenge"}
        assert forged.status == 401
        assert "airra_bot_handler_seconds" in exposition
        assert slack_api.call_count("auth.test") >= 1
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def test_port_in_use_names_setting(data_dir: Path, slack_api: SlackApiStandIn) -> None:
    busy, port = await start_web_app(build_web_app(bolt_app=None), host="127.0.0.1", port=0)
    settings = Settings(
        data_dir=data_dir,
        port=port,
        slack_api_url=slack_api.base_url,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr(SECRET),
    )
    try:
        with pytest.raises(ConfigError) as error:
            await serve(settings, check_slack_settings(settings), sandbox=True, stop=asyncio.Event())
    finally:
        await busy.cleanup()

    assert f"cannot listen on 127.0.0.1:{port}" in str(error.value)
    assert "AIRRA_PORT" in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"approvers": ["U0ALICE", "bob"]}, "AIRRA_APPROVERS contains 'bob'"),
        ({"approver_group": "oncall"}, "AIRRA_APPROVER_GROUP is 'oncall'"),
        ({"default_channel": "incidents"}, "AIRRA_DEFAULT_CHANNEL is 'incidents'"),
    ],
)
def test_slack_ids_are_checked(data_dir: Path, overrides: dict, variable: str) -> None:
    settings = Settings(data_dir=data_dir, slack_bot_token=SecretStr("xoxb-1-2"), slack_signing_secret=SecretStr(SECRET), **overrides)

    with pytest.raises(ConfigError) as error:
        check_slack_settings(settings)

    assert variable in str(error.value)


def test_valid_slack_ids_pass(data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir,
        slack_bot_token=SecretStr("xoxb-1-2"),
        slack_signing_secret=SecretStr(SECRET),
        approvers=["U0ALICE", "W0GRIDUSER"],
        approver_group="S0ONCALL",
        default_channel="#incidents",
    )

    assert check_slack_settings(settings).bot_token == "xoxb-1-2"
