"""Draw the Studio application icon.

The icon is a night-blue rounded canvas tile carrying one painterly spiral brush stroke whose colour flows through a
style-transfer palette (teal, blue, violet, magenta, orange, gold), with a faint constellation of "neurons" behind it.
Everything is computed here from geometry, so the icon can be regenerated at any time:

    .venv/bin/python packaging/make_icon.py

Raster sizes are rendered independently (area-averaged supersampling, so edges are anti-aliased) and small sizes use
a simplified, bolder drawing so that they stay legible. An SVG of the same design is assembled from the geometry too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
ICON_DIR = ROOT / "packaging" / "icons" / "hicolor"
SVG_ICON = ICON_DIR / "scalable" / "apps" / "studio.svg"
APP_ICON = ROOT / "studio" / "qt" / "resources" / "studio.png"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
APP_ICON_SIZE = 256
UNITS = 512.0  # design space: 512 x 512 units, y pointing down
WORK_PX = 2048  # every size is drawn at (about) this resolution, then area-averaged down

# Colour stops of the stroke by fraction of its length, from the tip in the centre (0) to the loaded end (1).
PALETTE: tuple[tuple[float, str], ...] = (
    (0.00, "#5ff2d6"),
    (0.22, "#3fa7ff"),
    (0.42, "#7b5cff"),
    (0.62, "#e0479e"),
    (0.80, "#ff7a3d"),
    (0.94, "#ffc857"),
    (1.00, "#ffd870"),
)
TILE_TOP = "#26315f"
TILE_BOTTOM = "#120f2c"
TILE_GLOW = "#3a4a8f"

Array = np.ndarray


@dataclass(frozen=True)
class Design:
    """Geometry of the icon in design units; one instance per level of detail."""

    margin: float  # gap between the image border and the tile
    corner: float  # corner radius of the tile
    cx: float  # centre of the spiral
    cy: float
    r_start: float  # radius of the spiral at its tip
    r_end: float  # radius at the loaded end of the stroke
    turns: float  # number of turns between the two
    phase: float  # angle (radians) of the loaded end
    width: float  # stroke width as a fraction of the local radius
    width_min: float  # lower bound on the stroke width
    texture: float  # strength of bristle streaks (0 disables)
    stars: bool  # draw the constellation behind the stroke
    shadows: bool  # soft drop shadows under the tile and the stroke
    rim: float = 3.0  # width of the light bevel along the tile's edge

    @property
    def growth(self) -> float:
        """Logarithmic-spiral growth rate k in r = r_start * exp(k * (theta - theta_start))."""
        return math.log(self.r_end / self.r_start) / (2 * math.pi * self.turns)

    @property
    def theta_end(self) -> float:
        return self.phase

    @property
    def theta_start(self) -> float:
        return self.phase - 2 * math.pi * self.turns

    def radius(self, theta: Array | float) -> Array | float:
        return self.r_start * np.exp(self.growth * (np.asarray(theta) - self.theta_start))

    def arc_fraction(self, t: Array) -> Array:
        """Fraction of the spiral's length from the tip to parameter t (arc length grows with the radius)."""
        span = self.theta_end - self.theta_start
        return (np.exp(self.growth * span * np.clip(t, 0, 1)) - 1) / (np.exp(self.growth * span) - 1)

    def stroke_width(self, t: Array) -> Array:
        """Full width of the stroke at path parameter t in [0, 1] (tapered at the tip, slightly at the end)."""
        theta = self.theta_start + t * (self.theta_end - self.theta_start)
        base = np.maximum(self.width * self.radius(theta), self.width_min)
        tip = smoothstep(0.0, 0.16, t)
        tail = 1.0 - 0.18 * smoothstep(0.9, 1.0, t)
        return base * (0.08 + 0.92 * tip) * tail


DETAILED = Design(
    margin=24, corner=104, cx=262, cy=252, r_start=13, r_end=194, turns=1.9, phase=math.radians(165),
    width=0.50, width_min=6, texture=1.0, stars=True, shadows=True,
)  # fmt: skip
SIMPLE = Design(
    margin=32, corner=96, cx=262, cy=250, r_start=40, r_end=172, turns=1.05, phase=math.radians(165),
    width=0.62, width_min=30, texture=0.0, stars=False, shadows=False,
)  # fmt: skip

# Nodes of the constellation (design units) and the pairs that are linked.
STARS: tuple[tuple[float, float, float], ...] = (
    (330, 78, 3.5),
    (404, 104, 5.5),
    (436, 178, 3.5),
    (92, 96, 4.0),
    (84, 424, 3.5),
    (146, 448, 3.0),
    (430, 430, 4.5),
)
LINKS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (4, 5))
BODY_SHADE = 0.95  # mean brightness of the shaded paint body, used for the flat fills of the SVG
STREAK_SEED = 7
END_SEED = 11


def smoothstep(edge0: float, edge1: float, x: Array) -> Array:
    s = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def hex_rgb(value: str) -> Array:
    value = value.lstrip("#")
    return np.array([int(value[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])


def palette(s: Array | float) -> Array:
    """Colour at fraction s of the stroke's length, as an (..., 3) array of sRGB values in [0, 1]."""
    stops = np.array([stop for stop, _ in PALETTE])
    colours = np.array([hex_rgb(c) for _, c in PALETTE])
    s = np.clip(s, 0.0, 1.0)
    return np.stack([np.interp(s, stops, colours[:, i]) for i in range(3)], axis=-1)


def bristles(o: Array, t: Array, seed: int) -> Array:
    """Smooth pseudo-random streaks across the stroke (o) that drift slowly along it (t); values roughly in [-1, 1]."""
    rng = np.random.default_rng(seed)
    total = np.zeros(np.broadcast(o, t).shape)
    amplitude_sum = 0.0
    for freq in (5.0, 9.0, 17.0, 31.0, 53.0):
        amplitude = 1.0 / math.sqrt(freq)
        phase, drift = rng.uniform(0, 2 * math.pi), rng.uniform(-3.0, 3.0)
        total += amplitude * np.sin(freq * o + phase + drift * t)
        amplitude_sum += amplitude
    return total / amplitude_sum * 1.6


def bristle_end(o: Array, design: Design) -> Array:
    """Where the bristle at offset o leaves the canvas: they stop at slightly different t, giving a ragged end."""
    return 1.0 - 0.03 * design.texture * (1.2 + bristles(o, np.zeros_like(o), seed=END_SEED))


def dryness(t: Array, streak: Array) -> Array:
    """How much paint is missing: towards the end of the stroke the brush runs dry between the bristles."""
    return smoothstep(0.86, 1.0, t) * (streak < -0.35)


def rounded_box_distance(x: Array, y: Array, design: Design) -> Array:
    """Signed distance (design units) to the rounded tile; negative inside."""
    half = UNITS / 2 - design.margin
    qx = np.abs(x - UNITS / 2) - (half - design.corner)
    qy = np.abs(y - UNITS / 2) - (half - design.corner)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    inside = np.minimum(np.maximum(qx, qy), 0.0)
    return outside + inside - design.corner


def stroke_coordinates(x: Array, y: Array, design: Design) -> tuple[Array, Array]:
    """Map points to stroke coordinates: t along the spiral (0 tip .. 1 end) and o across it (-1 .. 1 inside)."""
    dx, dy = design.cx - x, y - design.cy  # the spiral unwinds counter-clockwise on screen
    rho = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    span = design.theta_end - design.theta_start
    best_o = np.full(x.shape, np.inf)
    best_t = np.zeros(x.shape)
    k_low = math.floor((design.theta_start - math.pi) / (2 * math.pi))
    k_high = math.ceil((design.theta_end + math.pi) / (2 * math.pi))
    for k in range(k_low, k_high + 1):
        theta = phi + 2 * math.pi * k
        t = (theta - design.theta_start) / span
        valid = (t >= -0.01) & (t <= 1.01)
        half_width = design.stroke_width(np.clip(t, 0, 1)) / 2
        o = (rho - design.radius(theta)) / half_width
        better = valid & (np.abs(o) < np.abs(best_o))
        best_o = np.where(better, o, best_o)
        best_t = np.where(better, t, best_t)
    return best_t, best_o


def over(top: Array, bottom: Array) -> Array:
    """Porter-Duff 'over' for premultiplied RGBA arrays."""
    return top + bottom * (1.0 - top[..., 3:4])


def premultiplied(rgb: Array, alpha: Array) -> Array:
    alpha = np.clip(alpha, 0.0, 1.0)[..., None]
    return np.concatenate([np.clip(rgb, 0.0, 1.0) * alpha, alpha], axis=-1)


def draw_tile(x: Array, y: Array, design: Design) -> Array:
    """The night-blue canvas: vertical gradient, a glow behind the spiral and a faint woven texture."""
    distance = rounded_box_distance(x, y, design)
    inside = (distance < 0).astype(np.float64)
    v = smoothstep(design.margin, UNITS - design.margin, y)[..., None]
    rgb = hex_rgb(TILE_TOP) * (1 - v) + hex_rgb(TILE_BOTTOM) * v
    glow = np.exp(-(((x - design.cx) ** 2 + (y - design.cy) ** 2) / (2 * 150.0**2)))[..., None]
    rgb = rgb * (1 - 0.55 * glow) + hex_rgb(TILE_GLOW) * 0.55 * glow
    if design.texture:
        weave = 0.5 * (np.sin(x * 1.9) * np.sin(y * 1.9)) + 0.5 * np.sin((x + y) * 0.9)
        rgb = rgb * (1 + 0.025 * design.texture * weave[..., None])
    rim = ((distance > -design.rim) & (distance < 0))[..., None] * (0.30 - 0.20 * v)
    rgb = rgb * (1 - rim) + hex_rgb("#b9c6ff") * rim
    return premultiplied(rgb, inside)


def draw_stars(x: Array, y: Array) -> Array:
    """Small glowing nodes joined by hairlines: the 'neural' constellation behind the stroke."""
    alpha = np.zeros(x.shape)
    for a, b in LINKS:
        (x0, y0, _), (x1, y1, _) = STARS[a], STARS[b]
        ex, ey = x1 - x0, y1 - y0
        h = np.clip(((x - x0) * ex + (y - y0) * ey) / (ex * ex + ey * ey), 0, 1)
        d = np.hypot(x - x0 - h * ex, y - y0 - h * ey)
        alpha = np.maximum(alpha, 0.28 * (d < 1.2))
    for sx, sy, r in STARS:
        d = np.hypot(x - sx, y - sy)
        alpha = np.maximum(alpha, np.maximum((d < r).astype(float), 0.45 * np.exp(-((d / (3 * r)) ** 2))))
    return premultiplied(np.broadcast_to(hex_rgb("#dfe8ff"), (*x.shape, 3)), alpha)


def draw_stroke(x: Array, y: Array, design: Design) -> Array:
    """The spiral brush stroke with palette colours, paint-body shading, bristle streaks and a dry, ragged end."""
    t, o = stroke_coordinates(x, y, design)
    streak = bristles(o, t, seed=STREAK_SEED)
    inside = (np.abs(o) <= 1.0) & (t >= 0.0) & (t <= bristle_end(o, design))
    alpha = inside.astype(np.float64)
    if design.texture:
        alpha *= 1.0 - dryness(t, streak)
    rgb = palette(design.arc_fraction(t))
    # Paint body: a soft tube with light from the upper left, darker at the edges of the stroke.
    theta = design.theta_start + t * (design.theta_end - design.theta_start)
    normal_x, normal_y = -np.cos(theta), np.sin(theta)
    facing = -(normal_x * -0.6 + normal_y * -0.8) * o  # > 0 where the stroke surface faces the light
    body = 1.0 - 0.22 * np.abs(o) ** 3 + 0.10 * facing
    shade = body + 0.07 * design.texture * streak
    rgb = rgb * shade[..., None]
    highlight = np.clip(0.22 * design.texture * (streak - 0.6), 0, None) * (1 - np.abs(o))
    rgb = rgb + highlight[..., None]
    return premultiplied(rgb, alpha)


def downsample(image: Array, factor: int) -> Array:
    """Area-average an (N*f, N*f, C) array down to (N, N, C)."""
    n = image.shape[0] // factor
    return image.reshape(n, factor, n, factor, image.shape[2]).mean(axis=(1, 3))


def blurred_shadow(layer: Array, size: int, offset: float, radius: float, opacity: float) -> Array:
    """A soft shadow (premultiplied RGBA) cast by a layer: blurred, shifted down and darkened."""
    alpha = Image.fromarray(np.uint8(np.clip(layer[..., 3], 0, 1) * 255))
    shift = round(offset * size / UNITS)
    alpha = alpha.transform(alpha.size, Image.Transform.AFFINE, (1, 0, 0, 0, 1, -shift))
    alpha = alpha.filter(ImageFilter.GaussianBlur(radius * size / UNITS))
    shadow_alpha = np.asarray(alpha, dtype=np.float64) / 255.0 * opacity
    return premultiplied(np.broadcast_to(hex_rgb("#05040f"), (size, size, 3)), shadow_alpha)


def centred(design: Design) -> Design:
    """Move the spiral so that the bounding box of its stroke sits in the middle of the tile."""
    coords = (np.arange(512) + 0.5) * (UNITS / 512)
    x, y = np.meshgrid(coords, coords)
    t, o = stroke_coordinates(x, y, design)
    mask = (np.abs(o) <= 1) & (t >= 0) & (t <= 1)
    xs, ys = x[mask], y[mask]
    shift_x = UNITS / 2 - (xs.min() + xs.max()) / 2
    shift_y = UNITS / 2 - (ys.min() + ys.max()) / 2
    return replace(design, cx=design.cx + shift_x, cy=design.cy + shift_y)


def design_for(size: int) -> Design:
    """Level of detail for a pixel size: small icons get the bold, plain variant; texture fades in up to 128 px."""
    pixel = UNITS / size
    rim = max(3.0, 0.9 * pixel)  # at least about one pixel, so the tile reads on dark panels
    if size < 32:
        return centred(replace(SIMPLE, margin=pixel, rim=rim))
    margin = max(1, round(DETAILED.margin / pixel)) * pixel  # whole pixels keep the tile's edges crisp
    texture = 0.0 if size < 48 else min(1.0, size / 128)
    width_min = max(DETAILED.width_min, 0.5 * pixel)  # the inner coil stays at least half a pixel wide
    return centred(replace(DETAILED, margin=margin, texture=texture, width_min=width_min, rim=rim))


def render(size: int) -> Image.Image:
    """Render the icon at one pixel size."""
    design = design_for(size)
    factor = max(1, WORK_PX // size)
    n = size * factor
    coords = (np.arange(n) + 0.5) * (UNITS / n)
    x, y = np.meshgrid(coords, coords)

    tile = downsample(draw_tile(x, y, design), factor)
    stroke = downsample(draw_stroke(x, y, design), factor)
    inside_tile = tile[..., 3:4]
    image = np.zeros((size, size, 4))
    if design.shadows:
        image = over(blurred_shadow(tile, size, offset=8, radius=10, opacity=0.45), image)
    image = over(tile, image)
    if design.stars and size >= 64:
        image = over(downsample(draw_stars(x, y), factor) * inside_tile, image)
    if design.shadows:
        image = over(blurred_shadow(stroke, size, offset=7, radius=9, opacity=0.55) * inside_tile, image)
    image = over(stroke, image)

    alpha = image[..., 3:4]
    rgb = np.where(alpha > 0, image[..., :3] / np.maximum(alpha, 1e-9), 0.0)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    return Image.fromarray(np.uint8(np.round(np.clip(rgba, 0, 1) * 255)), "RGBA")


# --- Scalable version ------------------------------------------------------------------------------------------------


def rgb_hex(rgb: Array) -> str:
    r, g, b = (round(float(c) * 255) for c in np.clip(rgb, 0.0, 1.0))
    return f"#{r:02x}{g:02x}{b:02x}"


def stroke_point(design: Design, t: Array, o: Array | float) -> tuple[Array, Array]:
    """Design-space position of stroke coordinates (t along, o across); inverse of stroke_coordinates."""
    t = np.asarray(t, dtype=np.float64)
    theta = design.theta_start + t * (design.theta_end - design.theta_start)
    r = design.radius(theta) + np.asarray(o) * design.stroke_width(np.clip(t, 0, 1)) / 2
    return design.cx - r * np.cos(theta), design.cy + r * np.sin(theta)


def band_path(design: Design, t: Array, o0: Array | float, o1: Array | float) -> str:
    """SVG path data of the band of the stroke between offsets o0 and o1 (scalars or per-sample), sampled at t."""
    o0, o1 = np.broadcast_to(o0, t.shape), np.broadcast_to(o1, t.shape)
    x0, y0 = stroke_point(design, t, o0)
    x1, y1 = stroke_point(design, t[::-1], o1[::-1])
    points = [f"{a:.1f},{b:.1f}" for a, b in zip(np.concatenate([x0, x1]), np.concatenate([y0, y1]), strict=True)]
    return "M" + " L".join(points) + " Z"


def runs(mask: Array) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of the True runs in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[0::2], edges[1::2], strict=True))


def svg_stroke(design: Design) -> tuple[list[str], list[str]]:
    """Gradient definitions and shapes of the brush stroke for the SVG.

    The body is cut into short pieces that each take the palette colour of their middle, with pale and dark streaks
    laid over it; the dry end is drawn as separate strands of bristles that end at their own place and taper to a
    point. A strand is shaded as the overlays would shade the body at its offset, so the two parts meet seamlessly.
    """
    defs: list[str] = []
    shapes: list[str] = []
    dry_start = 0.86
    g = design.growth * (design.theta_end - design.theta_start)
    s_dry = float(design.arc_fraction(np.array(dry_start)))
    pieces = 96
    for i in range(pieces):
        s0, s1 = s_dry * i / pieces, s_dry * min(i + 1.4, pieces) / pieces  # overlap the next piece: no seams
        t = np.log1p(np.linspace(s0, s1, 8) * math.expm1(g)) / g
        colour = rgb_hex(palette((s0 + s1) / 2) * BODY_SHADE)
        shapes.append(f'<path fill="{colour}" d="{band_path(design, t, -1.0, 1.0)}"/>')

    t = np.linspace(0.0, dry_start + 0.004, 200)
    for o0, o1, colour, opacity in svg_overlays():
        shapes.append(f'<path fill="{colour}" opacity="{opacity}" d="{band_path(design, t, o0, o1)}"/>')

    strands = 56
    t = np.linspace(dry_start, 1.01, 400)
    for j in range(strands):
        o_lo, o_hi = -1 + 2 * j / strands, -1 + 2 * (j + 1) / strands
        o_mid = (o_lo + o_hi) / 2
        o_vec = np.full_like(t, o_mid)
        visible = (t <= bristle_end(o_vec, design)) & (dryness(t, bristles(o_vec, t, seed=STREAK_SEED)) < 0.5)
        for a, b in runs(visible):
            if b - a < 3:
                continue
            piece = t[a:b][:: max(1, (b - a) // 24)]
            if piece[-1] != t[b - 1]:
                piece = np.append(piece, t[b - 1])
            if a == 0:  # reach back under the body's last piece so that no seam shows where they meet
                piece = np.concatenate([[dry_start - 0.012], piece])
            # Taper the free ends into points, like hairs; a strand that starts at the body keeps its full width.
            taper = np.clip((piece[-1] - piece) / 0.006, 0.15, 1.0)
            if a > 0:
                taper = np.minimum(taper, np.clip((piece - piece[0]) / 0.004, 0.15, 1.0))
            half = (o_hi - o_lo) * taper  # twice the spacing: neighbours overlap, no hairline gaps
            (xa, xb), (ya, yb) = stroke_point(design, piece[[0, -1]], o_mid)
            gradient = f"strand{len(defs)}"
            start, end = (rgb_hex(svg_strand_colour(design, piece[k], o_mid)) for k in (0, -1))
            defs.append(
                f'<linearGradient id="{gradient}" gradientUnits="userSpaceOnUse" x1="{xa:.1f}" y1="{ya:.1f}" '
                f'x2="{xb:.1f}" y2="{yb:.1f}"><stop offset="0" stop-color="{start}"/>'
                f'<stop offset="1" stop-color="{end}"/></linearGradient>'
            )
            path = band_path(design, piece, o_mid - half, o_mid + half)
            shapes.append(f'<path fill="url(#{gradient})" d="{path}"/>')
    return defs, shapes


def svg_overlays() -> list[tuple[float, float, str, float]]:
    """Bands (o0, o1, colour, opacity) laid over the body: bristle streaks and darker edges."""
    offsets = np.linspace(-1, 1, 401)
    streak = bristles(offsets, np.full_like(offsets, 0.5), seed=STREAK_SEED)
    bands = [(-1.0, -0.8, "#140c2a", 0.14), (0.8, 1.0, "#140c2a", 0.14)]
    for mask, colour, opacity in ((streak > 0.55, "#ffffff", 0.12), (streak < -0.6, "#1a1030", 0.14)):
        bands += [(float(offsets[a]), float(offsets[b - 1]), colour, opacity) for a, b in runs(mask)]
    return bands


def svg_strand_colour(design: Design, t: float, o: float) -> Array:
    """Colour of the body at (t, o) with the overlays applied, for strands of the dry end."""
    rgb = palette(design.arc_fraction(np.array(t))) * BODY_SHADE
    for o0, o1, colour, opacity in svg_overlays():
        if o0 <= o <= o1:
            rgb = rgb * (1 - opacity) + hex_rgb(colour) * opacity
    return rgb


def svg(design: Design) -> str:
    """The icon as a self-contained SVG document (512 x 512 user units, same geometry as the PNGs)."""
    m, c = design.margin, design.corner
    side = UNITS - 2 * m
    tile = f'x="{m:g}" y="{m:g}" width="{side:g}" height="{side:g}" rx="{c:g}"'
    inset = design.rim / 2
    rim = (
        f'x="{m + inset:g}" y="{m + inset:g}" width="{side - 2 * inset:g}" height="{side - 2 * inset:g}" '
        f'rx="{c - inset:g}"'
    )
    top, bottom = hex_rgb(TILE_TOP), hex_rgb(TILE_BOTTOM)
    tile_stops = "".join(
        f'<stop offset="{f:g}" stop-color="{rgb_hex(top + (bottom - top) * float(smoothstep(0, 1, f)))}"/>'
        for f in (0, 0.25, 0.5, 0.75, 1)
    )
    glow_stops = "".join(  # draw_tile's Gaussian glow (sigma 150) out to three sigma
        f'<stop offset="{k / 6:.4f}" stop-color="{TILE_GLOW}" stop-opacity="{0.55 * math.exp(-(k**2) / 8):.3f}"/>'
        for k in range(7)
    )
    star_stops = "".join(
        f'<stop offset="{f:g}" stop-color="#dfe8ff" stop-opacity="{0.45 * math.exp(-((2 * f) ** 2)):.3f}"/>'
        for f in (0, 0.25, 0.5, 0.75, 1)
    )  # the same Gaussian halo as draw_stars, out to six star radii
    stroke_defs, stroke_shapes = svg_stroke(design)
    links = "".join(
        f'<line x1="{STARS[a][0]:g}" y1="{STARS[a][1]:g}" x2="{STARS[b][0]:g}" y2="{STARS[b][1]:g}"/>' for a, b in LINKS
    )
    stars = "".join(
        f'<circle cx="{x:g}" cy="{y:g}" r="{6 * r:g}" fill="url(#star-glow)"/><circle cx="{x:g}" cy="{y:g}" r="{r:g}"/>'
        for x, y, r in STARS
    )
    lines = [
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="512" height="512" viewBox="0 0 512 512">',
        "<title>Studio</title>",
        "<!-- Generated by packaging/make_icon.py; edit that script rather than this file. -->",
        "<defs>",
        f'<linearGradient id="tile" gradientUnits="userSpaceOnUse" x1="0" y1="{m:g}" x2="0" y2="{UNITS - m:g}">'
        f"{tile_stops}</linearGradient>",
        f'<radialGradient id="glow" gradientUnits="userSpaceOnUse" cx="{design.cx:.1f}" cy="{design.cy:.1f}" '
        f'r="450">{glow_stops}</radialGradient>',
        f'<linearGradient id="rim" gradientUnits="userSpaceOnUse" x1="0" y1="{m:g}" x2="0" y2="{UNITS - m:g}">'
        '<stop offset="0" stop-color="#b9c6ff" stop-opacity="0.3"/>'
        '<stop offset="1" stop-color="#b9c6ff" stop-opacity="0.1"/></linearGradient>',
        f'<radialGradient id="star-glow">{star_stops}</radialGradient>',
        '<filter id="tile-shadow" x="-20%" y="-20%" width="140%" height="140%">'
        '<feGaussianBlur stdDeviation="10"/></filter>',
        '<filter id="stroke-shadow" x="-20%" y="-20%" width="140%" height="140%">'
        '<feFlood flood-color="#05040f" flood-opacity="0.55"/><feComposite in2="SourceAlpha" operator="in"/>'
        '<feGaussianBlur stdDeviation="9"/><feOffset dy="7"/></filter>',
        f'<clipPath id="tile-clip"><rect {tile}/></clipPath>',
        *stroke_defs,
        '<g id="stroke">',
        *stroke_shapes,
        "</g>",
        "</defs>",
        f'<rect {tile} transform="translate(0 8)" fill="#05040f" opacity="0.45" filter="url(#tile-shadow)"/>',
        f'<rect {tile} fill="url(#tile)"/>',
        f'<rect {tile} fill="url(#glow)"/>',
        f'<rect {rim} fill="none" stroke="url(#rim)" stroke-width="{design.rim:g}"/>',
        '<g clip-path="url(#tile-clip)">',
        f'<g stroke="#dfe8ff" stroke-opacity="0.28" stroke-width="2.4">{links}</g>',
        f'<g fill="#dfe8ff">{stars}</g>',
        '<use xlink:href="#stroke" filter="url(#stroke-shadow)"/>',
        '<use xlink:href="#stroke"/>',
        "</g>",
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    for size in SIZES:
        target = ICON_DIR / f"{size}x{size}" / "apps" / "studio.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        image = render(size)
        image.save(target, optimize=True)
        if size == APP_ICON_SIZE:
            APP_ICON.parent.mkdir(parents=True, exist_ok=True)
            image.save(APP_ICON, optimize=True)
        print(f"wrote {target.relative_to(ROOT)}")
    print(f"wrote {APP_ICON.relative_to(ROOT)}")
    SVG_ICON.parent.mkdir(parents=True, exist_ok=True)
    SVG_ICON.write_text(svg(design_for(512)), encoding="utf-8")
    print(f"wrote {SVG_ICON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
