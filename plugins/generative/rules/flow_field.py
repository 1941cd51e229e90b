"""Flow fields: particles following a smooth angle field made of noise.

The technique is the one popularised in generative art by Tyler Hobbs
("Flow Fields", 2020) and others: an angle per point is taken from
Perlin-style gradient noise (see ``noise.py``), particles start at random
places and step along that angle, and their paths are drawn as translucent
curves so overlaps build up density.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules.canvas import Canvas, Palette, decimate, hex_to_rgb, resolve_palette, stride_for
from studio_plugins.generative.rules.noise import Perlin2D

CLASSIC = Palette(
    hex_to_rgb("#f3eee3"),
    hex_to_rgb("#1d3557"),
    tuple(hex_to_rgb(c) for c in ("#1d3557", "#2a6f97", "#e76f51", "#2a9d8f", "#e9c46a")),
)
STEP = 0.0035  # step length in short sides
PAD = 0.05  # particles may start this far outside the canvas
MAX_PARTICLES = 100_000
BATCHES = 36


class AngleField:
    """The flow direction, sampled once on a fine grid over the padded canvas and interpolated.

    The grid is fixed in short-side units (at least 12 samples per noise
    lattice cell), so it does not depend on the canvas's pixel size.
    """

    def __init__(self, noise: Perlin2D, scale: float, width: float, height: float) -> None:
        self.res = max(96.0, 24.0 * scale)  # samples per short side
        self.x0 = self.y0 = -PAD - 2 * STEP
        nx = int(np.ceil((width - 2 * self.x0) * self.res)) + 2
        ny = int(np.ceil((height - 2 * self.y0) * self.res)) + 2
        xs = self.x0 + np.arange(nx) / self.res
        ys = self.y0 + np.arange(ny) / self.res
        gx, gy = np.meshgrid(xs * scale, ys * scale)
        self.nx, self.ny = nx, ny
        self.values = (noise.fbm(gx, gy, octaves=2) * (2.0 * np.pi)).reshape(-1)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Angle (radians) at short-side coordinates ``x``, ``y``, bilinearly interpolated."""
        gx = np.clip((x - self.x0) * self.res, 0.0, self.nx - 1.000001)
        gy = np.clip((y - self.y0) * self.res, 0.0, self.ny - 1.000001)
        ix = gx.astype(np.int64)
        iy = gy.astype(np.int64)
        fx = gx - ix
        fy = gy - iy
        k = iy * self.nx + ix
        v = self.values
        top = v[k] + (v[k + 1] - v[k]) * fx
        bottom = v[k + self.nx] + (v[k + self.nx + 1] - v[k + self.nx]) * fx
        return top + (bottom - top) * fy


def trace(
    field: AngleField, start: np.ndarray, steps: int, width: float, height: float
) -> Generator[float, None, tuple[np.ndarray, np.ndarray]]:
    """Follow the field from ``start`` (N, 2) for ``steps`` steps, yielding the fraction done now and then.

    Returns positions (steps + 1, N, 2) and, per particle, how many of them
    lie inside the padded canvas before it first leaves.
    """
    count = len(start)
    path = np.empty((steps + 1, count, 2), dtype=np.float32)
    path[0] = start
    x = start[:, 0].astype(np.float64)
    y = start[:, 1].astype(np.float64)
    inside = np.full(count, steps + 1, dtype=np.int64)
    alive = np.ones(count, dtype=bool)
    half = STEP / 2.0
    for s in range(1, steps + 1):
        if s % 16 == 0:
            yield s / steps
        # midpoint (RK2) step for smoother curves
        a = field(x, y)
        a = field(x + np.cos(a) * half, y + np.sin(a) * half)
        x = x + np.cos(a) * STEP
        y = y + np.sin(a) * STEP
        path[s, :, 0] = x
        path[s, :, 1] = y
        out = alive & ((x < -PAD) | (x > width + PAD) | (y < -PAD) | (y > height + PAD))
        inside[out] = s
        alive &= ~out
    return path, inside


def draw(
    p: GenerativeParams,
    canvas: Canvas,
    rng: np.random.Generator,
    palette_rng: np.random.Generator,
    check: Callable[[], None],
) -> Iterator[float]:
    """Trace all particles, then draw their paths in interleaved colour batches."""
    palette = resolve_palette(p.palette, CLASSIC, p.background, p.ink, palette_rng)
    canvas.fill(palette.background)
    unit = canvas.unit
    width_n, height_n = canvas.width / unit, canvas.height / unit
    field = Perlin2D(rng)
    tint = Perlin2D(rng)
    area = (width_n + 2 * PAD) * (height_n + 2 * PAD)
    count = int(min(max(round(p.flow_particles * area), 1), MAX_PARTICLES))
    start = np.column_stack([rng.uniform(-PAD, width_n + PAD, count), rng.uniform(-PAD, height_n + PAD, count)])
    lifetimes = rng.integers(max(2, p.flow_steps // 3), p.flow_steps + 2, size=count)
    yield 0.01
    angles = AngleField(field, p.flow_scale, width_n, height_n)
    tracing = trace(angles, start, p.flow_steps, width_n, height_n)
    while True:
        try:
            yield 0.01 + 0.09 * next(tracing)
        except StopIteration as done:
            path, inside = done.value
            break
    lengths = np.minimum(lifetimes, inside)

    # colour by a slow second noise at the start point, ranked so every colour is used alike
    k = len(palette.colors)
    shade = tint.fbm(start[:, 0] * 0.9, start[:, 1] * 0.9, octaves=2) + rng.normal(0.0, 0.12, count)
    rank = np.empty(count, dtype=np.int64)
    rank[np.argsort(shade, kind="stable")] = np.arange(count)
    color_index = rank * k // count
    line_px = canvas.px(p.line_width or 1.3)
    stride = stride_for(STEP * unit)

    batches = []
    per_color = max(1, BATCHES // k)
    for c in range(k):
        members = np.flatnonzero(color_index == c)
        batches.append(np.array_split(members, per_color))
    order = [(c, b) for b in range(per_color) for c in range(k)]
    for n, (c, b) in enumerate(order):
        check()
        members = batches[c][b]
        lines = [
            decimate(path[: lengths[i], i].astype(np.float64) * unit, stride)
            for i in members.tolist()
            if lengths[i] > 1
        ]
        canvas.polylines(lines, palette.colors[c], line_px, alpha=p.flow_opacity)
        yield 0.1 + 0.9 * (n + 1) / len(order)
