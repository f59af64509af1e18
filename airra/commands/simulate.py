"""``airra simulate SERVICE CATEGORY [--actions a,b]``: print the what-if comparison."""

from __future__ import annotations

import argparse
import asyncio

from airra.actions import ActionType, parse_action_type
from airra.blast_radius import BlastRadiusCalculator
from airra.categories import Category, parse_category
from airra.commands import service_named
from airra.diagnosis import DIAGNOSIS_SIGNALS
from airra.errors import ConfigError
from airra.learning import LearningStores
from airra.proposal import candidate_actions
from airra.risk import ActionRiskRegistry
from airra.runtime import Runtime
from airra.settings import Settings
from airra.simulation import WhatIfSimulator
from airra.topology import Service


def run(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.build(settings)
    service = service_named(runtime.topology, args.service)
    excluded: dict[str, str] = {}
    try:
        category = parse_category(args.category)
        if args.actions is not None:
            actions = _requested_actions(args.actions, service)
        else:
            actions, excluded = candidate_actions(service)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    report = asyncio.run(_simulate(runtime, service.name, category, actions))
    print(report)
    if excluded:
        print(f"Not simulated: {_grouped_by_reason(excluded)}")
    return 0


def _grouped_by_reason(excluded: dict[str, str]) -> str:
    """Render action -> reason as 'a, b (reason); c (other reason)', in catalogue order."""
    reasons: dict[str, list[str]] = {}
    for action, reason in excluded.items():
        reasons.setdefault(reason, []).append(action)
    return "; ".join(f"{', '.join(actions)} ({reason})" for reason, actions in reasons.items())


def _requested_actions(text: str, service: Service) -> list[ActionType]:
    """Parse ``--actions``; every action must be one the guards would let run on the service.

    Raises:
        ValueError: the list names no action, an unknown action, or one outside the service's allowed_actions.
    """
    actions = [parse_action_type(name) for name in text.split(",") if name.strip()]
    if not actions:
        raise ValueError(f"--actions {text!r} names no action; give comma-separated action types such as "
                         "scale_up,restart_pod, or leave --actions out to simulate every allowed action")

    for action in actions:
        if action not in service.allowed_actions:
            allowed = ", ".join(a.value for a in service.allowed_actions) or "none"
            raise ValueError(f"{action.value} is not in the allowed_actions of {service.name} ({allowed}); "
                             f"simulate those, or add {action.value} to allowed_actions in the services file")
    return actions


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
