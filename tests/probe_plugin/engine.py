"""The probe plugin's parameters and engine."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.outputs import Output
from studio.core.params import Param, output_size


@dataclass
class ProbeParams:
    strength: Annotated[float, Param("How much of the network's picture replaces the masked part", min=0, max=1)] = 1.0
    passes: Annotated[int, Param("Network passes; one preview after each", min=1, max=50)] = 3
    region_files: Annotated[bool, Param("Write one picture per label-map region")] = True
    swatches: Annotated[bool, Param("Open the regions' mean colours as a new document")] = False
    variant: Annotated[int, Param("Which noise is added before the network", min=0, max=2**31 - 1, role="seed")] = 0
    long_side: Annotated[int, Param("Long side of the result; 0 = the document's", min=0, max=4096, role="size")] = 0


def run(params: ProbeParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Repaint the masked part with the probe network; summarise the label map's regions as outputs."""
    inputs = inputs.resized(output_size(inputs.width, inputs.height, params))
    assert inputs.image is not None and inputs.mask is not None
    net = ctx.models.load("probe_net", "cpu")
    rgb = torch.from_numpy(inputs.image[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    generator = torch.Generator().manual_seed(params.variant)
    x = (rgb + 0.01 * torch.randn(rgb.shape, generator=generator)).clamp(0, 1)
    tint = inputs.extra("tint")
    if tint is not None:
        mean = torch.from_numpy(tint[..., :3].reshape(-1, 3).mean(axis=0) / 255.0).float()
        x = 0.5 * x + 0.5 * mean[None, :, None, None]
    with torch.no_grad():
        for step in range(params.passes):
            ctx.check_cancelled()
            x = net(x)
            if ctx.preview_due():
                yield ctx.frame((step + 1) / params.passes, _compose(inputs, x, params.strength))
    result = _compose(inputs, x, params.strength)
    if inputs.labels is not None:
        _emit_regions(inputs.labels, result, params, ctx)
    yield ctx.frame(1.0, result, final=True)


def _compose(inputs: Inputs, x: torch.Tensor, strength: float) -> np.ndarray:
    assert inputs.image is not None and inputs.mask is not None
    painted = x[0].permute(1, 2, 0).numpy() * 255.0
    weight = (inputs.mask * strength)[..., None]
    out = inputs.image.copy()
    out[..., :3] = np.rint(painted * weight + inputs.image[..., :3] * (1 - weight)).astype(np.uint8)
    return out


def _emit_regions(labels: np.ndarray, result: np.ndarray, params: ProbeParams, ctx: RunContext) -> None:
    colours, index = np.unique(labels.reshape(-1, 3), axis=0, return_inverse=True)
    index = index.reshape(labels.shape[:2])
    summary = []
    swatches = np.zeros((32, 32 * len(colours), 4), np.uint8)
    for number, colour in enumerate(colours):
        inside = index == number
        mean = result[inside][:, :3].mean(axis=0)
        name = "".join(f"{int(c):02x}" for c in colour)
        summary.append({"colour": f"#{name}", "pixels": int(inside.sum()), "mean": [round(float(m), 2) for m in mean]})
        swatches[:, 32 * number : 32 * (number + 1), :3] = np.rint(mean).astype(np.uint8)
        swatches[:, 32 * number : 32 * (number + 1), 3] = 255
        if params.region_files:
            cut = np.zeros_like(result)
            cut[inside] = result[inside]
            ctx.emit(Output(f"regions/region-{name}", image=cut))
    ctx.emit(Output("regions.json", data=json.dumps(summary, indent=1).encode()))
    if params.swatches:
        ctx.emit(Output("Region swatches", kind="document", image=swatches))
    outline = np.zeros_like(result)
    edge = np.zeros(labels.shape[:2], bool)
    edge[:, 1:] |= index[:, 1:] != index[:, :-1]
    edge[1:, :] |= index[1:, :] != index[:-1, :]
    outline[edge] = (255, 0, 255, 255)
    ctx.emit(Output("Region outlines", kind="layer", image=outline))
