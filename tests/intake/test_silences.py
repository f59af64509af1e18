"""Silences against a real Alertmanager on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.silences import AlertmanagerSilences, SilenceError
from tests.support.promstack import alertmanager_server, free_port

pytestmark = pytest.mark.integration

ALERT = Alert(
    source=AlertSource.ALERTMANAGER_WEBHOOK,
    status=AlertStatus.FIRING,
    alertname="HighErrorRate",
    service="orders",
    labels={"alertname": "HighErrorRate", "service": "orders", "severity": "critical", "pod": "<no value>"},
    fingerprint="a1b2c3d4e5f60718",
)


@pytest.fixture
async def silences(tmp_path: Path) -> AsyncIterator[AlertmanagerSilences]:
    exits = contextlib.ExitStack()
    # Nothing fires here, so the webhook URL only has to be well-formed.
    server = await asyncio.to_thread(exits.enter_context, alertmanager_server(
        tmp_path, webhook_url=f"http://127.0.0.1:{free_port()}/unused"))
    client = AlertmanagerSilences(server.url)
    try:
        yield client
    finally:
        await client.close()
        await asyncio.to_thread(exits.close)


async def test_silence_matches_exact_labels(silences: AlertmanagerSilences) -> None:
    silence_id = await silences.silence(ALERT, duration_s=600, comment="rollout restart of orders")
    stored = await silences.get(silence_id)

    assert stored["status"]["state"] == "active"
    assert stored["createdBy"] == "airra"
    assert stored["comment"] == "rollout restart of orders"
    assert sorted((matcher["name"], matcher["value"], matcher["isRegex"]) for matcher in stored["matchers"]) == [
        ("alertname", "HighErrorRate", False), ("service", "orders", False), ("severity", "critical", False),
    ]


async def test_expire_ends_silence(silences: AlertmanagerSilences) -> None:
    silence_id = await silences.silence(ALERT, duration_s=600, comment="scale up")
    await silences.expire(silence_id)
    await silences.expire(silence_id)

    assert (await silences.get(silence_id))["status"]["state"] == "expired"


async def test_during_expires_after_block(silences: AlertmanagerSilences) -> None:
    with pytest.raises(RuntimeError, match="action failed"):
        async with silences.during(ALERT, duration_s=600, comment="restart") as silence_id:
            assert (await silences.get(silence_id))["status"]["state"] == "active"
            raise RuntimeError("action failed")

    assert (await silences.get(silence_id))["status"]["state"] == "expired"


async def test_alert_without_labels_is_rejected(silences: AlertmanagerSilences) -> None:
    slack_alert = ALERT.model_copy(update={"labels": {}, "source": AlertSource.ALERTMANAGER_SLACK})
    with pytest.raises(SilenceError, match="has no labels to match"):
        await silences.silence(slack_alert, duration_s=60, comment="x")


async def test_unknown_silence_is_error(silences: AlertmanagerSilences) -> None:
    with pytest.raises(SilenceError, match="HTTP 404"):
        await silences.get("00000000-0000-0000-0000-000000000000")


async def test_unreachable_alertmanager() -> None:
    client = AlertmanagerSilences(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SilenceError, match="check AIRRA_ALERTMANAGER_URL"):
            await client.silence(ALERT, duration_s=60, comment="x")
    finally:
        await client.close()
