"""Print documents: physical sizes, resolution, bleed and wrap; fitting, upscaling, soft proofing.

A :class:`PrintSpec` is a physical size in inches at a resolution (ppi). Its pixel size
follows exactly: the trim (the visible face) is ``round(inches * ppi)`` pixels, and the
gallery wrap (the canvas sides) and the bleed (cut off or stapled behind) are added on
every side. Rectangles for on-canvas guides are given in pixels, end-exclusive::

    +-------------------------------+  bleed: the whole image
    |  +-------------------------+  |  wrap: where the canvas folds to the back
    |  |  +-------------------+  |  |  trim: the face of the print
    |  |  |  +-------------+  |  |  |  safe: keep important content inside
    |  |  |  +-------------+  |  |  |
    |  |  +-------------------+  |  |
    |  +-------------------------+  |
    +-------------------------------+

Qt-free: used by the GUI, the CLI and batch renders alike.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image, ImageCms

if TYPE_CHECKING:
    from studio.core.document import Document

__all__ = [
    "FIT_MODES",
    "INTENTS",
    "PPI_CHOICES",
    "PRESETS",
    "UNITS",
    "PrintSpec",
    "Rect",
    "Unsharp",
    "fit_document",
    "fit_to_print",
    "get_preset",
    "load_profile",
    "soft_proof",
    "upscale",
]

Unit = Literal["in", "cm", "mm"]
FitMode = Literal["crop", "fill", "mirror"]

UNITS: dict[str, float] = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4}
"""Inches per unit."""

PPI_CHOICES: tuple[int, ...] = (150, 240, 300)
FIT_MODES: tuple[str, ...] = ("crop", "fill", "mirror")
MAX_PPI = 2400
MAX_INCHES = 200.0

INTENTS: dict[str, ImageCms.Intent] = {
    "perceptual": ImageCms.Intent.PERCEPTUAL,
    "relative": ImageCms.Intent.RELATIVE_COLORIMETRIC,
    "saturation": ImageCms.Intent.SATURATION,
    "absolute": ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
}
"""Rendering intents by the names used in settings and job files."""


def _pixels(inches: float, ppi: int) -> int:
    """Inches at ``ppi`` as whole pixels, rounding half up (robust to float noise: 210 mm -> 2480 at 300)."""
    return math.floor(inches * ppi + 0.5 + 1e-9)


@dataclass(frozen=True)
class Rect:
    """A pixel rectangle, end-exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def inset(self, d: int) -> Rect:
        """This rectangle shrunk by ``d`` pixels on each side (grown when ``d`` is negative)."""
        return Rect(self.x0 + d, self.y0 + d, self.x1 - d, self.y1 - d)


@dataclass(frozen=True)
class PrintSpec:
    """A print: trim size in inches, resolution, bleed and gallery-wrap depth (inches, each side)."""

    width_in: float
    height_in: float
    ppi: int = 300
    bleed_in: float = 0.0
    wrap_in: float = 0.0
    safe_in: float = 0.25
    name: str = "custom"

    def __post_init__(self) -> None:
        if not (0 < self.width_in <= MAX_INCHES and 0 < self.height_in <= MAX_INCHES):
            raise ValueError(
                f"print size must be between 0 and {MAX_INCHES:g} in, not {self.width_in:g} x {self.height_in:g} in"
            )
        if not (isinstance(self.ppi, int) and 1 <= self.ppi <= MAX_PPI):
            raise ValueError(f"ppi must be a whole number from 1 to {MAX_PPI}, not {self.ppi!r}")
        for label, value in (("bleed", self.bleed_in), ("wrap", self.wrap_in), ("safe margin", self.safe_in)):
            if not (math.isfinite(value) and 0 <= value <= MAX_INCHES / 4):
                raise ValueError(f"{label} must be between 0 and {MAX_INCHES / 4:g} in, not {value!r}")
        if 2 * self.safe_px >= min(self.trim_size):
            raise ValueError(f"the safe margin {self.safe_in:g} in leaves no room inside the trim")

    @classmethod
    def from_units(
        cls,
        width: float,
        height: float,
        unit: Unit = "in",
        *,
        ppi: int = 300,
        bleed: float = 0.0,
        wrap: float = 0.0,
        safe: float | None = None,
        name: str = "custom",
    ) -> PrintSpec:
        """A spec from a size, bleed, wrap (and safe margin) all given in ``unit`` (in, cm or mm)."""
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
        k = UNITS[unit]
        extra = {} if safe is None else {"safe_in": safe * k}
        return cls(width * k, height * k, ppi, bleed * k, wrap * k, name=name, **extra)

    def with_ppi(self, ppi: int) -> PrintSpec:
        return dataclasses.replace(self, ppi=ppi)

    # Pixel arithmetic

    @property
    def trim_size(self) -> tuple[int, int]:
        """(width, height) of the trim (the face) in pixels."""
        return _pixels(self.width_in, self.ppi), _pixels(self.height_in, self.ppi)

    @property
    def bleed_px(self) -> int:
        return _pixels(self.bleed_in, self.ppi)

    @property
    def wrap_px(self) -> int:
        return _pixels(self.wrap_in, self.ppi)

    @property
    def safe_px(self) -> int:
        return _pixels(self.safe_in, self.ppi)

    @property
    def margin_px(self) -> int:
        """Pixels outside the trim on each side: wrap plus bleed."""
        return self.wrap_px + self.bleed_px

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(width, height) of the whole image: trim plus wrap and bleed on each side."""
        w, h = self.trim_size
        return w + 2 * self.margin_px, h + 2 * self.margin_px

    @property
    def bleed_rect(self) -> Rect:
        w, h = self.pixel_size
        return Rect(0, 0, w, h)

    @property
    def wrap_rect(self) -> Rect:
        return self.bleed_rect.inset(self.bleed_px)

    @property
    def trim_rect(self) -> Rect:
        return self.bleed_rect.inset(self.margin_px)

    @property
    def safe_rect(self) -> Rect:
        return self.trim_rect.inset(self.safe_px)

    def describe(self, unit: Unit = "in") -> str:
        """A one-line summary, e.g. '24 x 24 in, 300 ppi, wrap 1.5 in, bleed 0.25 in: 8250 x 8250 px'."""
        k = UNITS[unit]
        parts = [f"{self.width_in / k:.4g} x {self.height_in / k:.4g} {unit}", f"{self.ppi} ppi"]
        if self.wrap_in:
            parts.append(f"wrap {self.wrap_in / k:.3g} {unit}")
        if self.bleed_in:
            parts.append(f"bleed {self.bleed_in / k:.3g} {unit}")
        w, h = self.pixel_size
        return f"{', '.join(parts)}: {w} x {h} px"

    # Serialisation (project files, job files)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrintSpec:
        """The inverse of :meth:`to_dict`; unknown keys raise KeyError naming the key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f"unknown print spec key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = dict(data)
        try:
            for key in ("width_in", "height_in", "bleed_in", "wrap_in", "safe_in"):
                if key in values:
                    values[key] = float(values[key])
            if "ppi" in values:
                if float(values["ppi"]) != int(values["ppi"]):
                    raise ValueError(f"ppi must be a whole number, not {values['ppi']!r}")
                values["ppi"] = int(values["ppi"])
            if "name" in values:
                values["name"] = str(values["name"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"print spec: {exc}") from exc
        return cls(**values)


PRESETS: dict[str, PrintSpec] = {
    "poster_18x24": PrintSpec(18, 24, 300, bleed_in=0.125, name="poster_18x24"),
    "canvas_12x12": PrintSpec(12, 12, 300, bleed_in=0.25, wrap_in=1.5, name="canvas_12x12"),
    "canvas_24x24": PrintSpec(24, 24, 300, bleed_in=0.25, wrap_in=1.5, name="canvas_24x24"),
    **{
        name: PrintSpec.from_units(w, h, "mm", ppi=300, bleed=3, safe=5, name=name)
        for name, (w, h) in {"a4": (210, 297), "a3": (297, 420), "a2": (420, 594), "a1": (594, 841)}.items()
    },
}
"""Named print presets at 300 ppi; use ``get_preset(name, ppi=150)`` or ``spec.with_ppi`` for another resolution."""

PRESET_TITLES: dict[str, str] = {
    "poster_18x24": "Poster 18 x 24 in",
    "canvas_12x12": "Gallery-wrapped canvas 12 x 12 in (1.5 in wrap)",
    "canvas_24x24": "Gallery-wrapped canvas 24 x 24 in (1.5 in wrap)",
    "a4": "A4 (210 x 297 mm)",
    "a3": "A3 (297 x 420 mm)",
    "a2": "A2 (420 x 594 mm)",
    "a1": "A1 (594 x 841 mm)",
}


def get_preset(name: str, *, ppi: int | None = None) -> PrintSpec:
    """The preset called ``name``, optionally at another resolution; KeyError lists the known names."""
    try:
        spec = PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown print preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return spec if ppi is None else spec.with_ppi(ppi)


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
) -> None:
    """Fit every layer of ``doc`` to ``spec`` (see :func:`fit_to_print`) as one undoable step.

    The lowest raster layer is extended with ``fill``; the layers above it, masks and label
    maps with transparency or zero. Label maps are scaled without interpolation. The
    document then remembers ``spec``.
    """
    from studio.core.document import LayerKind
    from studio.core.history import ResizeCanvas

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
    doc.history.push(ResizeCanvas(f"Fit to {spec.name} ({mode})", width, height, pixels, spec))


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


# --------------------------------------------------------------------------- soft proofing


def load_profile(path: str | os.PathLike[str]) -> ImageCms.ImageCmsProfile:
    """Open an ICC profile file; ValueError names the file when it is missing or not a profile."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"Cannot read the ICC profile {p}: {exc.strerror or exc}. Choose another .icc file.") from exc
    return _profile_from_bytes(data, str(p))


@lru_cache(maxsize=8)
def _profile_from_bytes(data: bytes, label: str) -> ImageCms.ImageCmsProfile:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(data))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{label} is not a valid ICC profile ({exc}). Choose another .icc file.") from exc


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=8)
def _proof_transforms(
    printer: ImageCms.ImageCmsProfile, intent: str, mode: str
) -> tuple[ImageCms.ImageCmsTransform, ImageCms.ImageCmsTransform]:
    flags = ImageCms.Flags.SOFTPROOFING | ImageCms.Flags.BLACKPOINTCOMPENSATION
    args = (_srgb(), _srgb(), printer, mode, mode, ImageCms.Intent.RELATIVE_COLORIMETRIC, INTENTS[intent])
    proof = ImageCms.buildProofTransform(*args, flags)
    check = ImageCms.buildProofTransform(*args, flags | ImageCms.Flags.GAMUTCHECK)
    return proof, check


def soft_proof(
    rgb: np.ndarray, printer_profile: str | os.PathLike[str] | ImageCms.ImageCmsProfile, intent: str = "relative"
) -> tuple[np.ndarray, np.ndarray]:
    """How sRGB pixels will print through ``printer_profile``: (proofed pixels, out-of-gamut mask).

    ``rgb`` is (H, W, 3) or (H, W, 4) uint8 sRGB (alpha is kept as is). The proofed image
    is the print simulated back on an sRGB screen with ``intent`` (perceptual, relative,
    saturation, absolute); the mask is True where LittleCMS's gamut check says the
    printer cannot reproduce the colour.
    """
    if intent not in INTENTS:
        raise ValueError(f"rendering intent must be one of {', '.join(INTENTS)}, not {intent!r}")
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError("soft_proof expects (H, W, 3|4) uint8 sRGB pixels")
    profile = (
        printer_profile if isinstance(printer_profile, ImageCms.ImageCmsProfile) else load_profile(printer_profile)
    )
    colour = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    try:
        proof, check = _proof_transforms(profile, intent, "RGB")
    except ImageCms.PyCMSError as exc:
        raise ValueError(
            f"the printer profile cannot be used for proofing ({exc}). Choose a printer (CMYK or RGB output) profile."
        ) from exc
    proofed = np.asarray(ImageCms.applyTransform(colour, proof))
    checked = np.asarray(ImageCms.applyTransform(colour, check))
    out_of_gamut = np.any(proofed != checked, axis=2)
    if rgb.shape[2] == 4:
        proofed = np.dstack([proofed, rgb[..., 3]])
    return np.ascontiguousarray(proofed), out_of_gamut
