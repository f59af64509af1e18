"""The proposal: candidates, parameters, approval policy and unscoped alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airra.actions import ActionType, RestartParams, RollbackParams, ScaleParams, ToggleFeatureFlagParams
from airra.alerts import Alert, AlertSource, AlertStatus
from airra.blast_radius import BlastLevel
from airra.categories import Category
from airra.execution.base import ServiceState
from airra.metrics import Signal
from airra.proposal import ApprovalRequirement, Proposer, build_params, candidate_actions, render_proposal_text
from airra.settings import Settings
from airra.topology import Topology
from tests.core.conftest import make_topology
from tests.core.fakes import FixedPriors, FixedStates, TableMetrics

A = ActionType
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ALL = ["scale_up", "clear_cache", "toggle_feature_flag", "scale_down", "restart_pod", "rollback_deployment"]


def make_alert(alertname: str, service: str | None, *, severity: str = "critical", started_s_ago: float = 0,
               labels: dict[str, str] | None = None) -> Alert:
    return Alert(source=AlertSource.ALERTMANAGER_WEBHOOK, status=AlertStatus.FIRING, alertname=alertname,
                 service=service, severity=severity, labels=labels or {}, fingerprint="fp",
                 starts_at=NOW - timedelta(seconds=started_s_ago))


@pytest.fixture
def shop() -> Topology:
    """web (medium) with ten callers; cache-backed api; a protected database."""
    callers = [{"name": f"caller-{i}", "depends_on": ["web"]} for i in range(10)]
    return make_topology(
        {"name": "web", "depends_on": ["db"], "feature_flags": ["beta-search"], "cache_key_prefix": "web:",
         "max_replicas": 6},
        {"name": "db", "kind": "database", "criticality": "critical", "allowed_actions": ["scale_up", "restart_pod"]},
        *callers,
        defaults={"allowed_actions": ALL},
    )


def healthy_callers(rate: float = 5.0) -> dict[str, dict[Signal, float]]:
    return {f"caller-{i}": {Signal.ERROR_RATIO: 0.0, Signal.REQUEST_RATE: rate} for i in range(10)}


def web_state(replicas: int = 3, previous_revision: int | None = 6) -> ServiceState:
    return ServiceState(service="web", replicas=replicas, ready_replicas=replicas, revision=7,
                        previous_revision=previous_revision, feature_flags={"beta-search": True})


def proposer(topology: Topology, metrics: TableMetrics, settings: Settings, *, state: ServiceState | None = None,
             priors: FixedPriors | None = None) -> Proposer:
    states = FixedStates({"web": state or web_state()})
    return Proposer(topology, metrics, states, settings, priors=priors, clock=lambda: NOW)


async def test_memory_leak_proposes_restart(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.MEMORY_GROWTH: 0.08,
                                    Signal.MEMORY_UTILIZATION: 0.92, Signal.RESTARTS: 3},
                            "db": {Signal.AVAILABILITY: 1.0}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(
        make_alert("ContainerOOMKilled", "web", severity="warning"), incident_id="inc-1")

    assert proposal.hypotheses[0].category is Category.MEMORY_LEAK
    assert proposal.proposed_action is A.RESTART_POD
    assert proposal.params == RestartParams()
    assert proposal.approval is ApprovalRequirement.ONE_APPROVER
    assert "it has no undo" in proposal.approval_reasoning
    assert "adjusted risk 0.350 > 0.10" in proposal.approval_reasoning
    # 10 callers (0.30) + 100 req/s (0.25) + no propagation + medium 0.10 = 0.65
    assert proposal.blast is not None
    assert proposal.blast.level is BlastLevel.HIGH
    assert proposal.blast.score == 0.65


async def test_each_metric_read_once(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100}, **healthy_callers()})
    await proposer(shop, metrics, settings).propose(make_alert("HighLatency", "web"), incident_id="inc-2")

    services = [service for service, _ in metrics.reads]
    assert sorted(services) == sorted(set(services))
    assert len(services) == 12
    read_signals = {(service, signal) for service, signals in metrics.reads for signal in signals}
    assert sum(len(signals) for _, signals in metrics.reads) == len(read_signals)


async def test_cpu_spike_scale_up_runs_automatically(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.CPU_UTILIZATION: 1.2},
                            "db": {Signal.AVAILABILITY: 1.0}, **healthy_callers()})
    priors = FixedPriors({Category.CPU_SPIKE: 0.10})
    proposal = await proposer(shop, metrics, settings, priors=priors).propose(
        make_alert("HighCPUUsage", "web"), incident_id="inc-3")

    top = proposal.hypotheses[0]
    assert top.category is Category.CPU_SPIKE
    # evidence 0.6·mean(0.9, 0.8) + 0.10 + 0.06 = 0.67; anomaly 0.7·1 + 0.3·(4.667/6) = 0.9333
    assert top.confidence == pytest.approx(0.30 + 0.35 * 0.67 + 0.25 * (0.7 + 0.3 * (0.7 / 0.15) / 6) + 0.10)
    assert proposal.proposed_action is A.SCALE_UP
    assert proposal.params == ScaleParams(replicas=4)
    assert proposal.approval is ApprovalRequirement.AUTOMATIC
    assert proposal.approval_reasoning.startswith("automatic: reversible, adjusted risk 0.050 ≤ 0.10")


async def test_auto_disabled_needs_one_approver(shop: Topology, data_dir) -> None:
    settings = Settings(data_dir=data_dir, auto_enabled=False)
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.CPU_UTILIZATION: 1.2}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings, priors=FixedPriors({Category.CPU_SPIKE: 0.10})).propose(
        make_alert("HighCPUUsage", "web"), incident_id="inc-4")
    assert proposal.approval is ApprovalRequirement.ONE_APPROVER
    assert "automatic actions are disabled" in proposal.approval_reasoning


async def test_low_confidence_blocks_automatic(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.CPU_UTILIZATION: 1.2}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(make_alert("HighCPUUsage", "web"), incident_id="inc-5")
    assert proposal.proposed_action is A.SCALE_UP
    assert proposal.approval is ApprovalRequirement.ONE_APPROVER
    # 0.30 + 0.35·0.67 + 0.25·0.9333 = 0.7678
    assert "confidence 0.77 < 0.80" in proposal.approval_reasoning


async def test_regression_rollback_needs_two_approvers(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.ERROR_RATIO: 0.12, Signal.ROLLOUT_AGE: 300},
                            **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(make_alert("HighErrorRate", "web"), incident_id="inc-6")
    assert proposal.proposed_action is A.ROLLBACK_DEPLOYMENT
    assert proposal.params == RollbackParams(to_revision=6)
    assert proposal.approval is ApprovalRequirement.TWO_APPROVERS
    assert "worst-case cost $" in proposal.approval_reasoning


async def test_min_confidence_blocks_proposal(shop: Topology, data_dir) -> None:
    settings = Settings(data_dir=data_dir, min_confidence=0.95)
    metrics = TableMetrics({"web": {Signal.REQUEST_RATE: 100, Signal.CPU_UTILIZATION: 1.2}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(make_alert("HighCPUUsage", "web"), incident_id="inc-7")
    assert proposal.proposed_action is None
    assert proposal.params is None
    assert proposal.approval is ApprovalRequirement.NOT_PROPOSED
    assert "below the minimum 0.95" in proposal.reasoning


async def test_excluded_action_is_not_proposed(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.MEMORY_GROWTH: 0.08, Signal.REQUEST_RATE: 100}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(
        make_alert("ContainerOOMKilled", "web"), incident_id="inc-8", exclude_actions=[A.RESTART_POD])
    assert proposal.excluded_actions["restart_pod"] == "excluded for this incident"
    assert proposal.proposed_action is None
    assert proposal.approval is ApprovalRequirement.NOT_PROPOSED
    assert "Escalate to a human" in proposal.reasoning


async def test_forced_category(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.MEMORY_GROWTH: 0.08, Signal.REQUEST_RATE: 100}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(
        make_alert("ContainerOOMKilled", "web"), incident_id="inc-9", category=Category.CACHE_ISSUE)
    assert proposal.hypotheses[0].category is Category.CACHE_ISSUE
    assert proposal.proposed_action is A.CLEAR_CACHE
    assert proposal.params is not None
    assert proposal.params.model_dump() == {"key_prefix": "web:", "hook_url": None}


async def test_downtime_lowers_adjusted_risk(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.MEMORY_GROWTH: 0.08, Signal.REQUEST_RATE: 100}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(
        make_alert("ContainerOOMKilled", "web", started_s_ago=240), incident_id="inc-10")
    assert proposal.current_downtime_s == 240
    assert proposal.proposed_simulation is not None
    # 0.35 × 1.0 − 4 ÷ 20
    assert proposal.proposed_simulation.adjusted_risk == pytest.approx(0.15)


async def test_unscoped_alert(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics()
    alert = make_alert("HighErrorRate", None, labels={"service": "<no value>"})
    proposal = await proposer(shop, metrics, settings).propose(alert, incident_id="inc-11")
    assert proposal.blast is None
    assert proposal.simulation is None
    assert proposal.proposed_action is None
    assert proposal.approval is ApprovalRequirement.NOT_PROPOSED
    assert "no label of the alert names a known service" in proposal.reasoning
    assert proposal.hypotheses[0].category is Category.ERROR_SPIKE
    assert metrics.reads == []


async def test_protected_service_candidates(shop: Topology) -> None:
    candidates, excluded = candidate_actions(shop.service("db"))
    assert candidates == [A.SCALE_UP]
    assert excluded["restart_pod"] == "disruptive, and db is a protected database"
    assert excluded["clear_cache"] == "not in the service's allowed_actions"


def test_params_from_state(shop: Topology) -> None:
    web = shop.service("web")
    assert build_params(A.SCALE_UP, web, web_state(replicas=6)) == (ScaleParams(replicas=6), "")
    assert build_params(A.SCALE_DOWN, web, web_state(replicas=3)) == (ScaleParams(replicas=2), "")
    assert build_params(A.TOGGLE_FEATURE_FLAG, web, web_state()) == (
        ToggleFeatureFlagParams(flag="beta-search", enabled=False), "")
    assert build_params(A.ROLLBACK_DEPLOYMENT, web, web_state(previous_revision=None)) == (
        None, "no previous revision")
    assert build_params(A.SCALE_UP, web, ServiceState(service="web")) == (None, "current replica count unknown")
    assert build_params(A.DRAIN_NODE, web, ServiceState(service="web", nodes=["n2", "n1"])) == (
        build_params(A.DRAIN_NODE, web, ServiceState(service="web", nodes=["n1"]))[0], "")


async def test_proposal_text_and_json(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.MEMORY_GROWTH: 0.08, Signal.REQUEST_RATE: 100}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(make_alert("ContainerOOMKilled", "web"),
                                                               incident_id="inc-12")
    text = render_proposal_text(proposal)
    assert text.startswith("Incident inc-12: ContainerOOMKilled (firing) on web")
    assert 'Proposed action: restart_pod {"timeout_s":300.0}' in text
    assert "Approval: one_approver" in text
    assert "web/latency_p95: no series" in text
    assert '"proposed_action":"restart_pod"' in proposal.model_dump_json()


async def test_concurrent_reads_query_once() -> None:
    import asyncio

    from airra.proposal import ReadOnceMetrics

    source = TableMetrics({"web": {Signal.ERROR_RATIO: 0.02}})
    metrics = ReadOnceMetrics(source)
    first, second = await asyncio.gather(metrics.read("web", [Signal.ERROR_RATIO]),
                                         metrics.read("web", [Signal.ERROR_RATIO]))
    assert first.value(Signal.ERROR_RATIO) == 0.02
    assert second.value(Signal.ERROR_RATIO) == 0.02
    assert source.reads == [("web", (Signal.ERROR_RATIO,))]


async def test_failing_service_dependency_is_not_acted_on(settings: Settings) -> None:
    topology = make_topology({"name": "web", "depends_on": ["api"]}, {"name": "api"},
                             defaults={"allowed_actions": ALL})
    metrics = TableMetrics({"web": {Signal.ERROR_RATIO: 0.05, Signal.REQUEST_RATE: 10},
                            "api": {Signal.ERROR_RATIO: 0.3, Signal.REQUEST_RATE: 10}})
    proposal = await proposer(topology, metrics, settings).propose(make_alert("HighErrorRate", "web"),
                                                                   incident_id="inc-13")
    top = proposal.hypotheses[0]
    assert top.blamed_service == "api"
    assert top.terms["topology"] == 0.15
    assert proposal.proposed_action is None
    assert proposal.approval is ApprovalRequirement.NOT_PROPOSED
    assert proposal.reasoning.startswith("No action proposed on web: the likely cause is its failing dependency api")


async def test_failing_database_dependency_acts_on_caller(settings: Settings) -> None:
    topology = make_topology({"name": "web", "depends_on": ["db"]}, {"name": "db", "kind": "database"},
                             defaults={"allowed_actions": ALL})
    metrics = TableMetrics({"web": {Signal.ERROR_RATIO: 0.05, Signal.REQUEST_RATE: 10},
                            "db": {Signal.AVAILABILITY: 0.4}})
    proposal = await proposer(topology, metrics, settings).propose(make_alert("HighErrorRate", "web"),
                                                                   incident_id="inc-14")
    assert proposal.hypotheses[0].category is Category.DATABASE_ISSUE
    assert proposal.hypotheses[0].blamed_service == "db"
    assert proposal.proposed_action is A.RESTART_POD


async def test_resolved_alert_proposes_nothing(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.ERROR_RATIO: 0.2, Signal.REQUEST_RATE: 10}})
    alert = make_alert("HighErrorRate", "web").model_copy(update={"status": AlertStatus.RESOLVED})
    proposal = await proposer(shop, metrics, settings).propose(alert, incident_id="inc-15")
    assert proposal.proposed_action is None
    assert proposal.blast is None
    assert proposal.approval is ApprovalRequirement.NOT_PROPOSED
    assert proposal.reasoning == "No action proposed: the alert is resolved."
    assert proposal.service is not None
    assert proposal.service.name == "web"


async def test_proposal_text_lists_candidates(shop: Topology, settings: Settings) -> None:
    metrics = TableMetrics({"web": {Signal.MEMORY_GROWTH: 0.08, Signal.REQUEST_RATE: 100}, **healthy_callers()})
    proposal = await proposer(shop, metrics, settings).propose(make_alert("ContainerOOMKilled", "web"),
                                                               incident_id="inc-16")
    text = render_proposal_text(proposal)
    # blast: 10 callers, 100 req/s, medium → S 0.65, urgency 3.5 + 0.325 = 3.825;
    # costs 10/60 × 100 × 3.825 and (300 + 180)/60 × 100 × 3.825
    assert "  ✓ restart_pod          P_fix 0.4900  risk 0.350  utility +0.3150  cost $63.75 / $3,060.00" in text
    assert "  not candidates: drain_node (not in the service's allowed_actions)" in text
