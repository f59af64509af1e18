"""Injected faults and how strongly each one hurts a service right now.

A fault's strength is computed from the sandbox state on every read rather
than stored as a number that actions edit. So scaling back to the saved
replica count brings a CPU spike back, and rolling forward to the bad image
brings the regression back. Faults that no state can express (a leak's heap, a
poisoned cache) keep a ``level`` that only their fixing action lowers.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from airra.actions import ActionType
from airra.categories import Category

# Share of a fault's effect that stays after the right action: recovery in
# production is rarely total within one verification window.
RESIDUAL = 0.05

# Intensity never grows past this, however wrong the actions taken.
MAX_INTENSITY = 3.0


class FaultEffect(BaseModel):
    """Additive change to one service's signals at intensity 1."""

    error_ratio: float = 0.0
    latency_s: float = 0.0
    availability_loss: float = 0.0
    cpu: float = 0.0
    memory: float = 0.0
    memory_growth: float = 0.0
    restarts: float = 0.0

    def scaled(self, factor: float) -> FaultEffect:
        """Return this effect multiplied by ``factor``."""
        return FaultEffect(**{name: value * factor for name, value in self.model_dump().items()})

    def plus(self, other: FaultEffect) -> FaultEffect:
        """Return the sum of two effects."""
        mine = self.model_dump()
        return FaultEffect(**{name: mine[name] + value for name, value in other.model_dump().items()})


# Effect of each category at full intensity.
EFFECTS: dict[Category, FaultEffect] = {
    Category.MEMORY_LEAK: FaultEffect(error_ratio=0.06, latency_s=0.5, availability_loss=0.03,
                                      memory=0.5, memory_growth=0.6, restarts=5),
    Category.CPU_SPIKE: FaultEffect(error_ratio=0.03, latency_s=0.7, availability_loss=0.01, cpu=0.6),
    Category.TRAFFIC_SPIKE: FaultEffect(error_ratio=0.02, latency_s=0.5, availability_loss=0.01, cpu=0.5),
    Category.LATENCY_SPIKE: FaultEffect(error_ratio=0.01, latency_s=0.8, cpu=0.2),
    Category.ERROR_SPIKE: FaultEffect(error_ratio=0.12, latency_s=0.1, availability_loss=0.01),
    Category.DEPLOYMENT_REGRESSION: FaultEffect(error_ratio=0.12, latency_s=0.3, availability_loss=0.02),
    Category.DATABASE_ISSUE: FaultEffect(error_ratio=0.15, latency_s=0.6, availability_loss=0.05),
    Category.CACHE_ISSUE: FaultEffect(error_ratio=0.04, latency_s=0.4, cpu=0.2),
    Category.NETWORK_ISSUE: FaultEffect(error_ratio=0.05, latency_s=0.4, availability_loss=0.02),
    Category.DISK_PRESSURE: FaultEffect(error_ratio=0.04, latency_s=0.2, availability_loss=0.3, restarts=2),
    Category.NODE_FAILURE: FaultEffect(error_ratio=0.10, latency_s=0.2, availability_loss=1.0),
    Category.UNKNOWN: FaultEffect(error_ratio=0.05, latency_s=0.3, availability_loss=0.01),
}

# Faults whose strength depends on spare capacity: more replicas relieve them.
CAPACITY_FAULTS = frozenset({Category.CPU_SPIKE, Category.TRAFFIC_SPIKE, Category.LATENCY_SPIKE})

# Faults tied to what is deployed: the bad image, a feature flag, or both.
RELEASE_FAULTS = frozenset({Category.DEPLOYMENT_REGRESSION, Category.ERROR_SPIKE})

# Faults of one node: they hurt every pod scheduled there.
NODE_FAULTS = frozenset({Category.NODE_FAILURE, Category.DISK_PRESSURE})

# (category, action on the faulty service) -> share of ``level`` removed.
# Only faults that keep a level are listed; the others react through state.
LEVEL_RELIEF: dict[tuple[Category, ActionType], float] = {
    (Category.MEMORY_LEAK, ActionType.RESTART_POD): 1.0,
    (Category.CACHE_ISSUE, ActionType.CLEAR_CACHE): 1.0,
    (Category.DATABASE_ISSUE, ActionType.RESTART_POD): 1.0,
    (Category.NETWORK_ISSUE, ActionType.RESTART_POD): 0.5,
}


class Fault(BaseModel):
    """One injected fault: the incident's true cause."""

    service: str
    category: Category
    severity: float = Field(gt=0)
    injected_at: float
    baseline_replicas: int = Field(description="replicas when the fault started, for capacity faults")
    bad_image: str | None = Field(default=None, description="image whose pods misbehave")
    flag: str | None = Field(default=None, description="feature flag whose code path misbehaves")
    node: str | None = Field(default=None, description="failing node, for node faults")
    level: float = Field(default=1.0, description="remaining strength of a fault that state cannot express")

    @property
    def needed_replicas(self) -> int:
        """Replicas at which a capacity fault is fully absorbed."""
        # One more replica absorbs a severity-1 spike on up to 7 replicas, so the
        # usual "current + 1" scale-up fixes it in the sample topology.
        extra = max(1, math.floor(0.25 * self.baseline_replicas * self.severity))
        return self.baseline_replicas + extra

    def relieve(self, action: ActionType) -> bool:
        """Lower the fault's level when ``action`` fixes it; return whether it did."""
        relief = LEVEL_RELIEF.get((self.category, action))
        if relief is None:
            return False
        self.level = max(RESIDUAL, self.level * (1.0 - relief))
        return True


def capacity_intensity(fault: Fault, replicas: int) -> float:
    """Intensity of a capacity fault at ``replicas``: 1 at the start, RESIDUAL once absorbed.

    Fewer replicas than at the start push it above 1, so scaling down during a
    CPU spike makes things worse.
    """
    needed = fault.needed_replicas
    if replicas >= needed:
        return RESIDUAL
    share = (needed - replicas) / (needed - fault.baseline_replicas)
    return min(MAX_INTENSITY, max(RESIDUAL, share))
