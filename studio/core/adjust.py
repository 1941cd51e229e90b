"""The Image menu's operations, no Qt: colour adjustments of one raster layer, and resizing, cropping, turning and
flipping the whole document. Each is one undo step on ``doc.history``.

Geometry changes every layer the same way: pictures resampled (premultiplied), masks and the selection smoothly,
label maps by nearest neighbour so labels stay labels. A print spec keeps its physical size on a resize (its ppi
follows the pixels), grows or shrinks with the canvas on a canvas change or crop, and turns with the picture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Protocol

import cv2
import numpy as np

from studio.core.document import Document, Layer, LayerKind, Region
from studio.core.history import PixelEdit, ResizeCanvas
from studio.core.inputs import resample
from studio.core.params import Param
from studio.core.print_size import MAX_PPI, PrintSpec
from studio.core.selection import bounds
from studio.core.tiles import TiledImage

MAX_SIDE = 30_000
"""The longest side, in pixels, a resize or canvas change may give the document."""


class Adjustment(Protocol):
    """A colour adjustment: RGBA uint8 or uint16 in, the same type out, alpha kept. Levels are given in 8-bit
    terms (0..255) whatever the depth."""

    def apply(self, rgba: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Levels:
    """Input levels: ``black`` maps to 0, ``white`` to 255, ``gamma`` above 1 brightens the mid-tones."""

    black: Annotated[int, Param("Input level that becomes black", min=0, max=254, widget="slider")] = 0
    white: Annotated[int, Param("Input level that becomes white", min=1, max=255, widget="slider")] = 255
    gamma: Annotated[float, Param("Mid-tones: above 1 lighter, below 1 darker", min=0.1, max=5.0, step=0.05)] = 1.0

    def apply(self, rgba: np.ndarray) -> np.ndarray:
        black, white = min(max(self.black, 0), 254), min(max(self.white, 1), 255)
        white = max(white, black + 1)
        gamma = 1.0 / max(self.gamma, 0.01)
        return _with_lut(rgba, lambda values: np.clip((values - black) / (white - black), 0.0, 1.0) ** gamma * 255.0)


@dataclass(frozen=True)
class BrightnessContrast:
    """``brightness`` adds up to ±255 (at ±1); ``contrast`` in -1..1 flattens to grey or steepens about mid-grey."""

    brightness: Annotated[float, Param("Darker or lighter", min=-1.0, max=1.0, step=0.01, widget="slider")] = 0.0
    contrast: Annotated[float, Param("Flatter or stronger", min=-1.0, max=1.0, step=0.01, widget="slider")] = 0.0

    def apply(self, rgba: np.ndarray) -> np.ndarray:
        contrast = min(max(self.contrast, -1.0), 0.99)
        slope = (1.0 + contrast) / (1.0 - contrast)
        return _with_lut(rgba, lambda values: (values - 127.5) * slope + 127.5 + self.brightness * 255.0)


@dataclass(frozen=True)
class HueSaturation:
    """``hue`` turns colours by degrees; ``saturation`` and ``lightness`` in -1..1 (0 keeps them)."""

    hue: Annotated[
        float, Param("Turn every colour round the colour wheel", min=-180, max=180, step=1, widget="slider")
    ] = 0.0
    saturation: Annotated[float, Param("Greyer or more colourful", min=-1.0, max=1.0, step=0.01, widget="slider")] = 0.0
    lightness: Annotated[float, Param("Toward black or white", min=-1.0, max=1.0, step=0.01, widget="slider")] = 0.0

    def apply(self, rgba: np.ndarray) -> np.ndarray:
        if self.hue % 360 == 0 and self.saturation == 0 and self.lightness == 0:
            return rgba.copy()
        top = np.iinfo(rgba.dtype).max
        hls = cv2.cvtColor(rgba[..., :3].astype(np.float32) / top, cv2.COLOR_RGB2HLS)
        hls[..., 0] = (hls[..., 0] + self.hue) % 360.0
        hls[..., 2] = np.clip(hls[..., 2] * (1.0 + self.saturation), 0.0, 1.0)
        light = hls[..., 1]
        hls[..., 1] = light + (1.0 - light) * self.lightness if self.lightness > 0 else light * (1 + self.lightness)
        out = rgba.copy()
        rgb = cv2.cvtColor(hls, cv2.COLOR_HLS2RGB)
        out[..., :3] = np.clip(rgb * top + 0.5, 0, top).astype(rgba.dtype)
        return out


def _with_lut(rgba: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``rgba`` with its colour channels mapped through ``curve`` (8-bit levels 0..255 as floats in and out, rounded
    and clipped to the pixels' type): a table of 256 values for 8 bits, 65536 for 16."""
    top = np.iinfo(rgba.dtype).max
    levels = np.arange(top + 1, dtype=np.float64) * (255.0 / top)
    lut = np.clip(np.floor(curve(levels) * (top / 255.0) + 0.5), 0, top).astype(rgba.dtype)
    out = rgba.copy()
    out[..., :3] = lut[rgba[..., :3]]
    return out


def adjusted(doc: Document, layer: Layer, adjustment: Adjustment, original: np.ndarray) -> np.ndarray:
    """``original`` (the raster layer's pixels, uint8 or uint16) adjusted, inside the selection only when there is
    one."""
    if layer.kind is not LayerKind.RASTER:
        raise ValueError(f"layer {layer.name!r} is a {layer.kind}: adjustments change pictures")
    result = adjustment.apply(original)
    if doc.selection is None:
        return result
    weight = doc.selection[..., None].astype(np.float32) / 255.0
    return np.floor(original + (result.astype(np.float32) - original) * weight + 0.5).astype(original.dtype)


def adjust_step(doc: Document, layer: Layer, title: str, before: TiledImage) -> PixelEdit:
    """The undo step of the adjustment already shown on ``layer``, whose pixels were ``before`` (a snapshot)."""
    return PixelEdit.since(f"{title} {layer.name}", layer, before, (0, 0, doc.width, doc.height))


# Geometry of the whole document


class Anchor(StrEnum):
    """Where the picture sits on a new canvas."""

    TOP_LEFT = "top left"
    TOP = "top"
    TOP_RIGHT = "top right"
    LEFT = "left"
    CENTRE = "centre"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom right"

    @property
    def fractions(self) -> tuple[float, float]:
        """How far across and down the added pixels go before the picture: (0, 0) all after it."""
        x = 0.0 if "left" in self.value else 1.0 if "right" in self.value else 0.5
        y = 0.0 if "top" in self.value else 1.0 if "bottom" in self.value else 0.5
        return x, y


@dataclass(frozen=True)
class ImageSize:
    """Resize Image: the new size in pixels; every layer is resampled."""

    width: Annotated[int, Param("New width in pixels", min=1, max=MAX_SIDE)] = 1024
    height: Annotated[int, Param("New height in pixels", min=1, max=MAX_SIDE)] = 1024
    keep_proportions: Annotated[bool, Param("Change the height with the width and back")] = True


@dataclass(frozen=True)
class CanvasSize:
    """Canvas Size: the new size in pixels and where the picture sits; nothing is resampled."""

    width: Annotated[int, Param("New width in pixels", min=1, max=MAX_SIDE)] = 1024
    height: Annotated[int, Param("New height in pixels", min=1, max=MAX_SIDE)] = 1024
    anchor: Annotated[Anchor, Param("Where the picture sits: the canvas grows or is cut on the other sides")] = (
        Anchor.CENTRE
    )


def resize_image(doc: Document, width: int, height: int) -> ResizeCanvas:
    """Resample every layer (and the selection) to ``width`` x ``height``."""
    _check_size(width, height)
    size = (width, height)

    def change(pixels: np.ndarray, kind: LayerKind | None) -> np.ndarray:
        if kind is LayerKind.RASTER:
            return _resize_rgba(pixels, size)
        return resample(pixels, size, exact=kind is LayerKind.LABELS, smooth=kind is not LayerKind.LABELS)

    scale_x, scale_y = width / doc.width, height / doc.height
    spec = _spec(doc.print_spec, lambda s: _rescaled(s, scale_x, scale_y))
    return _transform(doc, "Resize image", size, change, spec)


def canvas_size(doc: Document, width: int, height: int, anchor: Anchor = Anchor.CENTRE) -> ResizeCanvas:
    """Give the document ``width`` x ``height`` pixels, the picture placed by ``anchor``: added pixels are
    transparent, unmasked and unlabelled."""
    _check_size(width, height)
    across, down = anchor.fractions
    left = round((width - doc.width) * across)
    top = round((height - doc.height) * down)

    def change(pixels: np.ndarray, _kind: LayerKind | None) -> np.ndarray:
        out = np.zeros((height, width, *pixels.shape[2:]), pixels.dtype)
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + doc.width, width), min(top + doc.height, height)
        out[y0:y1, x0:x1] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]
        return out

    grow_x, grow_y = width - doc.width, height - doc.height
    spec = _spec(doc.print_spec, lambda s: _grown(s, grow_x, grow_y))
    return _transform(doc, "Canvas size", (width, height), change, spec)


def crop(doc: Document, region: Region) -> ResizeCanvas:
    """Keep only ``region`` of every layer (clipped to the document); the selection goes."""
    x0, y0 = max(region[0], 0), max(region[1], 0)
    x1, y1 = min(region[2], doc.width), min(region[3], doc.height)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"the crop {region} leaves nothing of a {doc.width}x{doc.height} document")
    spec = _spec(doc.print_spec, lambda s: _grown(s, (x1 - x0) - doc.width, (y1 - y0) - doc.height))
    step = _transform(doc, "Crop", (x1 - x0, y1 - y0), lambda p, _k: p[y0:y1, x0:x1].copy(), spec)
    step.selection = None
    return step


def crop_to_selection(doc: Document) -> ResizeCanvas | None:
    """Crop to the bounds of the selection; None without a selection."""
    region = None if doc.selection is None else bounds(doc.selection)
    return None if region is None else crop(doc, region)


def rotate(doc: Document, quarter_turns: int) -> ResizeCanvas:
    """Turn the document by ``quarter_turns`` times 90 degrees clockwise (negative: anticlockwise)."""
    turns = quarter_turns % 4
    size = (doc.height, doc.width) if turns % 2 else (doc.width, doc.height)

    def change(pixels: np.ndarray, _kind: LayerKind | None) -> np.ndarray:
        return np.ascontiguousarray(np.rot90(pixels, -turns, axes=(0, 1)))

    spec = doc.print_spec
    if spec is not None and turns % 2:
        spec = dataclasses.replace(spec, width_in=spec.height_in, height_in=spec.width_in)
    text = {1: "Rotate 90° clockwise", 2: "Rotate 180°", 3: "Rotate 90° anticlockwise"}.get(turns, "Rotate 0°")
    return _transform(doc, text, size, change, spec)


def flip(doc: Document, horizontal: bool) -> ResizeCanvas:
    """Mirror the document left to right (``horizontal``) or top to bottom."""
    axis = 1 if horizontal else 0
    text = "Flip horizontally" if horizontal else "Flip vertically"
    return _transform(
        doc, text, (doc.width, doc.height), lambda p, _k: np.ascontiguousarray(np.flip(p, axis)), doc.print_spec
    )


def _transform(
    doc: Document,
    text: str,
    size: tuple[int, int],
    change: Callable[[np.ndarray, LayerKind | None], np.ndarray],
    spec: PrintSpec | None,
) -> ResizeCanvas:
    """The undo step that gives every layer ``change(pixels, kind)`` and the selection ``change(selection, None)``."""
    pixels = {layer.id: change(layer.pixels, layer.kind) for layer in doc.layers}
    selection = None if doc.selection is None else change(doc.selection, None)
    return ResizeCanvas(text, size[0], size[1], pixels, spec, selection)


def _resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgba`` (uint8 or uint16) resampled premultiplied, so transparent pixels' colours do not bleed into their
    neighbours."""
    top = float(np.iinfo(rgba.dtype).max)
    alpha = rgba[..., 3:4].astype(np.float32) / top
    premultiplied = np.concatenate([rgba[..., :3] * alpha, rgba[..., 3:4].astype(np.float32)], axis=2)
    out = np.clip(resample(premultiplied, size), 0.0, top)
    out_alpha = out[..., 3:4] / top
    colour = np.where(out_alpha > 0, out[..., :3] / np.maximum(out_alpha, 1e-6), 0.0)
    return np.clip(np.concatenate([colour, out[..., 3:4]], axis=2) + 0.5, 0, top).astype(rgba.dtype)


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"a document's sides must be 1 to {MAX_SIDE} pixels, not {width}x{height}")


def _spec(spec: PrintSpec | None, change: Callable[[PrintSpec], PrintSpec]) -> PrintSpec | None:
    """``change(spec)``, or None where the changed print would not be a valid one (it is then dropped)."""
    if spec is None:
        return None
    try:
        return change(spec)
    except ValueError:
        return None


def _rescaled(spec: PrintSpec, scale_x: float, scale_y: float) -> PrintSpec:
    """The same print width at the pixels' new resolution; the height follows a change of aspect."""
    ppi = min(max(round(spec.ppi * scale_x), 1), MAX_PPI)
    return dataclasses.replace(spec, ppi=ppi, height_in=spec.height_in * scale_y / scale_x)


def _grown(spec: PrintSpec, pixels_x: int, pixels_y: int) -> PrintSpec:
    """The print at the same resolution, grown (or shrunk) by as many inches as the pixels added."""
    return dataclasses.replace(
        spec, width_in=spec.width_in + pixels_x / spec.ppi, height_in=spec.height_in + pixels_y / spec.ppi
    )
