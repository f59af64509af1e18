"""One settings model, read once at start-up and passed down.

Every field is an environment variable: ``AIRRA_`` plus the field name in
upper case, except the Slack credentials, which keep Slack's own names.
README.md lists every setting with its default.
"""

from __future__ import annotations

from pathlib import Path

from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from airra.topology import DEFAULT_SERVICES_FILE


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


class Settings(BaseSettings):
    """AIRRA's settings. Units are in the names (``_s`` seconds, ``_usd`` dollars)."""

    # allow_inf_nan=False: "inf" or "nan" parse as floats, and an infinite wait or window hangs or overflows later.
    model_config = SettingsConfigDict(env_prefix="AIRRA_", extra="ignore", populate_by_name=True, allow_inf_nan=False)

    # --- Topology and storage ---
    services_file: Path = Field(default=DEFAULT_SERVICES_FILE, description="services YAML file")
    data_dir: Path = Field(default=Path("data"), description="directory of the JSONL stores and bot state")

    # --- Metrics ---
    prometheus_url: str | None = Field(default=None, description="Prometheus base URL; unset means the sandbox")
    prometheus_token: SecretStr | None = Field(default=None, description="bearer token for Prometheus")
    prometheus_username: str | None = Field(default=None, description="basic-auth user for Prometheus")
    prometheus_password: SecretStr | None = Field(default=None, description="basic-auth password for Prometheus")
    prometheus_verify_tls: bool = Field(default=True, description="verify the Prometheus TLS certificate")
    prometheus_client: Literal["aiohttp", "prometheus-api-client"] = Field(
        default="aiohttp", description="HTTP client of the PromQL queries: aiohttp on the event loop, "
                                       "or prometheus-api-client (requests) in worker threads")
    query_timeout_s: float = Field(default=5.0, gt=0, description="timeout of one PromQL query")
    rate_window: str = Field(default="5m", description="range of rate() in the default queries")
    queries_file: Path | None = Field(default=None, description="YAML file overriding the PromQL per signal/service")

    # --- Alert intake ---
    webhook_token: SecretStr | None = Field(default=None, description="bearer token Alertmanager must send")
    alertmanager_url: str | None = Field(default=None, description="Alertmanager base URL, for silences")
    grouping_window_s: float = Field(default=300.0, ge=0, description="alerts of one service within this window join one incident")
    reopen_window_s: float = Field(default=900.0, ge=0, description="a re-fire within this time after resolution reopens the incident")

    # --- Decision policy ---
    min_confidence: float = Field(default=0.30, ge=0, le=1, description="below this no action is proposed")
    auto_max_risk: float = Field(default=0.10, ge=0, le=1, description="max adjusted risk of an automatic action")
    auto_min_confidence: float = Field(default=0.80, ge=0, le=1, description="min confidence of an automatic action")
    auto_enabled: bool = Field(default=True, description="allow actions the policy marks automatic to run unapproved")
    two_approver_cost_usd: float = Field(default=10_000.0, ge=0, description="worst-case cost from which two approvers are needed")

    # --- Execution ---
    executor: str = Field(default="sandbox", description="sandbox or kubernetes")
    dry_run: bool = Field(default=False, description="log the exact requests of each action and change nothing")
    max_auto_actions_per_hour: int = Field(default=3, ge=0, description="automatic actions per service per hour")
    rollback_cooldown_s: float = Field(default=900.0, ge=0, description="no action on a service this long after a rollback of it")
    rollout_poll_s: float = Field(default=2.0, gt=0, description="interval between Kubernetes rollout status reads")
    flag_provider: str | None = Field(default=None, description="feature flag service: webhook or unleash; unset disables toggles")
    flag_url: str | None = Field(default=None, description="flag webhook URL, or the Unleash base URL")
    flag_token: SecretStr | None = Field(default=None, description="bearer token of the flag webhook, or the Unleash admin token")
    unleash_project: str = Field(default="default", description="Unleash project of the service flags")
    unleash_environment: str = Field(default="production", description="Unleash environment that toggles switch")
    redis_url: SecretStr | None = Field(default=None, description="Redis URL for clear_cache, e.g. redis://cache:6379/0")
    redis_scan_batch: int = Field(default=500, ge=1, description="keys per SCAN COUNT and per UNLINK")

    # --- Verification and learning ---
    verify_wait_s: float = Field(default=60.0, ge=0, description="stabilisation wait before sampling")
    verify_samples: int = Field(default=3, ge=1, description="metric samples taken after the wait")
    verify_interval_s: float = Field(default=15.0, ge=0, description="time between post-action samples")
    partial_success_counts: bool = Field(default=False, description="count PARTIAL_SUCCESS as a success in calibration")

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
                                              description="bot token (xoxb-), OAuth & Permissions page of the app")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
                                                   description="signing secret, Basic Information page; HTTP mode")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
                                              description="app-level token (xapp-) with connections:write; enables Socket Mode")
    slack_api_url: str | None = Field(default=None, description="Slack Web API base URL; only for tests and the demo")
    default_channel: str | None = Field(default=None, description="channel for webhook incidents with no per-service channel")
    approvers: CommaList = Field(default_factory=list, description="Slack user ids allowed to approve")
    approver_group: str | None = Field(default=None, description="Slack user group id whose members may approve")
    forbid_self_approval: bool = Field(default=False, description="the user who opened an incident may not approve its action")
    approval_ttl_s: float = Field(default=3600.0, gt=0, description="a proposal expires this long after it was posted")

    # --- HTTP server ---
    host: str = Field(default="127.0.0.1", description="address the HTTP server binds")
    port: int = Field(default=3000, ge=0, le=65535, description="port of /slack/events, /alertmanager, /healthz and /metrics")

    @field_validator("services_file", mode="before")
    @classmethod
    def _services_file_given(cls, value: object) -> object:
        # An empty variable would become Path(""), the current directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty, which would read the current directory as the services file")
        return value

    @field_validator("prometheus_url", "alertmanager_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # Without a scheme every request fails later, seen only as unavailable metrics or failed silences.
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("should be an http:// or https:// URL")
        return value
