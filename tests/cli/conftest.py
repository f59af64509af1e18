"""Fixtures for driving ``airra`` as a user does: environment variables, files on disk and ``main``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from airra.cli import main


class CliRun(NamedTuple):
    """Exit code and captured output of one ``airra`` command."""

    code: int
    out: str
    err: str


@pytest.fixture
def airra(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          data_dir: Path) -> Callable[..., CliRun]:
    """Run ``airra ARGS...`` in-process with AIRRA_DATA_DIR set to an empty temporary directory."""
    monkeypatch.setenv("AIRRA_DATA_DIR", str(data_dir))
    capsys.readouterr()

    def run(*argv: str) -> CliRun:
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
