"""Each benchmark at smoke size: it produces its numbers and the run's correctness conditions hold.

No timing is asserted: these runs prove that the harness works, and the
full-size runs in BENCHMARKS.md carry the measurements.
"""

from __future__ import annotations

import math

import pytest

from bench import ack_latency, alert_storm, alert_to_card, large_stores, large_topology, memory
from bench.common import BenchResult


def _assert_complete(result: BenchResult, keys: list[str]) -> None:
    for key in keys:
        assert key in result.values, f"{result.name} did not measure {key}"
        assert not math.isnan(result.values[key]), f"{result.name}: {key} is NaN"
    failed = [name for name, passed in result.checks.items() if not passed]
    assert failed == []
    assert result.targets, f"{result.name} holds no value to a target"
    assert f"## {result.title}" in result.render()


def test_large_topology_smoke() -> None:
    result = large_topology.run(smoke=True, command="smoke")

    _assert_complete(result, ["load_s", "airra_ms", "bare_ms", "ratio", "median_downstream"])
    assert result.values["services"] == 300
    assert result.values["dependencies"] == 1500


def test_generated_graph_has_exact_edges() -> None:
    graph = large_topology.generate_services(50, 120, seed=3)

    assert len(graph) == 50
    assert sum(len(depends_on) for depends_on in graph.values()) == 120
    assert all(dependency > name for name, depends_on in graph.items() for dependency in depends_on)


def test_large_stores_smoke() -> None:
    result = large_stores.run(smoke=True, command="smoke")

    _assert_complete(result, ["calibration_s", "calibration_bare_s", "feedback_s", "feedback_bare_s",
                              "calibration_ratio", "feedback_ratio", "calibration_peak_mb"])
    assert result.values["records"] == 2000


def test_alert_storm_smoke() -> None:
    result = alert_storm.run(smoke=True, command="smoke")

    _assert_complete(result, ["total_s", "peak_rss_mb"])
    assert result.values["alerts_attached"] == 60
    assert result.values["lost"] == 0
    assert result.values["incidents"] == 6
    assert result.values["max_cards"] == 1
    assert result.values["rate_limited"] == 2
    assert result.values["unhandled_429"] == 0


def test_memory_smoke() -> None:
    result = memory.run(smoke=True, command="smoke")

    _assert_complete(result, ["idle_mb", "final_mb", "per_incident_kb"])
    assert result.values["incidents"] == 20


def test_ack_latency_smoke() -> None:
    result = ack_latency.run(smoke=True, command="smoke")

    _assert_complete(result, ["airra_p50", "airra_p99", "bare_p50", "bare_p99", "ratio_p99",
                              "airra_p99_storm", "bare_p99_storm"])
    assert result.values["alerts_attached"] >= 21


@pytest.mark.integration
def test_alert_to_card_smoke() -> None:
    result = alert_to_card.run(smoke=True, command="smoke")

    _assert_complete(result, ["card_ms", "slowest_query_ms", "ratio"])
    assert result.values["queries_per_incident"] > 0
