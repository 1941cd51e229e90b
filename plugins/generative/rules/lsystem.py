"""Lindenmayer systems: parallel string rewriting read by a turtle.

Based on A. Lindenmayer, "Mathematical models for cellular interactions in
development" (J. Theor. Biol. 18, 1968) and the bracketed and stochastic
systems and turtle interpretation of P. Prusinkiewicz & A. Lindenmayer, "The
Algorithmic Beauty of Plants" (Springer, 1990). Three plant presets are
productions from its figure 1.24; the stochastic one chooses among similar
productions at random, as in its section 1.7; the curves are the classic
dragon (Heighway), Koch snowflake, Hilbert, Gosper (flowsnake), Sierpiński
arrowhead and Lévy C curves written as L-systems.

Symbols: ``F`` (and the preset's other drawing symbols) move forward drawing,
``+``/``-`` turn left/right, ``[``/``]`` push/pop the turtle, ``|`` turns
around; anything else only takes part in rewriting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules.canvas import (
    Canvas,
    Palette,
    decimate,
    gradient,
    hex_to_rgb,
    resolve_palette,
    stride_for,
)

MAX_SEGMENTS = 250_000
MAX_SYMBOLS = 2_000_000
COLOR_LEVELS = 48
CHECK_EVERY = 1 << 16  # symbols between cancel checks


@dataclass(frozen=True)
class Preset:
    """One L-system: axiom, productions (weighted alternatives for stochastic rules), defaults."""

    axiom: str
    rules: dict[str, tuple[tuple[str, float], ...]]
    angle: float
    iterations: int
    heading: float = 0.0
    draw: str = "F"
    plant: bool = False


def _det(**rules: str) -> dict[str, tuple[tuple[str, float], ...]]:
    return {k: ((v, 1.0),) for k, v in rules.items()}


PRESETS: dict[str, Preset] = {
    # the mirror image of ABOP fig. 1.24f at 25 degrees (the "fractal plant" of Wikipedia's L-system page)
    "fractal_plant": Preset("X", _det(X="F+[[X]-X]-F[-FX]+X", F="FF"), 25.0, 6, heading=80.0, plant=True),
    # ABOP fig. 1.24e
    "tree": Preset("X", _det(X="F[+X][-X]FX", F="FF"), 25.7, 7, heading=90.0, plant=True),
    # ABOP fig. 1.24c
    "bush": Preset("F", _det(F="FF-[-F+F+F]+[+F-F-F]"), 22.5, 4, heading=90.0, plant=True),
    # branching productions of figs. 1.24d/e, picked at random for every symbol
    "stochastic_weed": Preset(
        "X",
        {
            "X": (("F[+X]F[-X]+X", 1.0), ("F[-X]F[+X]-X", 1.0), ("F[+X][-X]FX", 1.0), ("F[-X]FX", 0.5)),
            "F": (("FF", 1.0),),
        },
        25.7,
        7,
        heading=90.0,
        plant=True,
    ),
    "dragon_curve": Preset("FX", _det(X="X+YF+", Y="-FX-Y"), 90.0, 12),
    "koch_snowflake": Preset("F--F--F", _det(F="F+F--F+F"), 60.0, 5),
    "hilbert_curve": Preset("A", _det(A="+BF-AFA-FB+", B="-AF+BFB+FA-"), 90.0, 6),
    "gosper_curve": Preset("A", _det(A="A-B--B+A++AA+B-", B="+A-AA--B-A++A+B"), 60.0, 4, draw="AB"),
    "sierpinski_arrowhead": Preset("A", _det(A="B-A-B", B="A+B+A"), 60.0, 7, draw="AB"),
    "levy_c_curve": Preset("F", _det(F="+F--F+"), 45.0, 12),
}

CLASSIC_PLANT = Palette(
    hex_to_rgb("#f3eee2"),
    hex_to_rgb("#3e2a20"),
    tuple(hex_to_rgb(c) for c in ("#3e2a20", "#5c4630", "#55793a", "#7ea650", "#b5cf6b")),
)
CLASSIC_CURVE = Palette(
    hex_to_rgb("#0c1220"),
    hex_to_rgb("#e8f1ff"),
    tuple(hex_to_rgb(c) for c in ("#4cc9f0", "#4361ee", "#7209b7", "#f72585", "#ff9e00")),
)


def expand(
    preset: Preset, iterations: int, rng: np.random.Generator, check: Callable[[], None] = lambda: None
) -> tuple[str, int]:
    """Rewrite the axiom ``iterations`` times, stopping early before the string gets too long.

    Returns the string and the number of rewriting steps applied; ``check``
    is called regularly (it may raise to cancel).
    """
    deterministic = all(len(options) == 1 for options in preset.rules.values())
    table = {ord(k): options[0][0] for k, options in preset.rules.items()}
    choices = {}
    for key, options in preset.rules.items():
        weights = np.array([w for _, w in options], dtype=np.float64)
        choices[key] = ([s for s, _ in options], np.cumsum(weights) / weights.sum())
    text = preset.axiom
    for step in range(iterations):
        check()
        if deterministic:
            candidate = text.translate(table)
        else:
            draws = rng.random(len(text))
            parts = []
            for i, (symbol, u) in enumerate(zip(text, draws.tolist(), strict=True)):
                if i % CHECK_EVERY == 0:
                    check()
                if symbol in choices:
                    strings, cumulative = choices[symbol]
                    parts.append(strings[int(np.searchsorted(cumulative, u, side="right"))])
                else:
                    parts.append(symbol)
            candidate = "".join(parts)
        segments = sum(candidate.count(c) for c in preset.draw)
        if len(candidate) > MAX_SYMBOLS or segments > MAX_SEGMENTS:
            return text, step
        text = candidate
    return text, iterations


@dataclass
class Drawing:
    """Turtle output: vertices in turtle units (y up), polylines as start indices, depth per polyline."""

    points: np.ndarray
    starts: list[int]
    depths: list[int]


def interpret(
    text: str,
    preset: Preset,
    angle: float,
    jitter: float,
    rng: np.random.Generator,
    check: Callable[[], None] = lambda: None,
) -> Drawing:
    """Walk the turtle over ``text``; ``jitter`` randomises every turn and step.

    For plants the random turns add up, so branches bend; for curves the
    heading wobbles around the exact one, so the figure stays recognisable.
    """
    n = len(text)
    turn = math.radians(angle)
    if preset.plant:
        turns = (turn * (1.0 + rng.standard_normal(n) * (0.4 * jitter))).tolist()
        wobble = [0.0] * n
    else:
        turns = [turn] * n
        wobble = (rng.standard_normal(n) * (0.35 * jitter * min(turn, math.pi / 2))).tolist()
    steps = np.exp(rng.standard_normal(n) * (0.3 * jitter)).tolist()
    drawing = set(preset.draw)
    x = y = 0.0
    heading = math.radians(preset.heading)
    depth = 0
    xs = [0.0]
    ys = [0.0]
    starts = [0]
    depths = [0]
    stack: list[tuple[float, float, float, int]] = []

    def restart() -> None:
        if len(xs) - starts[-1] <= 1:  # the current polyline has no segment yet: move its start
            xs[-1], ys[-1] = x, y
            depths[-1] = depth
        else:
            starts.append(len(xs))
            depths.append(depth)
            xs.append(x)
            ys.append(y)

    for i, symbol in enumerate(text):
        if i % CHECK_EVERY == 0:
            check()
        if symbol in drawing:
            step = steps[i]
            x += math.cos(heading + wobble[i]) * step
            y += math.sin(heading + wobble[i]) * step
            xs.append(x)
            ys.append(y)
        elif symbol == "+":
            heading += turns[i]
        elif symbol == "-":
            heading -= turns[i]
        elif symbol == "[":
            stack.append((x, y, heading, depth))
            depth += 1
            restart()
        elif symbol == "]":
            if stack:
                x, y, heading, depth = stack.pop()
                restart()
        elif symbol == "|":
            heading += math.pi
    return Drawing(np.column_stack([xs, ys]), starts, depths)


def _pieces(drawing: Drawing, max_segments: int) -> list[tuple[int, int, int]]:
    """Split polylines into pieces of at most ``max_segments``: (first vertex, last vertex, depth)."""
    bounds = [*drawing.starts, len(drawing.points)]
    pieces = []
    for k, depth in enumerate(drawing.depths):
        first, end = bounds[k], bounds[k + 1] - 1
        while first < end:
            last = min(first + max_segments, end)
            pieces.append((first, last, depth))
            first = last
    return pieces


def draw(
    p: GenerativeParams,
    canvas: Canvas,
    rng: np.random.Generator,
    palette_rng: np.random.Generator,
    check: Callable[[], None],
) -> Iterator[float]:
    """Draw the chosen L-system, fitted to the canvas, in the order the turtle walks."""
    preset = PRESETS[p.lsystem_preset]
    palette = resolve_palette(
        p.palette, CLASSIC_PLANT if preset.plant else CLASSIC_CURVE, p.background, p.ink, palette_rng
    )
    canvas.fill(palette.background)
    yield 0.01
    iterations = p.lsystem_iterations or preset.iterations
    angle = p.lsystem_angle or preset.angle
    text, _ = expand(preset, iterations, rng, check)
    yield 0.02
    drawing = interpret(text, preset, angle, p.jitter, rng, check)
    yield 0.03
    pts = drawing.points
    total_segments = max(len(pts) - len(drawing.starts), 1)

    # fit the drawing into the canvas inside the margin, y pointing down
    lo = pts.min(axis=0)
    hi = pts.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    margin = p.margin * canvas.unit
    avail_w = max(canvas.width - 2 * margin, 1.0)
    avail_h = max(canvas.height - 2 * margin, 1.0)
    scale = min(avail_w / span[0], avail_h / span[1])
    if span[0] < 1e-6:
        scale = avail_h / span[1]
    if span[1] < 1e-6:
        scale = avail_w / span[0]
    centre = (lo + hi) / 2.0
    xy = np.empty_like(pts)
    xy[:, 0] = canvas.width / 2.0 + (pts[:, 0] - centre[0]) * scale
    xy[:, 1] = canvas.height / 2.0 - (pts[:, 1] - centre[1]) * scale

    # widths (pixels of this canvas) and colours
    segment_at_1024 = scale * 1024.0 / canvas.unit
    stride = stride_for(scale)
    if preset.plant:
        base = p.line_width or min(9.0, max(2.0, 2.2 * segment_at_1024))
        max_depth = max(*drawing.depths, 1)
        width_of = [canvas.px(max(base * 0.72**d, base * 0.12, 0.6)) for d in range(max_depth + 1)]
    else:
        base = p.line_width or min(3.5, max(0.7, 0.35 * segment_at_1024))
        width_of = [canvas.px(base)]
        max_depth = 1
    hue_shift = float(palette_rng.uniform(0.0, 0.15))
    levels = gradient(palette.colors, np.linspace(0.0, 1.0, COLOR_LEVELS))
    levels = np.round(levels).astype(int)

    pieces = _pieces(drawing, max(4, total_segments // 400))
    chunks = min(32, max(4, len(pieces)))
    bounds = np.linspace(0, len(pieces), chunks + 1).round().astype(int)
    for c in range(chunks):
        check()
        groups: dict[tuple[int, int], list[np.ndarray]] = {}
        for first, last, depth in pieces[bounds[c] : bounds[c + 1]]:
            if preset.plant:
                t = depth / max_depth
                key = (min(depth, len(width_of) - 1), round(min(t * 1.1 + hue_shift * 0.3, 1.0) * (COLOR_LEVELS - 1)))
            else:
                t = ((first + last) / 2.0 / len(pts) + hue_shift) % 1.0
                t = 1.0 - abs(2.0 * t - 1.0)  # there and back, so the ends match the colour cycle
                key = (0, round(t * (COLOR_LEVELS - 1)))
            groups.setdefault(key, []).append(decimate(xy[first : last + 1], stride))
        for (w, ci), lines in sorted(groups.items()):
            canvas.polylines(lines, tuple(int(v) for v in levels[ci]), width_of[w])  # type: ignore[arg-type]
        yield 0.05 + 0.95 * (c + 1) / chunks
