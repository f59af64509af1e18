"""Metric readings derived from the sandbox cluster's state.

Each service has a seeded baseline (request rate by tier and criticality, a
small error ratio, p95 of 80-200 ms, full availability). Active faults add
their effect at their current intensity, and a failing service raises the
error ratio and latency of every service that depends on it, halved per hop.
Small seeded noise (±2 %) keeps readings realistic but repeatable: the same
seed and the same sequence of reads give the same values.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from pydantic import BaseModel

from airra.criticality import Criticality
from airra.errors import UnknownServiceError
from airra.metrics import MetricsSnapshot, Reading, Signal
from airra.sandbox.cluster import SandboxCluster
from airra.sandbox.faults import EFFECTS, NODE_FAULTS, FaultEffect

log = logging.getLogger(__name__)

# Requests per second of a medium-criticality service, by tier. Data stores
# (tier 4) serve every caller, so they see more requests than the services.
TIER_REQUEST_RATE = {0: 120.0, 1: 90.0, 2: 45.0, 3: 15.0, 4: 150.0, 5: 25.0}
DEFAULT_REQUEST_RATE = 30.0

CRITICALITY_TRAFFIC = {
    Criticality.LOW: 0.6,
    Criticality.MEDIUM: 1.0,
    Criticality.HIGH: 1.3,
    Criticality.CRITICAL: 1.6,
}

# Share of a failing service's extra errors and latency seen one hop downstream.
PROPAGATION_PER_HOP = 0.5

NOISE = 0.02

_NO_EFFECT = FaultEffect()

# p99 grows faster than p95 when a fault adds latency.
P99_OVER_P95 = 1.6
P99_FAULT_FACTOR = 1.4


class Baseline(BaseModel):
    """A service's healthy metric values."""

    request_rate: float
    error_ratio: float
    latency_p95_s: float
    cpu: float
    memory: float
    memory_growth: float


class SandboxMetrics:
    """``MetricsSource`` reading the sandbox cluster."""

    def __init__(self, cluster: SandboxCluster) -> None:
        self.cluster = cluster
        self._reads: dict[str, int] = {}
        self._baselines = {service.name: self._baseline(service.name) for service in cluster.topology}

    def baseline(self, service: str) -> Baseline:
        """Return the healthy values of ``service``."""
        return self._baselines[service]

    def _baseline(self, name: str) -> Baseline:
        service = self.cluster.topology.service(name)
        rng = random.Random(f"{self.cluster.seed}:{name}:baseline")
        rate = TIER_REQUEST_RATE.get(service.tier, DEFAULT_REQUEST_RATE) * CRITICALITY_TRAFFIC[service.criticality]
        return Baseline(
            request_rate=round(rate * rng.uniform(0.85, 1.15), 2),
            error_ratio=rng.uniform(0.001, 0.005),
            latency_p95_s=rng.uniform(0.08, 0.20),
            cpu=rng.uniform(0.30, 0.45),
            memory=rng.uniform(0.40, 0.50),
            memory_growth=rng.uniform(0.005, 0.015),
        )

    def effect(self, service: str) -> FaultEffect:
        """Return the summed effect of every fault on ``service``, including propagated errors."""
        total = self._own_effect(service)
        for upstream, hops in self.cluster.topology.upstream(service).items():
            own = self._own_effect(upstream)
            if own.error_ratio == 0 and own.latency_s == 0:
                # Adding zeros changes nothing, and building the sums was most of the cost of a read.
                continue
            share = PROPAGATION_PER_HOP**hops
            total = total.plus(FaultEffect(error_ratio=own.error_ratio * share, latency_s=own.latency_s * share))
        return total

    def _own_effect(self, service: str) -> FaultEffect:
        total = FaultEffect()
        for fault in self.cluster.faults:
            intensity = self.cluster.intensity(fault, service)
            if intensity > 0:
                total = total.plus(EFFECTS[fault.category].scaled(intensity))
        return total

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        """Return the current value of each signal for ``service``."""
        if service not in self.cluster.topology:
            reason = str(UnknownServiceError(service, self.cluster.topology.names))
            return MetricsSnapshot(
                service=service,
                readings={signal: Reading.unavailable(service, signal, reason) for signal in signals},
            )

        return self._snapshot(service, signals, self.effect(service))

    async def read_many(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[str, MetricsSnapshot]:
        """Return the current value of each signal for every service, in one pass.

        The readings equal those of one ``read`` per service: each service's
        read count advances by one and seeds the same noise. Only services
        with a fault of their own or a faulty service upstream get their
        effect worked out. Every other service's effect is zero, so the pass
        skips the upstream traversal for those.
        """
        touched = self._touched_services()
        snapshots: dict[str, MetricsSnapshot] = {}
        for service in dict.fromkeys(services):
            if service not in self.cluster.topology:
                snapshots[service] = await self.read(service, signals)
                continue
            effect = self.effect(service) if service in touched else _NO_EFFECT
            snapshots[service] = self._snapshot(service, signals, effect)
        return snapshots

    def _touched_services(self) -> set[str]:
        """Return the services whose effect may be non-zero: those hurt by a fault and everything downstream."""
        sources: set[str] = set()
        for fault in self.cluster.faults:
            if fault.category in NODE_FAULTS:
                sources.update(name for name, deployment in self.cluster.deployments.items()
                               if any(pod.node == fault.node for pod in deployment.pods))
            else:
                sources.add(fault.service)

        touched = set(sources)
        for source in sources:
            if source in self.cluster.topology:
                touched.update(self.cluster.topology.downstream(source))
        return touched

    def _snapshot(self, service: str, signals: Sequence[Signal], effect: FaultEffect) -> MetricsSnapshot:
        count = self._reads.get(service, 0)
        self._reads[service] = count + 1
        values = self._values(service, effect)

        readings: dict[Signal, Reading] = {}
        for signal in signals:
            value = values[signal]
            if signal not in (Signal.RESTARTS, Signal.ROLLOUT_AGE, Signal.AVAILABILITY):
                value *= 1.0 + random.Random(f"{self.cluster.seed}:{service}:{count}:{signal.value}").uniform(
                    -NOISE, NOISE
                )
            if signal in (Signal.ERROR_RATIO, Signal.AVAILABILITY):
                value = min(1.0, max(0.0, value))
            readings[signal] = Reading.of(service, signal, value, query=f"sandbox:{signal.value}")
        return MetricsSnapshot(service=service, readings=readings)

    def _values(self, service: str, effect: FaultEffect) -> dict[Signal, float]:
        base = self._baselines[service]
        deployment = self.cluster.deployments[service]
        return {
            Signal.REQUEST_RATE: base.request_rate * self.cluster.traffic_factor(service),
            Signal.ERROR_RATIO: base.error_ratio + effect.error_ratio,
            Signal.LATENCY_P95: base.latency_p95_s + effect.latency_s,
            Signal.LATENCY_P99: base.latency_p95_s * P99_OVER_P95 + effect.latency_s * P99_FAULT_FACTOR,
            Signal.AVAILABILITY: 1.0 - effect.availability_loss,
            Signal.CPU_UTILIZATION: base.cpu + effect.cpu,
            Signal.MEMORY_UTILIZATION: min(0.99, base.memory + effect.memory),
            Signal.MEMORY_GROWTH: base.memory_growth + effect.memory_growth,
            Signal.RESTARTS: float(round(effect.restarts)),
            Signal.ROLLOUT_AGE: max(0.0, self.cluster.clock() - deployment.rollout_started_at),
        }
