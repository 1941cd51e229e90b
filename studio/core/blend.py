"""Layer blend modes and the one source-over step every composite is built from (no Qt).

The blend functions are those of W3C Compositing and Blending Level 1 (section 10,
"Blending"); a layer is laid over what is below it with straight (not premultiplied)
alpha by the same document's general formula with source-over::

    Cs' = (1 - ab) Cs + ab B(Cb, Cs)
    ao  = as + ab (1 - as)
    Co  = (as Cs' + ab Cb (1 - as)) / ao

where ``b`` is the backdrop (the layers below) and ``s`` the source (the layer, its alpha
scaled by its opacity). With ``B(Cb, Cs) = Cs`` (normal) this is plain source-over.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from PIL import Image

__all__ = ["BLEND_MODE_TITLES", "BlendMode", "blend_function", "over", "with_opacity"]


class BlendMode(StrEnum):
    """How a raster layer's colours mix with the layers below it."""

    NORMAL = "normal"
    MULTIPLY = "multiply"
    SCREEN = "screen"
    OVERLAY = "overlay"
    SOFT_LIGHT = "soft_light"


BLEND_MODE_TITLES = {
    BlendMode.NORMAL: "Normal",
    BlendMode.MULTIPLY: "Multiply",
    BlendMode.SCREEN: "Screen",
    BlendMode.OVERLAY: "Overlay",
    BlendMode.SOFT_LIGHT: "Soft light",
}
"""The name each mode has in menus and the Layers panel."""


def _multiply(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    return cb * cs


def _screen(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    return cb + cs - cb * cs


def _overlay(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # HardLight(Cs, Cb) with the roles swapped: the backdrop decides multiply or screen.
    return np.where(cb <= 0.5, _multiply(cs, 2.0 * cb), _screen(cs, 2.0 * cb - 1.0))


def _soft_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    d = np.where(cb <= 0.25, ((16.0 * cb - 12.0) * cb + 4.0) * cb, np.sqrt(cb))
    return np.where(cs <= 0.5, cb - (1.0 - 2.0 * cs) * cb * (1.0 - cb), cb + (2.0 * cs - 1.0) * (d - cb))


_FUNCTIONS = {
    BlendMode.MULTIPLY: _multiply,
    BlendMode.SCREEN: _screen,
    BlendMode.OVERLAY: _overlay,
    BlendMode.SOFT_LIGHT: _soft_light,
}


def blend_function(mode: BlendMode, backdrop: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``B(Cb, Cs)`` of ``mode`` on colour channels as floats in 0..1 (arrays of one shape)."""
    if mode is BlendMode.NORMAL:
        return source
    return _FUNCTIONS[mode](backdrop, source)


def with_opacity(rgba: np.ndarray, opacity: float) -> np.ndarray:
    """``rgba`` (uint8 or uint16) with its alpha scaled by ``opacity`` (the same array when opacity is 1)."""
    if opacity >= 1.0:
        return rgba
    top = int(np.iinfo(rgba.dtype).max)
    scaled = rgba.copy()
    scaled[..., 3] = (rgba[..., 3].astype(np.uint64) * round(opacity * top) + top // 2) // top
    return scaled


def over(backdrop: np.ndarray, source: np.ndarray, mode: BlendMode, opacity: float = 1.0) -> np.ndarray:
    """``source`` (RGBA, alpha scaled by ``opacity``) laid over ``backdrop`` (RGBA of the same shape and type, uint8
    or uint16) with ``mode``: a new array of that type with straight alpha."""
    source = with_opacity(source, opacity)
    if mode is BlendMode.NORMAL and backdrop.dtype == np.uint8:
        return np.asarray(Image.alpha_composite(Image.fromarray(backdrop, "RGBA"), Image.fromarray(source, "RGBA")))
    top = float(np.iinfo(backdrop.dtype).max)
    b = backdrop.astype(np.float32) / top
    s = source.astype(np.float32) / top
    cb, ab = b[..., :3], b[..., 3:]
    cs, as_ = s[..., :3], s[..., 3:]
    mixed = (1.0 - ab) * cs + ab * blend_function(mode, cb, cs)
    ao = as_ + ab * (1.0 - as_)
    co = (as_ * mixed + ab * cb * (1.0 - as_)) / np.where(ao > 0, ao, 1.0)
    out = np.concatenate([co, ao], axis=-1) * top + 0.5
    return np.clip(out, 0, top).astype(backdrop.dtype)
