"""Storage robustness of the append-only JSONL store.

The learning stores are the only record of what AIRRA did and how it turned
out, so a crash, a bad manual edit or two writers at once must never lose a
good record or count one twice.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from airra.categories import Category
from airra.errors import StoreError
from airra.jsonl_store import JsonlStore, enum_values


def _store(path: Path) -> JsonlStore:
    return JsonlStore(path, schema_version=1)


def test_append_then_read_back(tmp_path: Path) -> None:
    store = _store(tmp_path / "records.jsonl")

    assert store.append({"id": "a", "value": 1}) is True
    assert store.append({"id": "b", "value": 2}) is True

    records = list(store.iter_records())
    assert records == [
        {"id": "a", "value": 1, "schema_version": 1},
        {"id": "b", "value": 2, "schema_version": 1},
    ]


def test_append_creates_missing_directory(tmp_path: Path) -> None:
    store = _store(tmp_path / "nested" / "dir" / "records.jsonl")

    store.append({"id": "a"})

    assert (tmp_path / "nested" / "dir" / "records.jsonl").read_text().count("\n") == 1


def test_each_record_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    store = _store(path)

    store.append({"id": "a", "text": "line one\nline two"})

    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert len(lines) == 2
    assert json.loads(lines[0])["text"] == "line one\nline two"


def test_duplicate_id_not_stored_twice(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    store = _store(path)

    assert store.append({"id": "retry-me", "attempt": 1}) is True
    assert store.append({"id": "retry-me", "attempt": 2}) is False

    assert [r["attempt"] for r in store.iter_records()] == [1]


def test_duplicate_id_seen_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    _store(path).append({"id": "x"})

    assert _store(path).append({"id": "x"}) is False
    assert len(list(_store(path).iter_records())) == 1


def test_duplicate_id_written_by_other_instance_later(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    first, second = _store(path), _store(path)
    first.append({"id": "a"})  # first builds its index now

    second.append({"id": "b"})

    assert first.append({"id": "b"}) is False
    assert first.append({"id": "c"}) is True
    assert [r["id"] for r in first.iter_records()] == ["a", "b", "c"]


def test_missing_id_rejected(tmp_path: Path) -> None:
    store = _store(tmp_path / "records.jsonl")

    with pytest.raises(StoreError, match="no 'id'"):
        store.append({"value": 1})


def test_nan_rejected_with_hint(tmp_path: Path) -> None:
    store = _store(tmp_path / "records.jsonl")

    with pytest.raises(StoreError, match="not valid JSON"):
        store.append({"id": "a", "value": float("nan")})


def test_custom_id_field(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "fb.jsonl", schema_version=2, id_field="feedback_id")

    assert store.append({"feedback_id": "fb-1"}) is True
    assert store.append({"feedback_id": "fb-1"}) is False
    assert list(store.iter_records()) == [{"feedback_id": "fb-1", "schema_version": 2}]


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    store = _store(tmp_path / "absent" / "records.jsonl")

    assert list(store.iter_records()) == []
    assert not (tmp_path / "absent").exists()


def test_torn_last_line_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a"}\n{"id":"b"}\n{"id":"c","val')

    with caplog.at_level(logging.WARNING):
        ids = [r["id"] for r in _store(path).iter_records()]

    assert ids == ["a", "b"]
    assert f"{path}:3" in caplog.text
    assert "incomplete last line" in caplog.text


def test_append_after_torn_line_starts_fresh_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a"}\n{"id":"b","val')
    store = _store(path)

    assert store.append({"id": "c"}) is True

    with caplog.at_level(logging.WARNING):
        ids = [r["id"] for r in store.iter_records()]
    assert ids == ["a", "c"]
    assert f"{path}:2" in caplog.text


def test_bad_middle_line_keeps_later_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a"}\nthis is not json\n[1, 2]\n\n{"id":"d"}\n{"id":"e"}\n')

    with caplog.at_level(logging.WARNING):
        numbered = list(_store(path).iter_numbered())

    assert numbered == [(1, {"id": "a"}), (5, {"id": "d"}), (6, {"id": "e"})]
    assert f"{path}:2" in caplog.text
    assert f"{path}:3" in caplog.text
    assert "not a JSON object" in caplog.text


def test_invalid_utf8_line_skipped(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a"}\n\xff\xfe garbage\n{"id":"c"}\n')

    assert [r["id"] for r in _store(path).iter_records()] == ["a", "c"]


def test_many_bad_lines_logged_then_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"bad\n" * 25 + b'{"id":"ok"}\n')

    with caplog.at_level(logging.WARNING):
        ids = [r["id"] for r in _store(path).iter_records()]

    assert ids == ["ok"]
    assert len(caplog.records) == 11
    assert "25 unreadable lines" in caplog.records[-1].getMessage()


def test_bad_line_does_not_block_duplicate_check(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a"}\nnot json\n{"id":"b"}\n')

    store = _store(path)

    assert store.append({"id": "b"}) is False
    assert store.append({"id": "a"}) is False


def _append_many(path: str, writer: int, count: int) -> None:
    store = JsonlStore(Path(path), schema_version=1)
    for index in range(count):
        store.append({"id": f"w{writer}-{index}", "writer": writer, "padding": "x" * 200})
        # Both writers also try the same shared ids, as retries from two
        # processes would.
        store.append({"id": f"shared-{index}", "writer": writer})


def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    count = 150
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), writer, count)) for writer in (1, 2)]

    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]
    ids = [record["id"] for record in parsed]
    expected = {f"w{w}-{i}" for w in (1, 2) for i in range(count)} | {f"shared-{i}" for i in range(count)}
    assert len(ids) == len(expected)
    assert set(ids) == expected



class _Count(TypedDict):
    id: str
    n: int


def test_iter_parsed_fast_and_slow_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id":"a","n":1}\n{"id":"b","n":"two"}\nnot json\n \t\n{"id":"c","n":3}\n{"id":"d","n":"skip"}\n')
    slow_calls: list[tuple[int, dict[str, Any]]] = []

    def parse_record(line_number: int, record: dict[str, Any]) -> _Count | None:
        slow_calls.append((line_number, record))
        return None if record["n"] == "skip" else _Count(id=record["id"], n=-line_number)

    with caplog.at_level(logging.WARNING):
        records = list(_store(path).iter_parsed(TypeAdapter(_Count).validate_json, parse_record))

    assert records == [{"id": "a", "n": 1}, {"id": "b", "n": -2}, {"id": "c", "n": 3}]
    assert slow_calls == [(2, {"id": "b", "n": "two"}), (6, {"id": "d", "n": "skip"})]
    assert f"{path}:3: skipped unreadable line (not a JSON object)" in caplog.text
    assert len(caplog.records) == 1


def test_enum_values_keeps_plain_strings() -> None:
    adapter = TypeAdapter(Annotated[str, enum_values(Category)])

    assert adapter.validate_json(b'"cpu_spike"') == "cpu_spike"
    assert type(adapter.validate_json(b'"cpu_spike"')) is str
    assert type(adapter.validate_python(Category.CPU_SPIKE)) is str
    with pytest.raises(ValidationError):
        adapter.validate_json(b'"CPU_SPIKE"')


def test_overlong_integer_line_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Valid JSON, but json.loads raises ValueError for an integer past Python's
    # int conversion limit (sys.get_int_max_str_digits(), 4300 digits by default).
    path = tmp_path / "records.jsonl"
    digits = sys.get_int_max_str_digits() + 1
    path.write_bytes(b'{"id":"a"}\n{"id":"b","count":' + b"7" * digits + b'}\n{"id":"c"}\n')
    store = _store(path)

    with caplog.at_level(logging.WARNING):
        ids = [r["id"] for r in store.iter_records()]

    assert ids == ["a", "c"]
    assert (f"{path}:2: skipped unreadable line (an integer of more than {digits - 1} digits, "
            "longer than Python converts)") in caplog.text
    assert store.append({"id": "d"}) is True
    assert store.append({"id": "a"}) is False


def test_lone_surrogate_stored_and_read_back(tmp_path: Path) -> None:
    # "\ud83d" is the first half of an emoji's surrogate pair; alone it has no UTF-8 form.
    path = tmp_path / "records.jsonl"
    store = _store(path)

    assert store.append({"id": "a", "text": "cut \ud83d"}) is True
    assert store.append({"id": "half \udc00", "text": "ok"}) is True

    assert path.read_bytes().split(b"\n")[0] == b'{"id":"a","text":"cut \\ud83d","schema_version":1}'
    assert [r["text"] for r in store.iter_records()] == ["cut \ud83d", "ok"]
    assert _store(path).append({"id": "half \udc00"}) is False
    assert store.append({"id": "a"}) is False
