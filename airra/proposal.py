"""The proposal: one alert in, one decision out.

``Proposer.propose`` reads every metric it needs once, concurrently, then
diagnoses, assesses the blast radius, simulates the candidate actions,
picks the best one, builds its parameters from the service's state and
applies the approval policy from settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from airra.actions import (
    ActionParams,
    ActionType,
    ClearCacheParams,
    DrainNodeParams,
    RestartParams,
    RollbackParams,
    ScaleParams,
    ToggleFeatureFlagParams,
    profile_of,
)
from airra.alerts import Alert, AlertStatus
from airra.blast_radius import DOWNSTREAM_SIGNALS, ActDecision, BlastAssessment, BlastRadiusCalculator
from airra.categories import Category
from airra.criticality import Criticality
from airra.diagnosis import (
    DEPENDENCY_SIGNALS,
    DIAGNOSIS_SIGNALS,
    CategoryPriors,
    Diagnoser,
    Hypothesis,
    clean_labels,
)
from airra.execution.base import ServiceState
from airra.metrics import MetricsSnapshot, MetricsSource, Reading, Signal, read_many
from airra.risk import ActionRiskRegistry
from airra.settings import Settings
from airra.simulation import OutcomeHistory, SimulatedAction, SimulationComparison, WhatIfSimulator
from airra.topology import Service, Topology

log = logging.getLogger(__name__)

AUTO_CRITICALITIES = (Criticality.LOW, Criticality.MEDIUM)


class ApprovalRequirement(StrEnum):
    """The approval a proposed action needs before it runs."""

    AUTOMATIC = "automatic"
    ONE_APPROVER = "one_approver"
    TWO_APPROVERS = "two_approvers"
    NOT_PROPOSED = "not_proposed"


class Proposal(BaseModel):
    """Everything AIRRA concluded about one alert, and the action it proposes."""

    incident_id: str
    alert: Alert
    service: Service | None
    hypotheses: list[Hypothesis]
    blast: BlastAssessment | None
    simulation: SimulationComparison | None
    proposed_action: ActionType | None
    params: ActionParams | None
    reasoning: str
    approval: ApprovalRequirement
    approval_reasoning: str
    act_decision: ActDecision | None
    unavailable: dict[str, str] = Field(default_factory=dict, description="'service/signal' -> reason")
    excluded_actions: dict[str, str] = Field(default_factory=dict, description="action -> why it is not a candidate")
    service_state: ServiceState | None = None
    current_downtime_s: float = 0.0
    created_at: datetime

    @property
    def top_hypothesis(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None

    @property
    def proposed_simulation(self) -> SimulatedAction | None:
        """The simulated row of the proposed action, if any."""
        if self.simulation is None or self.proposed_action is None:
            return None
        return next((a for a in self.simulation.actions if a.action_type is self.proposed_action), None)


StateProvider = Callable[[str], Awaitable[ServiceState]]


class ReadOnceMetrics:
    """A metrics source that reads each (service, signal) at most once.

    One proposal uses a fresh instance, so blast radius and diagnosis see the
    same values and no query runs twice.
    """

    def __init__(self, source: MetricsSource) -> None:
        self.source = source
        self.readings: dict[tuple[str, Signal], Reading] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def prefetch(self, needs: dict[str, set[Signal]]) -> None:
        """Read every needed signal of every service that is not cached yet, all at once.

        A source with ``read_signals`` (Prometheus) gets the whole set in one
        call and sends one by-service query per signal, so the downstream and
        dependency readings come from the alerting service's own queries.
        Other sources get one batched read per set of signals: all downstream
        services need request rate and error ratio, and share a ``read_many``.
        """
        missing = {name: [signal for signal in sorted(needs[name]) if (name, signal) not in self.readings]
                   for name in sorted(needs)}
        missing = {name: signals for name, signals in missing.items() if signals}
        if not missing:
            return

        read_signals = getattr(self.source, "read_signals", None)
        if read_signals is not None:
            fetched: dict[str, MetricsSnapshot] = await read_signals(missing)
            for name, signals in missing.items():
                self._store(name, signals, fetched.get(name))
            return

        groups: dict[tuple[Signal, ...], list[str]] = {}
        for name, signals in missing.items():
            groups.setdefault(tuple(signals), []).append(name)
        await asyncio.gather(*(self.read_many(names, signals) for signals, names in groups.items()))

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        """Read ``signals`` of several services, querying only what is not cached yet."""
        missing = [name for name in dict.fromkeys(services)
                   if any((name, signal) not in self.readings for signal in signals)]
        if missing:
            fetched = await read_many(self.source, missing, signals)
            for name in missing:
                self._store(name, signals, fetched.get(name))
        return {
            name: MetricsSnapshot(service=name, readings={signal: self.readings[(name, signal)] for signal in signals})
            for name in dict.fromkeys(services)
        }

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        # The per-service lock makes a concurrent second read wait for the first
        # and then find its readings, instead of querying again.
        async with self._locks.setdefault(service, asyncio.Lock()):
            missing = [signal for signal in signals if (service, signal) not in self.readings]
            if missing:
                snapshot = await self.source.read(service, missing)
                for signal in missing:
                    self.readings[(service, signal)] = snapshot.readings.get(
                        signal, Reading.unavailable(service, signal, "the metrics source returned no reading")
                    )
        return MetricsSnapshot(service=service, readings={s: self.readings[(service, s)] for s in signals})

    def _store(self, service: str, signals: Sequence[Signal], snapshot: MetricsSnapshot | None) -> None:
        """Cache the readings of ``snapshot`` not cached yet; a signal it lacks reads as unavailable."""
        for signal in signals:
            if (service, signal) in self.readings:
                continue
            reading = snapshot.readings.get(signal) if snapshot is not None else None
            self.readings[(service, signal)] = reading or Reading.unavailable(
                service, signal, "the metrics source returned no reading")

    def unavailable(self) -> dict[str, str]:
        """Return 'service/signal' -> reason for every reading without a value."""
        return {
            f"{service}/{signal.value}": reading.unavailable_reason or "not read"
            for (service, signal), reading in sorted(self.readings.items())
            if not reading.available
        }


class Proposer:
    """The proposal builder: one alert in, one proposal out."""

    def __init__(
        self,
        topology: Topology,
        metrics: MetricsSource,
        state_provider: StateProvider,
        settings: Settings,
        *,
        history: OutcomeHistory | None = None,
        priors: CategoryPriors | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.topology = topology
        self.metrics = metrics
        self.state_provider = state_provider
        self.settings = settings
        self.history = history
        self.priors = priors
        self.registry = ActionRiskRegistry()
        self.clock = clock or (lambda: datetime.now(UTC))

    async def propose(
        self,
        alert: Alert,
        *,
        incident_id: str,
        category: Category | None = None,
        exclude_actions: Iterable[ActionType] = (),
    ) -> Proposal:
        """Build the proposal for an alert.

        ``category`` forces the top hypothesis (an operator's correction);
        ``exclude_actions`` removes candidates, e.g. an action an operator rejected.
        """
        now = self.clock()
        if alert.service is None or alert.service not in self.topology:
            return await self._unscoped(alert, incident_id, now)
        if alert.status is AlertStatus.RESOLVED:
            return await self._resolved(alert, incident_id, now)

        service = self.topology.service(alert.service)
        metrics = ReadOnceMetrics(self.metrics)
        state, _ = await asyncio.gather(self.state_provider(service.name), metrics.prefetch(self._needs(service.name)))
        log.info("incident %s: read %d metrics for %s (%d unavailable)",
                 incident_id, len(metrics.readings), service.name, len(metrics.unavailable()))

        snapshot = await metrics.read(service.name, DIAGNOSIS_SIGNALS)
        diagnoser = Diagnoser(self.topology, metrics, self.priors)
        hypotheses = await diagnoser.diagnose(alert, incident_id=incident_id, snapshot=snapshot, forced=category)
        top = hypotheses[0]

        calculator = BlastRadiusCalculator(self.topology, metrics)
        blast = await calculator.calculate_blast_radius(service.name, incident_id=incident_id)
        decision = calculator.should_act_immediately(blast, top.confidence)

        candidates, excluded = candidate_actions(service, exclude_actions)
        downtime_s = _downtime_seconds(alert, now)
        simulator = WhatIfSimulator(self.registry, self.history)
        simulation = await simulator.simulate_actions(
            service.name, top.category, candidates, snapshot, blast, service.criticality,
            service_state=state, service=service, current_downtime_seconds=downtime_s, incident_id=incident_id,
        )

        proposal = Proposal(
            incident_id=incident_id, alert=alert, service=service, hypotheses=hypotheses, blast=blast,
            simulation=simulation, proposed_action=None, params=None, reasoning="",
            approval=ApprovalRequirement.NOT_PROPOSED, approval_reasoning="", act_decision=decision,
            unavailable=metrics.unavailable(), excluded_actions=excluded, service_state=state,
            current_downtime_s=downtime_s, created_at=now,
        )
        self._decide(proposal, service, state, simulation, top, decision)
        log.info("incident %s: proposed %s for %s (%s)", incident_id,
                 proposal.proposed_action.value if proposal.proposed_action else "nothing",
                 service.name, proposal.approval.value)
        return proposal

    def _needs(self, service: str) -> dict[str, set[Signal]]:
        """Return every signal of every service one proposal reads."""
        needs: dict[str, set[Signal]] = {service: set(DIAGNOSIS_SIGNALS)}
        for name in self.topology.downstream(service):
            needs.setdefault(name, set()).update(DOWNSTREAM_SIGNALS)
        for name in self.topology.upstream(service):
            needs.setdefault(name, set()).update(DEPENDENCY_SIGNALS)
        return needs

    async def _unscoped(self, alert: Alert, incident_id: str, now: datetime) -> Proposal:
        diagnoser = Diagnoser(self.topology, self.metrics, self.priors)
        hypotheses = await diagnoser.diagnose(alert, incident_id=incident_id)
        named = alert.service or clean_labels(alert.labels).get("service")
        why = (f"service {named!r} is not in the services file" if named
               else "no label of the alert names a known service")
        log.info("incident %s: unscoped alert %s, nothing proposed", incident_id, alert.alertname)
        return Proposal(
            incident_id=incident_id, alert=alert, service=None, hypotheses=hypotheses, blast=None,
            simulation=None, proposed_action=None, params=None,
            reasoning=(f"No action proposed: {why}, so there is no blast radius to assess and no "
                       "service to act on. Add the service to the services file or a service label "
                       "to the alert rule."),
            approval=ApprovalRequirement.NOT_PROPOSED,
            approval_reasoning="nothing to approve: unscoped alert",
            act_decision=None, created_at=now,
        )

    async def _resolved(self, alert: Alert, incident_id: str, now: datetime) -> Proposal:
        diagnoser = Diagnoser(self.topology, self.metrics, self.priors)
        hypotheses = await diagnoser.diagnose(alert, incident_id=incident_id)
        log.info("incident %s: alert %s on %s is resolved, nothing proposed", incident_id, alert.alertname,
                 alert.service)
        return Proposal(
            incident_id=incident_id, alert=alert,
            service=self.topology.service(alert.service) if alert.service else None,
            hypotheses=hypotheses, blast=None, simulation=None, proposed_action=None, params=None,
            reasoning="No action proposed: the alert is resolved.",
            approval=ApprovalRequirement.NOT_PROPOSED,
            approval_reasoning="nothing to approve: resolved alert",
            act_decision=None, created_at=now,
        )

    def _decide(
        self,
        proposal: Proposal,
        service: Service,
        state: ServiceState,
        simulation: SimulationComparison,
        top: Hypothesis,
        decision: ActDecision,
    ) -> None:
        """Fill the proposed action, its parameters, the reasoning and the approval."""
        minimum = self.settings.min_confidence
        if top.confidence < minimum:
            proposal.reasoning = (f"No action proposed: confidence {top.confidence:.2f} in {top.category.value} "
                                  f"is below the minimum {minimum:.2f}; investigate by hand.")
            proposal.approval_reasoning = "nothing to approve"
            return

        blamed = top.blamed_service
        if blamed is not None and blamed != service.name and not self.topology.service(blamed).protected:
            # Acting on the alerting service cannot fix a failing service it
            # depends on. Databases, caches, brokers and external providers are
            # different: the caller's actions (reconnect, clear cache) are the remedy.
            proposal.reasoning = (f"No action proposed on {service.name}: the likely cause is its failing "
                                  f"dependency {blamed} ({top.category.value}, confidence {top.confidence:.2f}). "
                                  f"Analyze {blamed} and act there.")
            proposal.approval_reasoning = "nothing to approve"
            return

        chosen: SimulatedAction | None = None
        params: ActionParams | None = None
        skipped: list[str] = []
        for simulated in simulation.actions:
            if not simulated.recommended:
                continue
            params, problem = build_params(simulated.action_type, service, state)
            if params is not None:
                chosen = simulated
                break
            skipped.append(f"{simulated.action_type.value} ({problem})")

        if chosen is None or params is None:
            # The simulator's reasoning ends in its own "escalate to a human", which the sentence below repeats.
            reason = simulation.best_action_reasoning.removesuffix(": escalate to a human") if not skipped else (
                "no parameters could be built for " + ", ".join(skipped))
            proposal.reasoning = f"No action proposed for {top.category.value}: {reason}. Escalate to a human."
            proposal.approval_reasoning = "nothing to approve"
            return

        proposal.proposed_action = chosen.action_type
        proposal.params = params
        proposal.reasoning = (f"{chosen.action_type.value} for {top.category.value} "
                              f"(confidence {top.confidence:.2f}): {chosen.reasoning}")
        proposal.approval, proposal.approval_reasoning = approval_for(
            chosen, service.criticality, top.confidence, decision, self.settings)


def candidate_actions(
    service: Service, exclude: Iterable[ActionType] = ()
) -> tuple[list[ActionType], dict[str, str]]:
    """Return the service's allowed actions that may be proposed, and why the others may not."""
    excluded_set = set(exclude)
    candidates: list[ActionType] = []
    excluded: dict[str, str] = {}
    for action in ActionType:
        if action not in service.allowed_actions:
            excluded[action.value] = "not in the service's allowed_actions"
        elif action in excluded_set:
            excluded[action.value] = "excluded for this incident"
        elif service.protected and profile_of(action).disruptive:
            excluded[action.value] = f"disruptive, and {service.name} is a protected {service.kind.value}"
        else:
            candidates.append(action)
    return candidates, excluded


def build_params(action: ActionType, service: Service, state: ServiceState) -> tuple[ActionParams | None, str]:
    """Build an action's parameters from the service's state; on failure return None and the reason."""
    match action:
        case ActionType.SCALE_UP:
            if state.replicas is None:
                return None, "current replica count unknown"
            return ScaleParams(replicas=min(state.replicas + 1, service.max_replicas)), ""
        case ActionType.SCALE_DOWN:
            if state.replicas is None:
                return None, "current replica count unknown"
            return ScaleParams(replicas=max(state.replicas - 1, service.min_replicas)), ""
        case ActionType.CLEAR_CACHE:
            if not (service.cache_key_prefix or service.cache_clear_url):
                return None, "no cache_key_prefix or cache_clear_url configured"
            return ClearCacheParams(key_prefix=service.cache_key_prefix, hook_url=service.cache_clear_url), ""
        case ActionType.TOGGLE_FEATURE_FLAG:
            if not service.feature_flags:
                return None, "no feature flag configured"
            return ToggleFeatureFlagParams(flag=service.feature_flags[0], enabled=False), ""
        case ActionType.RESTART_POD:
            return RestartParams(), ""
        case ActionType.ROLLBACK_DEPLOYMENT:
            if state.previous_revision is None:
                return None, "no previous revision"
            return RollbackParams(to_revision=state.previous_revision), ""
        case ActionType.DRAIN_NODE:
            if not state.nodes:
                return None, "no node known to run the service"
            return DrainNodeParams(node=sorted(state.nodes)[0]), ""
    return None, f"no parameter builder for {action.value}"


def approval_for(
    action: SimulatedAction,
    criticality: Criticality,
    confidence: float,
    decision: ActDecision,
    settings: Settings,
) -> tuple[ApprovalRequirement, str]:
    """Apply the approval policy to a proposed action.

    Two approvers are needed when the worst-case cost reaches the threshold or
    the action leaves a lasting change with no undo. An action runs
    automatically only when it is reversible, its adjusted risk is low, the
    service is low or medium criticality, the confidence is high and the blast
    radius calls for acting. Every other action needs one approver.
    """
    profile = profile_of(action.action_type)
    threshold = settings.two_approver_cost_usd
    if action.worst_case_cost >= threshold:
        return ApprovalRequirement.TWO_APPROVERS, (
            f"two approvers: worst-case cost ${action.worst_case_cost:,.2f} ≥ ${threshold:,.2f}")
    if not profile.reversible and profile.leaves_lasting_change:
        return ApprovalRequirement.TWO_APPROVERS, "two approvers: the change lasts and has no undo"

    blockers: list[str] = []
    if not profile.reversible:
        blockers.append("it has no undo")
    if action.adjusted_risk > settings.auto_max_risk:
        blockers.append(f"adjusted risk {action.adjusted_risk:.3f} > {settings.auto_max_risk:.2f}")
    if criticality not in AUTO_CRITICALITIES:
        blockers.append(f"the service is {criticality.value} criticality")
    if confidence < settings.auto_min_confidence:
        blockers.append(f"confidence {confidence:.2f} < {settings.auto_min_confidence:.2f}")
    if not decision.act:
        blockers.append("the blast radius says observe first")
    if not settings.auto_enabled:
        blockers.append("automatic actions are disabled (AIRRA_AUTO_ENABLED=false)")

    if blockers:
        return ApprovalRequirement.ONE_APPROVER, "one approver: not automatic because " + "; ".join(blockers)
    return ApprovalRequirement.AUTOMATIC, (
        f"automatic: reversible, adjusted risk {action.adjusted_risk:.3f} ≤ {settings.auto_max_risk:.2f}, "
        f"{criticality.value} criticality, confidence {confidence:.2f} ≥ {settings.auto_min_confidence:.2f}")


def _downtime_seconds(alert: Alert, now: datetime) -> float:
    """Return how long a firing alert has been firing, the downtime that lowers adjusted risk."""
    if alert.status is not AlertStatus.FIRING or alert.starts_at is None:
        return 0.0
    starts_at = alert.starts_at if alert.starts_at.tzinfo else alert.starts_at.replace(tzinfo=UTC)
    return max(0.0, (now - starts_at).total_seconds())


def render_proposal_text(proposal: Proposal) -> str:
    """Render a proposal as plain text for the command line and logs."""
    alert = proposal.alert
    lines = [f"Incident {proposal.incident_id}: {alert.alertname} ({alert.status.value}) on "
             f"{proposal.service.name if proposal.service else 'an unknown service'}", ""]

    lines.append("Hypotheses:")
    for index, hypothesis in enumerate(proposal.hypotheses, start=1):
        terms = hypothesis.terms
        lines.append(f"  {index}. {hypothesis.category.value} — confidence {hypothesis.confidence:.2f} "
                     f"(base {terms['base']:.2f}, evidence {terms['evidence']:.3f}, anomaly {terms['anomaly']:.3f}, "
                     f"topology {terms['topology']:+.2f}, learned {terms['learned']:+.2f})")
        lines.append(f"     {hypothesis.description}")
        lines += [f"     - {item}" for item in hypothesis.evidence]

    if proposal.blast is not None:
        blast = proposal.blast
        lines += ["", f"Blast radius: {blast.level.value.upper()} (score {blast.score:.4f}, "
                      f"{blast.affected_services_count} downstream, {blast.estimated_users_impacted:,} users, "
                      f"${blast.revenue_impact_per_hour:,.2f}/h, urgency ×{blast.urgency_multiplier:.2f})"]
        lines += [f"  assumption: {item}" for item in blast.assumptions]
    if proposal.act_decision is not None:
        lines.append(f"Act: {proposal.act_decision.timing} — {proposal.act_decision.reasoning}")

    if proposal.simulation is not None and proposal.simulation.actions:
        lines += ["", "Candidates (best first):"]
        for simulated in proposal.simulation.actions:
            mark = "✓" if simulated.recommended else "✗"
            lines.append(f"  {mark} {simulated.action_type.value:<20} P_fix {simulated.success_probability:.4f}  "
                         f"risk {simulated.adjusted_risk:.3f}  utility {simulated.utility:+.4f}  "
                         f"cost ${simulated.expected_cost:,.2f} / ${simulated.worst_case_cost:,.2f}")

    if proposal.excluded_actions:
        excluded = ", ".join(f"{action} ({reason})" for action, reason in proposal.excluded_actions.items())
        lines.append(f"  not candidates: {excluded}")

    lines.append("")
    if proposal.proposed_action is not None:
        params = proposal.params.model_dump_json() if proposal.params is not None else "{}"
        lines.append(f"Proposed action: {proposal.proposed_action.value} {params}")
    else:
        lines.append("Proposed action: none")
    lines.append(f"Reasoning: {proposal.reasoning}")
    lines.append(f"Approval: {proposal.approval.value} — {proposal.approval_reasoning}")

    if proposal.unavailable:
        lines += ["", "Unavailable metrics:"]
        lines += [f"  {key}: {reason}" for key, reason in proposal.unavailable.items()]
    return "\n".join(lines)
