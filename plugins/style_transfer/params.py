"""Parameters of the style-transfer plugin, shared by its panel, ``studio run style_transfer`` and batch jobs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.params import Param, Precision

Mode = Literal["optimise", "fast"]
Network = Literal["vgg16", "vgg19", "alexnet", "vgg16_hed", "efficientnet_lite0"]
ColourMode = Literal["none", "luminance", "histogram"]
Optimizer = Literal["lbfgs", "adam"]
Init = Literal["content", "noise", "style"]
FastModel = Literal["arbitrary", "presets"]

OPTIMISE = {"mode": "optimise"}
FAST = {"mode": "fast"}


@dataclass
class StyleParams:
    """How the picture is painted; the defaults give a good optimised result at the document's size."""

    mode: Annotated[
        Mode,
        Param("optimise = Gatys optimisation (slow, any network, any size); fast = feed-forward networks (real time)"),
    ] = "optimise"
    style: Annotated[
        str,
        Param(
            "Style image(s), comma-separated",
            widget="files",
            applies_when=({"mode": "optimise"}, {"fast_model": "arbitrary"}),
        ),
    ] = ""
    style_weights: Annotated[
        str,
        Param(
            "Blend weights of the style images (or of the presets in fast 'presets'), comma-separated; empty = equal",
            widget="numbers",
        ),
    ] = ""
    size: Annotated[
        int, Param("Long side of the output in pixels; 0 = the document's size", min=0, max=32768, step=64, role="size")
    ] = 0
    preserve_colour: Annotated[
        ColourMode,
        Param(
            "Keep the picture's colours: luminance = transfer brightness only, "
            "histogram = recolour the styles to the picture's colours first"
        ),
    ] = "none"
    seed: Annotated[
        int, Param("Random seed: same seed and inputs give the same image", min=0, max=2**31 - 1, role="seed")
    ] = 0
    # Optimise mode
    network: Annotated[Network, Param("Network whose features define content and style", applies_when=OPTIMISE)] = (
        "vgg16"
    )
    content_layers: Annotated[
        str,
        Param("Content layers, comma-separated; empty = the network's default (VGG: relu4_2)", applies_when=OPTIMISE),
    ] = ""
    style_layers: Annotated[
        str,
        Param(
            "Style layers, comma-separated; empty = the network's default (VGG: relu1_1 .. relu5_1)",
            applies_when=OPTIMISE,
        ),
    ] = ""
    content_weight: Annotated[float, Param("Weight of the content loss", min=0.0, max=1e6, applies_when=OPTIMISE)] = 1.0
    style_weight: Annotated[
        float,
        Param(
            "Weight of the style loss (both losses are relative errors: 30 = style counts 30 times more)",
            min=0.0,
            max=1e9,
            applies_when=OPTIMISE,
        ),
    ] = 30.0
    tv_weight: Annotated[
        float, Param("Weight of the total-variation (smoothness) loss", min=0.0, max=1e6, applies_when=OPTIMISE)
    ] = 10.0
    optimizer: Annotated[
        Optimizer,
        Param(
            "L-BFGS (fast convergence) or Adam (steady, less memory); a scale larger than a tile is optimised with "
            "Adam at its default step size",
            applies_when=OPTIMISE,
        ),
    ] = "lbfgs"
    iterations: Annotated[int, Param("Optimisation steps over all scales", min=1, max=5000, applies_when=OPTIMISE)] = (
        150
    )
    learning_rate: Annotated[
        float, Param("Adam step size (image values are 0..1)", min=1e-4, max=1.0, applies_when={"optimizer": "adam"})
    ] = 0.02
    init: Annotated[
        Init, Param("Start from the picture, from noise, or from the (first) style image", applies_when=OPTIMISE)
    ] = "content"
    style_scale: Annotated[
        float,
        Param(
            "Size at which styles are analysed, relative to the output (larger = bigger strokes)",
            min=0.1,
            max=4.0,
            applies_when=OPTIMISE,
        ),
    ] = 1.0
    scales: Annotated[
        int, Param("Coarse-to-fine scales; 0 = as many as fit above 128 px", min=0, max=12, applies_when=OPTIMISE)
    ] = 0
    scale_factor: Annotated[
        float, Param("Size ratio between scales", min=1.1, max=2.0, step=0.05, applies_when=OPTIMISE)
    ] = 2.0
    precision: Annotated[
        Precision,
        Param(
            "Arithmetic of the network's passes: auto = bfloat16 where the processor computes it in hardware "
            "(about twice as fast; Gram matrices and losses are still summed in float32; fast mode's networks run "
            "in PyTorch), else float32 (fast mode: onnxruntime runs the networks' files as they are)",
            applies_when=(OPTIMISE, {"mode": "fast"}),
        ),
    ] = "auto"
    tile_size: Annotated[
        int,
        Param(
            "Largest tile the network sees at once; 0 = automatic (by free memory)",
            min=0,
            max=8192,
            step=64,
            applies_when=OPTIMISE,
        ),
    ] = 0
    # Fast mode
    fast_model: Annotated[
        FastModel,
        Param("arbitrary = any style image (Magenta), presets = the 26 preset styles", applies_when=FAST),
    ] = "arbitrary"
    presets: Annotated[
        str, Param("Preset numbers 0..25 to blend, comma-separated", applies_when={"fast_model": "presets"})
    ] = "0"
    strength: Annotated[
        float,
        Param("Blend of the styled result with the picture", min=0.0, max=1.0, widget="slider", applies_when=FAST),
    ] = 1.0
    processing_size: Annotated[
        int,
        Param(
            "Long side the network paints at (smaller = bigger strokes); 0 = the output size for presets, "
            "384 for arbitrary, whose network paints at 384 px (above that it paints in overlapping tiles)",
            min=0,
            max=8192,
            step=64,
            applies_when=FAST,
        ),
    ] = 0

    def incomplete(self) -> str | None:
        """What the artist must still choose before a run, as a hint for the form; None when nothing is missing."""
        needs_style = self.mode == "optimise" or self.fast_model == "arbitrary"
        if needs_style and not self.style.strip():
            return "Choose a style picture"
        if not needs_style and not self.presets.strip():
            return "Choose at least one preset style"
        return None

    def live_preview(self) -> StyleParams | None:
        """The parameters of the live preview shown while the panel is edited: fast mode only (it takes seconds)."""
        return dataclasses.replace(self) if self.mode == "fast" else None
