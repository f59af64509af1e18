"""The numbers the commands print, recomputed from the tables and formulas of docs/formulas.md and docs/learning.md.

The tables are copied here by hand, not imported, so that a change to the
code that the documentation does not follow fails these tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from airra.topology import Topology
from tests.cli.conftest import CliRun
from tests.cli.records import outcome, write_lines

# Section 1: criticality -> (blast weight, risk multiplier).
CRITICALITY = {"low": (0.2, 0.8), "medium": (0.5, 1.0), "high": (0.7, 1.2), "critical": (1.0, 1.5)}

# Section 2: level -> urgency base, with the lower score bound of each level.
LEVELS = [("critical", 0.8, 5.0), ("high", 0.6, 3.5), ("medium", 0.4, 2.5), ("low", 0.2, 1.5), ("minimal", 0.0, 1.0)]

# Section 3: action -> (risk, expected down s, worst down s, recovery s, $/min, success prior).
ACTIONS = {
    "scale_up": (0.05, 0, 30, 60, 10, 0.85),
    "clear_cache": (0.10, 0, 120, 60, 20, 0.65),
    "toggle_feature_flag": (0.20, 0, 60, 30, 50, 0.75),
    "scale_down": (0.25, 0, 300, 120, 50, 0.75),
    "restart_pod": (0.35, 10, 300, 180, 100, 0.70),
    "rollback_deployment": (0.50, 60, 1800, 600, 500, 0.80),
    "drain_node": (0.60, 0, 3600, 1800, 1000, 0.60),
}

# Section 5: effectiveness of the categories simulated below; any other pair is 0.15.
EFFECTIVENESS = {
    "memory_leak": {"restart_pod": 0.70, "scale_up": 0.30},
    "cpu_spike": {"scale_up": 0.80, "restart_pod": 0.40},
    "error_spike": {"rollback_deployment": 0.85, "restart_pod": 0.50, "toggle_feature_flag": 0.40},
}

BLAST_HEADER = re.compile(r"Blast radius of (\S+): (\w+) \(score ([\d.]+), urgency ×([\d.]+)\)")
TERM = re.compile(r"= ([\d.]+)$")


@pytest.mark.parametrize("name", Topology.load().names)
def test_blast_report_matches_formula(airra: Callable[..., CliRun], topology: Topology, name: str) -> None:
    run = airra("blast", name)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    service = topology.service(name)

    header = BLAST_HEADER.match(lines[0])
    assert header is not None, lines[0]
    level, score, urgency = header.group(2).lower(), float(header.group(3)), float(header.group(4))
    terms = {line.split()[0]: float(TERM.search(line).group(1)) for line in lines[2:6]}  # type: ignore[union-attr]

    downstream = len(topology.downstream(name))
    assert terms["downstream"] == pytest.approx(0.30 * min(1, downstream / 10), abs=5e-5)
    assert terms["criticality"] == pytest.approx(0.20 * CRITICALITY[service.criticality.value][0], abs=5e-5)
    assert score == pytest.approx(sum(terms.values()), abs=2e-4)

    expected_level, _, base = next(row for row in LEVELS if score >= row[1])
    assert level == expected_level
    assert urgency == pytest.approx(min(5.0, max(1.0, base + 0.5 * score)), abs=0.0051)

    rate = re.search(r"request rate\s+([\d.]+) req/s", run.out)
    users = int(re.search(r"users impacted \(est\.\)\s+([\d,]+)", run.out).group(1).replace(",", ""))  # type: ignore[union-attr]
    revenue = float(re.search(r"revenue at risk\s+\$([\d,.]+)/h", run.out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert rate is not None
    # The rate is printed to 0.1 req/s, so users may differ by half a step of users_per_rps.
    assert abs(users - float(rate.group(1)) * service.users_per_rps) <= 0.05 * service.users_per_rps + 0.5
    assert revenue == pytest.approx(users * service.revenue_per_user_hour, abs=0.005)


@pytest.mark.parametrize(("name", "category"), [
    ("payment-service", "memory_leak"),
    ("search", "cpu_spike"),
    ("recommendations", "error_spike"),
    ("frontend", "memory_leak"),
])
def test_simulate_report_matches_formula(airra: Callable[..., CliRun], topology: Topology, name: str,
                                         category: str) -> None:
    run = airra("simulate", name, category)
    assert run.code == 0, run.err
    multiplier_match = re.search(r"urgency ×([\d.]+)\)", run.out)
    assert multiplier_match is not None
    multiplier = float(multiplier_match.group(1))
    risk_multiplier = CRITICALITY[topology.service(name).criticality.value][1]

    blocks = re.findall(r"^\d+\. ([A-Z ]+)\n(.*?)(?=^\d+\. |^=+$)", run.out, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == len(topology.service(name).allowed_actions)
    for label, block in blocks:
        action = label.strip().lower().replace(" ", "_")
        risk, expected_s, worst_s, recovery_s, per_minute, prior = ACTIONS[action]

        p_fix = float(re.search(r"Expected Improvement: ([\d.]+)%", block).group(1)) / 100  # type: ignore[union-attr]
        # Printed to 0.1 %, so it may be half a step off.
        assert p_fix == pytest.approx(prior * EFFECTIVENESS[category].get(action, 0.15), abs=5.01e-4)

        adjusted = float(re.search(r"Risk Score: ([\d.]+)", block).group(1))  # type: ignore[union-attr]
        assert adjusted == pytest.approx(min(1.0, risk * risk_multiplier), abs=5e-4)

        costs = re.search(r"Expected Cost: \$([\d,.]+) \(worst: \$([\d,.]+)\)", block)
        assert costs is not None
        expected_cost, worst_cost = (float(value.replace(",", "")) for value in costs.groups())
        # The multiplier is printed to two decimals, so the costs may be off by half a step of it.
        expected_rate = expected_s / 60 * per_minute
        worst_rate = (worst_s + recovery_s) / 60 * per_minute
        assert expected_cost == pytest.approx(expected_rate * multiplier, abs=expected_rate * 0.005 + 0.005)
        assert worst_cost == pytest.approx(worst_rate * multiplier, abs=worst_rate * 0.005 + 0.005)

        utility = float(re.search(r"Utility: (-?[\d.]+)", block).group(1))  # type: ignore[union-attr]
        assert utility == pytest.approx(p_fix - 0.5 * adjusted, abs=1.01e-3)
        if "✓ RECOMMENDED" in block:
            assert p_fix >= 0.30
            assert utility > 0


def test_calibration_ece_from_printed_bins(airra: Callable[..., CliRun], data_dir: Path) -> None:
    confidences = [0.05, 0.15, 0.3, 0.35, 0.5, 0.55, 0.62, 0.7, 0.78, 0.85, 0.9, 0.95, 1.0, 0.31, 0.69]
    statuses = ["success", "no_change", "degraded", "success", "unstable", "partial_success"]
    write_lines(data_dir / "confidence_tracking.jsonl", [
        outcome(f"r{i}", category="cpu_spike", action="scale_up", status=statuses[i % len(statuses)],
                confidence=confidence)
        for i, confidence in enumerate(confidences)
    ])

    run = airra("report", "calibration")

    assert run.code == 0, run.err
    rows = re.findall(r"^\s+\d\.\d-\d\.\d\s+([\d.]+)%\s+([\d.]+)%\s+(\d+)\s+([\d.]+)", run.out, flags=re.MULTILINE)
    counts = [int(row[2]) for row in rows]
    assert sum(counts) == len(confidences)
    ece = float(re.search(r"Expected Calibration Error \(ECE\): ([\d.]+)", run.out).group(1))  # type: ignore[union-attr]
    from_bins = sum(int(n) / len(confidences) * float(error) for _, _, n, error in rows)
    assert ece == pytest.approx(from_bins, abs=1e-3)
    successes = round(sum(int(n) * float(actual) / 100 for _, actual, n, _ in rows))
    accuracy = float(re.search(r"Overall Accuracy: ([\d.]+)%", run.out).group(1))  # type: ignore[union-attr]
    assert accuracy == pytest.approx(successes / len(confidences) * 100, abs=0.05)
