"""Shared test setup: Qt runs headless unless a platform is chosen explicitly."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture
def one_torch_thread():
    """One torch thread: tiny networks train fastest so, and the two shared cores stay free."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
