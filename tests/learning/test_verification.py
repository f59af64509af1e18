"""Before/after verification: improvements, floors, each verdict boundary and the report.

Every number here is worked out by hand from the rules in the module
docstring, so a change to a rule shows up as a failing example.
"""

from __future__ import annotations

import re

import pytest

from airra.actions import ActionType
from airra.execution.base import ExecutionStatus
from airra.metrics import Signal
from airra.settings import Settings
from airra.verification import (
    PostActionVerifier,
    Recommendation,
    VerificationStatus,
    compare_metrics,
    render_verification_report,
)
from tests.learning.doubles import SERVICE, RecordingSleep, ScriptedMetrics, execution, query_failure, snapshot


def _verdict(before: dict, *after: dict, action_type: ActionType = ActionType.SCALE_UP):
    return compare_metrics(
        SERVICE, snapshot(**before), [snapshot(**a) for a in after], action_type=action_type, incident_id="inc-1"
    )


# --- improvements ------------------------------------------------------------------


def test_worked_example_improvements() -> None:
    result = _verdict(
        {"error": 0.125, "p95": 0.85, "p99": 1.2, "avail": 0.95},
        {"error": 0.012, "p95": 0.12, "p99": 0.18, "avail": 0.995},
    )

    improvements = result.improvements()
    assert improvements == {"error_ratio": 90.4, "latency_p95": 85.9, "latency_p99": 85.0, "availability": 90.0}
    assert result.overall_improvement_pct == 87.8
    assert result.status is VerificationStatus.SUCCESS
    assert result.recommendation is Recommendation.CONTINUE


def test_availability_judged_on_unavailability() -> None:
    result = _verdict({"avail": 0.95}, {"avail": 0.995})

    availability = result.comparison(Signal.AVAILABILITY)
    assert availability is not None
    assert availability.improvement_pct == 90.0
    assert availability.delta_pct == 4.7
    assert availability.delta == pytest.approx(0.045)


def test_outage_recovery_scores_full_improvement() -> None:
    result = _verdict(
        {"avail": 0.0, "rps": 0.0, "error": None, "p95": None, "p99": None},
        {"avail": 1.0, "rps": 50.0, "error": 0.01, "p95": 0.1, "p99": 0.2},
    )

    assert result.improvements() == {"availability": 100.0}
    assert result.overall_improvement_pct == 100.0
    assert result.status is VerificationStatus.SUCCESS


def test_request_rate_shown_not_scored() -> None:
    result = _verdict({"rps": 100.0, "error": 0.2}, {"rps": 40.0, "error": 0.02})

    request_rate = result.comparison(Signal.REQUEST_RATE)
    assert request_rate is not None
    assert request_rate.scored is False
    assert request_rate.delta_pct == -60.0
    assert "request_rate" not in result.improvements()


def test_after_value_is_mean_of_samples() -> None:
    result = _verdict({"error": 0.1}, {"error": 0.02}, {"error": 0.03}, {"error": None})

    error = result.comparison(Signal.ERROR_RATIO)
    assert error is not None
    assert error.after == pytest.approx(0.025)
    assert error.improvement_pct == 75.0


def test_change_below_floor_not_scored() -> None:
    # 4 ms on p95 and 0.004 on error ratio are noise; only p99 moved.
    result = _verdict(
        {"error": 0.010, "p95": 0.200, "p99": 0.500},
        {"error": 0.006, "p95": 0.196, "p99": 0.300},
    )

    assert result.improvements() == {"latency_p99": 40.0}
    assert result.overall_improvement_pct == 40.0


def test_worsening_from_zero_is_minus_hundred() -> None:
    result = _verdict({"error": 0.0}, {"error": 0.01})

    error = result.comparison(Signal.ERROR_RATIO)
    assert error is not None
    assert error.improvement_pct == -100.0
    assert error.delta_pct is None
    assert result.status is VerificationStatus.DEGRADED


def test_rise_from_zero_within_floor_is_noise() -> None:
    result = _verdict({"error": 0.0}, {"error": 0.004})

    assert result.improvements() == {}
    assert result.status is VerificationStatus.NO_CHANGE


# --- status boundaries -------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_error", "improvement", "status", "recommendation"),
    [
        (0.08, 20.0, VerificationStatus.SUCCESS, Recommendation.CONTINUE),
        (0.0801, 19.9, VerificationStatus.PARTIAL_SUCCESS, Recommendation.KEEP_WATCHING),
        (0.09, 10.0, VerificationStatus.PARTIAL_SUCCESS, Recommendation.KEEP_WATCHING),
        (0.0901, 9.9, VerificationStatus.NO_CHANGE, Recommendation.ESCALATE),
    ],
)
def test_status_thresholds(after_error: float, improvement: float, status: VerificationStatus, recommendation: Recommendation) -> None:
    result = _verdict({"error": 0.1}, {"error": after_error})

    assert result.overall_improvement_pct == improvement
    assert result.status is status
    assert result.recommendation is recommendation


def test_nothing_moved_is_no_change() -> None:
    result = _verdict({}, {}, {})

    assert result.overall_improvement_pct is None
    assert result.status is VerificationStatus.NO_CHANGE
    assert result.recommendation is Recommendation.ESCALATE
    assert "no metric moved" in result.reason


def test_latency_floor_blocks_degraded() -> None:
    # 10.5 % worse, but only 21 ms: under the 25 ms floor, so it is noise.
    result = _verdict({"p95": 0.2}, {"p95": 0.221})

    assert result.improvements() == {}
    assert result.status is VerificationStatus.NO_CHANGE


def test_latency_past_floor_degraded() -> None:
    # 26 ms and 13 % worse.
    result = _verdict({"p95": 0.2}, {"p95": 0.226})

    assert result.improvements() == {"latency_p95": -13.0}
    assert result.status is VerificationStatus.DEGRADED


def test_exactly_ten_percent_worse_not_degraded() -> None:
    result = _verdict({"p95": 0.3}, {"p95": 0.33})

    assert result.improvements() == {"latency_p95": -10.0}
    assert result.status is VerificationStatus.NO_CHANGE


def test_over_ten_percent_worse_degraded() -> None:
    result = _verdict({"p95": 0.3}, {"p95": 0.3303})

    assert result.improvements() == {"latency_p95": -10.1}
    assert result.status is VerificationStatus.DEGRADED
    assert result.recommendation is Recommendation.ROLLBACK
    assert "Latency P95 got 10.1% worse" in result.reason


def test_degraded_beats_overall_success() -> None:
    # Errors fell 90 %, but availability dropped: the drop decides.
    result = _verdict({"error": 0.1, "avail": 1.0}, {"error": 0.01, "avail": 0.9})

    assert result.overall_improvement_pct == -5.0
    assert result.status is VerificationStatus.DEGRADED


def test_degraded_without_undo_escalates() -> None:
    result = _verdict({"p95": 0.3}, {"p95": 0.6}, action_type=ActionType.RESTART_POD)

    assert result.status is VerificationStatus.DEGRADED
    assert result.recommendation is Recommendation.ESCALATE


def test_fluctuating_samples_unstable() -> None:
    result = _verdict({"error": 0.1}, {"error": 0.01}, {"error": 0.09}, {"error": 0.01})

    error = result.comparison(Signal.ERROR_RATIO)
    assert error is not None
    assert error.fluctuation_cv == 1.03
    assert result.status is VerificationStatus.UNSTABLE
    assert result.recommendation is Recommendation.ESCALATE


def test_flapping_availability_unstable() -> None:
    result = _verdict({"avail": 0.5}, {"avail": 1.0}, {"avail": 0.5}, {"avail": 1.0})

    availability = result.comparison(Signal.AVAILABILITY)
    assert availability is not None
    assert availability.fluctuation_cv == 1.41
    assert result.status is VerificationStatus.UNSTABLE


def test_cv_of_exactly_half_is_stable() -> None:
    # Two samples x = 3y have CV |x − y| / (x + y) = 0.5.
    result = _verdict({"error": 0.2}, {"error": 0.03}, {"error": 0.01})

    assert result.comparison(Signal.ERROR_RATIO).fluctuation_cv == 0.5
    assert result.status is VerificationStatus.SUCCESS


def test_cv_just_over_half_is_unstable() -> None:
    result = _verdict({"error": 0.2}, {"error": 0.031}, {"error": 0.01})

    assert result.comparison(Signal.ERROR_RATIO).fluctuation_cv == 0.51
    assert result.status is VerificationStatus.UNSTABLE


def test_near_perfect_availability_stable() -> None:
    # Unavailability 1 %, 0 %, 0.5 %: CV 0.82, but the standard deviation
    # 0.0041 is under the 0.005 floor.
    result = _verdict({"avail": 0.95}, {"avail": 0.99}, {"avail": 1.0}, {"avail": 0.995})

    assert result.comparison(Signal.AVAILABILITY).fluctuation_cv is None
    assert result.status is VerificationStatus.SUCCESS


def test_tiny_fluctuations_ignored() -> None:
    # A standard deviation of 0.0014 is under the 0.005 floor, whatever the CV.
    result = _verdict({"error": 0.1}, {"error": 0.001}, {"error": 0.004}, {"error": 0.001})

    assert result.comparison(Signal.ERROR_RATIO).fluctuation_cv is None
    assert result.status is VerificationStatus.SUCCESS


def test_missing_latency_is_insufficient_data() -> None:
    result = _verdict({"error": 0.1, "p95": None}, {"error": 0.095, "p95": None})

    assert result.improvements() == {"error_ratio": 5.0}
    assert result.status is VerificationStatus.INSUFFICIENT_DATA
    assert result.recommendation is Recommendation.ESCALATE
    assert "Latency P95" in result.reason
    assert "no data before (no series)" in result.comparison(Signal.LATENCY_P95).note


def test_no_data_at_all_is_insufficient() -> None:
    empty = {"error": None, "p95": None, "p99": None, "avail": None, "rps": None}
    result = _verdict(empty, empty)

    assert result.overall_improvement_pct is None
    assert result.status is VerificationStatus.INSUFFICIENT_DATA


def test_idle_service_below_traffic_floor() -> None:
    result = _verdict({"rps": 0.05, "error": 0.5}, {"rps": 0.05, "error": 0.0})

    error = result.comparison(Signal.ERROR_RATIO)
    assert error.judged is False
    assert "traffic below 0.1 req/s" in error.note
    assert result.status is VerificationStatus.INSUFFICIENT_DATA


def test_success_despite_missing_metric() -> None:
    result = _verdict({"error": 0.1, "p99": None}, {"error": 0.01, "p99": None})

    assert result.status is VerificationStatus.SUCCESS
    assert result.overall_improvement_pct == 90.0


# --- report ------------------------------------------------------------------------


def test_report_layout() -> None:
    result = _verdict(
        {"error": 0.125, "p95": 0.85, "p99": 1.2, "avail": 0.95, "rps": 120.0},
        {"error": 0.012, "p95": 0.12, "p99": 0.18, "avail": 0.995, "rps": 118.0},
    )

    lines = result.message.splitlines()
    assert lines[0] == "Post-action verification: success"
    block = lines[lines.index("Error Rate:"): lines.index("Error Rate:") + 5]
    assert block == [
        "Error Rate:",
        "  Before: 12.50%",
        "  After:  1.20%",
        "  Δ = -11.30 pp (-90.4%)",
        "  Improvement: +90.4%",
    ]
    start = lines.index("Latency P95:")
    assert lines[start + 1: start + 4] == ["  Before: 850.0ms", "  After:  120.0ms", "  Δ = -730.0ms (-85.9%)"]
    start = lines.index("Availability:")
    assert lines[start + 3] == "  Δ = +4.50 pp (+4.7%)"
    assert lines[start + 4] == "  Improvement: +90.0% (judged on unavailability 5.00% → 0.50%)"
    start = lines.index("Request Rate:")
    assert lines[start + 1] == "  Before: 120.0 req/s"
    assert "Overall improvement: +87.8% (mean of 4 scored metrics)" in lines
    assert lines[-1] == "Recommendation: continue"
    assert render_verification_report(result) == result.message


def test_report_overall_is_mean_of_printed() -> None:
    result = _verdict(
        {"error": 0.137, "p95": 0.913, "p99": 1.77, "avail": 0.97},
        {"error": 0.051, "p95": 0.411, "p99": 0.93, "avail": 0.991},
    )

    printed = [float(m) for m in re.findall(r"Improvement: ([+-]\d+\.\d)%", result.message)]
    overall = float(re.search(r"Overall improvement: ([+-]\d+\.\d)%", result.message).group(1))
    assert len(printed) == 4
    assert overall == round(sum(printed) / len(printed), 1)


def test_report_unavailable_metric() -> None:
    result = _verdict({"p99": None}, {"p99": None})

    start = result.message.splitlines().index("Latency P99:")
    assert result.message.splitlines()[start + 1] == "  Before: unavailable"
    assert "Not scored: no data before (no series), no data after (no series)" in result.message


# --- sampling ----------------------------------------------------------------------


async def test_verifier_waits_then_samples(data_dir) -> None:
    settings = Settings(data_dir=data_dir, verify_wait_s=60, verify_samples=3, verify_interval_s=15)
    before = snapshot(error=0.1)
    metrics = ScriptedMetrics([before, snapshot(error=0.01), snapshot(error=0.02), snapshot(error=0.03)])
    sleep = RecordingSleep()
    verifier = PostActionVerifier(metrics, settings, sleep=sleep)

    baseline = await verifier.take_baseline(SERVICE, incident_id="inc-1")
    result = await verifier.verify_action(SERVICE, execution(), baseline)

    assert sleep.delays == [60, 15, 15]
    assert len(metrics.reads) == 4
    assert set(metrics.reads[0][1]) == {
        Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99, Signal.AVAILABILITY, Signal.REQUEST_RATE,
    }
    assert result.comparison(Signal.ERROR_RATIO).after == pytest.approx(0.02)
    assert result.overall_improvement_pct == 80.0
    assert result.status is VerificationStatus.SUCCESS
    assert result.incident_id == "inc-1"
    assert result.action_type is ActionType.RESTART_POD
    assert len(result.after_samples) == 3


@pytest.mark.parametrize("status", [ExecutionStatus.FAILED, ExecutionStatus.BLOCKED])
async def test_failed_execution_not_verified(settings: Settings, status: ExecutionStatus) -> None:
    metrics = ScriptedMetrics([])
    sleep = RecordingSleep()
    verifier = PostActionVerifier(metrics, settings, sleep=sleep)

    result = await verifier.verify_action(
        SERVICE, execution(status, error="deployment not found"), snapshot(error=0.1)
    )

    assert result.status is VerificationStatus.EXECUTION_FAILED
    assert result.recommendation is Recommendation.ESCALATE
    assert metrics.reads == []
    assert sleep.delays == []
    assert result.comparisons == []
    assert "deployment not found" in result.message
    assert "was not verified" in result.message


async def test_failed_query_counts_as_missing(data_dir) -> None:
    settings = Settings(data_dir=data_dir, verify_wait_s=0, verify_samples=1)
    metrics = ScriptedMetrics([query_failure()])
    verifier = PostActionVerifier(metrics, settings, sleep=RecordingSleep())

    result = await verifier.verify_action(SERVICE, execution(), snapshot(error=0.1))

    assert result.status is VerificationStatus.INSUFFICIENT_DATA
    assert "query failed: Prometheus timed out" in result.comparison(Signal.ERROR_RATIO).note


async def test_dry_run_flagged_in_report(data_dir) -> None:
    settings = Settings(data_dir=data_dir, verify_wait_s=0, verify_samples=1)
    verifier = PostActionVerifier(ScriptedMetrics([snapshot()]), settings, sleep=RecordingSleep())

    result = await verifier.verify_action(SERVICE, execution(ExecutionStatus.DRY_RUN), snapshot())

    assert result.dry_run is True
    assert "Dry run: nothing was changed" in result.message
