"""Shared parts of the benchmarks: command line, percentiles, result block and BENCHMARKS.md.

A benchmark builds a ``BenchResult``: measured rows, the targets it is held
to (each a measured value against a limit), the correctness checks of the
run (e.g. "every alert attached") and notes. ``main`` prints the block and,
with ``--write``, replaces the benchmark's section of BENCHMARKS.md, which
sits between two HTML comment markers so that hand-written findings outside
the markers survive every rerun.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_FILE = REPO_ROOT / "BENCHMARKS.md"

_FILE_HEADER = """# Benchmarks

Each section below is written by its benchmark (`python -m bench.<name> --write`)
and measures AIRRA next to the natural baseline in the same run. The machines
are shared and noisy, so the ratios matter more than the absolute times.
"""


@dataclass(frozen=True)
class Target:
    """A measured value held to a limit: met when ``value <= limit``."""

    name: str
    value: float
    limit: float
    unit: str = "×"

    @property
    def met(self) -> bool:
        return not math.isnan(self.value) and self.value <= self.limit

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        return f"{self.name}: {_number(self.value)}{self.unit} (target ≤ {_number(self.limit)}{self.unit}) — {verdict}"


@dataclass
class BenchResult:
    """The outcome of one benchmark run."""

    name: str
    title: str
    command: str
    smoke: bool
    rows: list[tuple[str, str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, label: str, value: float, unit: str = "", *, key: str | None = None) -> None:
        """Add a measured row and keep its raw value under ``key`` (default: the label)."""
        self.values[key or label] = value
        self.rows.append((label, f"{_number(value)}{(' ' + unit) if unit and not unit.startswith('×') else unit}"))

    def target(self, name: str, value: float, limit: float, unit: str = "×") -> Target:
        """Hold ``value`` to ``limit`` and return the target."""
        target = Target(name, value, limit, unit)
        self.targets.append(target)
        return target

    def check(self, name: str, passed: bool) -> None:
        """Record a correctness condition of the run."""
        self.checks[name] = passed

    @property
    def correct(self) -> bool:
        """True when every correctness check passed."""
        return all(self.checks.values())

    def render(self) -> str:
        """Render the result as a Markdown section, with the machine and the command."""
        size = "smoke size" if self.smoke else "full size"
        lines = [
            f"## {self.title}",
            "",
            f"- Machine: {machine_description()}",
            f"- Command: `{self.command}` ({size})",
            f"- Date: {self.started_at.strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            "| Measurement | Value |",
            "| --- | --- |",
        ]
        lines += [f"| {label} | {value} |" for label, value in self.rows]
        if self.targets:
            lines += ["", "Targets:", ""]
            lines += [f"- {target.line()}" for target in self.targets]
        if self.checks:
            lines += ["", "Correctness:", ""]
            lines += [f"- {name}: {'yes' if passed else 'NO'}" for name, passed in self.checks.items()]
        if self.notes:
            lines += ["", "Notes:", ""]
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def machine_description() -> str:
    """Return the architecture, core count and Python version of this machine."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
            f"({platform.python_implementation()})")


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0–100) with linear interpolation between the closest ranks.

    Raises:
        ValueError: when ``values`` is empty or q is outside 0–100.
    """
    if not values:
        raise ValueError("percentile of no values: the benchmark measured nothing")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(value: float, baseline: float) -> float:
    """Return value ÷ baseline; NaN when the baseline is zero."""
    return value / baseline if baseline > 0 else math.nan


def run_child(module: str, arguments: Sequence[str], *, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run ``python -m module arguments`` and return the JSON object on its last output line.

    A fresh process gives a clean peak-memory reading for one measurement.

    Raises:
        RuntimeError: with the child's error output, when it fails or prints no JSON.
    """
    command = [sys.executable, "-m", module, *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{shlex.join(command)} exited with {completed.returncode}: {completed.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


# --- command line and BENCHMARKS.md ----------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """Return an argument parser with the options every benchmark takes, and quiet the bot's logs.

    The bot logs a line per pipeline stage and warns about every metric it
    cannot read. At benchmark sizes that output would bury the result block.
    """
    logging.basicConfig(level=logging.ERROR)
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--smoke", action="store_true", help="run at a tiny size, for CI")
    arguments.add_argument("--write", action="store_true", help="update this benchmark's section of BENCHMARKS.md")
    arguments.add_argument("--output", type=Path, default=BENCHMARKS_FILE, help="file --write updates")
    return arguments


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """Return the command that reproduces this run, without --write and --output."""
    kept: list[str] = []
    skip_next = False
    for argument in list(argv if argv is not None else sys.argv[1:]):
        if skip_next:
            skip_next = False
            continue
        if argument == "--write":
            continue
        if argument == "--output":
            skip_next = True
            continue
        if argument.startswith("--output="):
            continue
        kept.append(argument)
    return shlex.join(["python", "-m", module, *kept])


def finish(result: BenchResult, arguments: argparse.Namespace) -> int:
    """Print the result block, write it to BENCHMARKS.md when asked, and return the exit code.

    The exit code is 1 when a correctness check failed; a missed target is
    reported, not an error, because a noisy machine can miss one.
    """
    print(result.render())
    if arguments.write:
        update_section(arguments.output, result.name, result.render())
        print(f"updated the {result.name} section of {arguments.output}")
    return 0 if result.correct else 1


def update_section(path: Path, name: str, text: str) -> None:
    """Replace the section of ``name`` in the file at ``path``, or append it; create the file if needed."""
    start, end = f"<!-- bench:{name} start -->", f"<!-- bench:{name} end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    current = path.read_text(encoding="utf-8") if path.exists() else _FILE_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _match: block, current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + block
    path.write_text(updated, encoding="utf-8")


def _number(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if math.isnan(value):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.4f}"
