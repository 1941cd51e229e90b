"""Small image plugins for tests: Tint tints the input towards the mean colour of a guide image; Ramp draws a
smooth 16-bit gradient."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from studio.core.image import load_image, to_uint8
from studio.core.inputs import IMAGE, Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.nets.features import tensor_to_image
from studio.core.params import Param
from studio.core.plugin import PluginManifest


@dataclass
class TintParams:
    guide: Annotated[str, Param("Guide image whose mean colour tints the input", widget="file")] = ""
    amount: Annotated[float, Param("How far to tint", min=0.0, max=1.0)] = 0.5


def run(params: TintParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    assert inputs.image is not None
    colour = np.array([128, 128, 128], np.float32)
    if params.guide:
        colour = to_uint8(load_image(params.guide).pixels)[..., :3].reshape(-1, 3).mean(axis=0)
    yield ctx.frame(0.5)
    image = inputs.image.copy()
    image[..., :3] = np.rint(image[..., :3] * (1 - params.amount) + colour * params.amount).astype(np.uint8)
    yield ctx.frame(1.0, image, final=True)


MANIFEST = PluginManifest(
    "tint", "Tint", params="batch_plugins:TintParams", engine="batch_plugins:run", inputs=(IMAGE,), accelerated=False
)


@dataclass
class RampParams:
    red: Annotated[float, Param("Red level at the right edge", min=0.0, max=1.0)] = 1.0

    def live_preview(self) -> "RampParams":
        """A live preview shows the result itself, with its 16 bits."""
        return self


def ramp(params: RampParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """A smooth left-to-right ramp computed in float: an 8-bit preview, then the result with 16 bits."""
    across = torch.linspace(0.0, 1.0, inputs.width).expand(inputs.height, inputs.width)
    picture = torch.stack([across * params.red, 1.0 - across, torch.full_like(across, 0.5)])[None]
    yield ctx.frame(0.5, tensor_to_image(picture))
    yield ctx.frame(1.0, tensor_to_image(picture, 16), final=True)


RAMP = PluginManifest(
    "ramp", "Ramp", params="batch_plugins:RampParams", engine="batch_plugins:ramp", inputs=(), accelerated=False
)
