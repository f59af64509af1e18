"""Exception tree of the decision core.

    AirraError
    ├── ConfigError            invalid settings or topology file
    │   └── TopologyError      services file failed validation
    ├── UnknownServiceError    a service name not in the topology
    ├── AlertParseError        an alert payload that cannot be read
    ├── MetricQueryError       a metrics query failed (carries the query)
    ├── ExecutionError         an executor could not carry out an action
    └── StoreError             a JSONL store could not be read or written

Every error message names the offending value and says what to do next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AirraError(Exception):
    """Base class of every error the decision core raises on purpose."""


class ConfigError(AirraError):
    """Invalid settings or configuration file."""


class TopologyError(ConfigError):
    """The services file failed validation."""


class UnknownServiceError(AirraError):
    """A service name that the topology does not contain."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.close_matches = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = (
            f" Did you mean: {', '.join(self.close_matches)}?"
            if self.close_matches
            else " Run `airra services` to list the known services."
        )
        super().__init__(f"unknown service {name!r}: it is not in the services file.{hint}")


class AlertParseError(AirraError):
    """An alert payload that cannot be read."""


class MetricQueryError(AirraError):
    """A metrics query failed; carries the query text."""

    def __init__(self, message: str, *, query: str | None = None) -> None:
        self.query = query
        super().__init__(message if query is None else f"{message} (query: {query})")


class ExecutionError(AirraError):
    """An executor could not carry out an action."""


class StoreError(AirraError):
    """A JSONL store could not be read or written."""
