"""Torchvision-layout checkpoints (hub ``.pth`` files, user imports): pick the part of the state dict a builder needs.

Each source provides a single file, whatever its name; it is read with
``torch.load(weights_only=True)`` or, for ``.safetensors``, with safetensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from studio.core.models.convert import conversion_error, load_state_dict_file, only_file

__all__ = ["backbone", "features", "inception_backbone", "state_dict", "without_aux"]

AUXILIARY_HEADS = ("aux1.", "aux2.", "AuxLogits.")
CLASSIFIER_HEADS = ("fc.", *AUXILIARY_HEADS)


def features(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors with that prefix stripped (for ``vgg16().features`` and friends).

    A file that already holds only the feature stack (keys ``0.weight``, ...) is taken as it is.
    """
    path = only_file(files)
    state = load_state_dict_file(path)
    picked = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    if picked:
        return picked
    if state and all(k.split(".", 1)[0].isdigit() for k in state):
        return state
    raise conversion_error(f"{path.name} has no 'features.*' tensors: is it a VGG or AlexNet checkpoint?")


def backbone(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """The whole state dict without the classifier heads (``fc.*``, ``AuxLogits.*``)."""
    state = load_state_dict_file(only_file(files))
    return {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_HEADS)}


def inception_backbone(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``inception_v3_google`` without its heads, taking RGB input in 0..1 like the catalog's other source.

    torchvision's weights expect ``2x - 1``. The first convolution has no padding and
    no bias, so ``conv_W(2x - 1) = conv_2W(x) - sum(W)``: doubling its weights and
    adding ``sum(W)`` per channel to the batch norm's running mean is exact.
    """
    state = backbone(files)
    weight = state["Conv2d_1a_3x3.conv.weight"]
    state["Conv2d_1a_3x3.bn.running_mean"] = state["Conv2d_1a_3x3.bn.running_mean"] + weight.sum(dim=(1, 2, 3))
    state["Conv2d_1a_3x3.conv.weight"] = weight * 2
    return state


def without_aux(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """The state dict without the auxiliary classifiers used only in training (GoogLeNet, Inception v3)."""
    state = load_state_dict_file(only_file(files))
    return {k: v for k, v in state.items() if not k.startswith(AUXILIARY_HEADS)}


def state_dict(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """The state dict as it is."""
    return load_state_dict_file(only_file(files))
