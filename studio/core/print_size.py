"""Print sizes: a physical size in inches at a resolution, with bleed and gallery wrap; named presets.

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

A leaf of the core: documents, project files and job files hold a PrintSpec; fitting
pixels to one is :mod:`studio.core.printing`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MAX_INCHES",
    "MAX_PPI",
    "PPI_CHOICES",
    "PRESETS",
    "PRESET_TITLES",
    "UNITS",
    "PrintSpec",
    "Rect",
    "get_preset",
]

Unit = Literal["in", "cm", "mm"]

UNITS: dict[str, float] = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4}
"""Inches per unit."""

PPI_CHOICES: tuple[int, ...] = (150, 240, 300)
MAX_PPI = 2400
MAX_INCHES = 200.0


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
