"""The README's plugin example, taken from the README as it is, works in the core, on the command line and in a
batch job file."""

import json
import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.batch import load_job, run_job
from studio.core.jobs import RunContext
from studio.core.outputs import OutputFolder
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.run import build_inputs, run_plugin

README = Path(__file__).parents[1] / "README.md"
STUDIO = Path(sys.executable).parent / "studio"


def readme_block(first_line: str) -> str:
    """The README code block whose first line is ``first_line``."""
    blocks = re.findall(r"```(?:python|toml|sh)\n(.*?)```", README.read_text(), re.S)
    return next(block for block in blocks if block.startswith(first_line))


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    package = tmp_path / "site" / "region_tint"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(readme_block("# region_tint/__init__.py"))
    (package / "engine.py").write_text(readme_block("# region_tint/engine.py"))
    dist = tmp_path / "site" / "region_tint-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: region_tint\nVersion: 1.0\n")
    toml = readme_block("# pyproject.toml of the plugin's distribution")
    entry_points = toml.replace('[project.entry-points."studio.plugins"]', f"[{ENTRY_POINT_GROUP}]").replace('"', "")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return tmp_path / "site"


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[:, :15] = 255
    paths = {"photo": tmp_path / "photo.png", "mask": tmp_path / "mask.png", "sunset": tmp_path / "sunset.jpg"}
    Image.fromarray(photo).save(paths["photo"])
    Image.fromarray(mask).save(paths["mask"])
    Image.new("RGB", (8, 8), (250, 120, 0)).save(paths["sunset"], quality=100)
    return paths, photo


def registry():
    return discover_plugins([EntryPoint("region_tint", "region_tint:MANIFEST", ENTRY_POINT_GROUP)])


def assert_tinted_left_half(result, photo):
    changed = np.any(result[..., :3] != photo, axis=2)
    assert changed[:, :15].mean() > 0.9 and not changed[:, 15:].any()
    assert result[..., 0][:, :15].mean() > photo[..., 0][:, :15].mean(), "towards the sunset's orange"


def test_the_example_runs_in_the_core(plugin_path, files, tmp_path):
    paths, photo = files
    manifest = registry().get("region_tint")
    inputs = build_inputs(manifest, {"image": paths["photo"], "mask": paths["mask"], "colours": paths["sunset"]})
    folder = OutputFolder(tmp_path / "out")
    final = run_plugin(manifest, manifest.params_class()(), inputs, RunContext(outputs=folder))
    assert_tinted_left_half(final.image, photo)
    assert [w.name for w in folder.written] == ["colour.json"]
    mean = json.loads((tmp_path / "out" / "colour.json").read_text())["mean"]
    assert mean == pytest.approx([250, 120, 0], abs=3)


def test_the_example_runs_on_the_command_line(plugin_path, files, tmp_path):
    paths, photo = files
    example = next(
        line.split("#")[0].split() for line in README.read_text().splitlines() if line.startswith("studio run region")
    )
    swap = {"photo.jpg": paths["photo"], "mask.png": paths["mask"], "colours=sunset.jpg": f"colours={paths['sunset']}"}
    args = [str(swap.get(arg, arg)) for arg in example[1:]]
    env = dict(os.environ, PYTHONPATH=str(plugin_path))
    result = subprocess.run(
        [str(STUDIO), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert_tinted_left_half(np.asarray(Image.open(tmp_path / "out.png").convert("RGB")), photo)
    assert (tmp_path / "out" / "colour.json").is_file()


def test_the_example_step_runs_in_a_batch(plugin_path, files, tmp_path):
    paths, photo = files
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "photo.png").write_bytes(paths["mask"].read_bytes())
    step = readme_block("[[steps]]                          # in a batch job file")
    job_file = tmp_path / "tint.toml"
    job_file.write_text(f'inputs = ["photo.png"]\noutput = "{{stem}}-{{step1.amount}}.png"\n\n{step}')
    job = load_job(job_file, registry())
    summary = run_job(job, registry=registry())
    assert summary.exit_code == 0 and len(summary.done) == 2
    for amount in (0.3, 0.6):
        assert_tinted_left_half(np.asarray(Image.open(tmp_path / f"photo-{amount}.png").convert("RGB")), photo)
        assert (tmp_path / f"photo-{amount}" / "colour.json").is_file()
