"""Cache clearing: delete a service's Redis key prefix, or call its HTTP hook.

Keys are found with ``SCAN MATCH <prefix>* COUNT n`` and removed with
``UNLINK`` in batches, so neither a large keyspace nor a large value blocks
Redis; FLUSHALL and FLUSHDB are never sent. Clearing a cache cannot be
undone, so the executor's rollback always fails with that reason.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from airra.actions import ActionType, ClearCacheParams, profile_of
from airra.errors import ExecutionError, UnknownServiceError
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, ServiceState
from airra.topology import Service, Topology

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


def glob_escape(prefix: str) -> str:
    """Escape Redis glob characters so a prefix matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix)


class RedisCacheClearer:
    """Deletes keys under a prefix in one Redis database."""

    def __init__(self, url: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.url = url
        self.batch_size = batch_size

    async def clear(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; return how many were deleted.

        Raises:
            ExecutionError: for an empty prefix, or when Redis fails.
        """
        return await self._walk(prefix, delete=True)

    async def count(self, prefix: str) -> int:
        """Return how many keys start with ``prefix``, deleting nothing (for dry runs)."""
        return await self._walk(prefix, delete=False)

    async def _walk(self, prefix: str, *, delete: bool) -> int:
        if not prefix:
            raise ExecutionError("refusing to clear an empty key prefix: it would match every key")
        client = aioredis.from_url(self.url)
        total = 0
        batch: list[bytes] = []
        try:
            async for key in client.scan_iter(match=f"{glob_escape(prefix)}*", count=self.batch_size):
                batch.append(key)
                if len(batch) >= self.batch_size:
                    total += await client.unlink(*batch) if delete else len(batch)
                    batch.clear()
            if batch:
                total += await client.unlink(*batch) if delete else len(batch)
        except (RedisError, OSError) as exc:
            raise ExecutionError(f"clearing Redis keys under {prefix!r} at {_redacted(self.url)} failed after "
                                 f"{total} keys: {exc}; check AIRRA_REDIS_URL") from None
        finally:
            await client.aclose()
        return total


class HttpHookCacheClearer:
    """Clears a cache by POSTing ``{"prefix": ...}`` to a configured URL.

    The hook may return ``{"deleted": n}``. Any 2xx status counts as done.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def clear(self, prefix: str | None) -> int | None:
        """Call the hook; return the number of deleted keys it reports, or None."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(self.url, json={"prefix": prefix}) as response:
                    text = await response.text()
                    if response.status >= 300:
                        raise ExecutionError(f"cache clear hook {self.url} returned {response.status}: {text[:200]}")
                    try:
                        body = await response.json(content_type=None) if text.strip() else None
                    except ValueError:
                        body = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ExecutionError(f"cache clear hook {self.url} is unreachable ({type(exc).__name__}: {exc}); "
                                 "check cache_clear_url in the services file") from None
        deleted = body.get("deleted") if isinstance(body, dict) else None
        return deleted if isinstance(deleted, int) else None


class CacheExecutor:
    """Executes ``clear_cache``: Redis when a key prefix and Redis URL are set, else the HTTP hook."""

    def __init__(self, topology: Topology, *, redis: RedisCacheClearer | None = None,
                 dry_run: bool = False) -> None:
        self.topology = topology
        self.redis = redis
        self.dry_run = dry_run

    async def service_state(self, service: str) -> ServiceState:
        """Return a state with only the service name: caches have no replicas or revisions."""
        self.topology.service(service)
        return ServiceState(service=service)

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Clear the service's cache; a dry run only counts the keys."""
        started = datetime.now(UTC)
        dry_run = self.dry_run or request.dry_run
        try:
            service = self.topology.service(request.service)
            if request.action_type is not ActionType.CLEAR_CACHE or not isinstance(request.params, ClearCacheParams):
                raise ExecutionError(f"the cache executor runs clear_cache only, not {request.action_type.value}")
            changes, saved = await self._clear(service, request.params, dry_run)
        except (ExecutionError, UnknownServiceError) as exc:
            return _result(request, ExecutionStatus.FAILED, started, error=str(exc))
        status = ExecutionStatus.DRY_RUN if dry_run else ExecutionStatus.SUCCEEDED
        return _result(request, status, started, changes=changes, saved_state=saved)

    async def _clear(self, service: Service, params: ClearCacheParams,
                     dry_run: bool) -> tuple[list[str], dict[str, Any]]:
        prefix = params.key_prefix or service.cache_key_prefix
        hook = params.hook_url or service.cache_clear_url

        if prefix is not None and service.cache_key_prefix and not prefix.startswith(service.cache_key_prefix):
            raise ExecutionError(f"key prefix {prefix!r} is outside {service.name}'s cache prefix "
                                 f"{service.cache_key_prefix!r}; clear only the service's own keys")

        if prefix is not None and self.redis is not None:
            if dry_run:
                count = await self.redis.count(prefix)
                return [f"would delete {count} Redis keys under {prefix!r} (SCAN + UNLINK)"], {"prefix": prefix}
            deleted = await self.redis.clear(prefix)
            return [f"deleted {deleted} Redis keys under {prefix!r}"], {"prefix": prefix, "deleted": deleted}

        if hook is not None:
            if dry_run:
                return [f"would POST {{\"prefix\": {prefix!r}}} to {hook}"], {"hook_url": hook}
            deleted = await HttpHookCacheClearer(hook).clear(prefix)
            reported = f", which reported {deleted} deleted keys" if deleted is not None else ""
            return [f"called cache clear hook {hook}{reported}"], {"hook_url": hook, "deleted": deleted}

        if prefix is not None:
            raise ExecutionError(f"service {service.name} has key prefix {prefix!r} but no Redis is configured; "
                                 "set AIRRA_REDIS_URL or give the service a cache_clear_url")
        raise ExecutionError(f"service {service.name} has no cache key prefix or clear hook; set cache_key_prefix "
                             "or cache_clear_url in the services file")

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Fail with the reason: deleted keys cannot be brought back."""
        started = datetime.now(UTC)
        return _result(result.request, ExecutionStatus.FAILED, started, is_rollback=True,
                       error=f"clear_cache cannot be undone: {profile_of(ActionType.CLEAR_CACHE).undo}")


def _redacted(url: str) -> str:
    """Return the URL without its password."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def _result(request: ActionRequest, status: ExecutionStatus, started: datetime, *, changes: list[str] | None = None,
            saved_state: dict[str, Any] | None = None, error: str | None = None,
            is_rollback: bool = False) -> ExecutionResult:
    verb = "undo of" if is_rollback else "execution of"
    if error:
        log.warning("incident %s: %s clear_cache on %s failed: %s", request.incident_id, verb, request.service, error)
    else:
        log.info("incident %s: %s clear_cache on %s: %s", request.incident_id, verb, request.service, status.value)
    return ExecutionResult(request=request, status=status, changes=changes or [], saved_state=saved_state or {},
                           started_at=started, finished_at=datetime.now(UTC), error=error, is_rollback=is_rollback)
