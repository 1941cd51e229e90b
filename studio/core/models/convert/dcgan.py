"""DCGAN-tutorial checkpoints (``{"netG_state_dict": ..., ...}``) to :func:`studio.core.nets.dcgan.generator64`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from studio.core.models.convert import conversion_error, expect_layout, load_tensor_file, pick_file
from studio.core.nets.dcgan import generator64

__all__ = ["generator"]


def generator(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``weights.tar`` (the tutorial's training checkpoint, read with ``weights_only=True``) -> the generator's state.

    A bare generator state dict (keys ``main.0.weight``, ...) is accepted too.
    """
    path = pick_file(files, "weights.tar")
    checkpoint = load_tensor_file(path)
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("netG_state_dict"), Mapping):
        checkpoint = checkpoint["netG_state_dict"]
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise conversion_error(f"{path.name} holds no generator state dict ('netG_state_dict')")
    state = {str(k).removeprefix("module."): v for k, v in checkpoint.items()}
    expect_layout(state, generator64, path.name)
    return state
