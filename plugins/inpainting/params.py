"""Parameters of the inpainting plugin, shared by its panel, ``studio run inpainting`` and batch jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.params import Param, Precision

Method = Literal["network", "telea", "navier_stokes"]

NETWORK = {"method": "network"}


@dataclass
class InpaintParams:
    """How the masked holes are filled; the defaults suit photographs."""

    method: Annotated[
        Method,
        Param(
            "network = the partial-convolution network (textures and structure); telea, navier_stokes = OpenCV's "
            "classic fills (quick, good on thin scratches, smooth in large holes)"
        ),
    ] = "network"
    model: Annotated[
        str,
        Param(
            "The model that fills, Studio's pconv_inpaint or one you trained or fine-tuned "
            "(its id in the Models dialog)",
            applies_when=NETWORK,
        ),
    ] = "pconv_inpaint"
    feather: Annotated[
        int,
        Param(
            "Pixels around each hole over which the fill blends into the picture; 0 = a hard edge",
            min=0,
            max=64,
            role="reach",
            applies_when=NETWORK,
        ),
    ] = 2
    context: Annotated[
        float,
        Param("Picture around each hole the fill looks at, as a multiple of the hole's size", min=0.25, max=8.0),
    ] = 1.0
    working_size: Annotated[
        int,
        Param(
            "The largest crop filled in one pass; a larger one, or a hole deeper than the network learnt to fill, "
            "is filled shrunk, then its rim again at full size (coarse to fine)",
            min=64,
            max=4096,
            step=64,
            applies_when=NETWORK,
        ),
    ] = 512
    radius: Annotated[
        int,
        Param(
            "The neighbourhood each pixel is filled from",
            min=1,
            max=64,
            applies_when={"method": ("telea", "navier_stokes")},
        ),
    ] = 5
    precision: Annotated[
        Precision,
        Param("auto = bfloat16 where the processor computes it in hardware, else float32", applies_when=NETWORK),
    ] = "auto"
