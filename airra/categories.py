"""Incident categories that a hypothesis can name."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Root-cause category of a hypothesis."""

    MEMORY_LEAK = "memory_leak"
    CPU_SPIKE = "cpu_spike"
    TRAFFIC_SPIKE = "traffic_spike"
    ERROR_SPIKE = "error_spike"
    LATENCY_SPIKE = "latency_spike"
    DEPLOYMENT_REGRESSION = "deployment_regression"
    DATABASE_ISSUE = "database_issue"
    CACHE_ISSUE = "cache_issue"
    NETWORK_ISSUE = "network_issue"
    DISK_PRESSURE = "disk_pressure"
    NODE_FAILURE = "node_failure"
    UNKNOWN = "unknown"


def parse_category(text: str) -> Category:
    """Parse a category name such as ``cpu_spike`` or ``CPU spike``.

    Raises:
        ValueError: naming the input and listing the valid categories.
    """
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Category(key)
    except ValueError:
        valid = ", ".join(c.value for c in Category)
        raise ValueError(f"unknown category {text!r}; use one of: {valid}") from None
