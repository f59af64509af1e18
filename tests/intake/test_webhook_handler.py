"""The Alertmanager webhook route, served by a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airra.intake.alertmanager import WebhookBatch
from airra.topology import Topology
from bot.webhook import make_alertmanager_handler

TOKEN = "s3cret-token"


class Recorder:
    """An on_batch callback that keeps what it was given, or fails on demand."""

    def __init__(self) -> None:
        self.batches: list[WebhookBatch] = []
        self.fail = False

    async def __call__(self, batch: WebhookBatch) -> None:
        if self.fail:
            raise RuntimeError("store is down")
        self.batches.append(batch)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def base_url(topology: Topology, recorder: Recorder) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/alertmanager", make_alertmanager_handler(
        topology=topology, on_batch=recorder, token=TOKEN, max_body_bytes=16_384))
    app.router.add_post("/open", make_alertmanager_handler(topology=topology, on_batch=recorder, token=None))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


async def post(url: str, body: bytes | str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers or {}) as response:
            return response.status, await response.json()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_accepts_grouped_webhook(base_url: str, recorder: Recorder, firing_grouped: dict[str, Any]) -> None:
    status, answer = await post(f"{base_url}/alertmanager", json.dumps(firing_grouped), bearer())

    assert status == 200
    assert answer == {"status": "accepted", "alerts": 2}
    assert len(recorder.batches) == 1
    assert [alert.service for alert in recorder.batches[0].alerts] == ["orders", "orders"]


async def test_query_token_and_basic_auth(base_url: str, recorder: Recorder, firing_grouped: dict[str, Any]) -> None:
    basic = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()

    by_query, _ = await post(f"{base_url}/alertmanager?token={TOKEN}", json.dumps(firing_grouped))
    by_basic, _ = await post(f"{base_url}/alertmanager", json.dumps(firing_grouped), {"Authorization": f"Basic {basic}"})

    assert by_query == 200
    assert by_basic == 200
    assert len(recorder.batches) == 2


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic !!"},
                                     {"Authorization": f"Token {TOKEN}"}])
async def test_bad_token_is_401(base_url: str, recorder: Recorder, firing_grouped: dict[str, Any],
                                headers: dict[str, str]) -> None:
    status, answer = await post(f"{base_url}/alertmanager", json.dumps(firing_grouped), headers)

    assert status == 401
    assert "token" in answer["error"]
    assert recorder.batches == []


async def test_malformed_json_is_400(base_url: str, recorder: Recorder) -> None:
    status, answer = await post(f"{base_url}/alertmanager", b'{"alerts": [', bearer())

    assert status == 400
    assert answer["error"].startswith("body is not valid JSON")
    assert recorder.batches == []


async def test_wrong_shape_is_400_with_field(base_url: str, firing_grouped: dict[str, Any]) -> None:
    del firing_grouped["alerts"][1]["labels"]["alertname"]
    status, answer = await post(f"{base_url}/alertmanager", json.dumps(firing_grouped), bearer())

    assert status == 400
    assert answer == {"status": "error", "error": "alerts[1].labels.alertname is missing"}


async def test_body_past_cap_is_413(base_url: str, recorder: Recorder, firing_grouped: dict[str, Any]) -> None:
    firing_grouped["alerts"] = firing_grouped["alerts"] * 40
    body = json.dumps(firing_grouped)
    assert len(body) > 16_384

    status, answer = await post(f"{base_url}/alertmanager", body, bearer())

    assert status == 413
    assert "16384 bytes" in answer["error"]
    assert recorder.batches == []


async def test_chunked_body_past_cap_is_413(base_url: str, recorder: Recorder) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 1024

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url}/alertmanager", data=chunks(), headers=bearer()) as response:
            assert response.status == 413
    assert recorder.batches == []


async def test_store_failure_is_500(base_url: str, recorder: Recorder, firing_grouped: dict[str, Any]) -> None:
    recorder.fail = True
    status, answer = await post(f"{base_url}/alertmanager", json.dumps(firing_grouped), bearer())

    assert status == 500
    assert "resend" in answer["error"]


async def test_get_is_405(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/alertmanager", headers=bearer()) as response:
            assert response.status == 405


async def test_no_token_configured_accepts_all(base_url: str, recorder: Recorder,
                                               resolved_grouped: dict[str, Any]) -> None:
    status, answer = await post(f"{base_url}/open", json.dumps(resolved_grouped))

    assert status == 200
    assert answer["alerts"] == 2
    assert recorder.batches[0].status == "resolved"
