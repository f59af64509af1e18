"""Actions the policy marks automatic run without a click, unless execution is paused."""

from __future__ import annotations

from typing import Any

from airra.categories import Category
from airra.proposal import ApprovalRequirement, Proposal, Proposer
from bot.audit import AuditKind, AuditLog
from bot.cards import APPROVE_ACTION_ID
from tests.bot.scenarios.conftest import INCIDENT_CHANNEL, Scenario, StartScenario, card_text, has_buttons


class AutomaticPolicyProposer:
    """Real proposals, with the approval policy replaced by "automatic" for every proposed action."""

    def __init__(self, inner: Proposer) -> None:
        self.inner = inner

    async def propose(self, *args: Any, **kwargs: Any) -> Proposal:
        proposal = await self.inner.propose(*args, **kwargs)
        if proposal.proposed_action is None:
            return proposal
        return proposal.model_copy(update={"approval": ApprovalRequirement.AUTOMATIC,
                                           "approval_reasoning": "automatic: allowed by the test policy"})


async def _start(start_scenario: StartScenario) -> Scenario:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE))
    scenario.bot.flows.proposer = AutomaticPolicyProposer(scenario.bot.flows.proposer)  # type: ignore[assignment]
    return scenario


async def test_automatic_action_runs_without_click(start_scenario: StartScenario) -> None:
    scenario = await _start(start_scenario)

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert "Runs automatically" in card_text(card)
    final = scenario.api.message(INCIDENT_CHANNEL, card["ts"])
    assert "Action finished, approved by policy (automatic)" in card_text(final)
    assert "Executing `scale_up` on `search`, automatically, as the policy allows." in scenario.thread_text(card)
    executions = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
                  if entry.kind is AuditKind.EXECUTION]
    assert len(executions) == 1
    assert executions[0].user_id is None
    assert (await scenario.runtime.executor.service_state("search")).replicas == 4


async def test_paused_automatic_action_waits_for_approver(start_scenario: StartScenario) -> None:
    scenario = await _start(start_scenario)
    scenario.runtime.guards.pause(by="U0ALICE")

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    assert has_buttons(card)
    assert "Awaiting approval 0/1" in card_text(card)
    assert "Execution is paused, so this automatic action waits for an approver" in card_text(card)
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3

    scenario.runtime.guards.resume(by="U0ALICE")
    await scenario.click(card, APPROVE_ACTION_ID, "U0BOB")
    await scenario.settle()
    assert (await scenario.runtime.executor.service_state("search")).replicas == 4


async def test_guard_blocked_action_says_why(start_scenario: StartScenario) -> None:
    scenario = await start_scenario(fault=("search", Category.TRAFFIC_SPIKE), max_auto_actions_per_hour=0)
    scenario.bot.flows.proposer = AutomaticPolicyProposer(scenario.bot.flows.proposer)  # type: ignore[assignment]

    await scenario.post_alert("[FIRING:1] HighLatency search (critical)")
    card = await scenario.wait_for_card()
    await scenario.settle()

    final = card_text(scenario.api.message(INCIDENT_CHANNEL, card["ts"]))
    assert ":no_entry: Not run: blocked by the" in final
    assert "ask for a fresh proposal with `/airra analyze search`" in final
    assert (await scenario.runtime.executor.service_state("search")).replicas == 3
    [execution] = [entry for entry in AuditLog(scenario.data_dir / "audit.jsonl").entries()
                   if entry.kind is AuditKind.EXECUTION]
    assert execution.details["status"] == "blocked"
