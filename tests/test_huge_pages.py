"""Importing Studio makes PyTorch back large CPU tensors with transparent huge pages (fewer page faults)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MODE = THP.read_text().split("[")[1].split("]")[0] if THP.is_file() else "never"

pytestmark = pytest.mark.skipif(MODE == "never", reason="this system has no transparent huge pages")

PROBE = """
import sys
if sys.argv[1] == "studio":
    import studio  # noqa: F401
import torch

block = torch.ones(64 << 20, dtype=torch.uint8)
address = block.data_ptr()
lines = open("/proc/self/smaps").read().splitlines()
for index, line in enumerate(lines):
    first, _, rest = line.partition(" ")
    if "-" in first and rest and int(first.split("-")[0], 16) <= address < int(first.split("-")[1], 16):
        fields = dict(entry.split(":", 1) for entry in lines[index + 1 : index + 30] if ":" in entry)
        print(int(fields["AnonHugePages"].split()[0]) * 1024)
        break
"""


def huge_page_bytes(imports: str) -> int:
    """Bytes of a fresh 64 MB tensor's mapping held in huge pages, in a process that imports ``imports`` first."""
    env = {key: value for key, value in os.environ.items() if key != "THP_MEM_ALLOC_ENABLE"}
    done = subprocess.run([sys.executable, "-c", PROBE, imports], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def test_a_large_tensor_is_held_in_huge_pages_once_studio_is_imported():
    assert huge_page_bytes("studio") >= 32 << 20
    if MODE == "madvise":  # where huge pages are only given on request, plain torch does not ask for them
        assert huge_page_bytes("torch") == 0
