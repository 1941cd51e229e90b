"""Compositions after Piet Mondrian's neo-plastic paintings (from about 1920).

A rectangle is split recursively at random, larger pieces first, across
their longer side; the split lines are thick and black, a few cells are filled
with primary colours and the rest stay off-white.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules.canvas import Canvas, Palette, hex_to_rgb, resolve_palette

CLASSIC = Palette(
    hex_to_rgb("#f2efe6"),
    hex_to_rgb("#111111"),
    tuple(hex_to_rgb(c) for c in ("#d52b1e", "#1c3f94", "#f6c62b", "#111111")),
)
# how likely each classic colour is: red and blue often, yellow a little less, black rarely
_CLASSIC_WEIGHTS = (0.36, 0.3, 0.26, 0.08)

Rect = tuple[float, float, float, float]


def split(
    width: float, height: float, splits: int, min_size: float, rng: np.random.Generator
) -> tuple[list[Rect], list[tuple[float, float, float, float]]]:
    """Split ``(0, 0, width, height)`` ``splits`` times.

    Returns the cells (x0, y0, x1, y1) and the split lines as (x0, y0, x1, y1)
    with either x0 == x1 (vertical) or y0 == y1 (horizontal).
    """
    cells: list[Rect] = [(0.0, 0.0, width, height)]
    lines: list[tuple[float, float, float, float]] = []
    for _ in range(splits):
        sizes = np.array([max(c[2] - c[0], c[3] - c[1]) for c in cells])
        areas = np.array([(c[2] - c[0]) * (c[3] - c[1]) for c in cells])
        ok = sizes >= 2.5 * min_size
        if not ok.any():
            break
        weights = np.where(ok, areas**1.3, 0.0)
        index = int(rng.choice(len(cells), p=weights / weights.sum()))
        x0, y0, x1, y1 = cells.pop(index)
        w, h = x1 - x0, y1 - y0
        vertical = w > h * 1.25 or (h <= w * 1.25 and rng.random() < 0.5)
        if vertical and w < 2.5 * min_size:
            vertical = False
        if not vertical and h < 2.5 * min_size:
            vertical = True
        extent = w if vertical else h
        lo = max(min_size / extent, 0.2)
        t = float(rng.uniform(lo, 1.0 - lo))
        if vertical:
            x = x0 + t * w
            cells += [(x0, y0, x, y1), (x, y0, x1, y1)]
            lines.append((x, y0, x, y1))
        else:
            y = y0 + t * h
            cells += [(x0, y0, x1, y), (x0, y, x1, y1)]
            lines.append((x0, y, x1, y))
    return cells, lines


def draw(
    p: GenerativeParams,
    canvas: Canvas,
    rng: np.random.Generator,
    palette_rng: np.random.Generator,
    check: Callable[[], None],
) -> Iterator[float]:
    """Draw the grid line by line, then paint the coloured cells one at a time."""
    palette = resolve_palette(p.palette, CLASSIC, p.background, p.ink, palette_rng)
    canvas.fill(palette.background)
    unit = canvas.unit
    width_n, height_n = canvas.width / unit, canvas.height / unit
    line_px = canvas.px(p.line_width or 15.0)
    min_size = max(0.06, 3.0 * line_px / unit)
    cells, lines = split(width_n, height_n, p.mondrian_splits, min_size, rng)

    # choose the painted cells: a mix of sizes, never two neighbours sharing a colour at random
    count = round(p.mondrian_fill * len(cells))
    painted = rng.permutation(len(cells))[:count]
    colors = palette.colors
    if palette is CLASSIC:
        picks = rng.choice(len(colors), size=len(painted), p=_CLASSIC_WEIGHTS)
        picks[: min(3, len(picks))] = rng.permutation(3)[: min(3, len(picks))]  # red, blue and yellow all appear
    else:
        picks = rng.integers(len(colors), size=len(painted))
    fills = [(cells[int(i)], colors[int(k)]) for i, k in zip(painted, picks, strict=True)]

    steps = len(lines) + len(fills)

    def draw_line(line: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = (v * unit for v in line)
        half = line_px / 2.0
        if x0 == x1:
            canvas.rect(x0 - half, y0 - half, x0 + half, y1 + half, palette.line)
        else:
            canvas.rect(x0 - half, y0 - half, x1 + half, y0 + half, palette.line)

    done = 0
    for line in lines:
        check()
        draw_line(line)
        done += 1
        yield done / max(steps, 1)
    for (x0, y0, x1, y1), color in fills:
        check()
        canvas.rect(x0 * unit, y0 * unit, x1 * unit, y1 * unit, color)
        for line in lines:  # repaint the lines the fill covered
            lx0, ly0, lx1, ly1 = line
            if lx0 <= x1 and lx1 >= x0 and ly0 <= y1 and ly1 >= y0:
                draw_line(line)
        done += 1
        yield done / max(steps, 1)
    if steps == 0:
        yield 1.0
