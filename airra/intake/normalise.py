"""Find the service an alert is about from its labels.

Shops label their alerts differently, so the service comes from the first
label of ``SERVICE_LABELS`` whose value names a service of the topology,
either by its name, one of its ``aliases`` or its Kubernetes deployment.
A label whose value is empty or ``<no value>`` (what Alertmanager's templates
print for a missing label) counts as missing. When no label resolves, the
alert is unscoped: it still opens an incident, but no action is proposed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from airra.topology import Topology

SERVICE_LABELS: tuple[str, ...] = (
    "service",
    "app",
    "app_kubernetes_io_name",
    "k8s_app",
    "job",
    "deployment",
    "container",
)
"""Labels read for the service name, in order of preference."""

MISSING_LABEL_VALUES = frozenset({"", "<no value>"})

# A pod of a Deployment is named <deployment>-<replicaset hash>-<5 characters>,
# a pod of a StatefulSet <statefulset>-<ordinal>.
_DEPLOYMENT_POD = re.compile(r"^(?P<owner>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")
_STATEFULSET_POD = re.compile(r"^(?P<owner>.+)-\d+$")


def is_missing(value: object) -> bool:
    """Tell whether a label value is absent, empty or Alertmanager's ``<no value>``."""
    return value is None or (isinstance(value, str) and value.strip() in MISSING_LABEL_VALUES)


def present_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Return the labels without those whose value counts as missing."""
    return {name: value for name, value in labels.items() if not is_missing(value)}


def resolve_service(labels: Mapping[str, str], topology: Topology) -> str | None:
    """Return the topology service the labels name, or None when none does.

    The labels of ``SERVICE_LABELS`` are tried in order; each value is looked
    up as a service name or alias (case-insensitive), then as a deployment
    name. As a last resort the ``pod`` label is read with its ReplicaSet
    suffix or StatefulSet ordinal removed.
    """
    for name in SERVICE_LABELS:
        value = labels.get(name)
        if is_missing(value):
            continue
        service = _lookup(str(value), topology)
        if service is not None:
            return service

    pod = labels.get("pod")
    if not is_missing(pod):
        for pattern in (_DEPLOYMENT_POD, _STATEFULSET_POD):
            match = pattern.match(str(pod).strip())
            if match is not None and (service := _lookup(match.group("owner"), topology)) is not None:
                return service
    return None


def label_fingerprint(alertname: str, labels: Mapping[str, str]) -> str:
    """Return a stable 16-hex-digit id of an alert's name and label set.

    Used when the source sends no fingerprint of its own, as Slack posts do.
    """
    parts = [f"alertname={alertname}"]
    parts += [f"{name}={value}" for name, value in sorted(labels.items()) if name != "alertname"]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _lookup(value: str, topology: Topology) -> str | None:
    service = topology.resolve(value)
    if service is not None:
        return service

    deployment = value.strip().lower()
    for candidate in topology:
        if candidate.deployment_name.lower() == deployment:
            return candidate.name
    return None
