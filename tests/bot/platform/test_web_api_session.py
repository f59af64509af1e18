"""The served bot's Web API client reuses one HTTP connection for its calls."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from airra.settings import Settings
from bot.serve import _web_client


async def test_web_api_calls_share_one_connection(data_dir: Path) -> None:
    peers: list[tuple[str, int]] = []

    async def api(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"ok": True, "channel": "C0TEST", "ts": "1.000100"})

    application = web.Application()
    application.router.add_post("/api/{method}", api)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = Settings(data_dir=data_dir, slack_api_url=f"http://127.0.0.1:{port}/api/")

    try:
        async with aiohttp.ClientSession() as session:
            client = _web_client(settings, "xoxb-test", session)
            for number in range(3):
                await client.chat_postMessage(channel="C0TEST", text=f"message {number}")
    finally:
        await runner.cleanup()

    assert len(peers) == 3
    # A session per call would connect from three different client ports.
    assert len(set(peers)) == 1
