"""Baselines the bench scripts compare against: one JSON file per script in bench/baselines/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "baselines"


def load(name: str) -> dict[str, Any]:
    """The saved results of ``name`` (empty when none were saved)."""
    path = FOLDER / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(name: str, results: dict[str, Any]) -> None:
    """Record ``results`` as the baseline of ``name``."""
    path = FOLDER / f"{name}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"baseline saved to {path}")
