"""Plugin discovery and the `studio` command line, run as real processes."""

import os
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from studio_plugins.generative import MANIFEST as GENERATIVE

from studio import __version__
from studio.core.batch import load_job
from studio.core.plugin import ENTRY_POINT_GROUP, PluginManifest, discover_plugins

STUDIO = Path(sys.executable).parent / "studio"


def broken_plugin_path(tmp_path: Path) -> Path:
    """A folder holding an installed distribution whose studio plugin cannot be imported."""
    dist = tmp_path / "site" / "brokenplug-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_xyz:MANIFEST\n")
    return tmp_path / "site"


def studio(*args, env_extra=None, check=False):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [str(STUDIO), *map(str, args)], capture_output=True, text=True, env=env, timeout=120, check=check
    )


BAD_PARAMS = PluginManifest("bad", "Bad", params="studio:__version__", engine="studio:__version__")


class LoadedEntryPoint:
    """An entry point whose target is an object already in hand."""

    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"<{name}>", obj

    def load(self):
        return self._obj


def test_builtin_plugin_registers_through_its_entry_point():
    registry = discover_plugins()
    assert "generative" in registry.plugins
    assert registry.errors == []


def test_broken_and_wrong_entry_points_are_reported_and_skipped():
    eps = [
        EntryPoint("broken", "no_such_module_xyz:MANIFEST", ENTRY_POINT_GROUP),
        EntryPoint("notmanifest", "studio:__version__", ENTRY_POINT_GROUP),
        LoadedEntryPoint("badparams", BAD_PARAMS),
        EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP),
    ]
    registry = discover_plugins(eps)
    assert list(registry.plugins) == ["generative"]
    errors = {e.name: e.error for e in registry.errors}
    assert "No module named 'no_such_module_xyz'" in errors["broken"]
    assert "not a PluginManifest" in errors["notmanifest"]
    assert "params" in errors["badparams"] or "dataclass" in errors["badparams"]
    with pytest.raises(KeyError, match="installed plugins: generative"):
        registry.get("deep_dream")


def test_a_plugin_is_found_by_its_id_or_alias_and_a_name_two_plugins_claim_is_a_load_error():
    first = replace(GENERATIVE, id="t", aliases=("short",))
    eps = [
        LoadedEntryPoint("t", first),
        LoadedEntryPoint("alias_is_an_id", replace(first, id="other", aliases=("t",))),
        LoadedEntryPoint("same_alias", replace(first, id="third", aliases=("short",))),
    ]
    registry = discover_plugins(eps)
    assert list(registry.plugins) == ["t"]
    assert registry.get("short") is registry.get("t") is first
    assert registry.find("Short") is None
    errors = {error.name: error.error for error in registry.errors}
    assert "plugin 'other': the name 't' is already used" in errors["alias_is_an_id"]
    assert "plugin 'third': the name 'short' is already used" in errors["same_alias"]


def test_the_gan_plugin_answers_to_gan_on_the_command_line_and_in_job_files(tmp_path):
    result = studio("train", "gan", "--set", "help", check=True)
    assert "r1_gamma" in result.stdout
    job_file = tmp_path / "job.toml"
    job_file.write_text('size = [64, 64]\noutput = "{index}.png"\n[[steps]]\nplugin = "gan"\nseed = [1, 2]\n')
    job = load_job(job_file)
    assert [step.plugin for item in job.items for step in item.steps] == ["gan_breeding", "gan_breeding"]


def test_version():
    result = studio("--version", check=True)
    assert result.stdout.strip() == f"studio {__version__}"


def test_plugins_command_lists_installed_and_failed(tmp_path):
    result = studio("plugins", env_extra={"PYTHONPATH": str(broken_plugin_path(tmp_path))}, check=True)
    assert "generative" in result.stdout
    assert "broken" in result.stdout and "FAILED" in result.stdout and "no_such_module_xyz" in result.stdout


def test_run_writes_the_image_headless(tmp_path):
    out = tmp_path / "plant.png"
    result = studio("run", "generative", "--set", "rule=lsystem", "--set", "seed=3", "--size", "96x64", "-o", out)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (96, 64)
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 2
    again = tmp_path / "again.png"
    studio("run", "generative", "--set", "rule=lsystem", "--set", "seed=3", "--size", "96x64", "-o", again, check=True)
    with Image.open(again) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), pixels)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "rule=cubism"], "bad parameter for generative: rule: 'cubism' is not one of"),
        (["--set", "seed=-4"], "seed: -4 is out of range"),
        (["--set", "colour=red"], "unknown parameter 'colour'"),
        (["--set", "rule"], "is not of the form key=value"),
        (["--size", "big"], "is not WIDTHxHEIGHT"),
        (["--size", "100000x100000"], "--size '100000x100000' is out of range: each side is 1 to 65535 pixels"),
        (["--set", "mondrian_fill=nan"], "mondrian_fill: 'nan' is not a finite number; use a value from 0 to 1"),
        (["--set", "flow_opacity=inf"], "flow_opacity: 'inf' is not a finite number"),
    ],
)
def test_run_rejects_bad_parameters_with_exit_code_2(tmp_path, args, message):
    out = tmp_path / "out.png"
    result = studio("run", "generative", *args, "-o", out)
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("device", ["tpu9", "cuda", "cuda:0"])
def test_run_refuses_a_device_this_machine_lacks_and_lists_the_available_ones(tmp_path, device):
    out = tmp_path / "out.png"
    result = studio("run", "generative", "--device", device, "-o", out, env_extra={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2
    assert f"--device: device {device!r} is not available on this machine; use one of: cpu" in result.stderr
    assert not out.exists()


def test_run_unknown_plugin_and_unreadable_input(tmp_path):
    result = studio("run", "nope", "-o", tmp_path / "x.png")
    assert result.returncode == 2 and "no plugin 'nope'" in result.stderr
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = studio("run", "generative", "--input", bad, "-o", tmp_path / "x.png")
    assert result.returncode == 1 and "broken.png" in result.stderr


def test_set_help_lists_parameters():
    result = studio("run", "generative", "--set", "help", check=True)
    assert "rule=" in result.stdout and "seed=" in result.stdout
