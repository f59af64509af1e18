from __future__ import annotations

import pytest

from airra.intake.normalise import (
    SERVICE_LABELS,
    is_missing,
    label_fingerprint,
    present_labels,
    resolve_service,
)
from airra.topology import Topology


@pytest.mark.parametrize("label", SERVICE_LABELS)
def test_each_fallback_label_resolves(label: str, topology: Topology) -> None:
    assert resolve_service({label: "inventory"}, topology) == "inventory"


def test_service_label_wins_over_later_labels(topology: Topology) -> None:
    labels = {"job": "cart", "app": "search", "service": "orders"}
    assert resolve_service(labels, topology) == "orders"


def test_unknown_value_falls_through_to_next_label(topology: Topology) -> None:
    labels = {"service": "not-a-service", "job": "kubernetes-pods", "container": "shipping"}
    assert resolve_service(labels, topology) == "shipping"


@pytest.mark.parametrize("missing", ["", "   ", "<no value>"])
def test_missing_values_are_skipped(missing: str, topology: Topology) -> None:
    assert resolve_service({"service": missing, "app": "catalog"}, topology) == "catalog"


def test_alias_from_topology_resolves(topology: Topology) -> None:
    assert resolve_service({"job": "Edge-Gateway"}, topology) == "api-gateway"
    assert resolve_service({"service": "payments"}, topology) == "payment-service"


def test_pod_name_is_last_resort(topology: Topology) -> None:
    assert resolve_service({"pod": "fraud-detection-7d9f8b6c5-x2k4q"}, topology) == "fraud-detection"
    assert resolve_service({"pod": "postgres-users-0"}, topology) == "postgres-users"
    assert resolve_service({"pod": "fraud-detection"}, topology) is None


def test_no_resolvable_label_is_unscoped(topology: Topology) -> None:
    assert resolve_service({"alertname": "Watchdog", "instance": "10.0.0.7:9100"}, topology) is None
    assert resolve_service({}, topology) is None


def test_is_missing_and_present_labels() -> None:
    assert is_missing(None)
    assert is_missing("<no value>")
    assert not is_missing("0")
    assert present_labels({"a": "", "b": "<no value>", "c": "x"}) == {"c": "x"}


def test_label_fingerprint_ignores_label_order() -> None:
    first = label_fingerprint("HighErrorRate", {"service": "cart", "severity": "page"})
    second = label_fingerprint("HighErrorRate", {"severity": "page", "service": "cart"})
    other = label_fingerprint("HighErrorRate", {"service": "orders", "severity": "page"})

    assert first == second
    assert first != other
    assert len(first) == 16
