"""Append-only JSONL store shared by the learning stores.

One record is one JSON object on one line. The file is the only state, so
several processes (the bot, a CLI report) may use it at once:

- ``append`` takes an exclusive ``fcntl.flock`` on the file, writes the whole
  line with one ``write`` call and calls ``os.fsync`` before releasing the
  lock, so a line is either complete on disk or absent, and two writers never
  interleave.
- Every record carries a unique id. ``append`` refuses an id that is already
  in the file and returns False, so a retried write is stored once.
- ``iter_records`` streams the file line by line. A line that is not a JSON
  object (a write torn by a crash, a manual edit) is skipped with a warning
  naming the file and the line number. Reading goes on with the next line,
  so no good record after a bad one is lost.
- ``iter_parsed`` streams records through a caller's one-step parser, such as
  pydantic's ``validate_json``, and gives the lines it rejects the same
  handling as ``iter_records``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, GetPydanticSchema, ValidationError
from pydantic_core import core_schema

from airra.errors import StoreError

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
RecordT = TypeVar("RecordT")

# Bad lines logged one by one before the rest are only counted, so a badly
# damaged file does not flood the log.
MAX_LOGGED_BAD_LINES = 10


def _id_digest(record_id: str) -> int:
    """Return a 64-bit digest of a record id.

    The duplicate index keeps digests instead of the id strings so that a
    million ids take tens of megabytes. Two different ids share a digest with
    probability about n²/2⁶⁵, 3·10⁻⁸ for a million records.
    """
    # surrogatepass: an id with a lone surrogate still gets a digest, the same on write and on read.
    encoded = record_id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "big")


class JsonlStore:
    """An append-only file of JSON records, one per line, each with a unique id.

    Args:
        path: the ``.jsonl`` file; it and its directory are created on the
            first append, never on read.
        schema_version: version written into records that have none; the
            record models own the meaning of each version.
        id_field: name of the key holding the record id.
    """

    def __init__(self, path: Path, *, schema_version: int, id_field: str = "id") -> None:
        self.path = Path(path)
        self.schema_version = schema_version
        self.id_field = id_field
        self._lock = threading.Lock()
        self._known_ids: set[int] | None = None
        self._indexed_bytes = 0

    # --- writing -----------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> bool:
        """Append one record as a line, durably.

        Returns:
            True when the record was written, False when a record with the
            same id is already stored (a retried write).

        Raises:
            StoreError: the record has no id, cannot be encoded as JSON, or
                the file cannot be written.
        """
        record_id = record.get(self.id_field)
        if not isinstance(record_id, str) or not record_id:
            raise StoreError(
                f"record for {self.path} has no {self.id_field!r} string: every record needs a unique id "
                f"so that a retried write is recognised; got {record_id!r}"
            )
        line = self._encode(record)

        with self._lock:
            if self._known_ids is None:
                self._prime_index()
            self._ensure_directory()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot open {self.path} for appending: {exc}; check the data directory") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    return self._append_locked(fd, record_id, line)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _append_locked(self, fd: int, record_id: str, line: bytes) -> bool:
        self._refresh_index(fd)

        assert self._known_ids is not None
        digest = _id_digest(record_id)
        if digest in self._known_ids:
            log.info("record %s already in %s; not written again", record_id, self.path)
            return False

        # A crash during an earlier write can leave the file without its final
        # newline. Starting on a fresh line keeps the torn fragment from
        # swallowing this record.
        size = os.fstat(fd).st_size
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line

        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write: {written} of {len(line)} bytes")
            os.fsync(fd)
        except OSError as exc:
            raise StoreError(f"cannot append to {self.path}: {exc}; check free disk space and permissions") from exc

        self._known_ids.add(digest)
        self._indexed_bytes = size + len(line)
        return True

    def _encode(self, record: dict[str, Any]) -> bytes:
        payload = dict(record)
        payload.setdefault("schema_version", self.schema_version)
        try:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"record {payload.get(self.id_field)!r} for {self.path} is not valid JSON: {exc}; "
                "dump pydantic models with model_dump(mode='json')"
            ) from exc

        try:
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate, such as half of an emoji cut from a message, has no
            # UTF-8 form. JSON's \uXXXX escapes keep it, and json.loads reads it back.
            text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
            return (text + "\n").encode("ascii")

    def _ensure_directory(self) -> None:
        directory = self.path.parent
        if directory.is_dir():
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {directory}: {exc}; set AIRRA_DATA_DIR to a writable path") from exc

    def _prime_index(self) -> None:
        """Index the ids already in the file without holding the exclusive lock.

        Appends only add bytes after the committed size, so the prefix read
        here stays valid, and ``_refresh_index`` later reads just the rest
        under the lock. Other writers are not blocked while a large file is
        indexed.

        NOTE: this parses every line, about 9 s for a million records on a
        2-core VM, so the first append of a process on a large store is slow.
        """
        self._known_ids = set()
        self._indexed_bytes = 0
        if not self.path.exists():
            return

        end = self._committed_size()
        with open(self.path, "rb") as handle:
            position = 0
            while position < end:
                raw = handle.readline()
                if not raw or position + len(raw) > end:
                    break
                position += len(raw)
                record = _parse_object(raw)
                if record is not None and isinstance(record.get(self.id_field), str):
                    self._known_ids.add(_id_digest(record[self.id_field]))
        self._indexed_bytes = position

    def _refresh_index(self, fd: int) -> None:
        """Add the ids of lines appended since the last refresh, by any process.

        Called with the exclusive lock held, so the file ends at a line
        boundary (or at a torn fragment, which has no usable id).
        """
        if self._known_ids is None:
            self._known_ids = set()
            self._indexed_bytes = 0
        size = os.fstat(fd).st_size
        if size < self._indexed_bytes:
            # Another program replaced or truncated the file, so rebuild the index.
            self._known_ids = set()
            self._indexed_bytes = 0
        if size == self._indexed_bytes:
            return

        with open(self.path, "rb") as handle:
            handle.seek(self._indexed_bytes)
            for raw in handle:
                record = _parse_object(raw)
                if record is not None:
                    record_id = record.get(self.id_field)
                    if isinstance(record_id, str):
                        self._known_ids.add(_id_digest(record_id))
        self._indexed_bytes = size

    # --- reading -----------------------------------------------------------------

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Stream the stored records in file order, skipping unreadable lines."""
        for _line_number, record in self.iter_numbered():
            yield record

    def iter_numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Stream ``(line number, record)`` pairs; line numbers start at 1.

        The line number lets callers that validate records name the line of a
        record they reject. A missing file yields nothing.
        """
        bad_lines = 0
        for line_number, raw, is_last in self._iter_lines():
            record = _parse_object(raw)
            if record is None:
                bad_lines += 1
                if bad_lines <= MAX_LOGGED_BAD_LINES:
                    log.warning("%s", self._bad_line_message(raw, line_number, is_last=is_last))
                continue
            yield line_number, record

        if bad_lines > MAX_LOGGED_BAD_LINES:
            log.warning("%s: %d unreadable lines skipped in total; the readable records were kept", self.path, bad_lines)

    def iter_validated(
        self, model: type[ModelT], on_invalid: Callable[[int, ValidationError], None]
    ) -> Iterator[ModelT]:
        """Stream the records as ``model`` instances, parsing and validating each line in one step.

        pydantic's JSON validation takes about half the time of ``json.loads``
        followed by ``model_validate``, which dominates a report over a large
        store. A record that fails validation goes to ``on_invalid`` with its
        line number and is skipped. Unreadable lines are skipped as in ``iter_numbered``.
        """
        def validate_record(line_number: int, record: dict[str, Any]) -> ModelT | None:
            try:
                return model.model_validate(record)
            except ValidationError as exc:
                on_invalid(line_number, exc)
                return None

        return self.iter_parsed(model.__pydantic_validator__.validate_json, validate_record)

    def iter_parsed(
        self,
        parse_line: Callable[[bytes], RecordT],
        parse_record: Callable[[int, dict[str, Any]], RecordT | None],
    ) -> Iterator[RecordT]:
        """Stream the records through ``parse_line``, which parses and validates a raw line in one step.

        A line that ``parse_line`` rejects with a ``ValidationError`` takes the
        slow path. An unreadable line is skipped with the same warning as in
        ``iter_numbered``. A JSON object goes to ``parse_record`` with its line
        number, and ``parse_record`` returns the record, or None to skip it
        after logging its own warning.
        """
        bad_lines = 0
        for line_number, raw, is_last in self._iter_lines():
            try:
                parsed = parse_line(raw)
            except ValidationError:
                pass
            else:
                yield parsed
                continue

            record = _parse_object(raw)
            if record is None:
                bad_lines += 1
                if bad_lines <= MAX_LOGGED_BAD_LINES:
                    log.warning("%s", self._bad_line_message(raw, line_number, is_last=is_last))
                continue
            slow_parsed = parse_record(line_number, record)
            if slow_parsed is not None:
                yield slow_parsed

        if bad_lines > MAX_LOGGED_BAD_LINES:
            log.warning("%s: %d unreadable lines skipped in total; the readable records were kept", self.path, bad_lines)

    def _iter_lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """Stream ``(line number, raw line, is last line)`` for the non-blank lines written so far."""
        if not self.path.exists():
            return

        end = self._committed_size()
        with open(self.path, "rb") as handle:
            position = 0
            for line_number, raw in enumerate(handle, start=1):
                position += len(raw)
                if position > end:
                    # Bytes past the size taken under the lock belong to a
                    # write that started after this read began.
                    break
                # isspace() is `not raw.strip()` for a non-empty line, without copying it.
                if raw.isspace():
                    continue
                yield line_number, raw, position >= end

    def _committed_size(self) -> int:
        """Return the file size at a moment when no append is in progress."""
        try:
            with open(self.path, "rb") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
                try:
                    return os.fstat(handle.fileno()).st_size
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}; check its permissions") from exc

    def _bad_line_message(self, raw: bytes, line_number: int, *, is_last: bool) -> str:
        if is_last and not raw.endswith(b"\n"):
            cause = "an incomplete last line, probably a write torn by a crash"
        elif _has_overlong_integer(raw):
            cause = f"an integer of more than {sys.get_int_max_str_digits()} digits, longer than Python converts"
        else:
            cause = "not a JSON object"
        preview = raw[:60].decode("utf-8", errors="replace").rstrip()
        return (
            f"{self.path}:{line_number}: skipped unreadable line ({cause}): {preview!r}; "
            "the other records are kept, remove or repair the line to silence this warning"
        )


def count_stored_lines(path: Path) -> int:
    """Return the number of non-blank lines of a store file, readable or not; 0 when it is missing."""
    try:
        with open(path, "rb") as handle:
            return sum(1 for raw in handle if raw.strip())
    except (FileNotFoundError, NotADirectoryError):
        return 0


def enum_values(enum_type: type[StrEnum]) -> GetPydanticSchema:
    """Return an ``Annotated`` marker that accepts exactly the values of ``enum_type`` and keeps them as ``str``.

    A reader that only counts and compares the values is spared the enum
    members and a Python ``.value`` call for each field of each record.
    """
    choices = [member.value for member in enum_type]
    return GetPydanticSchema(lambda _source, _handler: core_schema.literal_schema(choices))


def _parse_object(raw: bytes) -> dict[str, Any] | None:
    """Parse one line as a JSON object, or return None when it is not one."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError is also raised for valid JSON with an integer longer than
        # Python converts, and RecursionError for a line nested deeper than the
        # decoder recurses. Such a line is as unreadable as a torn one, and
        # must not stop the records after it or the appends that index them.
        return None
    return value if isinstance(value, dict) else None


def _has_overlong_integer(raw: bytes) -> bool:
    """Return True when ``json.loads`` rejects ``raw`` for an integer longer than Python converts."""
    try:
        json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return False
    except ValueError:
        return True
    return False
