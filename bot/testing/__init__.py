"""Loopback stand-ins for Slack, used by the tests and by ``airra demo``.

``SlackApiStandIn`` plays the Slack Web API on 127.0.0.1 and ``SlackDriver``
sends signed requests to the bot exactly as Slack does, so the bot runs with
slack_sdk's real client and Bolt's real request verification.
"""

from bot.testing.driver import DriverResponse, SlackDriver
from bot.testing.slack_api import SlackApiStandIn, render_text

__all__ = ["DriverResponse", "SlackApiStandIn", "SlackDriver", "render_text"]
