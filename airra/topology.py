"""Service topology: the dependency graph loaded from the services file.

An edge A -> B means "A depends on B". When B fails, every service with a
path to B is hurt: those are B's downstream services, found by a
breadth-first search over the reversed graph, which terminates on cycles.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from airra.actions import ActionType
from airra.criticality import Criticality
from airra.errors import TopologyError, UnknownServiceError
from airra.yaml_files import load_yaml_file

log = logging.getLogger(__name__)

# Shipped inside the package so that a plain `pip install` has it; the
# repository's data/services.yaml is a link to this file.
DEFAULT_SERVICES_FILE = Path(__file__).resolve().parent / "data" / "services.yaml"


class ServiceKind(StrEnum):
    """Kind of a service. Every kind but ``service`` is protected."""

    SERVICE = "service"
    DATABASE = "database"
    CACHE = "cache"
    BROKER = "broker"
    EXTERNAL = "external"


class Service(BaseModel):
    """One service of the topology, after defaults are applied."""

    # allow_inf_nan=False: an infinite or NaN rate or price would print as "$inf/h" in every blast report.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    depends_on: tuple[str, ...] = ()
    kind: ServiceKind = ServiceKind.SERVICE
    criticality: Criticality = Criticality.MEDIUM
    tier: int = Field(default=2, ge=0)
    team: str | None = None
    namespace: str = "default"
    deployment: str | None = Field(default=None, description="Kubernetes deployment; defaults to the name")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=10, ge=1)
    users_per_rps: float = Field(default=10.0, ge=0, description="active users per request per second")
    revenue_per_user_hour: float = Field(default=0.01, ge=0, description="dollars per active user per hour")
    allowed_actions: tuple[ActionType, ...] = ()
    feature_flags: tuple[str, ...] = ()
    cache_key_prefix: str | None = None
    cache_clear_url: str | None = None
    slack_channel: str | None = Field(default=None, description="channel for this service's incident cards")
    aliases: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _no_outer_spaces(cls, value: str) -> str:
        # Alert labels and command arguments are stripped before lookup, so this name could never be found.
        if value != value.strip():
            raise ValueError("has spaces at the start or end; remove them")
        return value

    @field_validator("aliases")
    @classmethod
    def _usable_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not alias.strip():
                raise ValueError(f"alias {alias!r} is empty; remove it")
            if alias != alias.strip():
                raise ValueError(f"alias {alias!r} has spaces at the start or end; remove them")
        return value

    @field_validator("criticality", mode="before")
    @classmethod
    def _criticality_word(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() not in {c.value for c in Criticality}:
            valid = ", ".join(c.value for c in Criticality)
            raise ValueError(f"criticality {value!r} is not one of: {valid}")
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _replica_bounds(self) -> Service:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is greater than max_replicas "
                f"({self.max_replicas}); lower min_replicas or raise max_replicas"
            )
        return self

    @property
    def deployment_name(self) -> str:
        return self.deployment or self.name

    @property
    def protected(self) -> bool:
        """True for databases, caches, brokers and external providers."""
        return self.kind is not ServiceKind.SERVICE


class Topology:
    """The validated service graph."""

    def __init__(self, services: list[Service], *, source: str = "<memory>") -> None:
        self.source = source
        self._services = {service.name: service for service in services}
        self._aliases: dict[str, str] = {}
        self.graph: nx.DiGraph = nx.DiGraph()

        for service in services:
            self.graph.add_node(service.name)
            for alias in (service.name, *service.aliases):
                self._aliases[alias.lower()] = service.name
        for service in services:
            for dependency in service.depends_on:
                self.graph.add_edge(service.name, dependency)
        self._reversed = self.graph.reverse(copy=False)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_SERVICES_FILE) -> Topology:
        """Load and validate a services file.

        Raises:
            TopologyError: naming the file, the service and the fix.
        """
        path = Path(path)
        try:
            document = load_yaml_file(path, setting="AIRRA_SERVICES_FILE", what="services", error=TopologyError)
        except FileNotFoundError:
            raise TopologyError(
                f"{path}: services file not found; set AIRRA_SERVICES_FILE to an existing file"
            ) from None

        services = parse_services(document, source=str(path))
        topology = cls(services, source=str(path))
        log.info("loaded topology from %s: %d services, %d dependencies",
                 path, topology.graph.number_of_nodes(), topology.graph.number_of_edges())
        return topology

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    @property
    def names(self) -> list[str]:
        return list(self._services)

    def service(self, name: str) -> Service:
        """Return a service by name.

        Raises:
            UnknownServiceError: with close matches, when the name is unknown.
        """
        try:
            return self._services[name]
        except KeyError:
            raise UnknownServiceError(name, self._services) from None

    def resolve(self, name_or_alias: str) -> str | None:
        """Return the service a name or alias refers to, or None (case-insensitive)."""
        return self._aliases.get(name_or_alias.strip().lower())

    def downstream(self, name: str) -> dict[str, int]:
        """Return every service that transitively depends on ``name``, with its hop distance.

        The failing service itself is not included.
        """
        self.service(name)
        distances = nx.single_source_shortest_path_length(self._reversed, name)
        distances.pop(name, None)
        return distances

    def upstream(self, name: str) -> dict[str, int]:
        """Return every service that ``name`` transitively depends on, with its hop distance."""
        self.service(name)
        distances = nx.single_source_shortest_path_length(self.graph, name)
        distances.pop(name, None)
        return distances


def parse_services(document: Any, *, source: str) -> list[Service]:
    """Validate a parsed services document and apply the file-level defaults."""
    if document is None:
        raise TopologyError(f"{source}: the file is empty; list the services under 'services:'")
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise TopologyError(f"{source}: expected a mapping with a 'services' list at the top level")
    if not document["services"]:
        # With no service every alert is unscoped, so nothing could ever be proposed.
        raise TopologyError(f"{source}: the 'services' list is empty; list the services under 'services:'")

    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise TopologyError(f"{source}: 'defaults' must be a mapping of service keys")
    for key in defaults:
        if key not in Service.model_fields:
            raise TopologyError(f"{source}: defaults.{key}: unknown key; remove it or correct its spelling")

    services: list[Service] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["services"]):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise TopologyError(f"{source}: services[{index}] has no 'name'; give every service a name")
        name = str(entry["name"])
        if name in seen:
            raise TopologyError(f"{source}: service {name!r} is listed twice; rename or merge the two entries")
        seen.add(name)

        merged = {**defaults, **entry}
        try:
            services.append(Service.model_validate(merged))
        except ValidationError as exc:
            problems = "; ".join(_field_problem(error) for error in exc.errors())
            raise TopologyError(f"{source}: service {name!r}: {problems}") from None

    for service in services:
        for dependency in service.depends_on:
            if dependency not in seen:
                raise TopologyError(
                    f"{source}: service {service.name!r} depends on unknown service {dependency!r}; "
                    "add it to the services list or remove it from depends_on"
                )
    _check_aliases(services, source)
    return services


def _field_problem(error: ErrorDetails) -> str:
    """Describe one invalid key of a service entry: where, what is wrong, the value given and the fix."""
    where = ".".join(str(part) for part in error["loc"]) or "entry"
    message = error["msg"].removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: {message}; remove the key or correct its spelling"
    if kind == "tuple_type":
        message = "should be a list, e.g. [a, b]"
    value = error.get("input")
    if kind != "value_error" and isinstance(value, (str, int, float, bool)):
        message += f" (got {value!r})"
    return f"{where}: {message}"


def _check_aliases(services: list[Service], source: str) -> None:
    """Reject an alias that names another service or is claimed twice, since alerts resolve through it."""
    owners: dict[str, str] = {}
    for service in services:
        # Names resolve case-insensitively too, so two names that differ only in case are one name.
        other = owners.setdefault(service.name.lower(), service.name)
        if other != service.name:
            raise TopologyError(
                f"{source}: services {other!r} and {service.name!r} differ only in case, and alerts match "
                "service names case-insensitively; rename one of them"
            )
    for service in services:
        for alias in service.aliases:
            owner = owners.setdefault(alias.lower(), service.name)
            if owner != service.name:
                raise TopologyError(
                    f"{source}: service {service.name!r} has alias {alias!r}, which already refers to "
                    f"{owner!r}; remove the alias from one of the two services"
                )
