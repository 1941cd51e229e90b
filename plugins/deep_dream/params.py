"""Parameters of the Deep Dream plugin, shared by its panel, ``studio run deep_dream`` and batch jobs.

The layer choices are the taps of the chosen network (for ``network="auto"``,
those of inception_v3, its first choice), grouped from early to deep; a layer of
another network is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.models.catalog import ALEXNET_TAPS, EFFICIENTNET_LITE0_TAPS, INCEPTION_TAPS, VGG16_TAPS
from studio.core.params import Param, Precision

NETWORK_LAYERS: dict[str, tuple[str, ...]] = {
    "inception_v3": tuple(INCEPTION_TAPS),
    "vgg16": tuple(VGG16_TAPS),
    "alexnet": tuple(ALEXNET_TAPS),
    "efficientnet_lite0": tuple(EFFICIENTNET_LITE0_TAPS),
}
"""The layers of each network, in network order; ``network="auto"`` tries the networks in this order."""

DEFAULT_LAYERS = {"inception_v3": "Mixed_5d", "vgg16": "relu4_2", "alexnet": "relu4", "efficientnet_lite0": "stage5"}
"""The layer ``layer="auto"`` dreams with, per network."""

Network = Literal["auto", "inception_v3", "vgg16", "alexnet", "efficientnet_lite0"]
Layer = Literal[("auto", *dict.fromkeys(name for names in NETWORK_LAYERS.values() for name in names))]  # type: ignore[valid-type]
Objective = Literal["layer", "channels", "guide"]
Smoothing = Literal["laplacian", "gaussian", "none"]

MAX_FRAMES = 2000
ANIMATION = {"frames": range(2, MAX_FRAMES + 1)}

DEPTHS = ("Early: strokes, patterns", "Middle: textures, parts", "Deep: eyes, animals, buildings")


def _by_depth(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``names`` (in network order) in three groups of about the same size, early to deep, after "auto"."""
    cuts = [round(len(names) * i / len(DEPTHS)) for i in range(len(DEPTHS) + 1)]
    return {"": ("auto",)} | {depth: names[cuts[i] : cuts[i + 1]] for i, depth in enumerate(DEPTHS)}


LAYER_CHOICES = {network: _by_depth(names) for network, names in NETWORK_LAYERS.items()}
LAYER_CHOICES["auto"] = LAYER_CHOICES[next(iter(NETWORK_LAYERS))]
"""The layers the panel lists and a run accepts, by network: "auto", then the network's layers by depth."""


@dataclass
class DreamParams:
    """What to dream and how; the defaults give a classic Deep Dream of the picture."""

    network: Annotated[
        Network,
        Param("Network that dreams; auto = inception_v3 where installed, else vgg16, alexnet, efficientnet_lite0"),
    ] = "auto"
    layer: Annotated[
        Layer,
        Param(
            "Layer to amplify, one of the network's (early = strokes and patterns, deep = eyes, animals, buildings); "
            f"auto = {', '.join(f'{n} {layer}' for n, layer in DEFAULT_LAYERS.items())}",
            choices_by=("network", LAYER_CHOICES),
        ),
    ] = "auto"
    objective: Annotated[
        Objective,
        Param(
            "layer = everything the layer sees (L2 of its activations); channels = only the channels below; "
            "guide = what the layer sees in the guide image"
        ),
    ] = "layer"
    channels: Annotated[
        str,
        Param(
            "Channel numbers of the layer, comma-separated (for example 12 or 3, 17, 40)",
            widget="numbers",
            applies_when={"objective": "channels"},
        ),
    ] = ""
    guide: Annotated[
        str,
        Param("The image whose features the dream moves towards", widget="file", applies_when={"objective": "guide"}),
    ] = ""
    octaves: Annotated[int, Param("Scales dreamed at, coarse to fine (more = larger structures)", min=1, max=12)] = 4
    octave_scale: Annotated[float, Param("Size ratio between octaves", min=1.1, max=2.0, step=0.05)] = 1.4
    iterations: Annotated[int, Param("Gradient-ascent steps at each octave", min=1, max=500)] = 10
    step_size: Annotated[
        float,
        Param(
            "Mean change of a pixel per step (0..1 scale) after the gradient is normalised",
            min=0.0005,
            max=0.2,
            step=0.0005,
        ),
    ] = 0.0025
    jitter: Annotated[
        int, Param("Random roll of the picture before each step, in pixels (keeps a grid from forming)", min=0, max=256)
    ] = 32
    smoothing: Annotated[
        Smoothing,
        Param("How the gradient is smoothed: laplacian = equalised across scales (clean, sharp), gaussian = blurred"),
    ] = "laplacian"
    blur_sigma: Annotated[
        float,
        Param("Blur radius in pixels", min=0.0, max=10.0, step=0.1, applies_when={"smoothing": "gaussian"}),
    ] = 1.0
    pyramid_levels: Annotated[
        int, Param("Levels of the pyramid", min=2, max=8, applies_when={"smoothing": "laplacian"})
    ] = 4
    tile_size: Annotated[
        int,
        Param(
            "Largest square the network sees at once, context included: a picture up to this size is dreamed "
            "whole; a larger one in equal tiles whose grid moves every step (no seams, memory stays flat). "
            "Memory grows with it (inception_v3 at 1024: about 1 GB)",
            min=64,
            max=8192,
            step=32,
        ),
    ] = 1024
    precision: Annotated[
        Precision,
        Param(
            "Arithmetic of the network's passes: auto = bfloat16 where the processor computes it in hardware "
            "(faster; the picture and its gradient stay float32), else float32"
        ),
    ] = "auto"
    size: Annotated[
        int,
        Param(
            "Long side of the dream in pixels (the picture is resized first); 0 = the document's size",
            min=0,
            max=32768,
            step=64,
            role="size",
        ),
    ] = 0
    seed: Annotated[
        int, Param("Random seed: the same seed and inputs give the same pixels", min=0, max=2**31 - 1, role="seed")
    ] = 0
    frames: Annotated[
        int,
        Param(
            "Zoom animation: frames to make, each dreamed from the last, zoomed and rotated; 1 = a still",
            min=1,
            max=MAX_FRAMES,
        ),
    ] = 1
    zoom: Annotated[
        float, Param("Zoom animation: enlargement per frame", min=1.0, max=1.5, step=0.005, applies_when=ANIMATION)
    ] = 1.04
    rotate: Annotated[
        float,
        Param("Zoom animation: rotation per frame in degrees", min=-45.0, max=45.0, step=0.1, applies_when=ANIMATION),
    ] = 0.0
    frame_iterations: Annotated[
        int,
        Param(
            "Zoom animation: steps at full size for each frame after the first",
            min=1,
            max=500,
            applies_when=ANIMATION,
        ),
    ] = 5
    fps: Annotated[
        int, Param("Zoom animation: frames per second of the GIF and WebP", min=1, max=60, applies_when=ANIMATION)
    ] = 12
