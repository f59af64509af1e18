"""write_durably, which leaves either the whole new content or the old one and syncs the file and its directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airra import durable_files
from airra.durable_files import write_durably


def test_replace_syncs_file_and_directory(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "incident.json"
    target.write_text("old", encoding="utf-8")
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(durable_files.os, "fsync", recording_fsync)

    write_durably(target, "new")

    assert target.read_text(encoding="utf-8") == "new"
    # fsync runs first on the temporary file's data, then on the directory of the renamed entry.
    assert len(synced) == 2
    assert Path(synced[0]).parent == tmp_path
    assert Path(synced[0]).name.startswith(".incident.json.")
    assert synced[1] == str(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["incident.json"]


def test_failed_rename_keeps_old_content(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "incident.json"
    target.write_text("old", encoding="utf-8")

    def failing_replace(source: str, destination: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable_files.os, "replace", failing_replace)

    with pytest.raises(OSError, match="No space left"):
        write_durably(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["incident.json"]
