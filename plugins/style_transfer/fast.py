"""Fast mode: feed-forward style networks (ONNX) that paint a picture in well under a second.

- ``arbitrary``: any style image (Ghiasi et al., ``magenta_arbitrary``); several style images are blended by
  mixing their style vectors with ``style_weights``.
- ``presets``: the 26 preset styles (Dumoulin et al., ``multistyle26``), blended by ``presets`` + ``style_weights``.

Where ``precision`` asks for bfloat16, PyTorch runs the networks' layers in bfloat16 on the job's device; else
onnxruntime runs their files as they are. Results are 16-bit.

``strength`` blends with the picture: for ``arbitrary`` it also moves the style vector towards the picture's
own, so low strengths keep its look. A mask is a strength map: where it is 0 the picture stays as it was.
``processing_size`` is the size the network paints at (strokes have a fixed size in its pixels); the arbitrary
network paints at 384 px, and above that in overlapping tiles.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
from studio_plugins.style_transfer.common import (
    apply_strength,
    content_rgb,
    keep_luminance_only,
    load_styles,
    match_colours,
    recolour_styles,
)
from studio_plugins.style_transfer.params import StyleParams

from studio.core.image import quantize
from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext
from studio.core.nets.features import use_bfloat16
from studio.core.nets.onnx_styles import PRESET_COUNT, TRANSFORM_SIZE
from studio.core.params import ParamError, numbers, output_size

ARBITRARY_MODEL = "magenta_arbitrary"
PRESETS_MODEL = "multistyle26"
TILE_OVERLAP = 64
"""Pixels shared by neighbouring tiles of the arbitrary network, cross-faded so no seam shows."""


def preset_weights(params: StyleParams) -> np.ndarray:
    """The 26 blend weights of ``params.presets`` (indices) and ``params.style_weights``, summing to 1."""
    indices = numbers(params.presets, "presets")
    if not indices:
        raise ParamError(f"presets: choose at least one preset style, numbers 0..{PRESET_COUNT - 1}")
    for value in indices:
        if value != int(value) or not 0 <= value < PRESET_COUNT:
            raise ParamError(f"presets: {value:g} is not a preset; use whole numbers 0..{PRESET_COUNT - 1}")
    values = numbers(params.style_weights, "style_weights") if params.style_weights.strip() else [1.0] * len(indices)
    if len(values) != len(indices):
        raise ParamError(
            f"style_weights: {len(values)} weight(s) given for {len(indices)} preset(s); give one per preset"
        )
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ParamError("style_weights: weights must be non-negative and not all zero")
    weights = np.zeros(PRESET_COUNT, np.float32)
    for index, value in zip(indices, values, strict=True):
        weights[int(index)] += value
    return weights / weights.sum()


def _processing_size(content: np.ndarray, target: tuple[int, int], long_side: int) -> tuple[int, int]:
    if long_side <= 0:
        return target
    height, width = content.shape[:2]
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def tile_starts(length: int) -> list[int]:
    """Where tiles of the network's size start along a side of ``length`` pixels, overlapping by TILE_OVERLAP."""
    if length <= TRANSFORM_SIZE:
        return [0]
    count = math.ceil((length - TILE_OVERLAP) / (TRANSFORM_SIZE - TILE_OVERLAP))
    return [round(i * (length - TRANSFORM_SIZE) / (count - 1)) for i in range(count)]


def _ramp(length: int) -> np.ndarray:
    steps = np.arange(length, dtype=np.float32)
    return np.clip(np.minimum(steps + 1, length - steps) / TILE_OVERLAP, 1.0 / TILE_OVERLAP, 1.0)


def paint_tiled(
    model: Any, work: np.ndarray, vector: np.ndarray, ctx: RunContext, progress: tuple[float, float], bfloat16: bool
) -> Generator[Frame, None, np.ndarray]:
    """``work`` painted by the arbitrary network at its own size, in overlapping 384 px tiles cross-faded together.

    The network paints at 384 px whatever it is given; tiles let it paint a bigger picture with finer strokes.
    Yields progress frames between tiles and returns the painted picture (float32 in 0..1).
    """
    height, width = work.shape[:2]
    boxes = [(x, y) for y in tile_starts(height) for x in tile_starts(width)]
    total = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width, 1), np.float32)
    for done, (x, y) in enumerate(boxes, 1):
        ctx.check_cancelled()
        tile = np.ascontiguousarray(work[y : y + TRANSFORM_SIZE, x : x + TRANSFORM_SIZE])
        tile_h, tile_w = tile.shape[:2]
        feather = (_ramp(tile_h)[:, None] * _ramp(tile_w)[None, :])[..., None]
        painted = model.stylize_vector(tile, vector, bfloat16=bfloat16, device=ctx.device)
        total[y : y + tile_h, x : x + tile_w] += painted * feather
        weight[y : y + tile_h, x : x + tile_w] += feather
        start, end = progress
        yield ctx.frame(start + (end - start) * done / len(boxes), message=f"tile {done}/{len(boxes)}")
    return total / weight


def run(params: StyleParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Paint the document's picture with a feed-forward network; the final frame is at ``params.size``."""
    content = content_rgb(inputs)
    target = output_size(inputs.width, inputs.height, params)
    bfloat16 = use_bfloat16(params.precision, ctx.device)
    ctx.check_cancelled()
    if params.fast_model == "arbitrary":
        styles = recolour_styles(load_styles(params), content, params.preserve_colour)
        yield ctx.frame(0.05, message="loading the arbitrary-style network")
        model: Any = ctx.models.load(ARBITRARY_MODEL, ctx.device)
        vector = np.zeros((1, 1, 1, 100), np.float32)
        for done, (image, weight) in enumerate(zip(styles.images, styles.weights, strict=True), 1):
            ctx.check_cancelled()
            vector += weight * model.style_vector(image)
            yield ctx.frame(0.1 + 0.4 * done / len(styles.images), message=f"style {done}/{len(styles.images)}")
        if params.strength < 1.0:
            vector = params.strength * vector + (1.0 - params.strength) * model.style_vector(content)
        ctx.check_cancelled()
        if params.processing_size > TRANSFORM_SIZE:
            work = resample(content, _processing_size(content, target, params.processing_size))
            painted = resample((yield from paint_tiled(model, work, vector, ctx, (0.5, 0.9), bfloat16)), target)
        else:
            painted = model.stylize_vector(content, vector, size=target, bfloat16=bfloat16, device=ctx.device)
        result = quantize(painted, 16)
    else:
        weights = preset_weights(params)
        yield ctx.frame(0.05, message="loading the preset-style network")
        model = ctx.models.load(PRESETS_MODEL, ctx.device)
        ctx.check_cancelled()
        work = resample(content, _processing_size(content, target, params.processing_size))
        yield ctx.frame(0.2, message=f"painting at {work.shape[1]}x{work.shape[0]}")
        result = quantize(resample(model.stylize(work, weights, bfloat16=bfloat16, device=ctx.device), target), 16)
        if params.preserve_colour == "histogram":
            result = match_colours(result, resample(content, target))
    ctx.check_cancelled()
    if ctx.preview_due():
        yield ctx.frame(0.9, result, message="finishing")
    if params.preserve_colour == "luminance":
        result = keep_luminance_only(result, content)
    amount: np.ndarray | float | None = params.strength if params.strength < 1.0 else None
    if inputs.mask is not None:
        amount = inputs.mask * np.float32(params.strength)
    result = apply_strength(result, content, amount)
    yield ctx.frame(1.0, result, final=True, info={"seed": params.seed})
