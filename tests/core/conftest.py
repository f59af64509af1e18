"""Fixtures of the decision-core tests: small topologies built inline."""

from __future__ import annotations

from typing import Any

import pytest

from airra.topology import Topology, parse_services


def make_topology(*services: dict[str, Any], defaults: dict[str, Any] | None = None) -> Topology:
    """Build a validated topology from service entries, as the services file would list them."""
    document = {"defaults": defaults or {}, "services": list(services)}
    return Topology(parse_services(document, source="<test>"), source="<test>")


@pytest.fixture
def star_topology() -> Topology:
    """core (critical) with three services downstream: edge -> mid -> core, side -> core."""
    return make_topology(
        {"name": "core", "criticality": "critical", "allowed_actions": ["scale_up", "restart_pod"]},
        {"name": "mid", "depends_on": ["core"]},
        {"name": "edge", "depends_on": ["mid"]},
        {"name": "side", "depends_on": ["core"]},
    )
