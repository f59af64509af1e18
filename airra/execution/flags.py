"""Feature flags: a provider interface, two providers and the toggle executor.

``HttpWebhookFlagProvider`` speaks a minimal JSON protocol that any flag
service can be fronted with. ``UnleashFlagProvider`` uses Unleash's admin
API: ``GET /api/admin/projects/{project}/features/{feature}`` returns the
feature with an ``environments`` list of ``{"name", "enabled"}``, and
``POST .../features/{feature}/environments/{env}/on`` (or ``/off``) sets it;
the admin token goes in the ``Authorization`` header as issued.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from airra.actions import ActionType, ToggleFeatureFlagParams
from airra.errors import ExecutionError, UnknownServiceError
from airra.execution.base import ActionRequest, ExecutionResult, ExecutionStatus, ServiceState
from airra.topology import Topology

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


@runtime_checkable
class FlagProvider(Protocol):
    """Reads and sets boolean feature flags.

    Both methods raise ``ExecutionError`` naming the flag and the cause when
    the flag service cannot be reached or rejects the request.
    """

    async def get(self, flag: str) -> bool: ...

    async def set(self, flag: str, enabled: bool) -> None: ...


def _token_value(token: SecretStr | str | None) -> str | None:
    if token is None:
        return None
    return token.get_secret_value() if isinstance(token, SecretStr) else token


async def _request_json(method: str, url: str, *, headers: dict[str, str], timeout_s: float,
                        json_body: Any = None, what: str) -> Any:
    """Send one request and return its JSON body (None when empty).

    Raises:
        ExecutionError: naming ``what``, the URL and the status or network error.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, headers=headers, json=json_body) as response:
                text = await response.text()
                if response.status >= 400:
                    raise ExecutionError(f"{what} failed: {method} {url} returned {response.status}: {text[:200]}")
                if not text.strip():
                    return None
                try:
                    return await response.json(content_type=None)
                except ValueError:
                    raise ExecutionError(f"{what} failed: {method} {url} returned invalid JSON: {text[:200]}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ExecutionError(f"{what} failed: {method} {url} is unreachable ({type(exc).__name__}: {exc}); "
                             "check the flag service URL") from None


class HttpWebhookFlagProvider:
    """Flags behind a generic JSON endpoint.

    ``GET {url}/{flag}`` returns ``{"enabled": true|false}``; ``PUT {url}/{flag}``
    with the same body sets it. The token, when given, is sent as a bearer token.
    """

    def __init__(self, url: str, token: SecretStr | str | None = None, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._token = _token_value(token)
        self.timeout_s = timeout_s

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def get(self, flag: str) -> bool:
        """Return the flag's value."""
        body = await _request_json("GET", f"{self.url}/{quote(flag, safe='')}", headers=self._headers(),
                                   timeout_s=self.timeout_s, what=f"reading flag {flag!r}")
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            raise ExecutionError(f"reading flag {flag!r} failed: expected {{\"enabled\": true|false}}, got {body!r}")
        return body["enabled"]

    async def set(self, flag: str, enabled: bool) -> None:
        """Set the flag to ``enabled``."""
        await _request_json("PUT", f"{self.url}/{quote(flag, safe='')}", headers=self._headers(),
                            timeout_s=self.timeout_s, json_body={"enabled": enabled},
                            what=f"setting flag {flag!r}")


class UnleashFlagProvider:
    """Flags of one Unleash project and environment, through the admin API."""

    def __init__(self, url: str, token: SecretStr | str, *, project: str = "default",
                 environment: str = "production", timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._token = _token_value(token)
        self.project = project
        self.environment = environment
        self.timeout_s = timeout_s

    def _feature_url(self, flag: str) -> str:
        return f"{self.url}/api/admin/projects/{quote(self.project, safe='')}/features/{quote(flag, safe='')}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self._token or "", "Accept": "application/json"}

    async def get(self, flag: str) -> bool:
        """Return whether the flag is enabled in the configured environment."""
        body = await _request_json("GET", self._feature_url(flag), headers=self._headers(),
                                   timeout_s=self.timeout_s, what=f"reading Unleash flag {flag!r}")
        environments = body.get("environments", []) if isinstance(body, dict) else []
        for environment in environments:
            if environment.get("name") == self.environment:
                return bool(environment.get("enabled"))
        known = ", ".join(str(e.get("name")) for e in environments) or "none"
        raise ExecutionError(f"Unleash flag {flag!r} has no environment {self.environment!r} "
                             f"(its environments: {known}); set AIRRA_UNLEASH_ENVIRONMENT")

    async def set(self, flag: str, enabled: bool) -> None:
        """Switch the flag on or off in the configured environment."""
        switch = "on" if enabled else "off"
        url = f"{self._feature_url(flag)}/environments/{quote(self.environment, safe='')}/{switch}"
        await _request_json("POST", url, headers=self._headers(), timeout_s=self.timeout_s,
                            what=f"switching Unleash flag {flag!r} {switch}")


class FeatureFlagExecutor:
    """Executes ``toggle_feature_flag`` through a ``FlagProvider``.

    Only flags listed under the service's ``feature_flags`` may be toggled,
    so a typo cannot switch off an unrelated feature.
    """

    def __init__(self, provider: FlagProvider, topology: Topology, *, dry_run: bool = False) -> None:
        self.provider = provider
        self.topology = topology
        self.dry_run = dry_run

    async def service_state(self, service: str) -> ServiceState:
        """Return the service's flags with their current values."""
        flags = {flag: await self.provider.get(flag) for flag in self.topology.service(service).feature_flags}
        return ServiceState(service=service, feature_flags=flags)

    async def execute(self, request: ActionRequest) -> ExecutionResult:
        """Set the flag, saving its previous value for undo."""
        started = datetime.now(UTC)
        try:
            flag, enabled = self._check(request)
            previous = await self.provider.get(flag)
            change = f"set feature flag {flag} of {request.service} from {_on_off(previous)} to {_on_off(enabled)}"
            if self.dry_run or request.dry_run:
                log.info("incident %s: dry run, would %s", request.incident_id, change)
                return _result(request, ExecutionStatus.DRY_RUN, started, changes=[f"would {change}"],
                               saved_state={"flag": flag, "enabled": previous})
            await self.provider.set(flag, enabled)
        except (ExecutionError, UnknownServiceError) as exc:
            return _result(request, ExecutionStatus.FAILED, started, error=str(exc))
        return _result(request, ExecutionStatus.SUCCEEDED, started, changes=[change],
                       saved_state={"flag": flag, "enabled": previous})

    async def rollback(self, result: ExecutionResult) -> ExecutionResult:
        """Restore the flag's saved previous value."""
        started = datetime.now(UTC)
        request = result.request
        if result.is_rollback or result.status is not ExecutionStatus.SUCCEEDED or "flag" not in result.saved_state:
            return _result(request, ExecutionStatus.FAILED, started, is_rollback=True,
                           error=f"nothing to undo: the toggle's status is {result.status.value}")
        flag, previous = result.saved_state["flag"], bool(result.saved_state["enabled"])
        change = f"restored feature flag {flag} of {request.service} to {_on_off(previous)}"
        if self.dry_run or request.dry_run:
            return _result(request, ExecutionStatus.DRY_RUN, started, changes=[f"would have {change}"],
                           is_rollback=True)
        try:
            await self.provider.set(flag, previous)
        except ExecutionError as exc:
            return _result(request, ExecutionStatus.FAILED, started, is_rollback=True, error=str(exc))
        return _result(request, ExecutionStatus.SUCCEEDED, started, changes=[change], is_rollback=True)

    def _check(self, request: ActionRequest) -> tuple[str, bool]:
        if request.action_type is not ActionType.TOGGLE_FEATURE_FLAG or not isinstance(
                request.params, ToggleFeatureFlagParams):
            raise ExecutionError(f"the flag executor runs toggle_feature_flag only, not {request.action_type.value}")
        service = self.topology.service(request.service)
        flag = request.params.flag
        if flag not in service.feature_flags:
            known = ", ".join(service.feature_flags) or "none"
            raise ExecutionError(f"flag {flag!r} is not listed for service {service.name} (its flags: {known}); "
                                 "add it to feature_flags in the services file")
        return flag, request.params.enabled


def _on_off(enabled: bool) -> str:
    return "on" if enabled else "off"


def _result(request: ActionRequest, status: ExecutionStatus, started: datetime, *, changes: list[str] | None = None,
            saved_state: dict[str, Any] | None = None, error: str | None = None,
            is_rollback: bool = False) -> ExecutionResult:
    verb = "undo of" if is_rollback else "execution of"
    if error:
        log.warning("incident %s: %s toggle_feature_flag on %s failed: %s", request.incident_id, verb,
                    request.service, error)
    else:
        log.info("incident %s: %s toggle_feature_flag on %s: %s", request.incident_id, verb, request.service,
                 status.value)
    return ExecutionResult(request=request, status=status, changes=changes or [], saved_state=saved_state or {},
                           started_at=started, finished_at=datetime.now(UTC), error=error, is_rollback=is_rollback)
