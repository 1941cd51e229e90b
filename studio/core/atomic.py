"""Atomic file writes: a file is either fully written or not touched at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class WriteError(OSError):
    """A file could not be written; the previous file (if any) is intact."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for writing in binary mode.

    On a clean exit the data is flushed to disk and the temporary file replaces
    ``path`` in one rename. On any error (a full disk, an exception in the
    caller, an interrupted process) the temporary file is removed and ``path``
    keeps its previous content.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise WriteError(
            exc.errno, f"Cannot write {target}: {exc.strerror}. Check that the folder exists and is writable."
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise WriteError(
            exc.errno,
            f"Cannot write {target}: {reason}. Free some disk space or choose another folder; nothing was overwritten.",
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
