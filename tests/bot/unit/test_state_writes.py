"""Atomic writes of the bot's state files from several threads at once."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.state import write_atomically


def test_concurrent_writes_same_path(tmp_path: Path) -> None:
    path = tmp_path / "inc-20261204-0001__p1.json"
    errors: list[Exception] = []

    def write_many(text: str) -> None:
        for _ in range(200):
            try:
                write_atomically(path, text)
            except Exception as exc:  # collected so that the main thread can assert on them
                errors.append(exc)

    threads = [threading.Thread(target=write_many, args=(text,)) for text in ('{"writer": 1}', '{"writer": 2}')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert path.read_text(encoding="utf-8") in ('{"writer": 1}', '{"writer": 2}')
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["inc-20261204-0001__p1.json"]
