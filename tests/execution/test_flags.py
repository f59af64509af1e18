"""Flag providers and the toggle executor against loopback flag services."""

from __future__ import annotations

import pytest
from aiohttp import web

from airra.actions import ActionType, ToggleFeatureFlagParams
from airra.errors import ExecutionError
from airra.execution.base import ActionRequest, Executor, ExecutionStatus
from airra.execution.flags import FeatureFlagExecutor, FlagProvider, HttpWebhookFlagProvider, UnleashFlagProvider

TOKEN = "*:production.0123456789abcdef"


class FlagService:
    """A webhook flag endpoint and Unleash's admin routes over one flag table."""

    def __init__(self) -> None:
        self.flags = {"semantic-search": True, "ml-scoring": False}
        self.requests: list[tuple[str, str, object, str | None]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/flags/{flag}", self.webhook_get)
        app.router.add_put("/flags/{flag}", self.webhook_put)
        feature = "/api/admin/projects/{project}/features/{flag}"
        app.router.add_get(feature, self.unleash_get)
        app.router.add_post(feature + "/environments/{env}/{switch}", self.unleash_switch)
        return app

    async def _record(self, request: web.Request) -> None:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body, request.headers.get("Authorization")))

    async def webhook_get(self, request: web.Request) -> web.Response:
        await self._record(request)
        flag = request.match_info["flag"]
        if flag not in self.flags:
            return web.json_response({"error": "no such flag"}, status=404)
        return web.json_response({"enabled": self.flags[flag]})

    async def webhook_put(self, request: web.Request) -> web.Response:
        await self._record(request)
        self.flags[request.match_info["flag"]] = self.requests[-1][2]["enabled"]
        return web.json_response({"enabled": self.flags[request.match_info["flag"]]})

    async def unleash_get(self, request: web.Request) -> web.Response:
        await self._record(request)
        if request.headers.get("Authorization") != TOKEN:
            return web.json_response({"message": "You need to be logged in"}, status=401)
        flag = request.match_info["flag"]
        return web.json_response({
            "name": flag, "project": request.match_info["project"], "type": "kill-switch",
            "environments": [{"name": "development", "enabled": True},
                             {"name": "production", "enabled": self.flags[flag]}],
        })

    async def unleash_switch(self, request: web.Request) -> web.Response:
        await self._record(request)
        assert request.match_info["env"] == "production"
        self.flags[request.match_info["flag"]] = request.match_info["switch"] == "on"
        return web.Response(status=200)


@pytest.fixture
async def flag_service():
    service = FlagService()
    runner = web.AppRunner(service.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield service
    await runner.cleanup()


def _toggle(flag: str, enabled: bool, *, service: str = "search", dry_run: bool = False) -> ActionRequest:
    return ActionRequest(incident_id="inc-5", action_type=ActionType.TOGGLE_FEATURE_FLAG, service=service,
                         params=ToggleFeatureFlagParams(flag=flag, enabled=enabled), dry_run=dry_run)


async def test_webhook_provider(flag_service):
    provider = HttpWebhookFlagProvider(f"{flag_service.url}/flags", "hook-token")
    assert isinstance(provider, FlagProvider)

    before = await provider.get("semantic-search")
    await provider.set("semantic-search", False)

    assert before is True
    assert flag_service.flags["semantic-search"] is False
    assert flag_service.requests[-1] == ("PUT", "/flags/semantic-search", {"enabled": False}, "Bearer hook-token")
    with pytest.raises(ExecutionError, match="returned 404"):
        await provider.get("missing")


async def test_unleash_provider(flag_service):
    provider = UnleashFlagProvider(flag_service.url, TOKEN, project="shop", environment="production")

    before = await provider.get("semantic-search")
    await provider.set("semantic-search", False)
    after = await provider.get("semantic-search")

    assert (before, after) == (True, False)
    assert flag_service.requests[1] == (
        "POST", "/api/admin/projects/shop/features/semantic-search/environments/production/off", None, TOKEN)


async def test_unleash_unknown_environment(flag_service):
    provider = UnleashFlagProvider(flag_service.url, TOKEN, environment="staging")

    with pytest.raises(ExecutionError, match="no environment 'staging'"):
        await provider.get("semantic-search")


async def test_unleash_bad_token(flag_service):
    provider = UnleashFlagProvider(flag_service.url, "wrong")

    with pytest.raises(ExecutionError, match="returned 401"):
        await provider.get("semantic-search")


async def test_executor_saves_and_restores(topology, flag_service):
    executor = FeatureFlagExecutor(UnleashFlagProvider(flag_service.url, TOKEN), topology)
    assert isinstance(executor, Executor)

    result = await executor.execute(_toggle("semantic-search", False))
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.saved_state == {"flag": "semantic-search", "enabled": True}
    assert flag_service.flags["semantic-search"] is False

    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.SUCCEEDED
    assert flag_service.flags["semantic-search"] is True


async def test_executor_dry_run_sets_nothing(topology, flag_service):
    executor = FeatureFlagExecutor(HttpWebhookFlagProvider(f"{flag_service.url}/flags"), topology, dry_run=True)

    result = await executor.execute(_toggle("semantic-search", False))

    assert result.status is ExecutionStatus.DRY_RUN
    assert result.changes == ["would set feature flag semantic-search of search from on to off"]
    assert [r[0] for r in flag_service.requests] == ["GET"]
    assert flag_service.flags["semantic-search"] is True


async def test_executor_rejects_flag_of_other_service(topology, flag_service):
    executor = FeatureFlagExecutor(HttpWebhookFlagProvider(f"{flag_service.url}/flags"), topology)

    result = await executor.execute(_toggle("ml-scoring", True, service="search"))

    assert result.status is ExecutionStatus.FAILED
    assert "not listed for service search" in result.error
    assert flag_service.requests == []


async def test_unreachable_flag_service_fails(topology):
    executor = FeatureFlagExecutor(HttpWebhookFlagProvider("http://127.0.0.1:1/flags"), topology)

    result = await executor.execute(_toggle("semantic-search", False))

    assert result.status is ExecutionStatus.FAILED
    assert "unreachable" in result.error
