"""The scenario fixtures, shared with the attack scenarios: the whole bot over HTTP on the sandbox."""

from tests.bot.scenarios.conftest import start_scenario  # noqa: F401 (a fixture, used by name)
