"""Parameters of the neural doodle plugin, shared by its panel, ``studio run doodle`` and batch jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.params import Param, ParamError, Precision

Method = Literal["gram", "patch"]
Network = Literal["vgg16", "vgg19", "alexnet", "vgg16_hed", "efficientnet_lite0"]

STYLE_SOURCE = "style"
TEXTURE_INPUTS = ("texture_1", "texture_2", "texture_3", "texture_4")
_SOURCE = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\*\s*(\S+))?\s*$")
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")

Blend = tuple[tuple[str, float], ...]
"""Where a region's texture comes from: (source, weight) pairs, the weights summing to 1."""


def region_sources(text: str) -> dict[str, Blend]:
    """The ``region_textures`` parameter as {region colour "#rrggbb": blend}; :class:`ParamError` on a mistake.

    ``"#3c8f4a=texture_1; #1f77b4=style*0.5+texture_2*0.5"``: the region painted #3c8f4a takes its texture from the
    whole picture ``texture_1``; #1f77b4 from an even blend of its own region of the style painting and
    ``texture_2``. Regions not named take theirs from the style painting's region of the same colour.
    """
    result: dict[str, Blend] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        colour, sep, sources = item.partition("=")
        colour = colour.strip().lower()
        if not sep or not _COLOUR.match(colour):
            raise ParamError(
                f"region_textures: {item!r} is not REGION=SOURCE; write the region's colour as #rrggbb, e.g. "
                f"#3c8f4a=texture_1"
            )
        pairs = [_source(colour, part) for part in sources.split("+")]
        total = sum(weight for _, weight in pairs)
        if total <= 0:
            raise ParamError(f"region_textures: the weights of {colour} add up to nothing; give positive weights")
        result[colour] = tuple((name, weight / total) for name, weight in pairs)
    return result


def _source(colour: str, text: str) -> tuple[str, float]:
    """One ``SOURCE[*WEIGHT]`` term of ``colour``'s blend."""
    match = _SOURCE.match(text)
    known = (STYLE_SOURCE, *TEXTURE_INPUTS)
    if match is None or match[1] not in known:
        raise ParamError(
            f"region_textures: {text.strip()!r} (for {colour}) is no texture source; use {', '.join(known)}, "
            f"optionally with a weight such as texture_1*0.5"
        )
    try:
        weight = float(match[2]) if match[2] else 1.0
    except ValueError:
        weight = -1.0
    if not weight >= 0 or weight == float("inf"):
        raise ParamError(f"region_textures: the weight in {text.strip()!r} (for {colour}) must be a number >= 0")
    return match[1], weight


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
        str,
        Param(
            "Gram layers, comma-separated; empty = the network's default (VGG: relu1_1 .. relu5_1)",
            applies_when={"method": "gram"},
        ),
    ] = ""
    patch_layers: Annotated[
        str,
        Param(
            "Layers whose patches are matched; empty = VGG relu3_1, relu4_1 (or equivalent)",
            applies_when={"method": "patch"},
        ),
    ] = ""
    content_weight: Annotated[
        float, Param("Weight of the content picture's structure; 0 = the doodle alone", min=0.0, max=1e6)
    ] = 0.0
    style_weight: Annotated[float, Param("Weight of the style loss (relative error)", min=0.0, max=1e9)] = 30.0
    semantic_weight: Annotated[
        float,
        Param(
            "How strictly regions are respected (weight of the label channels)",
            min=0.0,
            max=1e4,
            applies_when={"method": "patch"},
        ),
    ] = 10.0
    tv_weight: Annotated[float, Param("Weight of the total-variation (smoothness) loss", min=0.0, max=1e6)] = 10.0
    iterations: Annotated[int, Param("L-BFGS steps over all scales", min=1, max=5000)] = 150
    scales: Annotated[int, Param("Coarse-to-fine scales; 0 = as many as fit above 64 px", min=0, max=12)] = 0
    scale_factor: Annotated[float, Param("Size ratio between scales", min=1.1, max=2.0, step=0.05)] = 2.0
    patch_size: Annotated[int, Param("Side of a feature patch", min=1, max=7, applies_when={"method": "patch"})] = 3
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
    region_textures: Annotated[
        str,
        Param(
            "Regions textured from other pictures: REGION=SOURCE, separated by ';'. REGION is the label colour "
            "(#rrggbb); SOURCE is style (the style painting's region of that colour) or texture_1 .. texture_4 "
            "(a whole texture picture); blend several with '+' and weights, e.g. "
            "#3c8f4a=texture_1; #1f77b4=style*0.5+texture_2*0.5. The patch method takes patches from every source "
            "of a blend (weights are for the Gram method)"
        ),
    ] = ""
    snap_distance: Annotated[
        float,
        Param(
            "How far (RGB distance, 0..442) a label colour may be from a colour of the style's label map and still "
            "be snapped to it (anti-aliased edges); 0 = exact colours only",
            min=0.0,
            max=442.0,
        ),
    ] = 96.0

    def __post_init__(self) -> None:
        region_sources(self.region_textures)
