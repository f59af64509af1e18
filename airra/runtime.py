"""Build AIRRA's dependencies once, from settings, and hand them out.

Commands, the bot and the demo all get their topology, metrics source and
executor here, so a Prometheus URL or a sandbox flag means the same thing
everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from airra.execution.base import Executor
from airra.metrics import MetricsSource
from airra.settings import Settings
from airra.topology import Topology

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The wired dependencies of one AIRRA process."""

    settings: Settings
    topology: Topology
    metrics: MetricsSource
    executor: Executor
    # The SandboxCluster when running on the sandbox. dataclasses.field() takes
    # no doc= argument before Python 3.13, so the description lives here.
    sandbox: object | None = None

    @classmethod
    def build(cls, settings: Settings, *, sandbox: bool | None = None, seed: int = 0) -> Runtime:
        """Wire the runtime. ``sandbox=None`` means: sandbox unless a Prometheus URL is set."""
        topology = Topology.load(settings.services_file)
        use_sandbox = settings.prometheus_url is None if sandbox is None else sandbox

        if use_sandbox:
            from airra.sandbox.cluster import SandboxCluster
            from airra.sandbox.metrics import SandboxMetrics

            cluster = SandboxCluster(topology, seed=seed)
            log.info("using the sandbox cluster and metrics (seed %d)", seed)
            return cls(settings, topology, SandboxMetrics(cluster), cluster, sandbox=cluster)

        from airra.execution.router import build_executor
        from airra.metrics.prometheus import PrometheusMetrics

        metrics = PrometheusMetrics(settings, topology)
        executor = build_executor(settings, topology)
        log.info("using Prometheus at %s and the %s executor", settings.prometheus_url, settings.executor)
        return cls(settings, topology, metrics, executor)
