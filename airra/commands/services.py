"""``airra services``: list the services of the topology."""

from __future__ import annotations

import argparse

from airra.settings import Settings
from airra.topology import Topology


def run(args: argparse.Namespace, settings: Settings) -> int:
    topology = Topology.load(settings.services_file)
    print(f"{'service':<20} {'kind':<9} {'criticality':<11} {'team':<12} depends on")
    for service in topology:
        print(f"{service.name:<20} {service.kind.value:<9} {service.criticality.value:<11} "
              f"{service.team or '-':<12} {', '.join(service.depends_on) or '-'}")
    return 0
