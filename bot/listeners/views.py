"""View submissions: the reject modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.cards import REASON_BLOCK, REJECT_MODAL_ID, parse_reject_submission
from bot.flows import IncidentFlows
from bot.listeners.acknowledge import acknowledge
from bot.state import ApprovalStatus

log = logging.getLogger(__name__)


def register_views(app: AsyncApp, *, flows: IncidentFlows) -> None:
    """Register the reject modal's submission listener."""

    @app.view(REJECT_MODAL_ID)
    async def on_reject_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            submission = parse_reject_submission(view)
        except ValueError as exc:
            await ack(response_action="errors", errors={REASON_BLOCK: str(exc)[:150]})
            return
        if not submission.reason:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why the proposal is wrong."})
            return
        record = flows.approvals.load(submission.incident_id, submission.proposal_id)
        if record is None or record.status is not ApprovalStatus.PENDING:
            # Someone else acted while the modal was open; closing it would look like the rejection counted.
            status = record.status.value.replace("_", " ") if record is not None else "unknown"
            await ack(response_action="errors", errors={REASON_BLOCK: (
                f"Not rejected: this proposal is already {status}. Cancel, and reply in the incident "
                "thread to record why it was wrong.")[:150]})
            return
        await acknowledge(ack)
        await flows.reject(submission, body["user"]["id"])
