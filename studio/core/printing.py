"""Fitting pictures and documents to a print: upscaling, cropping, filling, mirrored gallery wraps.

The print itself (physical size, resolution, bleed, wrap, presets) is a
:class:`studio.core.print_size.PrintSpec`; colour for print (ICC, soft proofs) is
:mod:`studio.core.colour`. Qt-free: used by the GUI, the CLI and batch renders alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from studio.core.document import Document, LayerKind
from studio.core.history import ResizeCanvas
from studio.core.print_size import PrintSpec

__all__ = ["FIT_MODES", "MIN_PRINT_PPI", "Unsharp", "fit_document", "fit_to_print", "picture_ppi", "upscale"]

FitMode = Literal["crop", "fill", "mirror"]

FIT_MODES: tuple[str, ...] = ("crop", "fill", "mirror")

MIN_PRINT_PPI = 150
"""Below this resolution a print looks soft, or shows its pixels, when seen from close by."""


def picture_ppi(size: tuple[int, int], spec: PrintSpec, mode: FitMode = "crop") -> float:
    """The resolution a picture of ``size`` (width, height) pixels keeps once fitted to ``spec`` with ``mode``
    (see :func:`fit_to_print`): the spec's ppi divided by how much the fit enlarges it."""
    width, height = size
    trim = spec.trim_rect
    if mode == "crop":
        scale = max(spec.pixel_size[0] / width, spec.pixel_size[1] / height)
    elif mode == "mirror":
        scale = max(trim.width / width, trim.height / height)
    else:
        scale = min(trim.width / width, trim.height / height)
    return spec.ppi / scale


# --------------------------------------------------------------------------- resampling


@dataclass(frozen=True)
class Unsharp:
    """Unsharp mask: ``radius`` in pixels (Gaussian sigma), ``amount`` (0.5 = 50 %), ``threshold`` in 8-bit levels."""

    radius: float = 1.0
    amount: float = 0.5
    threshold: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.radius <= 100 and 0 <= self.amount <= 5 and 0 <= self.threshold <= 255):
            raise ValueError(f"unsharp mask needs 0 < radius <= 100, 0 <= amount <= 5, 0 <= threshold <= 255: {self}")


def upscale(pixels: np.ndarray, size: tuple[int, int], *, unsharp: Unsharp | None = None) -> np.ndarray:
    """Resize (H, W[, C]) uint8/uint16 pixels to ``size`` = (width, height): Lanczos up, area-averaging down.

    Colour is premultiplied by alpha while resampling so transparent pixels do not bleed
    into their neighbours. ``unsharp`` sharpens the colour channels afterwards (alpha is
    left alone). The baseline print upscaler; returns a new array.
    """
    import cv2

    _check_array(pixels)
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, not {size}")
    src_h, src_w = pixels.shape[:2]
    if (width, height) == (src_w, src_h):
        out = pixels.copy()
    else:
        enlarging = width * height >= src_w * src_h
        interpolation = cv2.INTER_LANCZOS4 if enlarging else cv2.INTER_AREA
        has_alpha = pixels.ndim == 3 and pixels.shape[2] == 4
        if has_alpha and int(pixels[..., 3].min()) < np.iinfo(pixels.dtype).max:
            out = _resize_premultiplied(pixels, (width, height), interpolation)
        else:
            out = cv2.resize(pixels, (width, height), interpolation=interpolation)
            if pixels.ndim == 3 and out.ndim == 2:
                out = out[..., None]
    if unsharp is not None:
        out = _unsharp(out, unsharp)
    return out


def _resize_premultiplied(pixels: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    import cv2

    top = float(np.iinfo(pixels.dtype).max)
    alpha = pixels[..., 3:4].astype(np.float32) / top
    premultiplied = np.concatenate([pixels[..., :3].astype(np.float32) * alpha, alpha * top], axis=2)
    resized = cv2.resize(premultiplied, size, interpolation=interpolation)
    del premultiplied
    a = np.clip(resized[..., 3:4], 0.0, top)
    colour = np.where(a > 0, resized[..., :3] * (top / np.maximum(a, 1e-6)), 0.0)
    out = np.concatenate([colour, a], axis=2)
    return np.clip(np.rint(out), 0, top).astype(pixels.dtype)


def _unsharp(pixels: np.ndarray, u: Unsharp) -> np.ndarray:
    import cv2

    colour = pixels[..., :3] if pixels.ndim == 3 else pixels
    colour = np.ascontiguousarray(colour)
    blurred = cv2.GaussianBlur(colour, (0, 0), u.radius)
    sharpened = cv2.addWeighted(colour, 1.0 + u.amount, blurred, -u.amount, 0)  # saturates in the input dtype
    if u.threshold > 0:
        scale = 257 if pixels.dtype == np.uint16 else 1
        keep = cv2.absdiff(colour, blurred) < u.threshold * scale
        sharpened[keep] = colour[keep]
    if pixels.ndim == 3:
        out = pixels.copy()
        out[..., :3] = sharpened
        return out
    return sharpened


def fit_to_print(
    pixels: np.ndarray,
    spec: PrintSpec,
    mode: FitMode = "crop",
    *,
    fill: tuple[int, ...] = (255, 255, 255, 255),
    unsharp: Unsharp | None = None,
    resample: bool = True,
) -> np.ndarray:
    """Make ``pixels`` exactly ``spec.pixel_size``, keeping the picture centred.

    - ``crop``: scale to cover the whole image (bleed included), crop the overflow evenly.
    - ``fill``: scale to fit inside the trim (the face), extend with the ``fill`` colour
      (given in 8-bit levels, per channel; the first value is used for one-channel arrays).
    - ``mirror``: scale to cover the trim, then mirror its edges outward into wrap and bleed,
      as gallery-wrapped canvases are printed.

    ``resample=False`` uses nearest-neighbour scaling (for label maps). Lanczos otherwise,
    through :func:`upscale` (with ``unsharp``).
    """
    _check_array(pixels)
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode must be one of {', '.join(FIT_MODES)}, not {mode!r}")
    target_w, target_h = spec.pixel_size
    trim = spec.trim_rect
    if mode == "crop":
        return _cover(pixels, (target_w, target_h), unsharp, resample)
    if mode == "mirror":
        face = _cover(pixels, (trim.width, trim.height), unsharp, resample)
        m = spec.margin_px
        if m == 0:
            return face
        return _mirror_pad(face, m)
    scale = min(trim.width / pixels.shape[1], trim.height / pixels.shape[0])
    w = max(1, min(trim.width, round(pixels.shape[1] * scale)))
    h = max(1, min(trim.height, round(pixels.shape[0] * scale)))
    scaled = _resize(pixels, (w, h), unsharp, resample)
    out = np.empty((target_h, target_w, *pixels.shape[2:]), pixels.dtype)
    out[...] = _fill_value(fill, pixels)
    x0 = trim.x0 + (trim.width - w) // 2
    y0 = trim.y0 + (trim.height - h) // 2
    out[y0 : y0 + h, x0 : x0 + w] = scaled
    return out


def fit_document(
    doc: Document,
    spec: PrintSpec,
    mode: FitMode = "crop",
    *,
    fill: tuple[int, int, int, int] = (255, 255, 255, 255),
    unsharp: Unsharp | None = None,
) -> ResizeCanvas:
    """The command that fits every layer of ``doc`` to ``spec`` (see :func:`fit_to_print`) in one undoable step.

    Push it on ``doc.history`` to apply it. The lowest raster layer is extended with
    ``fill``; the layers above it, masks and label maps with transparency or zero. Label
    maps are scaled without interpolation. The document then remembers ``spec``.
    """
    base = next((la for la in doc.layers if la.kind is LayerKind.RASTER), None)
    pixels: dict[str, np.ndarray] = {}
    for layer in doc.layers:
        if layer.kind is LayerKind.RASTER:
            colour = fill if layer is base else (0, 0, 0, 0)
            pixels[layer.id] = fit_to_print(layer.pixels, spec, mode, fill=colour, unsharp=unsharp)
        else:
            labels = layer.kind is LayerKind.LABELS
            pixels[layer.id] = fit_to_print(layer.pixels, spec, mode, fill=(0,), resample=not labels)
    width, height = spec.pixel_size
    return ResizeCanvas(f"Fit to {spec.name} ({mode})", width, height, pixels, spec)


def _cover(pixels: np.ndarray, size: tuple[int, int], unsharp: Unsharp | None, resample: bool) -> np.ndarray:
    """Scale to cover ``size`` (width, height) and crop the overflow evenly on both sides."""
    target_w, target_h = size
    src_h, src_w = pixels.shape[:2]
    scale = max(target_w / src_w, target_h / src_h)
    w, h = max(target_w, round(src_w * scale)), max(target_h, round(src_h * scale))
    scaled = _resize(pixels, (w, h), unsharp, resample)
    x0, y0 = (w - target_w) // 2, (h - target_h) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + target_h, x0 : x0 + target_w])


def _resize(pixels: np.ndarray, size: tuple[int, int], unsharp: Unsharp | None, resample: bool) -> np.ndarray:
    if resample:
        return upscale(pixels, size, unsharp=unsharp)
    import cv2

    out = cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST)
    return out[..., None] if pixels.ndim == 3 and out.ndim == 2 else out


def _mirror_pad(face: np.ndarray, margin: int) -> np.ndarray:
    """Pad by reflecting the face's edges (repeatedly, when the margin is wider than the face)."""
    pad = [(margin, margin), (margin, margin)] + [(0, 0)] * (face.ndim - 2)
    return np.pad(face, pad, mode="symmetric")


def _fill_value(fill: tuple[int, ...], pixels: np.ndarray) -> np.ndarray:
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    values = list(fill) + [255] * max(0, channels - len(fill))
    if not all(0 <= int(v) <= 255 for v in values):
        raise ValueError(f"fill must be 8-bit levels 0..255, not {fill!r}")
    scale = 257 if pixels.dtype == np.uint16 else 1
    picked = np.array([int(v) * scale for v in values[:channels]], pixels.dtype)
    return picked if pixels.ndim == 3 else picked[0]


def _check_array(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError("pixels must be a uint8 or uint16 numpy array")
    if pixels.ndim not in (2, 3) or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, C), not {pixels.shape}")
