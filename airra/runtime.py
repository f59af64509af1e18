"""Build AIRRA's dependencies once, from settings, and hand them out.

Commands, the bot and the demo all get their topology, metrics source and
executor here, so a Prometheus URL or a sandbox flag means the same thing
everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airra.execution.base import Executor
from airra.execution.guards import GuardedExecutor, Guards
from airra.execution.router import ActionRouter
from airra.metrics import MetricsSource
from airra.settings import Settings
from airra.topology import Topology

if TYPE_CHECKING:
    from airra.sandbox.cluster import SandboxCluster

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The wired dependencies of one AIRRA process.

    ``executor`` is always behind the execution guards (``guards``), so no
    caller can run an action that a guard or the pause switch blocks.
    ``sandbox`` is the SandboxCluster when running on the sandbox, else None.
    """

    settings: Settings
    topology: Topology
    metrics: MetricsSource
    executor: Executor
    guards: Guards
    sandbox: SandboxCluster | None = None

    @classmethod
    def build(cls, settings: Settings, *, sandbox: bool | None = None, seed: int = 0) -> Runtime:
        """Wire the runtime. ``sandbox=None`` means: sandbox unless a Prometheus URL is set."""
        topology = Topology.load(settings.services_file)
        use_sandbox = settings.prometheus_url is None if sandbox is None else sandbox
        guards = Guards(settings, topology, settings.data_dir / "state")

        if use_sandbox:
            from airra.sandbox.cluster import SandboxCluster
            from airra.sandbox.metrics import SandboxMetrics

            cluster = SandboxCluster(topology, seed=seed)
            executor = GuardedExecutor(ActionRouter(cluster, dry_run=settings.dry_run), guards)
            log.info("using the sandbox cluster and metrics (seed %d)", seed)
            return cls(settings, topology, SandboxMetrics(cluster), executor, guards, sandbox=cluster)

        from airra.execution.router import build_executor
        from airra.metrics.prometheus import PrometheusMetrics
        from airra.metrics.transport import redact_password

        metrics = PrometheusMetrics(settings, topology)
        executor = build_executor(settings, topology, guards=guards)
        log.info("using Prometheus at %s and the %s executor",
                 redact_password(str(settings.prometheus_url)), settings.executor)
        return cls(settings, topology, metrics, executor, guards)
