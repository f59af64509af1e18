"""Fixture files of the intake tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    """Load a JSON fixture of tests/fixtures by file name."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def firing_grouped() -> dict[str, Any]:
    return load_fixture("webhook_firing_grouped.json")


@pytest.fixture
def resolved_grouped() -> dict[str, Any]:
    return load_fixture("webhook_resolved.json")


@pytest.fixture
def mixed_truncated() -> dict[str, Any]:
    return load_fixture("webhook_mixed_truncated.json")
