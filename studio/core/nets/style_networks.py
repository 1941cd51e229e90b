"""The feed-forward style networks of ``multistyle26`` and ``magenta_arbitrary`` rebuilt in PyTorch from the
weights in their ONNX files, to run in bfloat16.

onnxruntime runs the files in float32 (the preset network) or with 8-bit integer activations (the arbitrary
one). These copies run the same layers in bfloat16 where the processor or GPU computes bfloat16 in hardware: on a
CPU with AMX their convolutions take a fifth of onnxruntime's time. Both are the transformer of Johnson et al.
with conditional instance normalisation: reflect padding, convolutions, a scale and shift per channel that the
style sets, residual blocks, nearest-neighbour upsampling and a sigmoid.

- :class:`PresetNetwork`: Dumoulin et al. 2017, sized as TensorFlow's Android stylize demo ships it; the scale
  and shift are the style blend of 26 learned rows.
- :class:`ArbitraryTransform`: Ghiasi et al. 2017, as Magenta's TensorFlow Lite export ships it; the scale and
  shift are linear maps of a 100-number style vector, the contracting layers have their batch norms folded in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NARROW = 16
"""Layers with fewer output channels run in the contiguous memory order: PyTorch's channels-last group norm is
slow on a handful of channels (40 ms against 0.7 ms for 4 channels at 1024 x 684)."""


def read_initializers(path: Path) -> dict[str, np.ndarray]:
    """The named weights stored in an ONNX file (parsed as data: nothing in it runs), 8-bit ones dequantised:
    a weight that a DequantizeLinear node reads is stored under its name as ``(value - zero point) * scale``."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    stored = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    weights = dict(stored)
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in stored:
            continue
        value, scale = stored[node.input[0]], stored[node.input[1]]
        zero = stored[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), value.dtype)
        axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 1)
        if scale.ndim == 1:  # one scale per slice along axis
            shape = [1] * value.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        weights[node.input[0]] = ((value.astype(np.float32) - zero.astype(np.float32)) * scale).astype(np.float32)
    return weights


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, np.float32))


class StyleConv(nn.Module):
    """Reflect padding, a convolution, and (given a scale and shift) instance normalisation."""

    def __init__(self, weight: np.ndarray, stride: int = 1, bias: np.ndarray | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        self.stride, self.eps = stride, eps
        self.weight = nn.Parameter(_tensor(weight), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(_tensor(bias), requires_grad=False)

    def forward(
        self, x: torch.Tensor, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` (1, C, H, W) through the layer; normalised with ``scale`` and ``shift`` (C, float32) when given."""
        if self.weight.shape[0] < NARROW:
            x = x.contiguous()
        pad = self.weight.shape[-1] // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        x = F.conv2d(x, self.weight, None if self.bias is None else self.bias.to(x.dtype), stride=self.stride)
        if scale is None or shift is None:
            return x
        return F.group_norm(x, x.shape[1], scale.to(x.dtype), shift.to(x.dtype), self.eps)

    def prepare(self, dtype: torch.dtype) -> None:
        """Compute in ``dtype``, the weight in channels-last order where the layer is wide."""
        weight = self.weight.data.to(dtype)
        if weight.shape[0] >= NARROW:
            weight = weight.contiguous(memory_format=torch.channels_last)
        self.weight.data = weight


Norm = tuple[torch.Tensor, torch.Tensor] | tuple[None, None]


class StyleTransformer(nn.Module):
    """The layout both networks share: three contracting layers, residual blocks, two upsampling layers and a last
    layer into a sigmoid, each layer a :class:`StyleConv` given its scale and shift (or none) in that order."""

    def prepared(self, device: str, dtype: torch.dtype) -> StyleTransformer:
        """The network on ``device`` computing in ``dtype`` (bfloat16 or float32)."""
        self.to(device=device)
        for module in self.modules():
            if isinstance(module, StyleConv):
                module.prepare(dtype)
        return self.eval()

    @staticmethod
    def paint(image: torch.Tensor, layers: Sequence[tuple[StyleConv, Norm]], blocks: int) -> torch.Tensor:
        """``image`` through ``layers`` with ``blocks`` residual blocks: float32 in 0..1."""
        steps = iter(layers)

        def layer(x: torch.Tensor) -> torch.Tensor:
            conv, (scale, shift) = next(steps)
            return conv(x, scale, shift)

        x = image.to(layers[0][0].weight.dtype).contiguous(memory_format=torch.channels_last)
        for _ in range(3):
            x = torch.relu_(layer(x))
        for _ in range(blocks):
            x = x + layer(torch.relu_(layer(x)))
        for _ in range(2):
            x = torch.relu_(layer(F.interpolate(x, scale_factor=2.0, mode="nearest")))
        return torch.sigmoid(layer(x).float())


class PresetNetwork(StyleTransformer):
    """``forward(image, blend)``: a (1, 3, H, W) picture in 0..1 (H and W multiples of 4, at least 8) painted in the
    blend (26, float32, summing to 1) of the presets; float32 out, in 0..1."""

    BLOCKS = 6
    NAMES = (
        "contract.0",
        "contract.1",
        "contract.2",
        *(f"res.{block}.{half}" for block in range(BLOCKS) for half in (0, 1)),
        "expand.0",
        "expand.1",
        "expand.2",
    )

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        strides = {"contract.1": 2, "contract.2": 2}
        self.convs = nn.ModuleList(StyleConv(weights[f"{name}.w"], strides.get(name, 1)) for name in self.NAMES)
        # every layer's 26 rows of scales and of shifts side by side: one product with the blend gives them all
        self.register_buffer("gamma", torch.cat([_tensor(weights[f"{n}.norm.gamma"]) for n in self.NAMES], 1))
        self.register_buffer("beta", torch.cat([_tensor(weights[f"{n}.norm.beta"]) for n in self.NAMES], 1))
        self.channels = [conv.weight.shape[0] for conv in self.convs]

    def forward(self, image: torch.Tensor, blend: torch.Tensor) -> torch.Tensor:
        """The stylised picture."""
        scales, shifts = (blend @ self.gamma).split(self.channels), (blend @ self.beta).split(self.channels)
        norms = zip(scales, shifts, strict=True)
        return self.paint(image, list(zip(self.convs, norms, strict=True)), self.BLOCKS)


class ArbitraryTransform(StyleTransformer):
    """``forward(image, vector)``: a (1, 3, H, W) picture in 0..1 (H and W multiples of 4, at least 8) painted with a
    (100,) float32 style vector; float32 out, in 0..1."""

    BLOCKS = 5
    CONTRACT = ("contract/conv1", "contract/conv2", "contract/conv3")
    STYLED = (
        *(f"residual/residual{block}/conv{half}" for block in range(1, BLOCKS + 1) for half in (1, 2)),
        "expand/conv1/conv",
        "expand/conv2/conv",
        "expand/conv3/conv",
    )

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        eps = float(weights[f"transformer/{self.STYLED[0]}/StyleNorm/batchnorm/add/y"].reshape(()))
        self.contract = nn.ModuleList(
            StyleConv(weights[f"transformer/{n}/weights"], 1 if i == 0 else 2, weights[f"transformer/{n}/Conv2D_bias"])
            for i, n in enumerate(self.CONTRACT)
        )
        self.styled = nn.ModuleList(StyleConv(weights[f"transformer/{n}/weights"], eps=eps) for n in self.STYLED)
        # each normalisation's scale (Conv_1) and shift (Conv): 1 x 1 convolutions of the style vector
        self.scales = nn.ModuleList(
            _linear(weights, f"style_params/transformer/{n}/StyleNorm/Conv_1") for n in self.STYLED
        )
        self.shifts = nn.ModuleList(
            _linear(weights, f"style_params/transformer/{n}/StyleNorm/Conv") for n in self.STYLED
        )

    def forward(self, image: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """The stylised picture."""
        norms = [(scale(vector), shift(vector)) for scale, shift in zip(self.scales, self.shifts, strict=True)]
        layers = [(conv, (None, None)) for conv in self.contract] + list(zip(self.styled, norms, strict=True))
        return self.paint(image, layers, self.BLOCKS)


def _linear(weights: Mapping[str, np.ndarray], prefix: str) -> nn.Linear:
    """A 1 x 1 convolution of the ONNX file as the linear map it is."""
    weight = weights[f"{prefix}/weights"]
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    linear.weight.data = _tensor(weight.reshape(weight.shape[0], weight.shape[1]))
    linear.bias.data = _tensor(weights[f"{prefix}/Conv2D_bias"])
    return linear.requires_grad_(False)
