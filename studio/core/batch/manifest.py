"""The manifest: the record of a job's items next to its outputs."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.atomic import atomic_write

MANIFEST_FORMAT = 1


class Manifest:
    """The record of a job's items next to its outputs (JSON, written atomically, one writer)."""

    def __init__(self, path: Path, job_path: Path, items: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.job_path = job_path
        self.items: dict[str, dict[str, Any]] = items or {}

    @classmethod
    def load(cls, path: Path, job_path: Path) -> Manifest:
        """The manifest at ``path``; an empty one when there is none or it is unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data["items"] if data.get("format") == MANIFEST_FORMAT else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            items = {}
        return cls(path, job_path, dict(items) if isinstance(items, dict) else {})

    def save(self) -> None:
        data = {
            "format": MANIFEST_FORMAT,
            "job": str(self.job_path),
            "studio_version": __version__,
            "updated": _now(),
            "items": self.items,
        }
        with atomic_write(self.path) as handle:
            handle.write((json.dumps(data, indent=1, sort_keys=False) + "\n").encode())


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
