"""Service criticality: the one table used by blast radius and risk ranking."""

from __future__ import annotations

from enum import StrEnum


class Criticality(StrEnum):
    """How much a service matters to the business."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def blast_weight(self) -> float:
        """Weight of the criticality term in the blast score, in [0, 1]."""
        return CRITICALITY_TABLE[self][0]

    @property
    def risk_multiplier(self) -> float:
        """Factor applied to an action's base risk on a service of this criticality."""
        return CRITICALITY_TABLE[self][1]


# criticality -> (blast weight, risk multiplier). Documented in docs/formulas.md.
CRITICALITY_TABLE: dict[Criticality, tuple[float, float]] = {
    Criticality.LOW: (0.2, 0.8),
    Criticality.MEDIUM: (0.5, 1.0),
    Criticality.HIGH: (0.7, 1.2),
    Criticality.CRITICAL: (1.0, 1.5),
}
