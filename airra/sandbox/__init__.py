"""The sandbox: an in-memory cluster and metrics that react to actions.

It is the default when no Prometheus URL is set, and it is what the demo and
the tests run against.
"""

from airra.sandbox.cluster import SandboxCluster
from airra.sandbox.metrics import SandboxMetrics

__all__ = ["SandboxCluster", "SandboxMetrics"]
