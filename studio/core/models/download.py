"""Download one file over HTTP(S): resumable, retried, cancellable, verified before it lands.

The bytes stream into ``partial_dir/<name>.part``; a dropped connection is
resumed with a ``Range`` request when the server answers 206 (otherwise the
file starts over), and only a file whose sha256 matches is moved to its
destination, in one rename. On any failure or cancel the partial file is
deleted: nothing unverified is ever left behind.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.cancel import CancelCheck, Progress, check_cancelled
from studio.core.models.errors import ModelError, hash_mismatch

CHUNK = 64 * 1024
# HTTP statuses worth a retry; any other error status fails at once.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Socket errors that mean "this host cannot be reached from here": fail at once (offline).
UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_matches(expected: str, actual: str) -> bool:
    """True if ``actual`` (a full hex digest) is ``expected``, or starts with it when ``expected`` is a prefix.

    Torchvision file names carry only the first 8 hex digits of the hash: a
    shorter ``expected`` is a prefix. An empty ``expected`` matches nothing.
    """
    expected = expected.strip().lower()
    if not expected:
        return False
    return actual.lower() == expected if len(expected) >= 64 else actual.lower().startswith(expected)


class _Retry(Exception):
    """A transfer failed in a way another attempt may fix."""


class _Fatal(Exception):
    """A transfer failed in a way no retry will fix."""


def download(
    url: str,
    dest: Path,
    *,
    sha256: str,
    partial_dir: Path,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    retries: int = 3,
    timeout: float = 30,
    backoff: float = 0.5,
) -> Path:
    """Fetch ``url`` to ``dest`` and return ``dest``; it exists only if its sha256 matched.

    ``sha256`` is a full hex digest or a prefix of one. ``retries`` is the number
    of further attempts after a failed one (waiting ``backoff`` seconds, doubling);
    a host that cannot be resolved or refuses the connection fails at once.
    ``progress(fraction, message)`` gets the fraction from Content-Length when
    known (0 otherwise). ``cancelled()`` is checked between chunks.

    Raises :class:`ModelError` (wrong hash, error status, retries exhausted) or
    :class:`Cancelled`; in both cases the partial file is deleted.
    """
    if not sha256.strip():
        raise ValueError(f"no sha256 given for {url}: refusing to download an unverifiable file")
    dest = Path(dest)
    partial_dir = Path(partial_dir)
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = partial_dir / f"{dest.name}.part"
    part.unlink(missing_ok=True)
    failures: list[str] = []
    done = False
    try:
        for attempt in range(retries + 1):
            check_cancelled(cancelled)
            try:
                _transfer(url, part, dest.name, progress, cancelled, timeout)
                break
            except _Fatal as exc:
                raise ModelError(
                    f"cannot download {url}: {exc}. Check the internet connection and try again later.", path=dest
                ) from None
            except _Retry as exc:
                failures.append(str(exc))
                if attempt == retries:
                    tries = "; ".join(f"try {i + 1}: {text}" for i, text in enumerate(failures))
                    raise ModelError(
                        f"cannot download {url} after {retries + 1} tries ({tries}). "
                        "Check the internet connection and try again; nothing was saved.",
                        path=dest,
                    ) from None
                _sleep(backoff * 2**attempt, cancelled)
        actual = sha256_file(part)
        if not sha256_matches(sha256, actual):
            raise hash_mismatch(
                "the download of", url, sha256, actual, fix="it was deleted; try again later or use another source"
            )
        _move(part, dest)
        done = True
        if progress is not None:
            progress(1.0, f"Downloaded {dest.name}")
        return dest
    finally:
        if not done:
            part.unlink(missing_ok=True)


def _sleep(seconds: float, cancelled: CancelCheck | None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        check_cancelled(cancelled)
        time.sleep(min(left, 0.05))
    check_cancelled(cancelled)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _transfer(
    url: str, part: Path, name: str, progress: Progress | None, cancelled: CancelCheck | None, timeout: float
) -> None:
    """One attempt: append to ``part`` from where it stops (if the server allows), else start over."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"studio/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            try:
                total = _total_size(response, offset)
            except _Retry:
                part.unlink(missing_ok=True)
                raise
            if offset and response.status == 206:
                mode, received = "ab", offset
            else:
                mode, received = "wb", 0
            with part.open(mode) as handle:
                while True:
                    check_cancelled(cancelled)
                    chunk = response.read1(CHUNK)
                    if not chunk:
                        break
                    handle.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(*_report(name, received, total))
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the partial file does not fit the remote one: start over
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 416 {exc.reason}") from None
        if exc.code in RETRY_STATUSES:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise _Fatal(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            raise _Fatal(f"cannot resolve the host ({reason.strerror or reason}): this machine seems offline") from None
        if isinstance(reason, OSError) and reason.errno in UNREACHABLE_ERRNOS:
            raise _Fatal(f"cannot connect ({reason.strerror or reason})") from None
        raise _Retry(f"{reason}") from None
    except (OSError, http.client.HTTPException) as exc:  # dropped connection, timeout, reset
        raise _Retry(f"connection lost after {received} bytes ({type(exc).__name__}: {exc})") from None
    if total is not None and received != total:
        raise _Retry(f"connection closed after {received} of {total} bytes")


def _total_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The full size of the remote file, if the server says; a 206 must start at ``offset``."""
    if offset and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != offset:
            raise _Retry(f"the server answered a different range ({response.headers.get('Content-Range')!r})")
        return int(match.group(3)) if match.group(3) != "*" else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _report(name: str, received: int, total: int | None) -> tuple[float, str]:
    if total:
        return min(received / total, 1.0), f"Downloading {name}: {received / 1e6:.1f} of {total / 1e6:.1f} MB"
    return 0.0, f"Downloading {name}: {received / 1e6:.1f} MB"


def _move(part: Path, dest: Path) -> None:
    """Move a verified file into place in one rename (a copy into a temporary file first across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(part, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with part.open("rb") as source, atomic_write(dest) as target:
            shutil.copyfileobj(source, target)
        part.unlink()
