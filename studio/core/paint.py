"""Brush strokes, fills, the pixels inside a rectangle or polygon, and the colour picker, on layer pixels (no Qt)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio.core.document import Document, Layer, LayerKind
from studio.core.history import PixelEdit
from studio.core.tiles import Region, TiledImage


@dataclass(frozen=True)
class Brush:
    """A round brush. ``size`` is the diameter in pixels; ``hardness``, ``opacity`` in 0..1.

    On a mask, painting selects (255) and erasing deselects; on a label map,
    painting writes ``label``.
    """

    size: float = 24.0
    hardness: float = 0.8
    opacity: float = 1.0
    color: tuple[int, int, int] = (0, 0, 0)
    erase: bool = False
    label: int = 1
    spacing: float = 0.15


def dab_alpha(radius: float, hardness: float, cx: float, cy: float, region: Region) -> np.ndarray:
    """Coverage (0..1) of a round dab centred at (cx, cy) over ``region``."""
    x0, y0, x1, y1 = region
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dist = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) / max(radius, 1e-6)
    hard = min(max(hardness, 0.0), 0.99)
    # Full coverage inside ``hard * radius``, a smooth fall-off to the edge, and a one
    # pixel anti-aliased rim so even fully hard brushes have clean edges.
    soft = np.clip((1.0 - dist) / (1.0 - hard), 0.0, 1.0)
    soft = soft * soft * (3.0 - 2.0 * soft)
    rim = np.clip((1.0 - dist) * radius + 0.5, 0.0, 1.0)
    return (soft * rim).astype(np.float32)


class Stroke:
    """One brush stroke on one layer, from press to release.

    Dabs within a stroke do not build up: coverage is the maximum over dabs,
    then applied once to the pixels the layer had before the stroke. With a
    selection, the stroke changes only the selected pixels.
    """

    def __init__(self, doc: Document, layer: Layer, brush: Brush) -> None:
        self.doc = doc
        self.layer = layer
        self.brush = brush
        self._before = layer.image.snapshot()
        self._coverage = TiledImage(layer.width, layer.height, 0, np.float32)
        self._within = doc.selection
        self._bounds: Region | None = None
        self._last: tuple[float, float, float] | None = None

    def add_point(self, x: float, y: float, pressure: float = 1.0) -> Region | None:
        """Extend the stroke to (x, y); returns the region that changed."""
        pressure = min(max(pressure, 0.0), 1.0)
        points = [(x, y, pressure)]
        if self._last is not None:
            lx, ly, lp = self._last
            step = max(self.brush.size * self.brush.spacing, 0.5)
            count = int(math.hypot(x - lx, y - ly) / step)
            points = [
                (lx + (x - lx) * t, ly + (y - ly) * t, lp + (pressure - lp) * t)
                for t in ((i + 1) / (count + 1) for i in range(count))
            ] + points
        self._last = (x, y, pressure)
        changed: Region | None = None
        for px, py, pp in points:
            changed = _union(changed, self._dab(px, py, pp))
        if changed is not None:
            self._apply(changed)
            self.doc.notify_pixels(changed)
        return changed

    def finish(self) -> PixelEdit | None:
        """The undoable edit for the whole stroke (already applied), or None if nothing changed."""
        if self._bounds is None:
            return None
        verb = "Erase" if self.brush.erase else "Paint"
        return PixelEdit.since(f"{verb} on {self.layer.name}", self.layer, self._before, self._bounds)

    def _dab(self, x: float, y: float, pressure: float) -> Region | None:
        radius = max(self.brush.size * (0.25 + 0.75 * pressure) / 2.0, 0.5)
        h, w = self._coverage.height, self._coverage.width
        region = (
            max(math.floor(x - radius - 1), 0),
            max(math.floor(y - radius - 1), 0),
            min(math.ceil(x + radius + 1), w),
            min(math.ceil(y + radius + 1), h),
        )
        x0, y0, x1, y1 = region
        if x0 >= x1 or y0 >= y1:
            return None
        alpha = dab_alpha(radius, self.brush.hardness, x, y, region) * pressure
        self._coverage.write(x0, y0, np.maximum(self._coverage.read(region), alpha))
        self._bounds = _union(self._bounds, region)
        return region

    def _apply(self, region: Region) -> None:
        x0, y0, x1, y1 = region
        cover = self._coverage.read(region) * self.brush.opacity
        if self._within is not None:
            cover = cover * (self._within[y0:y1, x0:x1] / np.float32(255.0))
        self.layer.write(x0, y0, apply_coverage(self.layer.kind, self._before.read(region), cover, self.brush))


def apply_coverage(kind: LayerKind, before: np.ndarray, cover: np.ndarray, brush: Brush) -> np.ndarray:
    """Pixels after painting ``brush`` with per-pixel ``cover`` (0..1) onto ``before``."""
    if kind is LayerKind.LABELS:
        return np.where(cover >= 0.5, 0 if brush.erase else brush.label, before).astype(np.uint8)
    if kind is LayerKind.MASK:
        value = before.astype(np.float32)
        value = value * (1.0 - cover) if brush.erase else value + (255.0 - value) * cover
        return np.clip(value + 0.5, 0, 255).astype(np.uint8)
    top = float(np.iinfo(before.dtype).max)
    src = before.astype(np.float32)
    a = src[..., 3] / top
    c = cover
    if brush.erase:
        out = src.copy()
        out[..., 3] = a * (1.0 - c) * top
        return np.clip(out + 0.5, 0, top).astype(before.dtype)
    out_a = c + a * (1.0 - c)
    color = np.asarray(brush.color, np.float32) * (top / 255.0)
    premult = color * c[..., None] + src[..., :3] * (a * (1.0 - c))[..., None]
    out = np.empty_like(src)
    out[..., :3] = premult / np.where(out_a > 0, out_a, 1.0)[..., None]
    out[..., 3] = out_a * top
    return np.clip(out + 0.5, 0, top).astype(before.dtype)


def fill(doc: Document, layer: Layer, brush: Brush, mask: np.ndarray | None = None) -> PixelEdit:
    """Fill ``layer`` inside ``mask`` (0..1), else inside the document's selection, else all of it, with the brush
    colour/label; erase clears."""
    if mask is None and doc.selection is not None:
        mask = doc.selection.astype(np.float32) / 255.0
    cover = np.full((layer.height, layer.width), brush.opacity, np.float32) if mask is None else mask * brush.opacity
    after = apply_coverage(layer.kind, layer.read(), cover, brush)
    verb = "Clear" if brush.erase else "Fill"
    return PixelEdit.writing(f"{verb} {layer.name}", layer, 0, 0, after)


def polygon_mask(points: Sequence[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """The pixels (bool, ``height`` x ``width``) whose centres lie inside the polygon ``points`` (x, y in image
    pixels), clipped to the image. Even-odd rule: where a lasso crosses itself, the doubly enclosed part is out."""
    mask = np.zeros((height, width), bool)
    corners = np.asarray(points, np.float64).reshape(-1, 2)
    if len(corners) < 3:
        return mask
    x0, y0 = corners[:, 0], corners[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    top = max(math.ceil(y0.min() - 0.5), 0)
    bottom = min(math.ceil(y0.max() - 0.5), height)
    for row in range(top, bottom):
        y = row + 0.5
        # Each edge counts at most once per row (half-open in y), so the crossings pair up into spans.
        edges = (y0 <= y) != (y1 <= y)
        xs = np.sort(x0[edges] + (y - y0[edges]) * (x1[edges] - x0[edges]) / (y1[edges] - y0[edges]))
        columns = np.clip(np.ceil(xs - 0.5), 0, width).astype(np.intp)
        for start, end in zip(columns[0::2], columns[1::2], strict=True):
            mask[row, start:end] = True
    return mask


def rectangle_mask(corner: tuple[float, float], opposite: tuple[float, float], width: int, height: int) -> np.ndarray:
    """The pixels (bool) whose centres lie inside the rectangle between two opposite corners, clipped to the image."""
    (xa, ya), (xb, yb) = corner, opposite
    return polygon_mask(((xa, ya), (xb, ya), (xb, yb), (xa, yb)), width, height)


def pick_color(doc: Document, x: int, y: int) -> tuple[int, int, int] | None:
    """The composite colour under (x, y), or None outside the document or over transparency."""
    if not (0 <= x < doc.width and 0 <= y < doc.height):
        return None
    pixel = doc.composite((x, y, x + 1, y + 1))[0, 0]
    if pixel[3] == 0:
        return None
    return int(pixel[0]), int(pixel[1]), int(pixel[2])


def _union(a: Region | None, b: Region | None) -> Region | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
