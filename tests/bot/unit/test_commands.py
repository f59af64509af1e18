"""Parsing of /airra arguments."""

from __future__ import annotations

import pytest

from airra.actions import ActionType
from airra.categories import Category
from airra.errors import UnknownServiceError
from airra.topology import Topology
from bot.commands import Subcommand, UsageError, parse_command


def test_empty_text_is_help(topology: Topology) -> None:
    assert parse_command("", topology).subcommand is Subcommand.HELP


def test_analyze_with_category(topology: Topology) -> None:
    command = parse_command("analyze search cpu_spike", topology)
    assert command.subcommand is Subcommand.ANALYZE
    assert command.service == "search"
    assert command.category is Category.CPU_SPIKE


def test_analyze_category_in_words(topology: Topology) -> None:
    command = parse_command("analyze search memory leak", topology)
    assert command.service == "search"
    assert command.category is Category.MEMORY_LEAK


def test_analyze_extra_words_rejected(topology: Topology) -> None:
    with pytest.raises(UsageError, match="takes 1 to 2 arguments, got 3"):
        parse_command("analyze search memory please", topology)


def test_service_alias_resolves(topology: Topology) -> None:
    assert parse_command("blast gateway", topology).service == "api-gateway"


def test_simulate_with_actions(topology: Topology) -> None:
    command = parse_command("simulate search memory-leak scale_up,restart", topology)
    assert command.category is Category.MEMORY_LEAK
    assert command.actions == [ActionType.SCALE_UP, ActionType.RESTART_POD]


def test_feedback_days(topology: Topology) -> None:
    assert parse_command("feedback", topology).days == 30
    assert parse_command("feedback 7", topology).days == 7


@pytest.mark.parametrize(("text", "expected_form"), [
    ("blast", "/airra blast SERVICE"),
    ("blast search extra", "/airra blast SERVICE"),
    ("simulate search", "/airra simulate SERVICE CATEGORY [ACTION,ACTION...]"),
    ("simulate search banana", "/airra simulate SERVICE CATEGORY [ACTION,ACTION...]"),
    ("simulate search cpu_spike fly", "/airra simulate SERVICE CATEGORY [ACTION,ACTION...]"),
    ("feedback soon", "/airra feedback [DAYS]"),
    ("feedback 0", "/airra feedback [DAYS]"),
    ("status now", "/airra status"),
    ("analyze", "/airra analyze SERVICE [CATEGORY]"),
])
def test_bad_arguments_show_usage(topology: Topology, text: str, expected_form: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_command(text, topology)
    assert f"`{expected_form}`" in str(raised.value)


def test_unknown_subcommand_lists_commands(topology: Topology) -> None:
    with pytest.raises(UsageError) as raised:
        parse_command("deploy search", topology)
    assert "Unknown subcommand `deploy`" in str(raised.value)
    assert "/airra analyze SERVICE [CATEGORY]" in str(raised.value)


def test_unknown_service_has_close_matches(topology: Topology) -> None:
    with pytest.raises(UnknownServiceError) as raised:
        parse_command("blast serch", topology)
    assert "search" in raised.value.close_matches
