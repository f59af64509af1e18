"""Diagnosis: ranked root-cause hypotheses from the alert and metric evidence.

Deterministic, with no language model. Each piece of evidence is a signal
with a match strength (how specifically it points at a category), an
anomaly confidence and, for metrics, a z-score against a documented
baseline. Per category:

    evidence   = 0.6 × mean match + min(0.15, 0.05 × signal kinds) + min(0.10, 0.03 × signals)
    anomaly    = 0.7 × mean anomaly confidence + 0.3 × min(1, max|z| ÷ 6)
    confidence = clamp[0.01, 0.99](0.40·base + 0.35·evidence + 0.25·anomaly + topology + learned)

The tables and a worked example are in docs/formulas.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from airra.alerts import Alert
from airra.blast_radius import is_error_ratio_elevated
from airra.categories import Category
from airra.metrics import MetricsSnapshot, MetricsSource, Signal
from airra.topology import ServiceKind, Topology

log = logging.getLogger(__name__)

BASE_CONFIDENCE: dict[Category, float] = {
    Category.ERROR_SPIKE: 0.85,
    Category.TRAFFIC_SPIKE: 0.80,
    Category.DEPLOYMENT_REGRESSION: 0.80,
    Category.CPU_SPIKE: 0.75,
    Category.MEMORY_LEAK: 0.70,
    Category.LATENCY_SPIKE: 0.65,
    Category.DATABASE_ISSUE: 0.60,
    Category.NETWORK_ISSUE: 0.55,
    Category.CACHE_ISSUE: 0.50,
    Category.DISK_PRESSURE: 0.75,
    Category.NODE_FAILURE: 0.80,
    Category.UNKNOWN: 0.30,
}

BASE_FACTOR, EVIDENCE_FACTOR, ANOMALY_FACTOR = 0.40, 0.35, 0.25
MIN_CONFIDENCE, MAX_CONFIDENCE = 0.01, 0.99
MAX_LEARNED_ADJUSTMENT = 0.10

TOPOLOGY_DIRECT_UPSTREAM = 0.15
TOPOLOGY_TRANSITIVE_UPSTREAM = 0.08
TOPOLOGY_BLAMES_DOWNSTREAM = -0.05

MAX_HYPOTHESES = 3

SignalKind = Literal["alert", "label", "annotation", "metric", "rollout", "dependency", "operator"]

# Metric baselines: z = (value − baseline) ÷ spread (availability counts downwards).
# A metric is evidence from z ≥ 2; its anomaly confidence is min(1, z ÷ 4).
METRIC_BASELINES: dict[Signal, tuple[float, float]] = {
    Signal.ERROR_RATIO: (0.01, 0.01),
    Signal.LATENCY_P95: (0.25, 0.125),
    Signal.LATENCY_P99: (0.50, 0.25),
    Signal.CPU_UTILIZATION: (0.50, 0.15),
    Signal.MEMORY_UTILIZATION: (0.60, 0.10),
    Signal.MEMORY_GROWTH: (0.0, 0.02),
    Signal.RESTARTS: (0.0, 1.0),
    Signal.AVAILABILITY: (1.0, 0.05),
}
EVIDENCE_MIN_Z = 2.0
ANOMALY_FULL_Z = 4.0
Z_SATURATION = 6.0
RECENT_ROLLOUT_S = 3600.0

DIAGNOSIS_SIGNALS: tuple[Signal, ...] = (
    Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99, Signal.AVAILABILITY,
    Signal.CPU_UTILIZATION, Signal.MEMORY_UTILIZATION, Signal.MEMORY_GROWTH, Signal.RESTARTS, Signal.ROLLOUT_AGE,
)
DEPENDENCY_SIGNALS: tuple[Signal, ...] = (Signal.ERROR_RATIO, Signal.REQUEST_RATE, Signal.AVAILABILITY)

# Alert names, first match wins, so specific patterns come before generic ones.
# Each maps to (category, match strength) pairs.
ALERT_RULES: list[tuple[re.Pattern[str], list[tuple[Category, float]]]] = [
    (re.compile(p, re.IGNORECASE), rule) for p, rule in [
        (r"(?-i:OOM)|MemoryLeak|ContainerMemory|PodMemory|MemoryUsage|HighMemory|MemoryHigh",
         [(Category.MEMORY_LEAK, 0.9)]),
        (r"CrashLoop", [(Category.MEMORY_LEAK, 0.5), (Category.DEPLOYMENT_REGRESSION, 0.5),
                        (Category.ERROR_SPIKE, 0.3)]),
        (r"FilesystemSpace|FilesystemAlmostOutOf|FilesystemFilesFillingUp|PersistentVolumeFillingUp"
         r"|PersistentVolumeInodes|DiskSpace|DiskPressure|DiskFull|DiskUsage",
         [(Category.DISK_PRESSURE, 0.9)]),
        (r"NodeNotReady|NodeUnreachable|NodeDown|KubeletDown|NodeLost|NodeMemoryPressure|NodePIDPressure",
         [(Category.NODE_FAILURE, 0.9)]),
        (r"CPUThrottling", [(Category.CPU_SPIKE, 0.8), (Category.TRAFFIC_SPIKE, 0.3)]),
        (r"CPU", [(Category.CPU_SPIKE, 0.9)]),
        (r"ReplicasMismatch|RolloutStuck|GenerationMismatch|Deploy|Rollout|Release|Canary",
         [(Category.DEPLOYMENT_REGRESSION, 0.7), (Category.NODE_FAILURE, 0.2)]),
        (r"Postgres|Mysql|Database|DBConnection|\bDB|SQL|Mongo|Replication|DeadLock",
         [(Category.DATABASE_ISSUE, 0.9)]),
        (r"Redis|Memcache|Cache", [(Category.CACHE_ISSUE, 0.9)]),
        (r"HpaMaxedOut|RequestRate|Traffic|RequestsSurge|TooManyRequests|RateLimit",
         [(Category.TRAFFIC_SPIKE, 0.9)]),
        (r"Latency|Slow|ResponseTime|Duration", [(Category.LATENCY_SPIKE, 0.9)]),
        (r"Error|5xx|Fail|Exception", [(Category.ERROR_SPIKE, 0.9)]),
        (r"Network|DNS|Connection|Timeout|Unreachable|PacketLoss|Interface",
         [(Category.NETWORK_ISSUE, 0.8)]),
        (r"PodNotReady|TargetDown|Down$|Unavailable",
         [(Category.NODE_FAILURE, 0.4), (Category.NETWORK_ISSUE, 0.4), (Category.DEPLOYMENT_REGRESSION, 0.3)]),
    ]
]

# Words in the summary and description that point at a category.
ANNOTATION_WORDS: list[tuple[re.Pattern[str], Category]] = [
    (re.compile(r"\b(memory|oom\w*|heap|leak)\b", re.IGNORECASE), Category.MEMORY_LEAK),
    (re.compile(r"\b(cpu|throttl\w*)\b", re.IGNORECASE), Category.CPU_SPIKE),
    (re.compile(r"\b(5xx|errors?|exceptions?)\b", re.IGNORECASE), Category.ERROR_SPIKE),
    (re.compile(r"\b(latency|slow|p9[59])\b", re.IGNORECASE), Category.LATENCY_SPIKE),
    (re.compile(r"\b(traffic|surge)\b", re.IGNORECASE), Category.TRAFFIC_SPIKE),
    (re.compile(r"\b(deploy\w*|rollout|release)\b", re.IGNORECASE), Category.DEPLOYMENT_REGRESSION),
    (re.compile(r"\b(database|postgres\w*|mysql|sql)\b", re.IGNORECASE), Category.DATABASE_ISSUE),
    (re.compile(r"\b(cache|redis)\b", re.IGNORECASE), Category.CACHE_ISSUE),
    (re.compile(r"\b(network|dns|connection|timeouts?)\b", re.IGNORECASE), Category.NETWORK_ISSUE),
    (re.compile(r"\b(disk|filesystem|volume|inodes?)\b", re.IGNORECASE), Category.DISK_PRESSURE),
    (re.compile(r"\b(kubelet|NotReady)\b", re.IGNORECASE), Category.NODE_FAILURE),
]
ANNOTATION_MATCH = 0.5

SEVERITY_ANOMALY = {"critical": 1.0, "page": 1.0, "error": 0.9, "high": 0.9, "warning": 0.7,
                    "medium": 0.7, "info": 0.4, "low": 0.4, "none": 0.3}
DEFAULT_SEVERITY_ANOMALY = 0.7

# A failing dependency explains the alert through the category its kind suggests.
DEPENDENCY_CATEGORY = {
    ServiceKind.DATABASE: Category.DATABASE_ISSUE,
    ServiceKind.CACHE: Category.CACHE_ISSUE,
    ServiceKind.BROKER: Category.NETWORK_ISSUE,
    ServiceKind.EXTERNAL: Category.NETWORK_ISSUE,
    ServiceKind.SERVICE: Category.ERROR_SPIKE,
}
DEPENDENCY_MATCH = 0.7
DEPENDENCY_FAILING_AVAILABILITY = 0.9

# Alerts about these symptoms can be caused by a failing dependency. An alert
# that names a cause of its own (OOM kills, CPU throttling, a full disk, a
# NotReady node, a stuck rollout) is not explained by one.
DEPENDENCY_EXPLAINS = {Category.ERROR_SPIKE, Category.LATENCY_SPIKE, Category.NETWORK_ISSUE,
                       Category.DATABASE_ISSUE, Category.CACHE_ISSUE}

# Errors and latency are symptoms. When a cause shows in the metrics too
# (memory, CPU, availability, restarts or a recent rollout), they point only
# weakly at error_spike or latency_spike, whose base confidence would
# otherwise outrank the cause.
SYMPTOM_MATCH = {Signal.ERROR_RATIO: 0.8, Signal.LATENCY_P95: 0.8, Signal.LATENCY_P99: 0.6}
EXPLAINED_SYMPTOM_MATCH = {Signal.ERROR_RATIO: 0.3, Signal.LATENCY_P95: 0.3, Signal.LATENCY_P99: 0.2}
CAUSE_SIGNALS = {Signal.MEMORY_GROWTH, Signal.MEMORY_UTILIZATION, Signal.CPU_UTILIZATION, Signal.AVAILABILITY,
                 Signal.RESTARTS}
REGRESSION_SYMPTOM_MATCH = 0.6

MISSING_LABEL_VALUES = {"", "<no value>", "<nil>", "none", "null", "n/a"}


class CategoryPriors(Protocol):
    """Learned per-category confidence adjustments, implemented by the learning loop."""

    def adjustment(self, category: Category) -> float:
        """Return the adjustment for a category, within ±0.10."""
        ...


class EvidenceSignal(BaseModel):
    """One piece of evidence for a category."""

    kind: SignalKind
    text: str
    match_strength: float = Field(ge=0, le=1)
    anomaly_confidence: float = Field(ge=0, le=1)
    z: float | None = None


class Hypothesis(BaseModel):
    """A ranked root-cause hypothesis with the terms of its confidence."""

    category: Category
    description: str
    confidence: float = Field(ge=0, le=1)
    evidence: list[str]
    terms: dict[str, float] = Field(description="base, evidence, anomaly, topology, learned")
    blamed_service: str | None = Field(default=None, description="the service the hypothesis blames")
    signals: list[EvidenceSignal] = Field(default_factory=list)


@dataclass(frozen=True)
class FailingDependency:
    """A service the alerting service depends on that is itself failing."""

    name: str
    hops: int
    kind: ServiceKind
    signal: EvidenceSignal


def clean_labels(labels: dict[str, str]) -> dict[str, str]:
    """Drop labels whose value is empty or a template placeholder such as ``<no value>``."""
    return {key: value for key, value in labels.items() if value.strip().lower() not in MISSING_LABEL_VALUES}


def z_score(signal: Signal, value: float) -> float | None:
    """Return the deviation of a metric from its documented baseline, in spreads."""
    if signal not in METRIC_BASELINES:
        return None
    baseline, spread = METRIC_BASELINES[signal]
    if signal is Signal.AVAILABILITY:
        return (baseline - value) / spread
    return (value - baseline) / spread


def evidence_term(signals: list[EvidenceSignal]) -> float:
    """Return 0.6 × mean match + min(0.15, 0.05 × kinds) + min(0.10, 0.03 × signals), or 0 with none."""
    if not signals:
        return 0.0
    mean_match = sum(s.match_strength for s in signals) / len(signals)
    kinds = len({s.kind for s in signals})
    return 0.6 * mean_match + min(0.15, 0.05 * kinds) + min(0.10, 0.03 * len(signals))


def anomaly_term(signals: list[EvidenceSignal]) -> float:
    """Return 0.7 × mean anomaly confidence + 0.3 × min(1, max|z| ÷ 6), or 0 with no signals."""
    if not signals:
        return 0.0
    mean_anomaly = sum(s.anomaly_confidence for s in signals) / len(signals)
    max_z = max((abs(s.z) for s in signals if s.z is not None), default=0.0)
    return 0.7 * mean_anomaly + 0.3 * min(1.0, max_z / Z_SATURATION)


def confidence_terms(
    category: Category, signals: list[EvidenceSignal], topology_term: float, learned: float
) -> dict[str, float]:
    """Return every term of the confidence formula and the clamped confidence."""
    learned = max(-MAX_LEARNED_ADJUSTMENT, min(MAX_LEARNED_ADJUSTMENT, learned))
    terms = {
        "base": BASE_CONFIDENCE[category],
        "evidence": evidence_term(signals),
        "anomaly": anomaly_term(signals),
        "topology": topology_term,
        "learned": learned,
    }
    raw = (BASE_FACTOR * terms["base"] + EVIDENCE_FACTOR * terms["evidence"]
           + ANOMALY_FACTOR * terms["anomaly"] + topology_term + learned)
    terms["confidence"] = round(min(MAX_CONFIDENCE, max(MIN_CONFIDENCE, raw)), 10)
    return terms


class Diagnoser:
    """Turns an alert and metric evidence into 1–3 ranked hypotheses."""

    def __init__(self, topology: Topology, metrics: MetricsSource, priors: CategoryPriors | None = None) -> None:
        self.topology = topology
        self.metrics = metrics
        self.priors = priors

    async def diagnose(
        self,
        alert: Alert,
        *,
        incident_id: str,
        snapshot: MetricsSnapshot | None = None,
        forced: Category | None = None,
    ) -> list[Hypothesis]:
        """Return 1–3 hypotheses, best first.

        ``forced`` puts that category first whatever its evidence, as when an
        operator names the category.
        """
        service = alert.service if alert.service in self.topology else None
        if snapshot is None and service is not None:
            snapshot = await self.metrics.read(service, DIAGNOSIS_SIGNALS)
        explainable = dependency_can_explain(alert.alertname)
        failing = await self._failing_dependencies(service) if service is not None and explainable else []

        by_category = collect_signals(alert, snapshot)
        hypotheses = [self._hypothesis(category, signals, alert, service, failing)
                      for category, signals in by_category.items()]
        if failing:
            hypotheses.append(self._dependency_hypothesis(alert, failing[0]))
            hypotheses = _keep_best_per_category(hypotheses)
        if not hypotheses:
            hypotheses.append(self._hypothesis(Category.UNKNOWN, [_alert_signal(alert, 0.2)], alert, service, failing))

        hypotheses.sort(key=lambda h: (-h.confidence, h.category.value))
        if forced is not None:
            hypotheses = self._force(forced, hypotheses, by_category, alert, service, failing)

        ranked = hypotheses[:MAX_HYPOTHESES]
        log.info("incident %s: ranked %d hypotheses for %s; top %s at %.2f", incident_id, len(ranked),
                 service or "unscoped alert", ranked[0].category.value, ranked[0].confidence)
        return ranked

    async def _failing_dependencies(self, service: str) -> list[FailingDependency]:
        """Return the services ``service`` depends on that are failing, nearest first."""
        upstream = self.topology.upstream(service)
        names = sorted(upstream, key=lambda name: (upstream[name], name))
        snapshots = await asyncio.gather(*(self.metrics.read(name, DEPENDENCY_SIGNALS) for name in names))

        failing: list[FailingDependency] = []
        for name, snapshot in zip(names, snapshots):
            signal = _dependency_failure_signal(name, snapshot)
            if signal is not None:
                failing.append(FailingDependency(name, upstream[name], self.topology.service(name).kind, signal))
        return failing

    def _learned(self, category: Category) -> float:
        return self.priors.adjustment(category) if self.priors is not None else 0.0

    def _hypothesis(
        self,
        category: Category,
        signals: list[EvidenceSignal],
        alert: Alert,
        service: str | None,
        failing: list[FailingDependency],
    ) -> Hypothesis:
        # The alerting service sits downstream of a failing dependency, so blaming
        # the service itself is blaming a victim of that failure.
        topology_term = TOPOLOGY_BLAMES_DOWNSTREAM if failing else 0.0
        terms = confidence_terms(category, signals, topology_term, self._learned(category))
        target = service or "an unscoped alert"
        evidence = [s.text for s in signals]
        if failing:
            evidence.append(f"{failing[0].name} ({failing[0].hops} hop(s) upstream) is failing too")
        return Hypothesis(
            category=category,
            description=f"{category.value.replace('_', ' ')} in {target} ({alert.alertname})",
            confidence=terms.pop("confidence"),
            evidence=evidence,
            terms=terms,
            blamed_service=service,
            signals=signals,
        )

    def _dependency_hypothesis(self, alert: Alert, dependency: FailingDependency) -> Hypothesis:
        category = DEPENDENCY_CATEGORY[dependency.kind]
        signals = [dependency.signal, _alert_signal(alert, 0.3)]
        boost = TOPOLOGY_DIRECT_UPSTREAM if dependency.hops == 1 else TOPOLOGY_TRANSITIVE_UPSTREAM
        terms = confidence_terms(category, signals, boost, self._learned(category))
        return Hypothesis(
            category=category,
            description=(f"{category.value.replace('_', ' ')}: failing dependency {dependency.name} "
                         f"({dependency.hops} hop(s) upstream) explains {alert.alertname} on {alert.service}"),
            confidence=terms.pop("confidence"),
            evidence=[s.text for s in signals],
            terms=terms,
            blamed_service=dependency.name,
            signals=signals,
        )

    def _force(
        self,
        forced: Category,
        hypotheses: list[Hypothesis],
        by_category: dict[Category, list[EvidenceSignal]],
        alert: Alert,
        service: str | None,
        failing: list[FailingDependency],
    ) -> list[Hypothesis]:
        chosen = next((h for h in hypotheses if h.category is forced), None)
        if chosen is None:
            signals = [*by_category.get(forced, []),
                       EvidenceSignal(kind="operator", text=f"category {forced.value} set by an operator",
                                      match_strength=1.0, anomaly_confidence=0.0)]
            chosen = self._hypothesis(forced, signals, alert, service, failing)
        return [chosen, *(h for h in hypotheses if h is not chosen)]


def collect_signals(alert: Alert, snapshot: MetricsSnapshot | None) -> dict[Category, list[EvidenceSignal]]:
    """Gather the evidence for each category from the alert and the metric snapshot."""
    by_category: dict[Category, list[EvidenceSignal]] = {}

    def add(category: Category, signal: EvidenceSignal) -> None:
        by_category.setdefault(category, []).append(signal)

    for category, strength in match_alert_name(alert.alertname):
        add(category, _alert_signal(alert, strength))

    labels = clean_labels(alert.labels)
    if any("oomkilled" in value.lower() for value in labels.values()):
        add(Category.MEMORY_LEAK, EvidenceSignal(kind="label", text="a label reports OOMKilled",
                                                 match_strength=0.9, anomaly_confidence=1.0))

    text = " ".join(filter(None, [alert.summary, alert.description,
                                  alert.annotations.get("summary"), alert.annotations.get("description")]))
    for pattern, category in ANNOTATION_WORDS:
        found = pattern.search(text)
        if found:
            add(category, EvidenceSignal(kind="annotation", text=f"annotation mentions {found.group(0)!r}",
                                         match_strength=ANNOTATION_MATCH,
                                         anomaly_confidence=_severity_anomaly(alert)))

    if snapshot is not None:
        for category, signal in metric_signals(snapshot):
            add(category, signal)
    return by_category


def dependency_can_explain(alertname: str) -> bool:
    """Return True when a failing dependency could cause the alert: a symptom alert or an unknown name."""
    rule = match_alert_name(alertname)
    return not rule or rule[0][0] in DEPENDENCY_EXPLAINS


def match_alert_name(alertname: str) -> list[tuple[Category, float]]:
    """Return the (category, match strength) pairs of the first alert rule matching the name."""
    for pattern, rule in ALERT_RULES:
        if pattern.search(alertname):
            return rule
    return []


def metric_signals(snapshot: MetricsSnapshot) -> list[tuple[Category, EvidenceSignal]]:
    """Turn the anomalous readings of a snapshot into evidence, per category."""
    anomalous: dict[Signal, tuple[float, float]] = {}
    for signal in METRIC_BASELINES:
        value = snapshot.value(signal)
        if value is None:
            continue
        z = z_score(signal, value)
        if z is not None and z >= EVIDENCE_MIN_Z:
            anomalous[signal] = (value, z)

    def metric(signal: Signal, strength: float) -> EvidenceSignal:
        value, z = anomalous[signal]
        return EvidenceSignal(kind="metric", text=f"{signal.value} = {value:g} {signal.unit} (z = {z:.1f})",
                              match_strength=strength, anomaly_confidence=min(1.0, z / ANOMALY_FULL_Z), z=z)

    rollout_age = snapshot.value(Signal.ROLLOUT_AGE)
    recent_rollout = rollout_age is not None and 0 <= rollout_age < RECENT_ROLLOUT_S
    cause_present = recent_rollout or bool(CAUSE_SIGNALS & anomalous.keys())
    symptom_match = EXPLAINED_SYMPTOM_MATCH if cause_present else SYMPTOM_MATCH

    found: list[tuple[Category, EvidenceSignal]] = []
    rate = snapshot.value(Signal.REQUEST_RATE)
    if Signal.ERROR_RATIO in anomalous and not is_error_ratio_elevated(anomalous[Signal.ERROR_RATIO][0], rate):
        del anomalous[Signal.ERROR_RATIO]
    symptoms = [signal for signal in (Signal.ERROR_RATIO, Signal.LATENCY_P95, Signal.LATENCY_P99)
                if signal in anomalous]
    for signal in symptoms:
        category = Category.ERROR_SPIKE if signal is Signal.ERROR_RATIO else Category.LATENCY_SPIKE
        found.append((category, metric(signal, symptom_match[signal])))
    if Signal.CPU_UTILIZATION in anomalous:
        found.append((Category.CPU_SPIKE, metric(Signal.CPU_UTILIZATION, 0.8)))
    if Signal.MEMORY_GROWTH in anomalous:
        found.append((Category.MEMORY_LEAK, metric(Signal.MEMORY_GROWTH, 0.9)))
    if Signal.MEMORY_UTILIZATION in anomalous:
        found.append((Category.MEMORY_LEAK, metric(Signal.MEMORY_UTILIZATION, 0.5)))
    if Signal.AVAILABILITY in anomalous:
        found.append((Category.NODE_FAILURE, metric(Signal.AVAILABILITY, 0.4)))
        found.append((Category.NETWORK_ISSUE, metric(Signal.AVAILABILITY, 0.3)))

    memory_pressure = Signal.MEMORY_GROWTH in anomalous or Signal.MEMORY_UTILIZATION in anomalous
    if Signal.RESTARTS in anomalous:
        if memory_pressure:
            found.append((Category.MEMORY_LEAK, metric(Signal.RESTARTS, 0.4)))
        if recent_rollout:
            found.append((Category.DEPLOYMENT_REGRESSION, metric(Signal.RESTARTS, 0.4)))
        if not memory_pressure and not recent_rollout:
            found.append((Category.ERROR_SPIKE, metric(Signal.RESTARTS, 0.3)))

    # A rollout is only evidence when something broke after it; the errors and
    # latency that followed it then count for the regression too.
    if recent_rollout and (symptoms or Signal.RESTARTS in anomalous):
        assert rollout_age is not None
        found.append((Category.DEPLOYMENT_REGRESSION, EvidenceSignal(
            kind="rollout", text=f"rollout started {rollout_age:.0f} s ago",
            match_strength=0.8, anomaly_confidence=1.0 - rollout_age / RECENT_ROLLOUT_S)))
        for signal in symptoms:
            found.append((Category.DEPLOYMENT_REGRESSION, metric(signal, REGRESSION_SYMPTOM_MATCH)))
    return found


def _severity_anomaly(alert: Alert) -> float:
    severity = (alert.severity or clean_labels(alert.labels).get("severity") or "").strip().lower()
    return SEVERITY_ANOMALY.get(severity, DEFAULT_SEVERITY_ANOMALY)


def _alert_signal(alert: Alert, strength: float) -> EvidenceSignal:
    return EvidenceSignal(kind="alert", text=f"alert {alert.alertname} is {alert.status.value}",
                          match_strength=strength, anomaly_confidence=_severity_anomaly(alert))


def _dependency_failure_signal(name: str, snapshot: MetricsSnapshot) -> EvidenceSignal | None:
    error_ratio = snapshot.value(Signal.ERROR_RATIO)
    if error_ratio is not None and is_error_ratio_elevated(error_ratio, snapshot.value(Signal.REQUEST_RATE)):
        z = z_score(Signal.ERROR_RATIO, error_ratio)
        assert z is not None
        return EvidenceSignal(kind="dependency", text=f"dependency {name} error ratio = {error_ratio:g} (z = {z:.1f})",
                              match_strength=DEPENDENCY_MATCH, anomaly_confidence=max(0.0, min(1.0, z / ANOMALY_FULL_Z)),
                              z=z)
    availability = snapshot.value(Signal.AVAILABILITY)
    if availability is not None and availability < DEPENDENCY_FAILING_AVAILABILITY:
        z = z_score(Signal.AVAILABILITY, availability)
        assert z is not None
        return EvidenceSignal(kind="dependency", text=f"dependency {name} availability = {availability:g} (z = {z:.1f})",
                              match_strength=DEPENDENCY_MATCH, anomaly_confidence=min(1.0, z / ANOMALY_FULL_Z), z=z)
    return None


def _keep_best_per_category(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    best: dict[Category, Hypothesis] = {}
    for hypothesis in hypotheses:
        current = best.get(hypothesis.category)
        if current is None or hypothesis.confidence > current.confidence:
            best[hypothesis.category] = hypothesis
    return list(best.values())
