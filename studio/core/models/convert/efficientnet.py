"""EfficientNet-PyTorch (lukemelas) checkpoints to :mod:`studio.core.nets.efficientnet_lite` layout.

Renames ``_conv_stem``/``_bn0`` to ``stem.0``/``stem.1``; in ``_blocks.N``:
``_expand_conv``/``_bn0`` to ``expand.0``/``expand.1``, ``_depthwise_conv``/``_bn1``
to ``depthwise.0``/``depthwise.1``, ``_project_conv``/``_bn2`` to
``project.0``/``project.1``; ``_conv_head``/``_bn1`` to ``head.0``/``head.1``;
``_fc`` to ``classifier``. The file is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from studio.core.models.convert import conversion_error, expect_layout, load_state_dict_file, pick_file
from studio.core.nets.efficientnet_lite import efficientnet_lite0

__all__ = ["lite0", "rename_efficientnet_pytorch"]

_TOP = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1", "_fc": "classifier"}
_BLOCK = {
    "_expand_conv": "expand.0",
    "_bn0": "expand.1",
    "_depthwise_conv": "depthwise.0",
    "_bn1": "depthwise.1",
    "_project_conv": "project.0",
    "_bn2": "project.1",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def rename_efficientnet_pytorch(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch key names to Studio's (see the module docstring); unknown keys are an error."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if match := _BLOCK_KEY.fullmatch(key):
            index, layer, param = match.groups()
            if layer not in _BLOCK:
                raise conversion_error(f"{origin}: unexpected tensor {key} (squeeze-excite? this is not a Lite model)")
            out[f"blocks.{index}.{_BLOCK[layer]}.{param}"] = value
            continue
        layer, _, param = key.partition(".")
        if layer not in _TOP:
            raise conversion_error(f"{origin}: unexpected tensor {key}")
        out[f"{_TOP[layer]}.{param}"] = value
    return out


def lite0(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``efficientnet-lite0.pth`` (EfficientNet-PyTorch names) -> the state dict of ``efficientnet_lite0()``."""
    path = pick_file(files, "efficientnet-lite0.pth")
    state = rename_efficientnet_pytorch(load_state_dict_file(path), path.name)
    expect_layout(state, efficientnet_lite0, path.name)
    return state
