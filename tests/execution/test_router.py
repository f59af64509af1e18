"""build_executor: which executor runs each action, dry-run mode and settings errors."""

from __future__ import annotations

import pytest
from kubernetes import client

from airra.actions import ActionType, ClearCacheParams, ScaleParams, ToggleFeatureFlagParams
from airra.errors import ConfigError
from airra.execution.base import ActionRequest, ExecutionStatus
from airra.execution.flags import UnleashFlagProvider
from airra.execution.guards import GuardedExecutor
from airra.execution.router import build_executor, build_flag_provider
from airra.settings import Settings


def _request(service: str, action: ActionType, params) -> ActionRequest:
    return ActionRequest(incident_id="inc-4", action_type=action, service=service, params=params)


def _api_client(standin) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = standin.host
    return client.ApiClient(configuration)


async def test_sandbox_executor_is_guarded(topology, data_dir):
    executor = build_executor(Settings(data_dir=data_dir), topology)

    scaled = await executor.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=4)))
    blocked = await executor.execute(_request("payment-provider", ActionType.SCALE_UP, ScaleParams(replicas=4)))

    assert isinstance(executor, GuardedExecutor)
    assert scaled.status is ExecutionStatus.SUCCEEDED
    assert blocked.blocked_by == "allowed_actions"


async def test_dry_run_setting_applies_to_every_request(topology, data_dir):
    executor = build_executor(Settings(data_dir=data_dir, dry_run=True), topology)

    result = await executor.execute(_request("cart", ActionType.SCALE_UP, ScaleParams(replicas=4)))
    state = await executor.service_state("cart")

    assert result.status is ExecutionStatus.DRY_RUN
    assert state.replicas == 3


async def test_kubernetes_routes_each_action(topology, data_dir, standin, redis_url):
    settings = Settings(data_dir=data_dir, executor="kubernetes", redis_url=redis_url)
    executor = build_executor(settings, topology, api_client=_api_client(standin))

    scaled = await executor.execute(_request("orders", ActionType.SCALE_UP, ScaleParams(replicas=4)))
    cleared = await executor.execute(_request("catalog", ActionType.CLEAR_CACHE, ClearCacheParams()))
    toggled = await executor.execute(_request("search", ActionType.TOGGLE_FEATURE_FLAG,
                                              ToggleFeatureFlagParams(flag="semantic-search", enabled=False)))

    assert scaled.status is ExecutionStatus.SUCCEEDED, scaled.error
    assert standin.deployments[("shop", "orders")]["spec"]["replicas"] == 4
    assert cleared.status is ExecutionStatus.SUCCEEDED, cleared.error
    assert cleared.changes == ["deleted 0 Redis keys under 'catalog:'"]
    assert toggled.status is ExecutionStatus.FAILED
    assert "AIRRA_FLAG_PROVIDER" in toggled.error


async def test_kubernetes_dry_run_sends_nothing(topology, data_dir, standin):
    settings = Settings(data_dir=data_dir, executor="kubernetes", dry_run=True)
    executor = build_executor(settings, topology, api_client=_api_client(standin))

    result = await executor.execute(_request("orders", ActionType.SCALE_UP, ScaleParams(replicas=4)))

    assert result.status is ExecutionStatus.DRY_RUN
    assert standin.mutating_requests() == []


async def test_kubernetes_without_config_fails_per_action(topology, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    executor = build_executor(Settings(data_dir=data_dir, executor="kubernetes"), topology)

    result = await executor.execute(_request("orders", ActionType.SCALE_UP, ScaleParams(replicas=4)))

    assert result.status is ExecutionStatus.FAILED
    assert "no Kubernetes configuration" in result.error


def test_unknown_executor_is_rejected(topology, data_dir):
    with pytest.raises(ConfigError, match="unknown AIRRA_EXECUTOR 'docker'"):
        build_executor(Settings(data_dir=data_dir, executor="docker"), topology)


def test_flag_provider_settings():
    assert build_flag_provider(Settings()) is None
    unleash = build_flag_provider(Settings(flag_provider="unleash", flag_url="http://127.0.0.1:4242",
                                           flag_token="t", unleash_project="shop"))
    assert isinstance(unleash, UnleashFlagProvider)
    assert unleash.project == "shop"
    with pytest.raises(ConfigError, match="needs AIRRA_FLAG_TOKEN"):
        build_flag_provider(Settings(flag_provider="unleash", flag_url="http://127.0.0.1:4242"))
    with pytest.raises(ConfigError, match="needs AIRRA_FLAG_URL"):
        build_flag_provider(Settings(flag_provider="webhook"))
    with pytest.raises(ConfigError, match="use webhook or unleash"):
        build_flag_provider(Settings(flag_provider="launchdarkly", flag_url="http://127.0.0.1:1"))
