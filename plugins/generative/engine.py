"""Engine of the generative plugin: runs a rule and streams its canvas as previews."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import cv2
import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules import RULES, Canvas

from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.params import output_size

PALETTE_STREAM = 0x5EED_C0102  # mixed into the seed for the independent colour stream
SLOW_COPY_S = 0.005  # previews that take longer than this to copy are spaced out ...
COPY_SHARE = 1 / 8  # ... so copying takes at most about this share of the run
SMALL = 384  # canvases with a shorter side are drawn 2-4 times larger and reduced, ...
DRAW_AT_LEAST = 512  # ... to about this size, so thin lines and tight spacings stay exact


def oversampling(width: int, height: int) -> int:
    """How many times larger a canvas is drawn before it is reduced (1 = drawn as is)."""
    short = min(width, height)
    if short >= SMALL:
        return 1
    return min(4, math.ceil(DRAW_AT_LEAST / short))


def run(params: GenerativeParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Draw ``params.rule`` at ``inputs.width`` x ``inputs.height`` (or the ``size`` parameter's long side),
    yielding previews and a final frame.

    The same params and size always give the same pixels. Small canvases are
    drawn larger and reduced, so they show the same artwork as a large render
    scaled down (thin lines and tight spacings would not survive otherwise).
    Previews are owned RGBA copies, sent when ``ctx.preview_due()`` says so (on very large
    canvases, where each copy is slow, a little less often); cancel is checked
    between drawing steps, which are short at any size.
    """
    ctx.check_cancelled()
    inputs = inputs.resized(output_size(inputs.width, inputs.height, params))
    if inputs.width < 1 or inputs.height < 1:
        raise ValueError(f"canvas size {inputs.width}x{inputs.height} is empty")
    rule = RULES[params.rule]
    rng = np.random.default_rng(params.seed)
    palette_rng = np.random.default_rng([params.seed, PALETTE_STREAM])
    factor = oversampling(inputs.width, inputs.height)
    canvas = Canvas(inputs.width * factor, inputs.height * factor, (0, 0, 0))

    def picture() -> np.ndarray:
        if factor == 1:
            return canvas.snapshot()
        return cv2.resize(canvas.rgba, (inputs.width, inputs.height), interpolation=cv2.INTER_AREA)

    spacing = 0.0
    last_copy = -math.inf
    for progress in rule(params, canvas, rng, palette_rng, ctx.check_cancelled):
        ctx.check_cancelled()
        now = time.perf_counter()
        if progress < 1.0 and now - last_copy >= spacing and ctx.preview_due():
            image = picture()
            last_copy = time.perf_counter()
            cost = last_copy - now
            spacing = cost / COPY_SHARE if cost > SLOW_COPY_S else 0.0
            yield ctx.frame(progress, image, message=f"drawing {params.rule.replace('_', ' ')}")
    ctx.check_cancelled()
    yield ctx.frame(1.0, picture(), final=True, info={"seed": params.seed, "rule": params.rule})
