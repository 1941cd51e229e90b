"""The document's selection: shapes, the magic wand, Select All/Deselect/Invert, copy, cut, paste and
"selection to mask"; and shapes filled into a mask or label map (no Qt). Every change is one undo step on
``doc.history``."""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from studio.core.document import Document, Layer, LayerKind, blank_image
from studio.core.history import AddLayer, PixelEdit, SetSelection
from studio.core.tiles import Region


class Combine(StrEnum):
    """How a new shape meets the selection there is."""

    REPLACE = "replace"
    ADD = "add"
    SUBTRACT = "subtract"


def ellipse_mask(corner: tuple[float, float], opposite: tuple[float, float], width: int, height: int) -> np.ndarray:
    """The pixels (bool) whose centres lie inside the ellipse filling the rectangle between two opposite corners."""
    (xa, ya), (xb, yb) = corner, opposite
    cx, cy, rx, ry = (xa + xb) / 2, (ya + yb) / 2, abs(xb - xa) / 2, abs(yb - ya) / 2
    if rx <= 0 or ry <= 0:
        return np.zeros((height, width), bool)
    ys, xs = np.ogrid[:height, :width]
    return ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0


def magic_wand(pixels: np.ndarray, x: int, y: int, tolerance: int) -> np.ndarray:
    """The pixels (bool) joined to (x, y) through pixels of a similar colour: no channel of RGBA ``pixels`` differs
    from the clicked pixel's by more than ``tolerance`` (0..255); neighbours are the four sides."""
    height, width = pixels.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        return np.zeros((height, width), bool)
    difference = np.abs(pixels.astype(np.int16) - pixels[y, x].astype(np.int16)).max(axis=2)
    similar = (difference <= tolerance).astype(np.uint8)
    _count, regions = cv2.connectedComponents(similar, connectivity=4)
    return regions == regions[y, x]


def combine(current: np.ndarray | None, shape: np.ndarray, how: Combine) -> np.ndarray | None:
    """The selection after ``shape`` (bool) meets ``current`` (uint8 or None); None when nothing is left."""
    if how is Combine.REPLACE or current is None:
        result = np.where(shape, np.uint8(255), np.uint8(0)) if how is not Combine.SUBTRACT else None
    elif how is Combine.ADD:
        result = np.where(shape, np.uint8(255), current)
    else:
        result = np.where(shape, np.uint8(0), current)
    return result if result is not None and result.any() else None


def select(doc: Document, shape: np.ndarray, how: Combine = Combine.REPLACE) -> SetSelection | None:
    """The undo step that combines ``shape`` (bool, the document's size) into the selection; None if nothing
    changes."""
    return _change(doc, combine(doc.selection, shape, how), "Select")


def select_all(doc: Document) -> SetSelection | None:
    return _change(doc, np.full((doc.height, doc.width), 255, np.uint8), "Select all")


def deselect(doc: Document) -> SetSelection | None:
    return _change(doc, None, "Deselect")


def invert_selection(doc: Document) -> SetSelection | None:
    """Select what was not selected (with no selection: everything)."""
    inverted = np.full((doc.height, doc.width), 255, np.uint8) if doc.selection is None else 255 - doc.selection
    return _change(doc, inverted if inverted.any() else None, "Invert selection")


def _change(doc: Document, selection: np.ndarray | None, text: str) -> SetSelection | None:
    same = (
        selection is None
        if doc.selection is None
        else selection is not None and np.array_equal(doc.selection, selection)
    )
    return None if same else SetSelection(text, selection)


def fill_shape(layer: Layer, selected: np.ndarray, subtract: bool = False, label: int = 1) -> PixelEdit | None:
    """The undo step that fills the ``selected`` pixels (bool) of a mask with 255, or of a label map with ``label``;
    with ``subtract``, clears them to 0. None when it would change nothing."""
    if layer.kind is LayerKind.RASTER:
        raise ValueError(f"layer {layer.name!r} is a picture: a shape fills a mask or a label map")
    region = bounds(selected)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    value = 0 if subtract else (label if layer.kind is LayerKind.LABELS else 255)
    before = layer.read(region)
    after = np.where(selected[y0:y1, x0:x1], np.uint8(value), before)
    if np.array_equal(before, after):
        return None
    verb = "Subtract from" if subtract else ("Fill" if layer.kind is LayerKind.LABELS else "Add to")
    return PixelEdit.writing(f"{verb} {layer.name}", layer, x0, y0, after)


def bounds(selection: np.ndarray) -> Region | None:
    """The smallest rectangle holding every selected pixel, or None when none is."""
    rows, columns = np.flatnonzero(selection.any(axis=1)), np.flatnonzero(selection.any(axis=0))
    if not len(rows):
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def copy_pixels(doc: Document, layer: Layer) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The selected pixels of raster ``layer`` (all of it without a selection), cropped to the selection's bounds,
    alpha scaled by the selection, and where they sit (x, y); None when nothing is selected."""
    region = (0, 0, doc.width, doc.height) if doc.selection is None else bounds(doc.selection)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    pixels = layer.read(region)
    if doc.selection is not None:
        weight = doc.selection[y0:y1, x0:x1].astype(np.uint32)
        pixels[..., 3] = (pixels[..., 3] * weight + 127) // 255
    return pixels, (x0, y0)


def cut_pixels(doc: Document, layer: Layer) -> PixelEdit | None:
    """The undo step that clears the selected pixels of raster ``layer`` (all of it without a selection)."""
    region = (0, 0, doc.width, doc.height) if doc.selection is None else bounds(doc.selection)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    after = layer.read(region)
    if doc.selection is None:
        after[..., 3] = 0
    else:
        keep = 255 - doc.selection[y0:y1, x0:x1].astype(np.uint32)
        after[..., 3] = (after[..., 3] * keep + 127) // 255
    return PixelEdit.writing(f"Cut from {layer.name}", layer, x0, y0, after)


def paste_layer(doc: Document, pixels: np.ndarray, at: tuple[int, int] = (0, 0)) -> AddLayer:
    """The undo step that adds a raster layer holding ``pixels`` (RGBA uint8 or uint16, the layer's depth) with
    their top-left corner at ``at``, clipped to the document, above the active layer."""
    image = blank_image(LayerKind.RASTER, doc.width, doc.height, pixels.dtype.itemsize * 8)
    image.write(*at, pixels)
    layer = Layer(doc.unique_layer_name("Pasted"), LayerKind.RASTER, image)
    index = doc.index_of(doc.active_id) + 1 if doc.active_id is not None else None
    return AddLayer("Paste", layer, index)


def selection_to_mask(doc: Document) -> AddLayer | None:
    """The undo step that adds a mask holding the selection; None without a selection."""
    if doc.selection is None:
        return None
    layer = Layer(doc.unique_layer_name("Mask"), LayerKind.MASK, doc.selection.copy())
    return AddLayer("Selection to mask", layer)


def outline(selection: np.ndarray) -> np.ndarray:
    """The edges between selected (over 127) and other pixels, as line segments along pixel edges, float32
    (N, 4) of x0, y0, x1, y1: each horizontal or vertical run of edge one segment."""
    selected = np.pad(selection > 127, 1)
    across = selected[1:, 1:-1] != selected[:-1, 1:-1]  # (h + 1, w): the edge above row y, from x to x + 1
    down = selected[1:-1, 1:] != selected[1:-1, :-1]  # (h, w + 1): the edge left of column x, from y to y + 1
    rows, starts, ends = _runs(across)
    columns, tops, bottoms = _runs(down.T)
    horizontal = np.stack([starts, rows, ends, rows], axis=1)
    vertical = np.stack([columns, tops, columns, bottoms], axis=1)
    return np.concatenate([horizontal, vertical]).astype(np.float32)


def _runs(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each run of True along the rows of ``edges``: its row, first index and end (exclusive)."""
    steps = np.diff(np.pad(edges, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(steps == 1)
    _rows, ends = np.nonzero(steps == -1)
    return rows, starts, ends
