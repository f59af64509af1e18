"""The shared benchmark helpers: percentiles, targets and the BENCHMARKS.md sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import BenchResult, Target, command_line, percentile, update_section


def test_percentile_interpolates() -> None:
    values = [4.0, 1.0, 3.0, 2.0]

    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_rejects_empty() -> None:
    with pytest.raises(ValueError, match="measured nothing"):
        percentile([], 50)


def test_target_met_and_missed() -> None:
    assert Target("ratio", 1.2, 1.2).met
    assert not Target("ratio", 1.21, 1.2).met
    assert not Target("ratio", float("nan"), 1.2).met
    assert "MISSED" in Target("ratio", 3.0, 1.5).line()


def test_section_appended_then_replaced(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written findings.\n", encoding="utf-8")

    update_section(path, "storm", "## Storm\n\nfirst\n")
    update_section(path, "other", "## Other\n")
    update_section(path, "storm", "## Storm\n\nsecond\n")

    text = path.read_text(encoding="utf-8")
    assert "Hand-written findings." in text
    assert "first" not in text
    assert text.count("<!-- bench:storm start -->") == 1
    assert text.index("second") < text.index("## Other")


def test_render_lists_targets_and_checks() -> None:
    result = BenchResult("x", "Example", "python -m bench.x", smoke=True)
    result.add("latency", 12.5, "ms")
    result.target("ratio", 1.1, 1.2)
    result.check("nothing lost", False)

    text = result.render()
    assert "| latency | 12.5 ms |" in text
    assert "ratio: 1.10× (target ≤ 1.20×) — met" in text
    assert "- nothing lost: NO" in text
    assert not result.correct


def test_command_line_drops_write_options() -> None:
    command = command_line("bench.memory", ["--smoke", "--write", "--output", "/tmp/B.md", "--batch", "5"])

    assert command == "python -m bench.memory --smoke --batch 5"
