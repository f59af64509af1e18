"""Fixture files of the intake tests."""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


FixtureLoader = Callable[[str], dict[str, Any]]


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def load_fixture() -> FixtureLoader:
    """Return a function that loads a JSON file of tests/fixtures by name."""
    return _load


@pytest.fixture
def firing_grouped() -> dict[str, Any]:
    return _load("webhook_firing_grouped.json")


@pytest.fixture
def resolved_grouped() -> dict[str, Any]:
    return _load("webhook_resolved.json")


@pytest.fixture
def mixed_truncated() -> dict[str, Any]:
    return _load("webhook_mixed_truncated.json")
