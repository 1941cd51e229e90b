"""Stacked ridgelines, the look of the cover of Joy Division's "Unknown Pleasures" (1979).

That cover, designed by Peter Saville, reproduces a plot of successive radio
pulses of pulsar CP 1919 (from H. Craft's 1970 thesis). Here every line is
random: a few sharp peaks clustered in the middle over low, smooth noise.
Lines are drawn from the back (top) to the front (bottom); each first fills
the area under it with the background so it hides the lines behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules.canvas import Canvas, Palette, gradient, hex_to_rgb, resolve_palette
from studio_plugins.generative.rules.noise import value_noise_1d

MIN_SAMPLES = 1200  # points per line: resolves the narrowest peaks (0.004 of the width)
CLASSIC = Palette(hex_to_rgb("#000000"), hex_to_rgb("#ffffff"), (hex_to_rgb("#ffffff"),))


def profile(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random pulse profile over ``x`` in 0..1: jagged peaks near the middle, nearly flat at the sides."""
    envelope = np.exp(-(((x - 0.5) / 0.19) ** 4))
    bumps = np.zeros_like(x)
    for _ in range(int(rng.integers(4, 13))):
        centre = rng.normal(0.5, 0.07)
        width = rng.uniform(0.004, 0.022)
        height = rng.exponential(0.22)
        bumps += height * np.exp(-0.5 * ((x - centre) / width) ** 2)
    swell = value_noise_1d(rng.random(24), x * 23.0)  # broad rise and fall
    jag = value_noise_1d(rng.random(120), x * 119.0)  # the ragged texture of the middle
    fine = value_noise_1d(rng.random(400), x * 399.0) - 0.5  # the hairy trace of a noisy signal
    return envelope * (bumps + 0.22 * swell * envelope + 0.12 * jag * envelope) + 0.012 * fine + 0.01 * swell


def draw(
    p: GenerativeParams,
    canvas: Canvas,
    rng: np.random.Generator,
    palette_rng: np.random.Generator,
    check: Callable[[], None],
) -> Iterator[float]:
    """Draw ``ridgelines_count`` lines back to front, each hiding what lies behind it."""
    palette = resolve_palette(p.palette, CLASSIC, p.background, p.ink, palette_rng)
    canvas.fill(palette.background)
    n = p.ridgelines_count
    margin = p.margin * canvas.unit
    plot_w = min(0.62 * canvas.width, 1.0 * canvas.height, canvas.width - 2 * margin)
    left = (canvas.width - plot_w) / 2.0
    top, bottom = margin + 0.08 * canvas.height, canvas.height - margin - 0.06 * canvas.height
    spacing = max(bottom - top, 1.0) / max(n - 1 + 0.8 * p.ridge_height, 1.0)
    first_base = bottom - (n - 1) * spacing
    line_px = canvas.px(p.line_width or 1.7)
    # sample finely enough for the narrowest peak at any size, then keep about one point per pixel,
    # taking the highest sample of each group so no peak is lost on a small canvas
    samples = int(max(MIN_SAMPLES, plot_w / 2.0))
    group = max(1, int(samples / max(plot_w, 1.0)))
    samples = -(-samples // group) * group
    x = np.linspace(0.0, 1.0, samples)
    xs = left + x.reshape(-1, group).mean(axis=1) * plot_w
    if p.palette in ("classic", "custom") or palette is CLASSIC:
        colors = [palette.line] * n
    else:
        shades = gradient(palette.colors, np.linspace(0.0, 1.0, n))
        colors = [tuple(round(float(v)) for v in c) for c in shades]
    for i in range(n):
        check()
        base = first_base + i * spacing
        heights = profile(x, rng).reshape(-1, group).max(axis=1) * p.ridge_height * spacing
        ys = base - heights
        line = np.column_stack([xs, ys])
        # hide what lies behind, down to the bottom of this line's own stroke
        floor = max(float(ys.max()), base) + line_px / 2.0
        below = np.array([[xs[-1], floor], [xs[0], floor]])
        canvas.fill_poly(np.concatenate([line, below]), palette.background)
        canvas.polylines([line], colors[i], line_px)  # type: ignore[arg-type]
        yield (i + 1) / n
