"""``airra analyze ALERT_FILE``: print the proposal for each alert in a file.

The file is an Alertmanager webhook body (version 4) or a single alert
object of its ``alerts`` list. Metrics and service state come from the
runtime: the sandbox unless a Prometheus URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import logging
from pathlib import Path
from typing import Any

from airra.alerts import Alert
from airra.errors import AlertParseError
from airra.intake.alertmanager import parse_alert, parse_webhook
from airra.learning import LearningStores
from airra.proposal import Proposal, Proposer, render_proposal_text
from airra.runtime import Runtime
from airra.settings import Settings
from airra.topology import Topology

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.build(settings)
    alerts = load_alerts(Path(args.alert_file), runtime.topology)
    proposals = asyncio.run(_propose_all(runtime, alerts))

    if args.json:
        print(json.dumps([proposal.model_dump(mode="json") for proposal in proposals], indent=2))
    else:
        print("\n\n".join(render_proposal_text(proposal) for proposal in proposals))
    return 0


def load_alerts(path: Path, topology: Topology) -> list[Alert]:
    """Read a webhook body or a single alert object from a JSON file.

    Raises:
        AlertParseError: naming the file when it is missing, unreadable, not JSON, or contains no alert.
    """
    document = _read_json(path)

    if not isinstance(document, dict):
        raise AlertParseError(f"{path}: expected a JSON object (a webhook body or one alert), "
                              f"got {_json_kind(document)}")
    try:
        alerts = parse_webhook(document, topology).alerts if "alerts" in document else [parse_alert(document, topology)]
    except AlertParseError as exc:
        raise AlertParseError(f"{path}: {exc}") from None
    if not alerts:
        raise AlertParseError(f"{path}: the webhook body has an empty 'alerts' list; nothing to analyze")
    return alerts


def _json_kind(value: Any) -> str:
    """Return the JSON name of a decoded value's type, as the user wrote it in the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {list: "array", str: "string"}.get(type(value), type(value).__name__)


def _read_json(path: Path) -> Any:
    """Read and decode a JSON file; every failure becomes an AlertParseError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AlertParseError(f"{path}: alert file not found") from None
    except IsADirectoryError:
        raise AlertParseError(f"{path}: is a directory; pass the path of a JSON file") from None
    except OSError as exc:
        raise AlertParseError(f"{path}: cannot read the file ({exc.strerror}); check its permissions") from None

    # Some Windows editors start UTF-8 files with a byte order mark.
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlertParseError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
                              "save the file as UTF-8") from None
    if not text.strip():
        raise AlertParseError(f"{path}: the file is empty; expected an Alertmanager webhook body "
                              "or a single alert object")

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlertParseError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise AlertParseError(f"{path}: JSON nested too deeply to read; an alert is at most a few "
                              "levels deep") from None


async def _propose_all(runtime: Runtime, alerts: list[Alert]) -> list[Proposal]:
    # The same learned success counts and category priors as the bot, so the
    # printed proposal matches the card and the learning reports.
    stores = LearningStores.from_settings(runtime.settings)
    proposer = Proposer(runtime.topology, runtime.metrics, runtime.executor.service_state, runtime.settings,
                        history=stores.confidence, priors=stores.feedback)
    proposals = []
    for alert in alerts:
        incident_id = f"cli-{alert.fingerprint}"
        proposals.append(await proposer.propose(alert, incident_id=incident_id))
    return proposals
