"""A resolution-independent RGBA canvas with antialiased drawing, and palettes.

Drawing goes through OpenCV (``cv2.LINE_AA`` with 4 bits of sub-pixel
precision). Translucent strokes are drawn into a coverage mask and composited
only where the mask is set, so cost follows the ink, not the canvas size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]

_SHIFT = 4
_ONE = 1 << _SHIFT
SUPERSAMPLE = 2
DIRECT_WIDTH = 6.0  # opaque strokes at least this wide are drawn without supersampling
THINNEST = 1.35  # width of OpenCV's one-pixel antialiased line


def hex_to_rgb(color: str) -> RGB:
    """``"#rrggbb"`` -> ``(r, g, b)``."""
    text = color.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend of two colours, ``t=0`` gives ``a``."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def gradient(colors: Sequence[RGB], t: np.ndarray | float) -> np.ndarray:
    """Sample a piecewise-linear gradient through ``colors`` at ``t`` in 0..1; float (..., 3)."""
    stops = np.asarray(colors, dtype=np.float64)
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(np.floor(t).astype(np.int64), len(stops) - 2) if len(stops) > 1 else np.zeros_like(t, np.int64)
    if len(stops) == 1:
        return np.broadcast_to(stops[0], (*np.shape(t), 3)).copy()
    f = (t - i)[..., None]
    return stops[i] * (1.0 - f) + stops[i + 1] * f


@dataclass(frozen=True)
class Palette:
    """A background, a line colour and the colours used for fills and strokes."""

    background: RGB
    line: RGB
    colors: tuple[RGB, ...]


def _palette(background: str, line: str, *colors: str) -> Palette:
    return Palette(hex_to_rgb(background), hex_to_rgb(line), tuple(hex_to_rgb(c) for c in colors))


NAMED_PALETTES: dict[str, Palette] = {
    "sunset": _palette("#1b1230", "#ffd8a8", "#ff6b35", "#f7b267", "#ef476f", "#ffd166", "#9b5de5"),
    "ocean": _palette("#06141f", "#e0fbfc", "#0f4c5c", "#2a9d8f", "#8ecae6", "#219ebc", "#e9c46a"),
    "forest": _palette("#f1ecdd", "#1b2a1f", "#6f4e37", "#2d6a4f", "#40916c", "#74c69d", "#b7e4c7"),
    "neon": _palette("#08080f", "#f5f5ff", "#00f5d4", "#f15bb5", "#fee440", "#9b5de5", "#00bbf9"),
    "pastel": _palette("#2b2d42", "#f8f4ec", "#ff99c8", "#fcf6bd", "#d0f4de", "#a9def9", "#e4c1f9"),
    "ink_on_paper": _palette("#f4f0e6", "#141414", "#141414", "#3b3b3b", "#6e6e6e", "#9a3b2f"),
}


def resolve_palette(name: str, classic: Palette, background: str, ink: str, rng: np.random.Generator) -> Palette:
    """The palette a rule draws with; ``classic`` is the rule's own look."""
    if name == "classic":
        return classic
    if name == "custom":
        bg, fg = hex_to_rgb(background), hex_to_rgb(ink)
        return Palette(bg, fg, (fg, mix(fg, bg, 0.35), mix(fg, bg, 0.6)))
    if name == "random":
        options = [classic, *NAMED_PALETTES.values()]
        return options[int(rng.integers(len(options)))]
    return NAMED_PALETTES[name]


@functools.lru_cache(maxsize=64)
def _blend_tables(color: RGB) -> tuple[np.ndarray, ...]:
    """Per channel, the blend of every old value (high byte) with ``color`` at every coverage (low byte)."""
    old = np.arange(256, dtype=np.float64)[:, None]
    coverage = np.arange(256, dtype=np.float64)[None, :] / 255.0
    return tuple(np.floor(old + (c - old) * coverage + 0.5).astype(np.uint8).reshape(-1) for c in color)


class Canvas:
    """An RGBA uint8 picture with drawing helpers in pixel coordinates.

    ``unit`` is the short side in pixels: rules place things in units of it.
    ``px(w)`` converts a width given for a 1024 px canvas to this canvas.
    """

    def __init__(self, width: int, height: int, background: RGB) -> None:
        self.width = int(width)
        self.height = int(height)
        self.unit = float(min(self.width, self.height))
        self.rgba = np.empty((self.height, self.width, 4), dtype=np.uint8)
        self._pixels = self.rgba.view(np.uint32)[..., 0]  # one uint32 per RGBA pixel, for fast fills
        self._mask: np.ndarray | None = None
        self.fill(background)

    def fill(self, color: RGB) -> None:
        """Paint the whole canvas with ``color``."""
        self._pixels[...] = _packed(color)

    def px(self, width_at_1024: float) -> float:
        """A length given in pixels at 1024 px, in pixels of this canvas."""
        return width_at_1024 * self.unit / 1024.0

    def snapshot(self) -> np.ndarray:
        """An owned copy of the picture, RGBA uint8 (H, W, 4)."""
        return self.rgba.copy()

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: RGB) -> None:
        """Fill the axis-aligned rectangle [x0, x1) x [y0, y1) (pixel edges, rounded)."""
        ix0, iy0 = max(round(x0), 0), max(round(y0), 0)
        ix1, iy1 = min(round(x1), self.width), min(round(y1), self.height)
        if ix1 > ix0 and iy1 > iy0:
            self._pixels[iy0:iy1, ix0:ix1] = _packed(color)

    def fill_poly(self, points: np.ndarray, color: RGB) -> None:
        """Fill a polygon given as float (N, 2) pixel coordinates, antialiased."""
        pts = np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(self.rgba, [pts], (*color, 255), cv2.LINE_AA, _SHIFT)

    def polylines(self, lines: Sequence[np.ndarray], color: RGB, width: float, alpha: float = 1.0) -> None:
        """Stroke open polylines (float (N, 2) pixel arrays), antialiased, ``width`` pixels wide.

        OpenCV's antialiased lines only come in a few widths (1.35, 3.44, 5.44,
        ... pixels), so: translucent strokes, and strokes thinner than the
        thinnest line, use the nearest of those widths and scale their opacity
        to keep the amount of ink (which is what a downscaled render shows);
        other thin strokes are drawn at twice the resolution and averaged down;
        thick strokes, where the rounding error is small, are drawn directly.
        """
        lines = [line for line in lines if len(line) > 1]
        if not lines or width <= 0.0 or alpha <= 0.0:
            return
        if alpha < 0.999 or width < THINNEST:
            self._translucent(lines, color, width, alpha)
        elif width >= DIRECT_WIDTH:
            thickness = max(2, 2 * round((width - 1.44) / 2.0))
            pts = [_fixed(line) for line in lines]
            cv2.polylines(self.rgba, pts, False, (*color, 255), thickness, cv2.LINE_AA, _SHIFT)
        else:
            self._supersampled(lines, color, width)

    def _translucent(self, lines: Sequence[np.ndarray], color: RGB, width: float, alpha: float) -> None:
        thickness, drawn = _thickness(width)
        alpha = min(alpha * width / drawn, 1.0)
        mask = self._mask_buffer()
        pts = [_fixed(line) for line in lines]
        cv2.polylines(mask, pts, False, max(1, round(alpha * 255)), thickness, cv2.LINE_AA, _SHIFT)
        pad = thickness + 2
        y0 = max(min(int(p[:, 0, 1].min()) for p in pts) // _ONE - pad, 0)
        y1 = min(max(int(p[:, 0, 1].max()) for p in pts) // _ONE + pad + 1, self.height)
        if y1 <= y0:
            return
        # scan only the rows the strokes can touch, a word (8 pixels) at a time
        assert self._mask is not None
        words = self._mask.view(np.uint64)
        first, last = (y0 * self.width) // 8, -(-(y1 * self.width) // 8)
        hit = np.flatnonzero(words[first:last])
        if hit.size:
            hit += first
            pix = (hit[:, None] * 8 + np.arange(8)).reshape(-1)
            if pix[-1] >= self.width * self.height:
                pix = pix[pix < self.width * self.height]
            self._blend(pix, self._mask[pix], color)
        words[first:last] = 0

    def _supersampled(self, lines: Sequence[np.ndarray], color: RGB, width: float) -> None:
        thickness, drawn = _thickness(width * SUPERSAMPLE)
        alpha = min(width * SUPERSAMPLE / drawn, 1.0)
        pad = thickness / SUPERSAMPLE + 2.0
        lo = np.min([line.min(axis=0) for line in lines], axis=0)
        hi = np.max([line.max(axis=0) for line in lines], axis=0)
        x0, y0 = max(int(lo[0] - pad), 0), max(int(lo[1] - pad), 0)
        x1, y1 = min(int(hi[0] + pad) + 1, self.width), min(int(hi[1] + pad) + 1, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        big = np.zeros(((y1 - y0) * SUPERSAMPLE, (x1 - x0) * SUPERSAMPLE), dtype=np.uint8)
        origin = np.array([x0, y0], dtype=np.float64)
        # OpenCV puts pixel i's centre at i; pixel i here is pixels 2i and 2i + 1 there, centred at 2i + 0.5
        pts = [_fixed((line - origin) * SUPERSAMPLE + (SUPERSAMPLE - 1) / 2.0) for line in lines]
        cv2.polylines(big, pts, False, max(1, round(alpha * 255)), thickness, cv2.LINE_AA, _SHIFT)
        coverage = cv2.resize(big, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        hit = np.flatnonzero(coverage)
        if hit.size:
            rows, cols = np.divmod(hit, x1 - x0)
            self._blend((rows + y0) * self.width + cols + x0, coverage.reshape(-1)[hit], color)

    def _blend(self, pix: np.ndarray, weight: np.ndarray, color: RGB) -> None:
        """Blend ``color`` into flat pixel indices ``pix`` with coverage ``weight`` (uint8, 255 = opaque)."""
        weight = weight.astype(np.uint16)
        flat = self.rgba.reshape(-1).view(np.uint32)
        old = flat[pix].view(np.uint8).reshape(-1, 4)
        new = np.empty_like(old)
        new[:, 3] = 255
        for channel, table in enumerate(_blend_tables(color)):
            index = old[:, channel].astype(np.uint16)
            index <<= 8
            index |= weight
            new[:, channel] = table[index]
        flat[pix] = new.view(np.uint32).reshape(-1)

    def _mask_buffer(self) -> np.ndarray:
        if self._mask is None:
            # padded to whole 8-byte words so the mask can be scanned 8 pixels at a time
            size = self.width * self.height
            self._mask = np.zeros(-(-size // 8) * 8, dtype=np.uint8)
        return self._mask[: self.width * self.height].reshape(self.height, self.width)


def decimate(line: np.ndarray, stride: int) -> np.ndarray:
    """Every ``stride``-th point of a polyline, keeping its last point.

    Antialiased segments much shorter than a pixel draw almost nothing, so
    rules thin out their points on small canvases.
    """
    if stride <= 1 or len(line) <= 2:
        return line
    thinned = line[::stride]
    if (len(line) - 1) % stride:
        thinned = np.concatenate([thinned, line[-1:]])
    return thinned


def stride_for(segment_px: float) -> int:
    """How many segments of ``segment_px`` pixels to merge so each is at least about a pixel long."""
    return max(1, math.ceil(0.8 / max(segment_px, 1e-6)))


def _packed(color: RGB) -> np.uint32:
    """An opaque colour as the uint32 that holds its RGBA bytes."""
    return np.array([*color, 255], dtype=np.uint8).view(np.uint32)[0]


def _fixed(line: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> OpenCV fixed point (4 fractional bits), shape (N, 1, 2)."""
    return np.round(line * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _thickness(width: float) -> tuple[int, float]:
    """The OpenCV thickness whose antialiased line is nearest ``width`` (by ratio), and that line's width.

    A thickness of 1 gives a 1.35 px line, 2k gives about 2k + 1.44 px (odd
    thicknesses give the same line as the even one below them).
    """
    if width < 2.15:  # the geometric mean of 1.35 and 3.44
        return 1, 1.35
    k = max(1, round((width - 1.44) / 2.0))
    return 2 * k, 2 * k + 1.44
