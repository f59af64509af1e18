"""Diagnosis: alert-name mapping, confidence terms and topology boosts, worked by hand."""

from __future__ import annotations

import pytest

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.categories import Category
from airra.diagnosis import Diagnoser, anomaly_term, clean_labels, evidence_term, match_alert_name
from airra.metrics import MetricsSnapshot, Reading, Signal
from airra.topology import Topology
from tests.core.conftest import make_topology
from tests.core.fakes import FixedPriors, TableMetrics

C = Category


def make_alert(alertname: str, service: str | None = "api", *, severity: str | None = None,
               labels: dict[str, str] | None = None, summary: str | None = None) -> Alert:
    return Alert(source=AlertSource.ALERTMANAGER_WEBHOOK, status=AlertStatus.FIRING, alertname=alertname,
                 service=service, severity=severity, labels=labels or {}, summary=summary, fingerprint="f1")


def snapshot_of(service: str, values: dict[Signal, float]) -> MetricsSnapshot:
    return MetricsSnapshot(service=service, readings={s: Reading.of(service, s, v) for s, v in values.items()})


@pytest.fixture
def leaf() -> Topology:
    return make_topology({"name": "api"})


@pytest.mark.parametrize(("alertname", "category"), [
    ("KubePodCrashLooping", C.MEMORY_LEAK),
    ("KubeContainerOOMKilled", C.MEMORY_LEAK),
    ("ContainerMemoryUsageHigh", C.MEMORY_LEAK),
    ("CPUThrottlingHigh", C.CPU_SPIKE),
    ("KubeDeploymentReplicasMismatch", C.DEPLOYMENT_REGRESSION),
    ("KubeDeploymentRolloutStuck", C.DEPLOYMENT_REGRESSION),
    ("NodeFilesystemSpaceFillingUp", C.DISK_PRESSURE),
    ("KubePersistentVolumeFillingUp", C.DISK_PRESSURE),
    ("NodeNotReady", C.NODE_FAILURE),
    ("KubeNodeNotReady", C.NODE_FAILURE),
    ("KubeletDown", C.NODE_FAILURE),
    ("HighErrorRate", C.ERROR_SPIKE),
    ("KubeJobFailed", C.ERROR_SPIKE),
    ("HighLatencyP95", C.LATENCY_SPIKE),
    ("PostgresqlTooManyConnections", C.DATABASE_ISSUE),
    ("RedisDown", C.CACHE_ISSUE),
    ("KubeHpaMaxedOut", C.TRAFFIC_SPIKE),
    ("NodeNetworkReceiveErrs", C.NETWORK_ISSUE),
    ("TargetDown", C.NODE_FAILURE),
])
def test_alert_name_mapping(alertname: str, category: Category) -> None:
    assert match_alert_name(alertname)[0][0] is category


def test_crash_loop_points_at_several_causes() -> None:
    categories = [category for category, _ in match_alert_name("KubePodCrashLooping")]
    assert categories == [C.MEMORY_LEAK, C.DEPLOYMENT_REGRESSION, C.ERROR_SPIKE]


def test_unmatched_alert_name() -> None:
    assert match_alert_name("Watchdog") == []
    assert match_alert_name("ZoomLinkDown")[0][0] is not C.MEMORY_LEAK


def test_placeholder_labels_are_missing() -> None:
    assert clean_labels({"service": "<no value>", "pod": "", "team": "web", "x": "None"}) == {"team": "web"}


def test_evidence_and_anomaly_of_no_signals() -> None:
    assert evidence_term([]) == 0.0
    assert anomaly_term([]) == 0.0


async def test_memory_leak_confidence_by_hand(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.MEMORY_GROWTH: 0.08, Signal.MEMORY_UTILIZATION: 0.92, Signal.RESTARTS: 3})
    alert = make_alert("ContainerOOMKilled", severity="warning")
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(alert, incident_id="inc-1", snapshot=snapshot)

    assert [h.category for h in hypotheses] == [C.MEMORY_LEAK]
    top = hypotheses[0]
    # evidence = 0.6·mean(0.9, 0.9, 0.5, 0.4) + min(0.15, 0.05·2) + min(0.10, 0.03·4) = 0.405 + 0.10 + 0.10
    assert top.terms["evidence"] == pytest.approx(0.605)
    # anomaly = 0.7·mean(0.7, 1.0, 0.8, 0.75) + 0.3·min(1, 4/6) = 0.56875 + 0.2
    assert top.terms["anomaly"] == pytest.approx(0.76875)
    assert top.terms["topology"] == 0.0
    # 0.40·0.70 + 0.35·0.605 + 0.25·0.76875
    assert top.confidence == pytest.approx(0.6839375)
    assert "memory_growth = 0.08 ratio/h (z = 4.0)" in top.evidence


async def test_learned_adjustment_is_clamped(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.MEMORY_GROWTH: 0.08, Signal.MEMORY_UTILIZATION: 0.92, Signal.RESTARTS: 3})
    alert = make_alert("ContainerOOMKilled", severity="warning")
    diagnoser = Diagnoser(leaf, TableMetrics(), FixedPriors({C.MEMORY_LEAK: 0.5}))
    top = (await diagnoser.diagnose(alert, incident_id="inc-1", snapshot=snapshot))[0]
    assert top.terms["learned"] == 0.10
    assert top.confidence == pytest.approx(0.7839375)


async def test_unknown_when_nothing_matches(leaf: Topology) -> None:
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(make_alert("Watchdog"), incident_id="inc-2")
    assert len(hypotheses) == 1
    assert hypotheses[0].category is C.UNKNOWN
    # evidence 0.6·0.2 + 0.05 + 0.03 = 0.20; anomaly 0.7·0.7 = 0.49; 0.12 + 0.07 + 0.1225
    assert hypotheses[0].confidence == pytest.approx(0.3125)


async def test_failing_direct_dependency_wins() -> None:
    topology = make_topology({"name": "api", "depends_on": ["db"]}, {"name": "db", "kind": "database"})
    metrics = TableMetrics({"api": {Signal.LATENCY_P95: 0.75}, "db": {Signal.AVAILABILITY: 0.5}})
    alert = make_alert("HighLatency", severity="critical")
    hypotheses = await Diagnoser(topology, metrics).diagnose(alert, incident_id="inc-3")

    assert [h.category for h in hypotheses] == [C.DATABASE_ISSUE, C.LATENCY_SPIKE]
    database, latency = hypotheses
    assert database.blamed_service == "db"
    assert database.terms["topology"] == 0.15
    # evidence 0.6·mean(0.7, 0.3) + 0.10 + 0.06 = 0.46; anomaly 0.7·1 + 0.3·min(1, 10/6) = 1.0
    assert database.confidence == pytest.approx(0.24 + 0.35 * 0.46 + 0.25 + 0.15)
    # latency blames api, a victim downstream of the failing db: −0.05
    assert latency.terms["topology"] == -0.05
    assert latency.confidence == pytest.approx(0.26 + 0.35 * 0.67 + 0.25 * 0.9 - 0.05)


async def test_failing_transitive_dependency_boost() -> None:
    topology = make_topology({"name": "api", "depends_on": ["mid"]}, {"name": "mid", "depends_on": ["db"]},
                             {"name": "db", "kind": "database"})
    metrics = TableMetrics({"api": {Signal.LATENCY_P95: 0.75}, "db": {Signal.AVAILABILITY: 0.5},
                            "mid": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: 5, Signal.AVAILABILITY: 1.0}})
    hypotheses = await Diagnoser(topology, metrics).diagnose(make_alert("HighLatency", severity="critical"),
                                                             incident_id="inc-4")
    database = next(h for h in hypotheses if h.category is C.DATABASE_ISSUE)
    assert database.terms["topology"] == 0.08
    assert database.confidence == pytest.approx(0.24 + 0.35 * 0.46 + 0.25 + 0.08)


async def test_forced_category_comes_first(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.MEMORY_GROWTH: 0.08, Signal.MEMORY_UTILIZATION: 0.92, Signal.RESTARTS: 3})
    alert = make_alert("ContainerOOMKilled", severity="warning")
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(alert, incident_id="inc-5", snapshot=snapshot,
                                                                forced=C.CPU_SPIKE)
    assert [h.category for h in hypotheses] == [C.CPU_SPIKE, C.MEMORY_LEAK]
    assert "category cpu_spike set by an operator" in hypotheses[0].evidence
    # evidence 0.6·1.0 + 0.05 + 0.03 = 0.68; anomaly 0 (an operator's word is not a measurement)
    assert hypotheses[0].confidence == pytest.approx(0.30 + 0.35 * 0.68)


async def test_rollout_after_errors_suggests_regression(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.ERROR_RATIO: 0.09, Signal.REQUEST_RATE: 20, Signal.ROLLOUT_AGE: 900})
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(make_alert("HighErrorRate"), incident_id="inc-6",
                                                                snapshot=snapshot)
    assert [h.category for h in hypotheses] == [C.DEPLOYMENT_REGRESSION, C.ERROR_SPIKE]
    regression, errors = hypotheses
    assert "rollout started 900 s ago" in regression.evidence
    # rollout (0.8, 1 − 900/3600) and error ratio (0.6, 1.0, z = 8):
    # evidence 0.6·0.7 + 0.10 + 0.06 = 0.58; anomaly 0.7·0.875 + 0.3·1 = 0.9125
    assert regression.confidence == pytest.approx(0.32 + 0.35 * 0.58 + 0.25 * 0.9125)
    # the rollout explains the errors, so the error ratio counts 0.3 for error_spike:
    # evidence 0.6·mean(0.9, 0.3) + 0.10 + 0.06 = 0.52; anomaly 0.7·0.85 + 0.3 = 0.895
    assert errors.confidence == pytest.approx(0.34 + 0.35 * 0.52 + 0.25 * 0.895)


async def test_unexplained_errors_count_fully(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.ERROR_RATIO: 0.09, Signal.REQUEST_RATE: 20})
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(make_alert("Watchdog"), incident_id="inc-6b",
                                                                snapshot=snapshot)
    assert [h.category for h in hypotheses] == [C.ERROR_SPIKE]
    assert hypotheses[0].signals[0].match_strength == 0.8


async def test_cause_alert_ignores_failing_dependency() -> None:
    topology = make_topology({"name": "api", "depends_on": ["db"]}, {"name": "db", "kind": "database"})
    metrics = TableMetrics({"api": {Signal.MEMORY_GROWTH: 0.08}, "db": {Signal.AVAILABILITY: 0.5}})
    hypotheses = await Diagnoser(topology, metrics).diagnose(make_alert("KubeContainerOOMKilled"),
                                                             incident_id="inc-6c")
    assert [h.category for h in hypotheses] == [C.MEMORY_LEAK]
    assert hypotheses[0].terms["topology"] == 0.0
    assert [service for service, _ in metrics.reads] == ["api"]


async def test_old_rollout_is_no_evidence(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.ERROR_RATIO: 0.09, Signal.REQUEST_RATE: 20, Signal.ROLLOUT_AGE: 86_400})
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(make_alert("HighErrorRate"), incident_id="inc-7",
                                                                snapshot=snapshot)
    assert [h.category for h in hypotheses] == [C.ERROR_SPIKE]


async def test_at_most_three_hypotheses(leaf: Topology) -> None:
    snapshot = snapshot_of("api", {Signal.ERROR_RATIO: 0.09, Signal.LATENCY_P95: 1.0, Signal.CPU_UTILIZATION: 0.95,
                                   Signal.MEMORY_GROWTH: 0.1, Signal.AVAILABILITY: 0.5})
    hypotheses = await Diagnoser(leaf, TableMetrics()).diagnose(make_alert("KubePodCrashLooping"),
                                                                incident_id="inc-8", snapshot=snapshot)
    assert len(hypotheses) == 3
    confidences = [h.confidence for h in hypotheses]
    assert confidences == sorted(confidences, reverse=True)


async def test_reads_service_metrics_without_snapshot(leaf: Topology) -> None:
    metrics = TableMetrics({"api": {Signal.CPU_UTILIZATION: 0.95}})
    hypotheses = await Diagnoser(leaf, metrics).diagnose(make_alert("CPUThrottlingHigh"), incident_id="inc-9")
    assert hypotheses[0].category is C.CPU_SPIKE
    assert [service for service, _ in metrics.reads] == ["api"]
