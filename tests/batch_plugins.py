"""A small image plugin for batch tests: tints the input towards the mean colour of a guide image."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from studio.core.image import load_image, to_uint8
from studio.core.inputs import IMAGE, Inputs
from studio.core.jobs import Frame, RunContext
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
