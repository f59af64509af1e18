"""The aiohttp session to a real Prometheus closes with each command and with the served bot.

A session left open is reported when it is garbage-collected, as
"Unclosed client session", which a command run in development mode prints.
The served bot freezes its start-up objects out of the garbage collector,
so there the check is that no connection to Prometheus stays open.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from pydantic import SecretStr

from airra.settings import Settings
from bot.serve import check_slack_settings, serve
from bot.testing import SlackApiStandIn
from tests.support.promstack import PromStack, prom_stack

pytestmark = pytest.mark.integration

SERVICES = {
    "defaults": {"namespace": "shop"},
    "services": [
        {"name": "frontend", "depends_on": ["orders"]},
        {"name": "orders"},
    ],
}
SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def services_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("services") / "services.yaml"
    path.write_text(yaml.safe_dump(SERVICES), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    with prom_stack(tmp_path_factory.mktemp("promstack-session"), services=["frontend", "orders"],
                    rules={}, rate_rps=10.0, latency_s=0.05) as started:
        yield started


def test_command_closes_session(stack: PromStack, services_file: Path, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "AIRRA_PROMETHEUS_URL": stack.prometheus.url,
        "AIRRA_SERVICES_FILE": str(services_file),
        "AIRRA_DATA_DIR": str(tmp_path / "data"),
        "AIRRA_RATE_WINDOW": "5s",
        # Development mode shows every ResourceWarning and the loop's unclosed-resource reports.
        "PYTHONDEVMODE": "1",
    }

    finished = subprocess.run([sys.executable, "-m", "airra.cli", "blast", "orders"], env=environment,
                              capture_output=True, text=True, timeout=120)

    assert finished.returncode == 0, finished.stderr
    # frontend depends on orders, so the assessment read metrics of both.
    assert finished.stdout.startswith("Blast radius of orders: ")
    assert "Unclosed" not in finished.stderr
    assert "Task was destroyed" not in finished.stderr


def test_served_bot_closes_session(stack: PromStack, services_file: Path, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    async def serve_once() -> int:
        api = SlackApiStandIn(token="xoxb-test")
        await api.start()
        settings = Settings(data_dir=tmp_path / "data", services_file=services_file, port=0,
                            prometheus_url=stack.prometheus.url, rate_window="5s",
                            slack_api_url=api.base_url, slack_bot_token=SecretStr("xoxb-test"),
                            slack_signing_secret=SecretStr(SECRET))
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(settings, check_slack_settings(settings), stop=stop,
                                         on_ready=ready.set_result))
        try:
            return await asyncio.wait_for(ready, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            await api.stop()

    caplog.set_level(logging.INFO)
    try:
        port = asyncio.run(serve_once())
    finally:
        gc.unfreeze()

    prometheus_port = int(stack.prometheus.url.rsplit(":", 1)[1])
    open_connections = [connection for connection in psutil.Process().net_connections(kind="tcp")
                        if connection.raddr and connection.raddr.port == prometheus_port
                        and connection.status == psutil.CONN_ESTABLISHED]
    assert port > 0
    # serve checked every signal against Prometheus at start-up, so the session was opened.
    assert "metrics self-check on" in caplog.text
    assert open_connections == []
