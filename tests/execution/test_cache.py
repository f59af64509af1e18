"""Cache clearing against a real redis-server and a loopback HTTP hook."""

from __future__ import annotations

import pytest
import redis
from aiohttp import web

from airra.actions import ActionType, ClearCacheParams
from airra.execution.base import ActionRequest, Executor, ExecutionStatus
from airra.execution.cache import CacheExecutor, HttpHookCacheClearer, RedisCacheClearer, glob_escape

pytestmark = pytest.mark.integration


@pytest.fixture
def keyspace(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # the test's own server, emptied between tests
    for index in range(1234):
        client.set(f"catalog:item:{index}", "x")
    for index in range(20):
        client.set(f"catalogue:{index}", "x")
        client.set(f"auth:session:{index}", "x")
    client.set("catalog*", "literal star")
    yield client
    client.close()


def _request(service: str, params: ClearCacheParams, *, dry_run: bool = False) -> ActionRequest:
    return ActionRequest(incident_id="inc-3", action_type=ActionType.CLEAR_CACHE, service=service, params=params,
                         dry_run=dry_run)


async def test_clear_deletes_only_prefix(redis_url, keyspace):
    clearer = RedisCacheClearer(redis_url, batch_size=100)

    deleted = await clearer.clear("catalog:")

    assert deleted == 1234
    assert keyspace.dbsize() == 41
    assert keyspace.exists("catalogue:0", "auth:session:0", "catalog*") == 3
    assert list(keyspace.scan_iter(match="catalog:*")) == []


async def test_prefix_glob_characters_are_literal(redis_url, keyspace):
    clearer = RedisCacheClearer(redis_url)

    deleted = await clearer.clear("catalog*")

    assert deleted == 1
    assert keyspace.dbsize() == 1274
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


async def test_empty_prefix_is_rejected(redis_url, keyspace):
    with pytest.raises(Exception, match="empty key prefix"):
        await RedisCacheClearer(redis_url).clear("")
    assert keyspace.dbsize() == 1275


async def test_executor_clears_service_prefix(topology, redis_url, keyspace):
    executor = CacheExecutor(topology, redis=RedisCacheClearer(redis_url))
    assert isinstance(executor, Executor)

    result = await executor.execute(_request("catalog", ClearCacheParams()))

    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.changes == ["deleted 1234 Redis keys under 'catalog:'"]
    assert keyspace.dbsize() == 41
    undo = await executor.rollback(result)
    assert undo.status is ExecutionStatus.FAILED
    assert "cannot be undone" in undo.error


async def test_executor_dry_run_counts_only(topology, redis_url, keyspace):
    executor = CacheExecutor(topology, redis=RedisCacheClearer(redis_url), dry_run=True)

    result = await executor.execute(_request("auth", ClearCacheParams()))

    assert result.status is ExecutionStatus.DRY_RUN
    assert result.changes == ["would delete 20 Redis keys under 'auth:session:' (SCAN + UNLINK)"]
    assert keyspace.dbsize() == 1275


async def test_executor_rejects_foreign_prefix(topology, redis_url, keyspace):
    executor = CacheExecutor(topology, redis=RedisCacheClearer(redis_url))

    result = await executor.execute(_request("catalog", ClearCacheParams(key_prefix="auth:")))

    assert result.status is ExecutionStatus.FAILED
    assert "outside catalog's cache prefix" in result.error
    assert keyspace.dbsize() == 1275


async def test_unreachable_redis_fails(topology):
    executor = CacheExecutor(topology, redis=RedisCacheClearer("redis://:secret@127.0.0.1:1/0"))

    result = await executor.execute(_request("catalog", ClearCacheParams()))

    assert result.status is ExecutionStatus.FAILED
    assert "127.0.0.1:1" in result.error
    assert "secret" not in result.error


async def test_no_prefix_or_hook_fails(topology):
    result = await CacheExecutor(topology).execute(_request("cart", ClearCacheParams()))

    assert result.status is ExecutionStatus.FAILED
    assert "no cache key prefix or clear hook" in result.error


@pytest.fixture
async def hook():
    calls: list[dict] = []

    async def clear(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response({"deleted": 7})

    app = web.Application()
    app.router.add_post("/clear", clear)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/clear", calls
    await runner.cleanup()


async def test_http_hook(topology, hook):
    url, calls = hook

    deleted = await HttpHookCacheClearer(url).clear("reco:")
    result = await CacheExecutor(topology).execute(_request("cart", ClearCacheParams(hook_url=url)))

    assert deleted == 7
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.changes == [f"called cache clear hook {url}, which reported 7 deleted keys"]
    assert calls == [{"prefix": "reco:"}, {"prefix": None}]
