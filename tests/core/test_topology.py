"""Loading the services file: every validation error names the file, the service and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from airra.criticality import Criticality
from airra.errors import TopologyError, UnknownServiceError
from airra.topology import Topology


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "services.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_file_loads(topology: Topology) -> None:
    assert 15 <= len(topology) <= 25
    assert topology.service("payment-service").criticality is Criticality.CRITICAL
    assert topology.resolve("Payments") == "payment-service"


def test_defaults_apply(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  criticality: high\n  users_per_rps: 4\nservices:\n"
                           "  - name: a\n  - name: b\n    criticality: low\n")
    topology = Topology.load(path)
    assert topology.service("a").criticality is Criticality.HIGH
    assert topology.service("a").users_per_rps == 4
    assert topology.service("b").criticality is Criticality.LOW


def test_unknown_dependency(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    depends_on: [ghost]\n")
    with pytest.raises(TopologyError) as error:
        Topology.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: service 'a' depends on unknown service 'ghost'")
    assert "add it to the services list or remove it from depends_on" in message


def test_bad_criticality_word(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    criticality: severe\n")
    with pytest.raises(TopologyError) as error:
        Topology.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: service 'a': criticality:")
    assert "'severe' is not one of: low, medium, high, critical" in message


def test_criticality_word_is_case_insensitive(tmp_path: Path) -> None:
    topology = Topology.load(write(tmp_path, "services:\n  - name: a\n    criticality: HIGH\n"))
    assert topology.service("a").criticality is Criticality.HIGH


def test_duplicate_names(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n  - name: a\n")
    with pytest.raises(TopologyError, match="service 'a' is listed twice; rename or merge the two entries"):
        Topology.load(path)


def test_min_above_max_replicas(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    min_replicas: 5\n    max_replicas: 2\n")
    with pytest.raises(TopologyError) as error:
        Topology.load(path)
    assert "service 'a'" in str(error.value)
    assert "min_replicas (5) is greater than max_replicas (2); lower min_replicas or raise max_replicas" in str(
        error.value)


def test_unknown_action(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    allowed_actions: [reboot]\n")
    with pytest.raises(TopologyError, match="service 'a': allowed_actions.0"):
        Topology.load(path)


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    criticallity: high\n")
    with pytest.raises(TopologyError, match="service 'a': criticallity: Extra inputs are not permitted"):
        Topology.load(path)


def test_missing_name(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - depends_on: [b]\n")
    with pytest.raises(TopologyError, match=r"services\[0\] has no 'name'; give every service a name"):
        Topology.load(path)


def test_missing_services_list(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="expected a mapping with a 'services' list at the top level"):
        Topology.load(write(tmp_path, "- name: a\n"))


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="invalid YAML"):
        Topology.load(write(tmp_path, "services: [\n"))


def test_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(TopologyError, match="services file not found; set AIRRA_SERVICES_FILE"):
        Topology.load(missing)


def test_cycles_are_legal(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    depends_on: [b]\n  - name: b\n    depends_on: [a]\n"
                           "  - name: c\n    depends_on: [a]\n")
    topology = Topology.load(path)
    assert topology.downstream("a") == {"b": 1, "c": 1}
    assert topology.upstream("c") == {"a": 1, "b": 2}


def test_self_dependency_is_not_downstream(tmp_path: Path) -> None:
    topology = Topology.load(write(tmp_path, "services:\n  - name: a\n    depends_on: [a]\n"))
    assert topology.downstream("a") == {}


def test_downstream_of_unknown_service(topology: Topology) -> None:
    with pytest.raises(UnknownServiceError, match="unknown service 'ordrs'.*Did you mean: orders"):
        topology.downstream("ordrs")


def test_transitive_downstream_of_database(topology: Topology) -> None:
    downstream = topology.downstream("postgres-users")
    assert downstream == {"auth": 1, "api-gateway": 2, "frontend": 3, "mobile-bff": 3}


def test_alias_naming_another_service(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: payments\n  - name: payment-service\n    aliases: [payments]\n")
    with pytest.raises(TopologyError, match="service 'payment-service' has alias 'payments', which already refers "
                                            "to 'payments'; remove the alias from one of the two services"):
        Topology.load(path)


def test_alias_claimed_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  - name: a\n    aliases: [edge]\n  - name: b\n    aliases: [Edge]\n")
    with pytest.raises(TopologyError, match="service 'b' has alias 'Edge', which already refers to 'a'"):
        Topology.load(path)


def test_alias_repeating_own_name(tmp_path: Path) -> None:
    topology = Topology.load(write(tmp_path, "services:\n  - name: a\n    aliases: [A]\n"))
    assert topology.resolve("a") == "a"
