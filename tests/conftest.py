"""Shared fixtures: the sample topology, isolated settings and data directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from airra.settings import Settings
from airra.topology import DEFAULT_SERVICES_FILE, Topology


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own AIRRA_* and SLACK_* variables out of every test."""
    import os

    for name in list(os.environ):
        if name.startswith(("AIRRA_", "SLACK_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def topology() -> Topology:
    return Topology.load(DEFAULT_SERVICES_FILE)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)
