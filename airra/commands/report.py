"""``airra report calibration|feedback``: print a learning report from the stores under the data directory."""

from __future__ import annotations

import argparse
import sys

from airra.learning import LearningStores
from airra.settings import Settings

DEFAULT_FEEDBACK_DAYS = 30


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the requested report; an empty or missing store prints a "no records yet" report."""
    stores = LearningStores.from_settings(settings)

    if args.kind == "calibration":
        print(stores.confidence.generate_calibration_report())
        return 0

    days = getattr(args, "days", None)
    days = DEFAULT_FEEDBACK_DAYS if days is None else days
    if days < 1:
        print(f"airra: invalid --days {days}: the feedback window must be at least 1 day", file=sys.stderr)
        return 2
    print(stores.feedback.generate_feedback_report(time_period_days=days))
    return 0
