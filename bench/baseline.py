"""Baselines the bench scripts compare against: one JSON file per script in bench/baselines/."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
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


def parse(parser: argparse.ArgumentParser, quick: Mapping[str, Any]) -> argparse.Namespace:
    """The command line of a bench with ``--quick`` and ``--save-baseline``: with --quick, ``quick`` stands in for
    the defaults (what the command line names still wins), and its figures cannot be saved as the baseline."""
    options = parser.parse_args()
    if options.quick:
        if options.save_baseline:
            parser.error("--quick figures are not a baseline")
        parser.set_defaults(**quick)
        options = parser.parse_args()
    return options
