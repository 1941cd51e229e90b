"""Parameters of the neural doodle plugin, shared by its panel, ``studio run doodle`` and batch jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.params import Param

Method = Literal["gram", "patch"]
Network = Literal["vgg16", "vgg19", "alexnet", "vgg16_hed", "efficientnet_lite0"]
Precision = Literal["auto", "float32", "bfloat16"]


@dataclass
class DoodleParams:
    """How the doodle is painted; the defaults give a good result at the doodle's size."""

    method: Annotated[
        Method,
        Param(
            "gram = match each region's Gram matrices (fast, textures); "
            "patch = match each patch to the nearest style patch of the same region (Champandard 2016, sharper)"
        ),
    ] = "gram"
    network: Annotated[Network, Param("Network whose features describe the textures")] = "vgg16"
    style_layers: Annotated[
        str, Param("Gram layers, comma-separated; empty = the network's default (VGG: relu1_1 .. relu5_1)")
    ] = ""
    patch_layers: Annotated[
        str, Param("Patch method: layers whose patches are matched; empty = VGG relu3_1, relu4_1 (or equivalent)")
    ] = ""
    content_weight: Annotated[
        float, Param("Weight of the content picture's structure; 0 = the doodle alone", min=0.0, max=1e6)
    ] = 0.0
    style_weight: Annotated[float, Param("Weight of the style loss (relative error)", min=0.0, max=1e9)] = 30.0
    semantic_weight: Annotated[
        float,
        Param("Patch method: how strictly regions are respected (weight of the label channels)", min=0.0, max=1e4),
    ] = 10.0
    tv_weight: Annotated[float, Param("Weight of the total-variation (smoothness) loss", min=0.0, max=1e6)] = 10.0
    iterations: Annotated[int, Param("L-BFGS steps over all scales", min=1, max=5000)] = 300
    scales: Annotated[int, Param("Coarse-to-fine scales; 0 = as many as fit above 64 px", min=0, max=12)] = 0
    scale_factor: Annotated[float, Param("Size ratio between scales", min=1.1, max=2.0, step=0.05)] = 1.4
    patch_size: Annotated[int, Param("Patch method: side of a feature patch", min=1, max=7)] = 3
    precision: Annotated[
        Precision,
        Param(
            "Arithmetic of the network's passes: auto = bfloat16 where the processor computes it in hardware, "
            "else float32; losses are summed in float32"
        ),
    ] = "auto"
    seed: Annotated[
        int, Param("Random seed: same seed and inputs give the same image", min=0, max=2**31 - 1, role="seed")
    ] = 0
    size: Annotated[
        int, Param("Long side of the output in pixels; 0 = the doodle's size", min=0, max=32768, step=64, role="size")
    ] = 0
    tile_size: Annotated[
        int,
        Param(
            "Largest tile the network sees at once; larger scales are optimised in tiles on a shifting grid "
            "(Adam); 0 = automatic (by free memory)",
            min=0,
            max=8192,
            step=64,
        ),
    ] = 0
    snap_distance: Annotated[
        float,
        Param(
            "How far (RGB distance, 0..442) a label colour may be from a colour of the style's label map and still "
            "be snapped to it (anti-aliased edges); 0 = exact colours only",
            min=0.0,
            max=442.0,
        ),
    ] = 96.0
