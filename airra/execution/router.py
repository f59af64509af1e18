"""Build the executor from settings and route each action to what carries it out.

Kubernetes actions go to the Kubernetes executor (or the sandbox), flag
toggles to the flag provider, cache clears to Redis or the service's hook.
Everything is wrapped in the guards, and ``AIRRA_DRY_RUN`` turns every
request into a dry run at this one place.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airra.actions import ActionType
from airra.errors import ConfigError
from airra.execution.base import ActionRequest, Executor, ExecutionResult, ExecutionStatus, ServiceState
from airra.execution.cache import CacheExecutor, RedisCacheClearer
from airra.execution.flags import FeatureFlagExecutor, FlagProvider, HttpWebhookFlagProvider, UnleashFlagProvider
from airra.execution.guards import GuardedExecutor, Guards
from airra.execution.kubernetes import KubernetesExecutor
from airra.settings import Settings
from airra.topology import Topology

log = logging.getLogger(__name__)

EXECUTORS = ("sandbox", "kubernetes")


class ActionRouter:
    """An ``Executor`` that hands each action type to the executor that carries it out.

    Args:
        base: runs every action type without a dedicated executor.
        flags: runs ``toggle_feature_flag``; None means toggles fail with a how-to.
        cache: runs ``clear_cache``; None sends it to ``base``.
        dry_run: mark every request as a dry run before routing it.
        flags_required: with no ``flags`` executor, fail toggles with a how-to
            instead of sending them to ``base`` (the sandbox keeps its own flags).
    """

    def __init__(self, base: Executor, *, flags: Executor | None = None, cache: Executor | None = None,
                 dry_run: bool = False, flags_required: bool = False) -> None:
        self.base = base
        self.flags = flags
        self.cache = cache
        self.dry_run = dry_run
        self._flags_required = flags_required

    def _route(self, action_type: ActionType) -> Executor | None:
        if action_type is ActionType.TOGGLE_FEATURE_FLAG and (self.flags is not None or self._flags_required):
            return self.flags
        if action_type is ActionType.CLEAR_CACHE and self.cache is not None:
            return self.cache
        return self.base

    async def service_state(self, service: str) -> ServiceState:
        """Return the base executor's state, with flag values from the flag provider when there is one."""
        state = await self.base.service_state(service)
        if self.flags is not None:
            try:
                flags = (await self.flags.service_state(service)).feature_flags
                state = state.model_copy(update={"feature_flags": {**state.feature_flags, **flags}})
            except Exception as exc:  # noqa: BLE001 - the cluster state is still useful without flags
                log.warning("reading the feature flags of %s failed: %s", service, exc)
        return state

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Run ``request`` on the executor for its action type."""
        if self.dry_run and not request.dry_run:
            request = request.model_copy(update={"dry_run": True})
        executor = self._route(request.action_type)
        if executor is None:
            return _failed(request, "no feature flag provider is configured; set AIRRA_FLAG_PROVIDER to webhook or "
                                    "unleash, with AIRRA_FLAG_URL and AIRRA_FLAG_TOKEN")
        return await executor.execute(request)

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Undo ``result`` on the executor that ran it."""
        if self.dry_run and not result.request.dry_run:
            result = result.model_copy(update={"request": result.request.model_copy(update={"dry_run": True})})
        executor = self._route(result.request.action_type)
        if executor is None:
            return _failed(result.request, "no feature flag provider is configured to undo the toggle with",
                           is_rollback=True)
        return await executor.rollback(result)


def _failed(request: ActionRequest, error: str, *, is_rollback: bool = False) -> ExecutionResult:
    now = datetime.now(UTC)
    log.warning("incident %s: %s on %s failed: %s", request.incident_id, request.action_type.value,
                request.service, error)
    return ExecutionResult(request=request, status=ExecutionStatus.FAILED, started_at=now, finished_at=now,
                           error=error, is_rollback=is_rollback)


def build_flag_provider(settings: Settings) -> FlagProvider | None:
    """Return the configured flag provider, or None when ``flag_provider`` is unset.

    Raises:
        ConfigError: for an unknown provider or a missing URL or token.
    """
    kind = (settings.flag_provider or "").strip().lower()
    if not kind:
        return None
    if not settings.flag_url:
        raise ConfigError(f"AIRRA_FLAG_PROVIDER={kind} needs AIRRA_FLAG_URL; set the flag service's URL")
    if kind == "webhook":
        return HttpWebhookFlagProvider(settings.flag_url, settings.flag_token)
    if kind == "unleash":
        if settings.flag_token is None:
            raise ConfigError("AIRRA_FLAG_PROVIDER=unleash needs AIRRA_FLAG_TOKEN, an Unleash admin API token")
        return UnleashFlagProvider(settings.flag_url, settings.flag_token, project=settings.unleash_project,
                                   environment=settings.unleash_environment)
    raise ConfigError(f"unknown AIRRA_FLAG_PROVIDER {settings.flag_provider!r}; use webhook or unleash")


def build_executor(settings: Settings, topology: Topology, *, guards: Guards | None = None,
                   api_client: Any = None) -> GuardedExecutor:
    """Build the guarded executor that ``settings.executor`` names.

    A Kubernetes configuration that cannot load is only logged here: live
    mode fails closed on each action with the reason, and the sandbox stays
    usable for demos on machines without a cluster.

    Raises:
        ConfigError: for an unknown executor or an incomplete flag provider setting.
    """
    kind = settings.executor.strip().lower()
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown AIRRA_EXECUTOR {settings.executor!r}; use one of: {', '.join(EXECUTORS)}")
    guards = guards or Guards(settings, topology, settings.data_dir)

    if kind == "sandbox":
        from airra.sandbox.cluster import SandboxCluster

        log.info("executor: sandbox cluster%s", " (dry run)" if settings.dry_run else "")
        return GuardedExecutor(ActionRouter(SandboxCluster(topology), dry_run=settings.dry_run), guards)

    kubernetes = KubernetesExecutor(topology, api_client=api_client, dry_run=settings.dry_run,
                                    rollout_poll_s=settings.rollout_poll_s)
    problem = kubernetes.check_config()
    if problem is not None:
        log.warning("executor: Kubernetes is not usable yet, every action will fail until it is: %s", problem)

    provider = build_flag_provider(settings)
    flags = FeatureFlagExecutor(provider, topology, dry_run=settings.dry_run) if provider is not None else None
    redis = (RedisCacheClearer(settings.redis_url.get_secret_value(), batch_size=settings.redis_scan_batch)
             if settings.redis_url is not None else None)
    cache = CacheExecutor(topology, redis=redis, dry_run=settings.dry_run)

    log.info("executor: kubernetes%s, flags via %s, cache via %s", " (dry run)" if settings.dry_run else "",
             settings.flag_provider or "nothing", "Redis" if redis else "HTTP hooks only")
    router = ActionRouter(kubernetes, flags=flags, cache=cache, dry_run=settings.dry_run, flags_required=True)
    return GuardedExecutor(router, guards)
