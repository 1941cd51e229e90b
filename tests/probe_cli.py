"""Running the real `studio` command with the probe plugin installed, in a sandbox of its own."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.plugin import ENTRY_POINT_GROUP

STUDIO = Path(sys.executable).parent / "studio"
TESTS = Path(__file__).parent


def plugin_site(tmp_path: Path) -> Path:
    """A folder holding an installed distribution whose studio plugin is the probe plugin."""
    dist = tmp_path / "site" / "probeplug-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: probeplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nprobe = probe_plugin:MANIFEST\n")
    return tmp_path / "site"


def probe_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `studio` process that finds the probe plugin and keeps its data and models in tmp_path."""
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(plugin_site(tmp_path)), str(TESTS)]),
        XDG_DATA_HOME=str(tmp_path / "data-home"),
        XDG_CACHE_HOME=str(tmp_path / "cache-home"),
        OMP_NUM_THREADS="1",
    )


def training_pictures(folder: Path) -> Path:
    """``folder`` made and filled with four small random pictures the probe trains on."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"picture-{index}.png")
    return folder


def studio(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `studio ARGS` and return what it did."""
    return subprocess.run(
        [str(STUDIO), *map(str, args)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
