"""Subcommands of the ``airra`` command line, one module each, and the lookups they share."""

from __future__ import annotations

from airra.errors import UnknownServiceError
from airra.topology import Service, Topology


def service_named(topology: Topology, name: str) -> Service:
    """Return the service that a name or alias refers to, in any case, as alerts and Slack accept it.

    Raises:
        UnknownServiceError: with close matches, when no service or alias has that name.
    """
    resolved = topology.resolve(name)
    if resolved is None:
        raise UnknownServiceError(name, topology.names)
    return topology.service(resolved)
