"""Build the bot: the Bolt app, the incident flows and everything they depend on.

``build_bot`` constructs each dependency once from the runtime and the
settings, hands them to the flows, and registers the listeners. The HTTP
server (``bot.server``) and Socket Mode (``bot.serve``) only carry requests
to ``Bot.app``; Alertmanager batches go to ``Bot.on_webhook_batch``.

Example:
    runtime = Runtime.build(settings, sandbox=True)
    client = AsyncWebClient(token=token)
    bot = build_bot(runtime, client=client, poster=SlackPoster(client), signing_secret=secret)
    await bot.start()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airra.blast_radius import BlastRadiusCalculator
from airra.errors import ConfigError
from airra.calibration import ConfidenceTracker
from airra.execution.base import Executor
from airra.execution.guards import GuardedExecutor, Guards
from airra.feedback import FeedbackCollector
from airra.incidents import FileIncidentStore, IncidentTracker
from airra.intake.alertmanager import WebhookBatch
from airra.proposal import Proposer
from airra.runtime import Runtime
from airra.verification import PostActionVerifier
from bot.approvals import ApprovalDesk, ApproverPolicy
from bot.audit import AuditLog
from bot.commands import CommandRunner
from bot.errors import make_error_handler
from bot.flows import IncidentFlows
from bot.listeners import register_listeners
from bot.listeners.events import EventContext
from bot.messaging import SlackPoster
from bot.observability import BotMetrics
from bot.state import EventDeduplicator, FileApprovalStore, FileCardStore, FileExecutionStore

log = logging.getLogger(__name__)

REJECTED_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired",
                                   "account_inactive", "not_allowed_token_type"})
"""auth.test errors that mean the bot token itself is wrong, not that Slack is briefly unwell."""


@dataclass
class Bot:
    """The wired Slack bot."""

    app: AsyncApp
    flows: IncidentFlows
    commands: CommandRunner
    events: EventContext
    client: AsyncWebClient

    async def on_webhook_batch(self, batch: WebhookBatch) -> None:
        """Store an Alertmanager notification; cards follow in the background."""
        await self.flows.on_webhook_batch(batch)

    async def start(self) -> None:
        """Learn the bot's own ids (auth.test) and recover the approvals and executions of a previous run.

        Raises:
            ConfigError: when Slack rejects the bot token or cannot be reached.
        """
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in REJECTED_TOKEN_ERRORS:
                # Every post would fail the same way, so a bot that kept running would only look healthy.
                raise ConfigError(
                    f"SLACK_BOT_TOKEN was rejected by Slack ({error}): copy the current Bot User OAuth Token "
                    "(xoxb-…) of this workspace from api.slack.com/apps → your app → OAuth & Permissions, "
                    "reinstalling the app if it was removed."
                ) from None
            log.warning("auth.test failed (%s); the bot's own posts are filtered by Bolt only", error)
        except aiohttp.ClientError as exc:
            raise ConfigError(
                f"cannot reach the Slack Web API at {self.client.base_url} ({exc}): check this machine's "
                "network access to Slack, or unset AIRRA_SLACK_API_URL, which only tests and the demo set."
            ) from None
        else:
            self.events.self_ids.update(
                value for value in (identity.get("user_id"), identity.get("bot_id")) if value
            )
            log.info("bot started as %s (bot id %s)", identity.get("user_id"), identity.get("bot_id"))
        await self.flows.recover()

    async def close(self) -> None:
        """Cancel the flows' background work."""
        await self.flows.close()


def build_bot(
    runtime: Runtime,
    *,
    client: AsyncWebClient,
    poster: SlackPoster,
    signing_secret: str,
    metrics: BotMetrics | None = None,
    request_verification_enabled: bool = True,
) -> Bot:
    """Wire the bot over a runtime.

    Args:
        runtime: topology, metrics source and executor (sandbox or live).
        client: the Slack Web API client the bot talks through.
        poster: paced, retrying poster over the same client.
        signing_secret: Slack's signing secret; request signatures are checked with it.
        metrics: the bot's Prometheus metrics, when served.
        request_verification_enabled: keep True except in Socket Mode, where
            Slack does not sign requests.
    """
    settings = runtime.settings
    data_dir = settings.data_dir
    state_dir = data_dir / "state"

    executor, guards = _guarded_executor(runtime)
    # Memory keeps the open incidents and those a re-fire may still reopen; older ones stay on disk.
    incidents = FileIncidentStore(data_dir / "incidents", keep_resolved_for=timedelta(seconds=settings.reopen_window_s))
    tracker = IncidentTracker(incidents, settings)
    confidence = ConfidenceTracker(data_dir / "confidence_tracking.jsonl",
                                   partial_success_counts=settings.partial_success_counts)
    feedback = FeedbackCollector(data_dir / "operator_feedback.jsonl")
    proposer = Proposer(runtime.topology, runtime.metrics, executor.service_state, settings,
                        history=confidence, priors=feedback)
    approvals = FileApprovalStore(state_dir)
    executions = FileExecutionStore(state_dir)
    policy = ApproverPolicy(settings, client)
    audit = AuditLog(data_dir / "audit.jsonl")

    flows = IncidentFlows(
        settings=settings,
        topology=runtime.topology,
        executor=executor,
        tracker=tracker,
        proposer=proposer,
        blast=BlastRadiusCalculator(runtime.topology, runtime.metrics),
        verifier=PostActionVerifier(runtime.metrics, settings),
        confidence=confidence,
        feedback=feedback,
        policy=policy,
        desk=ApprovalDesk(settings, approvals, executions),
        approvals=approvals,
        executions=executions,
        cards=FileCardStore(state_dir),
        audit=audit,
        client=client,
        poster=poster,
        guards=guards,
        metrics=metrics,
    )
    commands = CommandRunner(topology=runtime.topology, metrics=runtime.metrics, proposer=proposer,
                             tracker=tracker, confidence=confidence, feedback=feedback, flows=flows,
                             policy=policy, audit=audit, guards=guards)

    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        request_verification_enabled=request_verification_enabled,
    )
    if metrics is not None:
        app.middleware(metrics.bolt_middleware())
    events = EventContext(topology=runtime.topology, deduplicator=EventDeduplicator())
    register_listeners(app, flows=flows, commands=commands, events=events)
    app.error(make_error_handler(metrics=metrics))

    log.info("bot built over %s with data in %s", "the sandbox" if runtime.sandbox is not None else "live systems",
             data_dir)
    return Bot(app=app, flows=flows, commands=commands, events=events, client=client)


def _guarded_executor(runtime: Runtime) -> tuple[Executor, Guards]:
    """Return the executor behind the execution guards, and the guards."""
    guards = getattr(runtime, "guards", None)
    if isinstance(guards, Guards):
        # The runtime already wraps its executor with these guards.
        return runtime.executor, guards

    guards = Guards(runtime.settings, runtime.topology, runtime.settings.data_dir / "state")
    return GuardedExecutor(runtime.executor, guards), guards
