"""Whole-file writes that survive a crash or a power loss: a temporary file, fsync, rename, directory fsync.

A reader sees the old content or the new, never a part. Once the call
returns, the new content and its name are on disk, so a record acknowledged
to a caller (a webhook's 200, an approval shown on a card) cannot vanish.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_durably(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, durably; safe from several threads at once.

    Raises:
        OSError: when the file cannot be written. The temporary file is
            removed and ``path`` keeps its old content. Also when the
            directory cannot be synced: ``path`` then has the new content,
            but a power loss may still undo it.
    """
    # A temporary file of its own per write: records are saved from worker threads too.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

    # The renamed entry reaches the disk with its directory.
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Flush a directory's entries (new, renamed or removed names) to disk."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
