"""One incident end to end on real input.

A fake payment-service exporter gets a fault, and the real Prometheus
scrapes it and fires HighErrorRate. The real Alertmanager posts the webhook
to the bot, which reads its evidence from the real Prometheus and posts the
card to the Slack stand-in. A signed Approve click restarts the exporter's
service, and verification then reads the real Prometheus again. A second
incident gets a restart that cannot clear its fault and must end NO_CHANGE
and escalate.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from airra.execution.guards import GuardedExecutor, Guards
from airra.incidents import IncidentStatus
from airra.metrics.prometheus import PrometheusMetrics
from airra.runtime import Runtime
from airra.settings import Settings
from airra.topology import Topology
from bot.cards import APPROVE_ACTION_ID
from bot.testing.harness import LocalBot
from bot.testing.slack_api import render_text
from tests.e2e.exporter_executor import ExporterExecutor
from tests.support.promstack import free_port, prom_stack, query, wait_until

pytestmark = pytest.mark.integration

CHANNEL = "C0INCIDENT"
APPROVER = "U0E2EALEX"

SERVICES = {
    "defaults": {"namespace": "shop", "min_replicas": 1, "max_replicas": 6, "users_per_rps": 10,
                 "revenue_per_user_hour": 0.01},
    "services": [
        {"name": "frontend", "depends_on": ["api-gateway"], "criticality": "high"},
        {"name": "api-gateway", "depends_on": ["orders"], "criticality": "critical"},
        {"name": "orders", "depends_on": ["payment-service"], "criticality": "critical"},
        {"name": "payment-service", "criticality": "critical", "allowed_actions": ["restart_pod", "scale_up"]},
        {"name": "inventory", "criticality": "medium", "allowed_actions": ["restart_pod", "scale_up"]},
    ],
}


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {element["action_id"]: element.get("value", "")
            for block in message.get("blocks", []) if block.get("type") == "actions"
            for element in block.get("elements", []) if element.get("type") == "button"}


def _card_for(local: LocalBot, service: str) -> dict[str, Any] | None:
    for message in local.api.messages_in(CHANNEL):
        if service in render_text(message) and APPROVE_ACTION_ID in _buttons(message):
            return message
    return None


def _thread_text(local: LocalBot, card: dict[str, Any]) -> str:
    return "\n".join(render_text(message) for message in local.api.thread(CHANNEL, card["ts"]))


def _percent(report: str, metric: str, which: str) -> float:
    """Read e.g. the Before value of Error Rate from a verification report."""
    section = report.split(f"{metric}:", 1)[1]
    match = re.search(rf"{which}:\s+([0-9.]+)%", section)
    assert match is not None, f"no {which} value for {metric} in:\n{report}"
    return float(match.group(1))


async def _wait(predicate: Any, *, timeout_s: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:g}s")
        await asyncio.sleep(0.25)


def _request_rate(prometheus_url: str, service: str) -> float:
    body = query(prometheus_url, f'sum(rate(http_requests_total{{service="{service}"}}[5s]))')
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else 0.0


def _error_ratio(prometheus_url: str, service: str) -> float:
    selector = f'service="{service}"'
    body = query(prometheus_url, f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[5s])) / '
                                 f'sum(rate(http_requests_total{{{selector}}}[5s]))')
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else 0.0


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_incident_from_real_alert_to_verified_outcome(tmp_path: Path, data_dir: Path) -> None:
    services_file = tmp_path / "services.yaml"
    services_file.write_text(yaml.safe_dump(SERVICES), encoding="utf-8")
    bot_port = free_port()
    webhook_url = f"http://127.0.0.1:{bot_port}/alertmanager"
    exporter_services = [entry["name"] for entry in SERVICES["services"]]

    with prom_stack(tmp_path / "stack", services=exporter_services, webhook_url=webhook_url,
                    rate_rps=10.0, latency_s=0.05) as stack:
        # rate() over 5 s needs a full window of scrapes before it reads the true 10 req/s.
        wait_until(lambda: _request_rate(stack.prometheus.url, "payment-service") > 9.5, timeout_s=30,
                   what="a full rate window of payment-service scrapes")
        settings = Settings(services_file=services_file, data_dir=data_dir, prometheus_url=stack.prometheus.url,
                            rate_window="5s", query_timeout_s=3, verify_wait_s=8, verify_samples=3,
                            verify_interval_s=1, approvers=[APPROVER], default_channel=CHANNEL,
                            auto_enabled=False)
        topology = Topology.load(services_file)
        guards = Guards(settings, topology, data_dir / "state")
        executor = ExporterExecutor(stack.exporter, persistent_faults={"inventory"})
        runtime = Runtime(settings, topology, PrometheusMetrics(settings, topology),
                          GuardedExecutor(executor, guards), guards)

        async with LocalBot(settings, runtime=runtime, port=bot_port) as local:
            assert local.driver is not None and local.bot is not None
            tracker = local.bot.flows.tracker

            # --- First incident: the restart clears the fault ---
            stack.exporter.set_load("payment-service", error_ratio=0.3, latency_s=0.4)
            card = await _wait(lambda: _card_for(local, "payment-service"), timeout_s=60,
                               what="the payment-service card")
            card_text = render_text(card)
            assert "HighErrorRate" in card_text
            assert "`restart_pod`" in card_text
            users = int(re.search(r"Users at risk: ([0-9,]+)", card_text).group(1).replace(",", ""))  # type: ignore[union-attr]
            assert 90 <= users <= 110, card_text  # 10 req/s from Prometheus × 10 users per req/s

            # The approver clicks once the 5 s rate window lies wholly inside the fault.
            await asyncio.to_thread(wait_until, lambda: _error_ratio(stack.prometheus.url, "payment-service") > 0.29,
                                    timeout_s=30, what="a full rate window of the fault")
            response = await local.driver.block_action(action_id=APPROVE_ACTION_ID,
                                                       value=_buttons(card)[APPROVE_ACTION_ID], user_id=APPROVER,
                                                       channel_id=CHANNEL, message_ts=card["ts"])
            assert response.status == 200
            report = await _wait(lambda: (text := _thread_text(local, card)) and "Overall improvement" in text
                                 and text, timeout_s=60, what="the first verification report")

            assert "Post-action verification: success" in report
            assert "Recommendation: continue" in report
            assert 28.0 <= _percent(report, "Error Rate", "Before") <= 32.0
            assert _percent(report, "Error Rate", "After") <= 0.5
            assert [request.action_type.value for request in executor.executed] == ["restart_pod"]

            records = _records(data_dir / "confidence_tracking.jsonl")
            assert len(records) == 1
            assert records[0]["service_name"] == "payment-service"
            assert records[0]["action_type"] == "restart_pod"
            assert records[0]["outcome_status"] == "success"
            assert records[0]["outcome_success"] is True

            first = next(incident for incident in tracker.store.all() if incident.service == "payment-service")
            await _wait(lambda: tracker.get(first.id).status is IncidentStatus.RESOLVED, timeout_s=60,
                        what="the resolved webhook closing the payment-service incident")
            assert len([i for i in tracker.store.all() if i.service == "payment-service"]) == 1

            # --- Second incident: a restart that cannot fix a persistent fault ---
            stack.exporter.set_load("inventory", error_ratio=0.3, latency_s=0.4)
            card = await _wait(lambda: _card_for(local, "inventory"), timeout_s=60, what="the inventory card")
            assert "`restart_pod`" in render_text(card)
            await asyncio.to_thread(wait_until, lambda: _error_ratio(stack.prometheus.url, "inventory") > 0.29,
                                    timeout_s=30, what="a full rate window of the inventory fault")
            await local.driver.block_action(action_id=APPROVE_ACTION_ID, value=_buttons(card)[APPROVE_ACTION_ID],
                                            user_id=APPROVER, channel_id=CHANNEL, message_ts=card["ts"])
            report = await _wait(lambda: (text := _thread_text(local, card)) and "Overall improvement" in text
                                 and text, timeout_s=60, what="the second verification report")

            assert "Post-action verification: no_change" in report
            assert "Recommendation: escalate" in report
            assert 25.0 <= _percent(report, "Error Rate", "After") <= 35.0

            records = _records(data_dir / "confidence_tracking.jsonl")
            assert [record["outcome_status"] for record in records] == ["success", "no_change"]
            assert records[1]["outcome_success"] is False
            assert tracker.get(first.id).status is IncidentStatus.RESOLVED
