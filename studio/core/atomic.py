"""Atomic file writes: a file is either fully written or not touched at all."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_NAME_BYTES = 240
"""The longest file name an atomic write can put in place: file systems hold 255 bytes, and the temporary
file beside the target adds 15 to its name."""


class WriteError(OSError):
    """A file could not be written; the previous file (if any) is intact."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for writing in binary mode.

    On a clean exit the data is flushed to disk and the temporary file replaces
    ``path`` in one rename. On any error (a full disk, an exception in the
    caller, an interrupted process) the temporary file is removed and ``path``
    keeps its previous content. With ``overwrite=False`` the file is put in
    place only if ``path`` does not exist when the data is complete (a hard link,
    which cannot replace a file); otherwise FileExistsError is raised.
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
        _permissions_of_a_new_file(fd)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise
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


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK = _read_umask()  # read once, at import: os.umask cannot be read without setting it for every thread


def _permissions_of_a_new_file(fd: int) -> None:
    """``mkstemp`` creates files readable by their owner only; give the file what ``open()`` would (0666 - umask)."""
    if os.name == "posix":
        os.fchmod(fd, 0o666 & ~_UMASK)


def _link_new(tmp: Path, target: Path) -> None:
    """Put ``tmp`` at ``target`` only if ``target`` does not exist (FileExistsError otherwise)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise FileExistsError(errno.EEXIST, f"{target} already exists", str(target)) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
