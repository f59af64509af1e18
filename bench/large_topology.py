"""Large topology: blast radius on a generated graph of 10,000 services and 50,000 dependencies.

The graph is written as a services YAML in a temporary directory and loaded
with ``Topology.load``. Each assessment runs ``BlastRadiusCalculator`` over
an in-memory metrics source whose readings are built once, so the time is
the calculator's own. The baseline is the bare networkx traversal that finds
the same downstream services on a graph built straight from the edge list.

Run: ``python -m bench.large_topology`` (``--smoke`` for a 300-service graph).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import yaml

from airra.blast_radius import DOWNSTREAM_SIGNALS, BlastRadiusCalculator
from airra.metrics import MetricsSnapshot, Reading, Signal, SignalColumn
from airra.topology import Topology
from bench.common import BenchResult, command_line, finish, median, parser, ratio

MODULE = "bench.large_topology"

FULL_SERVICES = 10_000
FULL_DEPENDENCIES = 50_000
SMOKE_SERVICES = 300
SMOKE_DEPENDENCIES = 1_500
DEPENDENCY_SPAN = 200
"""A service depends on services among the next 200 in the generated order, so the graph has no cycle."""

ELEVATED_EVERY = 7
"""Every 7th service reads an elevated error ratio, so the propagation term is not always zero."""

TARGET_RATIO = 1.5


def generate_services(count: int, dependencies: int, *, seed: int = 0) -> dict[str, list[str]]:
    """Return service name -> the names it depends on, with exactly ``dependencies`` edges in all.

    Service i depends on services drawn from i+1 .. i+200, an acyclic graph
    with the locality of tiered architectures: front ends at the start,
    shared back ends at the end.

    Raises:
        ValueError: when the graph cannot hold that many edges.
    """
    names = [f"svc-{index:05d}" for index in range(count)]
    capacity = sum(min(DEPENDENCY_SPAN, count - 1 - index) for index in range(count))
    if dependencies > capacity:
        raise ValueError(f"{count} services with a span of {DEPENDENCY_SPAN} hold at most {capacity} "
                         f"dependencies, not {dependencies}; lower the dependency count")

    rng = random.Random(seed)
    per_service = dependencies // count
    edges: dict[int, set[int]] = {index: set() for index in range(count)}
    total = 0
    for index in range(count):
        candidates = range(index + 1, min(count, index + 1 + DEPENDENCY_SPAN))
        chosen = rng.sample(candidates, min(per_service, len(candidates)))
        edges[index].update(chosen)
        total += len(chosen)
    while total < dependencies:
        index = rng.randrange(count - 1)
        target = rng.randrange(index + 1, min(count, index + 1 + DEPENDENCY_SPAN))
        if target not in edges[index]:
            edges[index].add(target)
            total += 1
    return {names[index]: [names[target] for target in sorted(targets)] for index, targets in edges.items()}


def write_services_file(graph: dict[str, list[str]], path: Path) -> None:
    """Write the graph as a services YAML with file-level defaults."""
    criticalities = ["low", "medium", "high", "critical"]
    document = {
        "defaults": {"namespace": "bench", "users_per_rps": 10, "revenue_per_user_hour": 0.01},
        "services": [
            {"name": name, "depends_on": depends_on, "criticality": criticalities[index % 4]}
            for index, (name, depends_on) in enumerate(graph.items())
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


class FixedMetrics:
    """A metrics source whose results are built before the timing starts.

    ``prepare`` builds the columns of the read that the calculator will make for
    each service to be assessed (the service and its downstream set). A timed
    ``read_columns`` then only returns them, so the time measured is the
    calculator's own. ``column_build_s`` records how long building them took,
    which the benchmark reports beside the ratio.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.values: dict[Signal, dict[str, float]] = {Signal.REQUEST_RATE: {}, Signal.ERROR_RATIO: {}}
        for index, name in enumerate(names):
            self.values[Signal.REQUEST_RATE][name] = 50.0
            self.values[Signal.ERROR_RATIO][name] = 0.05 if index % ELEVATED_EVERY == 0 else 0.0
        self.prepared: dict[tuple[str, ...], dict[Signal, SignalColumn]] = {}
        self.column_build_s: list[float] = []
        self.reads = 0

    def prepare(self, services: Sequence[str], signals: Sequence[Signal]) -> None:
        """Build the result of a ``read_columns`` of exactly ``services`` and ``signals``."""
        started = time.perf_counter()
        columns = self._columns(services, signals)
        self.column_build_s.append(time.perf_counter() - started)
        self.prepared[tuple(services)] = columns

    async def read(self, service: str, signals: Sequence[Signal]) -> MetricsSnapshot:
        self.reads += 1
        return MetricsSnapshot(service=service, readings={
            signal: Reading.of(service, signal, self.values[signal][service]) for signal in signals})

    async def read_columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
        # The calculator takes the columnar path, with one call for the service and its whole downstream set.
        self.reads += 1
        prepared = self.prepared.get(tuple(services))
        if prepared is None or list(prepared) != list(signals):
            return self._columns(services, signals)
        return prepared

    def _columns(self, services: Sequence[str], signals: Sequence[Signal]) -> dict[Signal, SignalColumn]:
        # Return only the requested services, in the requested order, as a by-service query does.
        return {signal: SignalColumn(values={name: self.values[signal][name] for name in services})
                for signal in signals}


async def _time_assessments(calculator: BlastRadiusCalculator, reversed_graph: nx.DiGraph,
                            sample: Sequence[str], repeats: int) -> tuple[list[float], list[float], list[int]]:
    """Time each sampled assessment and its bare traversal; return the per-service best of ``repeats``."""
    airra_times: list[float] = []
    bare_times: list[float] = []
    sizes: list[int] = []
    for name in sample:
        best_airra = best_bare = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            assessment = await calculator.calculate_blast_radius(name)
            best_airra = min(best_airra, time.perf_counter() - started)

            started = time.perf_counter()
            distances = nx.single_source_shortest_path_length(reversed_graph, name)
            distances.pop(name, None)
            best_bare = min(best_bare, time.perf_counter() - started)

        if assessment.affected_services_count != len(distances):
            raise AssertionError(f"{name}: the calculator found {assessment.affected_services_count} downstream "
                                 f"services, the bare traversal {len(distances)}")
        airra_times.append(best_airra)
        bare_times.append(best_bare)
        sizes.append(len(distances))
    return airra_times, bare_times, sizes


def run(*, smoke: bool, command: str, services: int | None = None, dependencies: int | None = None,
        samples: int | None = None, repeats: int = 3, seed: int = 0) -> BenchResult:
    """Generate, write and load the graph, then time blast radius against the bare traversal."""
    count = services or (SMOKE_SERVICES if smoke else FULL_SERVICES)
    edges = dependencies or (SMOKE_DEPENDENCIES if smoke else FULL_DEPENDENCIES)
    sample_count = samples or (10 if smoke else 40)
    result = BenchResult("large_topology", "Large topology: blast radius and load time", command, smoke)

    graph = generate_services(count, edges, seed=seed)
    with tempfile.TemporaryDirectory(prefix="airra-bench-topology-") as directory:
        path = Path(directory) / "services.yaml"
        write_services_file(graph, path)
        size_mb = path.stat().st_size / 1e6

        started = time.perf_counter()
        topology = Topology.load(path)
        load_s = time.perf_counter() - started

        text = path.read_text(encoding="utf-8")
        started = time.perf_counter()
        yaml.load(text, Loader=yaml.CSafeLoader)
        c_parse_s = time.perf_counter() - started

    bare_graph: nx.DiGraph = nx.DiGraph()
    bare_graph.add_nodes_from(graph)
    bare_graph.add_edges_from((name, dependency) for name, depends_on in graph.items() for dependency in depends_on)
    reversed_graph = bare_graph.reverse(copy=False)

    rng = random.Random(seed + 1)
    names = list(graph)
    sample = sorted(rng.sample(names, min(sample_count, len(names))))
    metrics = FixedMetrics(names)
    for name in sample:
        metrics.prepare([name, *topology.downstream(name)], DOWNSTREAM_SIGNALS)
    calculator = BlastRadiusCalculator(topology, metrics)
    airra_times, bare_times, sizes = asyncio.run(_time_assessments(calculator, reversed_graph, sample, repeats))

    airra_median = median(airra_times)
    bare_median = median(bare_times)
    result.add("services", len(topology), key="services")
    result.add("dependencies", topology.graph.number_of_edges(), key="dependencies")
    result.add("services YAML size", size_mb, "MB", key="yaml_mb")
    result.add("Topology.load", load_s, "s", key="load_s")
    result.add("YAML parse alone with libyaml's CSafeLoader", c_parse_s, "s", key="c_parse_s")
    result.add("assessments timed (best of %d each)" % repeats, len(sample), key="assessments")
    result.add("median downstream services per assessment", median(sizes), key="median_downstream")
    result.add("blast radius per assessment, median", airra_median * 1000, "ms", key="airra_ms")
    result.add("bare networkx traversal, median", bare_median * 1000, "ms", key="bare_ms")
    result.add("metrics reads per assessment, mean", metrics.reads / (len(sample) * repeats), key="reads")
    result.add("building the read's two columns in the stand-in, median (before timing, not in the ratio)",
               median(metrics.column_build_s) * 1000, "ms", key="column_build_ms")
    result.target("blast radius ÷ bare traversal (medians)", ratio(airra_median, bare_median), TARGET_RATIO)
    result.values["ratio"] = ratio(airra_median, bare_median)

    result.check("every assessment found the traversal's downstream set", True)
    result.check("graph has the requested size", len(topology) == count
                 and topology.graph.number_of_edges() == edges)
    return result


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--services", type=int, help="services in the generated graph")
    arguments.add_argument("--dependencies", type=int, help="dependencies in the generated graph")
    arguments.add_argument("--samples", type=int, help="services assessed")
    arguments.add_argument("--seed", type=int, default=0)
    options = arguments.parse_args(argv)
    result = run(smoke=options.smoke, command=command_line(MODULE, argv), services=options.services,
                 dependencies=options.dependencies, samples=options.samples, seed=options.seed)
    return finish(result, options)


if __name__ == "__main__":
    raise SystemExit(main())
