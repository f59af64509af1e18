"""Large stores: calibration and feedback reports over 1,000,000 JSONL records.

The records are generated from the real record models and written the way
``JsonlStore`` writes them. Each report then runs in a fresh process, so its
peak resident memory is its own, next to the baseline: a bare line-by-line
``json.loads`` of the same file, also in a fresh process.

Run: ``python -m bench.large_stores`` (``--smoke`` for 2,000 records).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airra.actions import ActionType
from airra.calibration import ConfidenceOutcomeRecord, ConfidenceTracker, render_calibration_report
from airra.categories import Category
from airra.feedback import FeedbackCollector, FeedbackType, OperatorFeedback, render_feedback_report
from airra.verification import VerificationStatus
from bench.common import BenchResult, command_line, finish, parser, ratio, run_child

MODULE = "bench.large_stores"

FULL_RECORDS = 1_000_000
SMOKE_RECORDS = 2_000
TARGET_RATIO = 1.5
TARGET_PEAK_MB = 200.0
FEEDBACK_DAYS = 30
RUNS = 2
"""Runs of each report and of each bare parse; the faster one counts."""


def _encode(record: dict[str, Any]) -> str:
    # The same encoding as JsonlStore.append.
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def write_confidence_records(path: Path, count: int, *, seed: int = 0) -> None:
    """Write ``count`` outcome records with varied categories, actions, confidences and outcomes."""
    rng = random.Random(seed)
    categories = list(Category)
    actions = list(ActionType)
    statuses = list(VerificationStatus)
    now = datetime.now(UTC)
    template = ConfidenceOutcomeRecord(
        incident_id="inc-template", service_name="svc", hypothesis_category=Category.MEMORY_LEAK,
        hypothesis_description="working set grows 12%/h towards the limit", confidence_score=0.5,
        action_type=ActionType.RESTART_POD, action_executed=True, outcome_status=VerificationStatus.SUCCESS,
        outcome_success=True,
        before_metrics={"error_rate": 0.08, "latency_p95": 0.9, "memory_utilization": 0.93},
        after_metrics={"error_rate": 0.001, "latency_p95": 0.2, "memory_utilization": 0.41},
        verification_metrics={"error_rate": 98.7, "latency_p95": 77.8, "memory_utilization": 55.9},
        time_to_resolution_seconds=420.0, blast_radius_level="high", risk_level="low",
    ).model_dump(mode="json")

    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            status = statuses[index % len(statuses)]
            record = dict(template)
            record.update(
                id=f"inc-{index:08d}-p1",
                timestamp=(now - timedelta(seconds=index)).isoformat(),
                incident_id=f"inc-{index:08d}",
                service_name=f"svc-{index % 200:03d}",
                hypothesis_category=categories[index % len(categories)].value,
                confidence_score=round(rng.random(), 4),
                action_type=actions[index % len(actions)].value,
                action_executed=index % 17 != 0,
                outcome_status=status.value,
                outcome_success=status is VerificationStatus.SUCCESS,
            )
            handle.write(_encode(record))


def write_feedback_records(path: Path, count: int, *, seed: int = 0) -> None:
    """Write ``count`` feedback records spread over twice the report window."""
    rng = random.Random(seed)
    categories = list(Category)
    actions = list(ActionType)
    kinds = list(FeedbackType)
    now = datetime.now(UTC)
    template = OperatorFeedback(
        incident_id="inc-template", service_name="svc", operator_id="U0OPERATOR",
        feedback_type=FeedbackType.HYPOTHESIS_CORRECT, feedback_text="correct, the leak is in the image cache",
        airra_hypothesis_category=Category.MEMORY_LEAK, airra_hypothesis_description="working set grows 12%/h",
        airra_confidence=0.7, airra_action_type=ActionType.RESTART_POD,
    ).model_dump(mode="json")
    spread_s = 2 * FEEDBACK_DAYS * 86_400

    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            kind = kinds[index % len(kinds)]
            record = dict(template)
            record.update(
                feedback_id=f"reply-C0INCIDENT-{index:08d}",
                timestamp=(now - timedelta(seconds=spread_s * index / max(count, 1))).isoformat(),
                incident_id=f"inc-{index:08d}",
                service_name=f"svc-{index % 200:03d}",
                operator_id=f"U0OP{index % 40:04d}",
                feedback_type=kind.value,
                airra_hypothesis_category=categories[index % len(categories)].value,
                airra_confidence=round(rng.random(), 4),
                correct_hypothesis_category=(categories[(index + 1) % len(categories)].value
                                             if kind is FeedbackType.HYPOTHESIS_INCORRECT else None),
                correct_action_type=(actions[(index + 2) % len(actions)].value
                                     if kind is FeedbackType.ACTION_INAPPROPRIATE else None),
            )
            handle.write(_encode(record))


# --- measured in a child process -------------------------------------------------


def _measure(kind: str, path: Path) -> dict[str, Any]:
    """Run one measurement in this process and return its time, peak memory and record count."""
    started = time.perf_counter()
    if kind == "bare":
        count = 0
        with open(path, "rb") as handle:
            for line in handle:
                json.loads(line)
                count += 1
        summary = ""
    elif kind == "calibration":
        calibration = ConfidenceTracker(path).calculate_calibration()
        summary = render_calibration_report(calibration)
        count = calibration.total_records
    elif kind == "feedback":
        metrics = FeedbackCollector(path).calculate_accuracy_metrics(FEEDBACK_DAYS)
        summary = render_feedback_report(metrics)
        count = metrics.total_records
    else:
        raise ValueError(f"unknown measurement {kind!r}; use bare, calibration or feedback")
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "seconds": elapsed, "peak_mb": peak_mb, "records": count, "report_chars": len(summary)}


def _child_main(argv: list[str]) -> int:
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--child", required=True)
    arguments.add_argument("path", type=Path)
    options = arguments.parse_args(argv)
    print(json.dumps(_measure(options.child, options.path)))
    return 0


# --- the benchmark ------------------------------------------------------------------


def run(*, smoke: bool, command: str, records: int | None = None, seed: int = 0) -> BenchResult:
    """Write both stores, then time each report and the bare parse in fresh processes."""
    count = records or (SMOKE_RECORDS if smoke else FULL_RECORDS)
    result = BenchResult("large_stores", "Large stores: calibration and feedback reports", command, smoke)

    with tempfile.TemporaryDirectory(prefix="airra-bench-stores-") as directory:
        confidence = Path(directory) / "confidence_tracking.jsonl"
        feedback = Path(directory) / "operator_feedback.jsonl"
        started = time.perf_counter()
        write_confidence_records(confidence, count, seed=seed)
        write_feedback_records(feedback, count, seed=seed)
        result.add("records per store", count, key="records")
        result.add("confidence store size", confidence.stat().st_size / 1e6, "MB", key="confidence_mb")
        result.add("feedback store size", feedback.stat().st_size / 1e6, "MB", key="feedback_mb")
        result.notes.append(f"writing both stores took {time.perf_counter() - started:.1f} s (not measured)")

        for name, path, report in (("calibration", confidence, "calibration"), ("feedback", feedback, "feedback")):
            # Alternate the two, twice, and keep each one's faster run: the machine is shared.
            bare_runs, report_runs = [], []
            for _ in range(RUNS):
                bare_runs.append(run_child(MODULE, ["--child", "bare", str(path)]))
                report_runs.append(run_child(MODULE, ["--child", report, str(path)]))
            bare = min(bare_runs, key=lambda run: run["seconds"])
            measured = min(report_runs, key=lambda run: run["seconds"])
            measured["peak_mb"] = max(run["peak_mb"] for run in report_runs)
            result.add(f"{name} report", measured["seconds"], "s", key=f"{name}_s")
            result.add(f"bare json.loads of the {name} store", bare["seconds"], "s", key=f"{name}_bare_s")
            result.add(f"{name} report peak RSS", measured["peak_mb"], "MB", key=f"{name}_peak_mb")
            result.add(f"bare parse peak RSS ({name} store)", bare["peak_mb"], "MB", key=f"{name}_bare_peak_mb")
            result.values[f"{name}_ratio"] = ratio(measured["seconds"], bare["seconds"])
            result.target(f"{name} report ÷ bare parse", result.values[f"{name}_ratio"], TARGET_RATIO)
            result.target(f"{name} report peak RSS", measured["peak_mb"], TARGET_PEAK_MB, " MB")
            result.check(f"{name} report read every record", measured["records"] == count == bare["records"])
            result.check(f"{name} report rendered", measured["report_chars"] > 0)
    return result


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--child" in args:
        return _child_main(args)
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--records", type=int, help="records per store")
    arguments.add_argument("--seed", type=int, default=0)
    options = arguments.parse_args(args)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), records=options.records, seed=options.seed)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
