"""``airra simulate SERVICE CATEGORY [--actions a,b]``: print the what-if comparison."""

from __future__ import annotations

import argparse
import asyncio

from airra.actions import ActionType, parse_action_type
from airra.blast_radius import BlastRadiusCalculator
from airra.categories import Category, parse_category
from airra.diagnosis import DIAGNOSIS_SIGNALS
from airra.errors import ConfigError
from airra.learning import LearningStores
from airra.proposal import candidate_actions
from airra.risk import ActionRiskRegistry
from airra.runtime import Runtime
from airra.settings import Settings
from airra.simulation import WhatIfSimulator


def run(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.build(settings)
    service = runtime.topology.service(args.service)
    try:
        category = parse_category(args.category)
        actions = ([parse_action_type(name) for name in args.actions.split(",") if name.strip()]
                   if args.actions else candidate_actions(service)[0])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    report = asyncio.run(_simulate(runtime, service.name, category, actions))
    print(report)
    return 0


async def _simulate(runtime: Runtime, service_name: str, category: Category, actions: list[ActionType]) -> str:
    service = runtime.topology.service(service_name)
    calculator = BlastRadiusCalculator(runtime.topology, runtime.metrics)
    blast, snapshot, state = await asyncio.gather(
        calculator.calculate_blast_radius(service_name),
        runtime.metrics.read(service_name, DIAGNOSIS_SIGNALS),
        runtime.executor.service_state(service_name),
    )
    # Verified outcomes move P_fix here exactly as they do for the bot's proposals.
    history = LearningStores.from_settings(runtime.settings).confidence
    simulator = WhatIfSimulator(ActionRiskRegistry(), history)
    comparison = await simulator.simulate_actions(
        service_name, category, actions, snapshot, blast, service.criticality, service_state=state, service=service)
    return simulator.generate_comparison_report(comparison)
