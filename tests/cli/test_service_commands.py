"""``airra blast`` and ``airra simulate``: service names as alerts and Slack accept them, and bad action lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import CliRun


@pytest.mark.parametrize(("name", "service"), [
    ("payments", "payment-service"),
    ("Payment-Service", "payment-service"),
    ("ORDERS", "orders"),
    ("edge-gateway", "api-gateway"),
])
def test_blast_resolves_alias_and_case(airra: Callable[..., CliRun], name: str, service: str) -> None:
    run = airra("blast", name)

    assert run.code == 0, run.err
    assert run.out.startswith(f"Blast radius of {service}: ")


def test_simulate_resolves_alias(airra: Callable[..., CliRun]) -> None:
    run = airra("simulate", "Payments", "memory_leak", "--actions", "restart_pod")

    assert run.code == 0, run.err
    assert "Service: payment-service" in run.out


def test_blast_unknown_name_suggests(airra: Callable[..., CliRun]) -> None:
    run = airra("blast", "paymnt-service")

    assert run.code == 2
    assert run.err.startswith("airra: unknown service 'paymnt-service': it is not in the services file. "
                              "Did you mean: payment-service")


def test_simulate_action_not_allowed(airra: Callable[..., CliRun]) -> None:
    # shipping's allowed_actions leave out drain_node. Simulated anyway, drain_node
    # would be the "best action" for node_failure although the guards block it.
    run = airra("simulate", "shipping", "node_failure", "--actions", "scale_up,drain_node")

    assert run.code == 2
    assert run.out == ""
    assert run.err == ("airra: drain_node is not in the allowed_actions of shipping (scale_up, clear_cache, "
                       "toggle_feature_flag, scale_down, restart_pod, rollback_deployment); simulate those, "
                       "or add drain_node to allowed_actions in the services file\n")


@pytest.mark.parametrize("actions", [",,", " ", ""])
def test_simulate_empty_action_list(airra: Callable[..., CliRun], actions: str) -> None:
    run = airra("simulate", "orders", "cpu_spike", "--actions", actions)

    assert run.code == 2
    assert run.out == ""
    assert run.err == (f"airra: --actions {actions!r} names no action; give comma-separated action types "
                       "such as scale_up,restart_pod, or leave --actions out to simulate every allowed action\n")


def test_simulate_protected_service_explains(airra: Callable[..., CliRun], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A broker whose file allows restart_pod: the guards still block it, and the
    # report keeps the row and explains why it is never proposed.
    services_file = tmp_path / "services.yaml"
    services_file.write_text("services:\n  - name: queue\n    kind: broker\n"
                             "    allowed_actions: [scale_up, restart_pod]\n", encoding="utf-8")
    monkeypatch.setenv("AIRRA_SERVICES_FILE", str(services_file))

    run = airra("simulate", "queue", "network_issue", "--actions", "restart_pod")

    assert run.code == 0, run.err
    assert "queue is a protected broker; disruptive actions are never proposed" in run.out
    assert "BEST ACTION: NONE" in run.out


def test_simulate_lists_actions_left_out(airra: Callable[..., CliRun]) -> None:
    # payment-provider is external and allows no action: the report explains why nothing was simulated.
    run = airra("simulate", "payment-provider", "network_issue")

    assert run.code == 0, run.err
    assert "BEST ACTION: NONE" in run.out
    assert run.out.endswith("Not simulated: scale_up, clear_cache, toggle_feature_flag, scale_down, restart_pod, "
                            "rollback_deployment, drain_node (not in the service's allowed_actions)\n")


def test_simulate_names_disallowed_actions(airra: Callable[..., CliRun]) -> None:
    run = airra("simulate", "redis", "cache_issue")

    assert run.code == 0, run.err
    assert run.out.endswith("Not simulated: toggle_feature_flag, scale_down, restart_pod, rollback_deployment, "
                            "drain_node (not in the service's allowed_actions)\n")
