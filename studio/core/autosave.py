"""Autosave for crash recovery.

Each open document is written every few minutes (and when the application
crashes) to the user's state folder. A clean close removes its autosave; on
the next start, whatever is left over belongs to a session that died and is
offered for recovery.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from studio.core.atomic import atomic_write
from studio.core.document import Document
from studio.core.project import PROJECT_SUFFIX, save_project

AUTOSAVE_INTERVAL_S = 180


def default_autosave_dir() -> Path:
    return Path(platformdirs.user_state_dir("studio", appauthor=False)) / "autosave"


@dataclass(frozen=True)
class Recovery:
    """An autosave left behind by a session that did not close cleanly."""

    project: Path
    name: str
    original: Path | None
    saved_at: str


class Autosaver:
    """Writes and finds autosaves in ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_autosave_dir()

    def _paths(self, doc: Document) -> tuple[Path, Path]:
        stem = self.directory / f"autosave-{doc.uid}"
        return stem.with_suffix(PROJECT_SUFFIX), stem.with_suffix(".json")

    def save(self, doc: Document, original: Path | None = None) -> Path:
        """Write ``doc``'s autosave (atomically) and return its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        project, info = self._paths(doc)
        save_project(doc, project)
        record = {
            "name": doc.name,
            "original": str(original) if original else None,
            "pid": os.getpid(),
            "saved_at": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        with atomic_write(info) as handle:
            handle.write(json.dumps(record).encode())
        return project

    def discard(self, doc: Document) -> None:
        """Forget ``doc``'s autosave (after a save or a clean close)."""
        for path in self._paths(doc):
            path.unlink(missing_ok=True)

    def recoverable(self) -> list[Recovery]:
        """Autosaves of sessions that are no longer running, newest first."""
        found = []
        for info in self.directory.glob("autosave-*.json"):
            project = info.with_suffix(PROJECT_SUFFIX)
            try:
                record = json.loads(info.read_text())
            except (OSError, ValueError):
                continue
            if not project.exists() or _alive(int(record.get("pid", 0))):
                continue
            original = record.get("original")
            found.append(
                Recovery(
                    project,
                    str(record.get("name", "")),
                    Path(original) if original else None,
                    str(record.get("saved_at", "")),
                )
            )
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    def remove(self, recovery: Recovery) -> None:
        """Delete a recovery the user declined or has restored."""
        recovery.project.unlink(missing_ok=True)
        recovery.project.with_suffix(".json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
