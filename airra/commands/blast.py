"""``airra blast SERVICE``: print the blast-radius assessment of a service."""

from __future__ import annotations

import argparse
import asyncio

from airra.blast_radius import BlastRadiusCalculator, render_blast_report
from airra.commands import service_named
from airra.runtime import Runtime
from airra.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.build(settings)
    service = service_named(runtime.topology, args.service)
    calculator = BlastRadiusCalculator(runtime.topology, runtime.metrics)
    assessment = asyncio.run(calculator.calculate_blast_radius(service.name))
    print(render_blast_report(assessment))
    return 0
