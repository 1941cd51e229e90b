"""Export for print and screen: format, bit depth, compression, dpi, ICC profile, CMYK.

:class:`ExportSettings` says how to write a file; it round-trips through a JSON dict (for
project files, job files and named presets). :func:`export_image` converts the sRGB
working pixels into the chosen profile (or a printer's CMYK profile), embeds that
profile and the dpi, and writes the file atomically through :func:`studio.core.image.save_image`:
never a truncated file, never an existing file replaced unless ``overwrite=True``. :func:`export_document` does the
same for a document, and writes an RGB TIFF a band of rows at a time, so a print-size export needs little memory.

ICC profiles: "srgb" is LittleCMS's built-in sRGB; "adobe_rgb" is the "Compatible with
Adobe RGB (1998)" profile from Debian's icc-profiles-free (zlib license) or colord-data
(CC0); any other value is the path of an .icc/.icm file. Qt-free.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import imagecodecs
import numpy as np
import platformdirs
import tifffile

from studio.core.atomic import atomic_write
from studio.core.cancel import CancelCheck, Progress, check_cancelled
from studio.core.colour import (
    INTENTS,
    check_rgb_pixels,
    convert_from_srgb,
    read_profile,
    srgb_profile_bytes,
    srgb_to_cmyk,
)
from studio.core.image import ImageError, save_image, to_uint8, writing_image
from studio.core.tiles import TILE_SIZE, Region

__all__ = [
    "ADOBE_RGB_PACKAGES",
    "EXPORT_PRESETS",
    "FORMATS",
    "ExportExistsError",
    "ExportSettings",
    "ExportSettingsError",
    "Flattenable",
    "adobe_rgb_profile_path",
    "export_document",
    "export_image",
    "load_presets",
    "resolve_icc",
    "save_preset",
]

FORMATS: dict[str, tuple[str, ...]] = {
    "tiff": (".tif", ".tiff"),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "webp": (".webp",),
}
"""Format name -> accepted file suffixes (the first is the default)."""

SIXTEEN_BIT_FORMATS = ("tiff", "png")
CMYK_FORMATS = ("tiff", "jpeg")
COMPRESSIONS = ("lzw", "none")
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
BUILTIN_ICC = ("srgb", "adobe_rgb")
ADOBE_RGB_PACKAGES = "icc-profiles-free or colord-data"

_ADOBE_RGB_FILES = (
    Path("/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"),  # icc-profiles-free (zlib)
    Path("/usr/share/color/icc/colord/AdobeRGB1998.icc"),  # colord-data (CC0)
    Path("/Library/ColorSync/Profiles/AdobeRGB1998.icc"),
    Path("/System/Library/ColorSync/Profiles/AdobeRGB1998.icc"),
)


class ExportSettingsError(ValueError):
    """An export setting is wrong; ``key`` names it (for job files and dialogs)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"export setting {key!r}: {message}")
        self.key = key


class ExportExistsError(ImageError):
    """The export target exists and ``overwrite`` was not given; nothing was written."""


@dataclass(frozen=True)
class ExportSettings:
    """How an image is written. Invalid combinations raise ExportSettingsError naming the key.

    ``icc`` is "srgb", "adobe_rgb" or a path to an RGB .icc/.icm file. ``cmyk_profile``
    (TIFF/JPEG, 8 bits) converts to that printer profile with ``intent`` and embeds it
    instead. ``compression`` applies to TIFF, ``quality`` to JPEG and WebP (WebP 100 =
    lossless), ``subsampling`` to JPEG. ``dpi`` None writes no resolution.
    """

    format: str = "tiff"
    bit_depth: int = 8
    compression: str = "lzw"
    quality: int = 95
    subsampling: str = "4:4:4"
    dpi: float | None = 300.0
    icc: str = "srgb"
    cmyk_profile: str | None = None
    intent: str = "perceptual"

    def __post_init__(self) -> None:
        def fail(key: str, message: str) -> None:
            raise ExportSettingsError(key, message)

        if self.format not in FORMATS:
            fail("format", f"must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.bit_depth not in (8, 16):
            fail("bit_depth", f"must be 8 or 16, not {self.bit_depth!r}")
        if self.bit_depth == 16 and self.format not in SIXTEEN_BIT_FORMATS:
            fail("bit_depth", f"{self.format} holds 8 bits per channel; 16 bits needs tiff or png")
        if self.compression not in COMPRESSIONS:
            fail("compression", f"must be one of {', '.join(COMPRESSIONS)}, not {self.compression!r}")
        if not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            fail("quality", f"must be a whole number from 1 to 100, not {self.quality!r}")
        if self.subsampling not in SUBSAMPLINGS:
            fail("subsampling", f"must be one of {', '.join(SUBSAMPLINGS)}, not {self.subsampling!r}")
        if self.dpi is not None and not (isinstance(self.dpi, int | float) and 1 <= self.dpi <= 10_000):
            fail("dpi", f"must be a number from 1 to 10000 (or null), not {self.dpi!r}")
        if not isinstance(self.icc, str) or not (self.icc in BUILTIN_ICC or _looks_like_profile(self.icc)):
            fail("icc", f"must be 'srgb', 'adobe_rgb' or the path of an .icc/.icm file, not {self.icc!r}")
        if self.cmyk_profile is not None:
            if not (isinstance(self.cmyk_profile, str) and _looks_like_profile(self.cmyk_profile)):
                fail("cmyk_profile", f"must be the path of an .icc/.icm file, not {self.cmyk_profile!r}")
            if self.format not in CMYK_FORMATS:
                fail("cmyk_profile", f"CMYK is written as tiff or jpeg, not {self.format}")
            if self.bit_depth != 8:
                fail("cmyk_profile", "CMYK files are written with 8 bits per channel; set bit_depth to 8")
        if self.intent not in INTENTS:
            fail("intent", f"must be one of {', '.join(INTENTS)}, not {self.intent!r}")

    @property
    def suffix(self) -> str:
        """The default file suffix for the format, e.g. '.tif'."""
        return FORMATS[self.format][0]

    def replace(self, **changes: Any) -> ExportSettings:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short summary such as 'TIFF 16-bit LZW, 300 dpi, sRGB'."""
        parts = [self.format.upper()]
        if self.format in SIXTEEN_BIT_FORMATS:
            parts.append(f"{self.bit_depth}-bit")
        if self.format == "tiff":
            parts.append(self.compression.upper() if self.compression == "lzw" else "uncompressed")
        if self.format in ("jpeg", "webp"):
            parts.append("lossless" if self.format == "webp" and self.quality == 100 else f"quality {self.quality}")
        text = " ".join(parts)
        text += f", {self.dpi:g} dpi" if self.dpi else ", no dpi"
        if self.cmyk_profile:
            return f"{text}, CMYK {Path(self.cmyk_profile).name} ({self.intent})"
        return f"{text}, {_ICC_TITLES.get(self.icc, Path(self.icc).name)}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportSettings:
        """Settings from a JSON/TOML dict; missing keys take the defaults, unknown keys raise ExportSettingsError."""
        if not isinstance(data, Mapping):
            raise ExportSettingsError("export", f"must be a table of settings, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise ExportSettingsError(str(key), f"unknown setting (known: {', '.join(sorted(known))})")
        values = dict(data)
        for key in ("bit_depth", "quality"):
            value = values.get(key)
            if isinstance(value, float) and value.is_integer():
                values[key] = int(value)
            elif isinstance(value, bool):
                raise ExportSettingsError(key, f"must be a whole number, not {value!r}")
        if isinstance(values.get("dpi"), bool):
            raise ExportSettingsError("dpi", f"must be a number, not {values['dpi']!r}")
        for key in ("format", "compression", "subsampling", "intent"):
            if isinstance(values.get(key), str):
                values[key] = values[key].strip().lower()
        if isinstance(values.get("icc"), str) and values["icc"].strip().lower() in BUILTIN_ICC:
            values["icc"] = values["icc"].strip().lower()
        values["format"] = {"tif": "tiff", "jpg": "jpeg"}.get(
            values.get("format", "tiff"), values.get("format", "tiff")
        )
        return cls(**values)


_ICC_TITLES = {"srgb": "sRGB", "adobe_rgb": "Adobe RGB (1998) compatible"}


def _looks_like_profile(value: str) -> bool:
    return value.lower().endswith((".icc", ".icm"))


EXPORT_PRESETS: dict[str, ExportSettings] = {
    "print_tiff16": ExportSettings("tiff", 16, "lzw", dpi=300.0),
    "print_tiff16_adobe_rgb": ExportSettings("tiff", 16, "lzw", dpi=300.0, icc="adobe_rgb"),
    "print_tiff8": ExportSettings("tiff", 8, "lzw", dpi=300.0),
    "png16": ExportSettings("png", 16, dpi=300.0),
    "png8": ExportSettings("png", 8, dpi=300.0),
    "jpeg_print": ExportSettings("jpeg", quality=95, subsampling="4:4:4", dpi=300.0),
    "jpeg_web": ExportSettings("jpeg", quality=85, subsampling="4:2:0", dpi=72.0),
    "webp_web": ExportSettings("webp", quality=90, dpi=72.0),
}
"""Built-in named presets; users add their own with :func:`save_preset`."""


def user_presets_path() -> Path:
    """The JSON file holding the user's own export presets."""
    return Path(platformdirs.user_config_dir("studio", appauthor=False)) / "export-presets.json"


def load_presets(path: Path | None = None) -> dict[str, ExportSettings]:
    """Built-in presets followed by the user's (a user preset may replace a built-in one).

    An unreadable or partly invalid user file is skipped entry by entry, never fatal.
    """
    presets = dict(EXPORT_PRESETS)
    try:
        stored = json.loads((path or user_presets_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return presets
    if isinstance(stored, dict):
        for name, data in stored.items():
            try:
                presets[str(name)] = ExportSettings.from_dict(data)
            except (ExportSettingsError, TypeError):
                continue
    return presets


def save_preset(name: str, settings: ExportSettings, path: Path | None = None) -> None:
    """Store ``settings`` as the user preset ``name`` (atomically; other presets are kept)."""
    name = name.strip()
    if not name:
        raise ValueError("a preset needs a name")
    target = path or user_presets_path()
    try:
        stored = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            stored = {}
    except (OSError, ValueError):
        stored = {}
    stored[name] = settings.to_dict()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as handle:
        handle.write(json.dumps(stored, indent=1, sort_keys=True).encode("utf-8"))


# --------------------------------------------------------------------------- ICC profiles


def adobe_rgb_profile_path() -> Path | None:
    """The installed "Compatible with Adobe RGB (1998)" profile, or None."""
    return next((p for p in _ADOBE_RGB_FILES if p.is_file()), None)


def resolve_icc(icc: str) -> bytes:
    """The bytes of the RGB profile named by an ``ExportSettings.icc`` value; ValueError says what to do."""
    if icc == "srgb":
        return srgb_profile_bytes()
    if icc == "adobe_rgb":
        found = adobe_rgb_profile_path()
        if found is None:
            raise ValueError(
                f"no Adobe RGB (1998) compatible profile is installed. Install Debian's {ADOBE_RGB_PACKAGES} "
                "package (apt-get install icc-profiles-free), or choose the .icc file yourself."
            )
        return read_profile(found, "RGB")
    return read_profile(Path(icc), "RGB")


# --------------------------------------------------------------------------- export


def export_path(path: str | os.PathLike[str], settings: ExportSettings) -> Path:
    """``path`` with the format's suffix added when it has none; ImageError when it names another format."""
    p = Path(path)
    if not p.suffix:
        return p.with_name(p.name + settings.suffix)
    if p.suffix.lower() not in FORMATS[settings.format]:
        reason = (
            f"the name ends in {p.suffix} but the format is {settings.format.upper()}. "
            f"Use {' or '.join(FORMATS[settings.format])}, or change the format."
        )
        raise ImageError(p, reason, "export")
    return p


def export_image(
    pixels: np.ndarray, path: str | os.PathLike[str], settings: ExportSettings, *, overwrite: bool = False
) -> Path:
    """Write sRGB (H, W, 3|4) uint8/uint16 ``pixels`` to ``path`` as ``settings`` say; returns the path written.

    The pixels are converted from sRGB into the chosen RGB profile (or, with
    ``cmyk_profile``, into the printer's CMYK), and that profile and the dpi are embedded.
    16-bit output keeps 16-bit input as is and promotes 8-bit input exactly (x 257). An
    alpha channel that is fully opaque is dropped (print labs expect RGB); JPEG and CMYK
    composite transparency over white. The write is atomic; an existing file is replaced
    only with ``overwrite=True``, else ExportExistsError. Any failure raises ImageError
    and leaves no partial file and any earlier file intact.
    """
    p = export_path(path, settings)
    if not overwrite and p.exists():
        raise _exists(p)
    pixels = pixels[..., :3] if _opaque(pixels) else pixels
    common: dict[str, Any] = {
        "quality": settings.quality,
        "dpi": _dpi(settings),
        "tiff_compression": settings.compression,
        "jpeg_subsampling": settings.subsampling,
        "overwrite": overwrite,
    }
    with _export_errors(p):
        if settings.cmyk_profile:
            icc = read_profile(Path(settings.cmyk_profile), "CMYK")
            intent = int(INTENTS[settings.intent])
            converted = srgb_to_cmyk(to_uint8(check_rgb_pixels(pixels)), icc, intent)
            save_image(converted, p, icc_profile=icc, cmyk=True, **common)
            return p
        icc = resolve_icc(settings.icc)
        save_image(_in_profile(pixels, settings, icc), p, bit_depth=settings.bit_depth, icc_profile=icc, **common)
    return p


class Flattenable(Protocol):
    """What :func:`export_document` reads: a :class:`~studio.core.document.Document` or its snapshot."""

    width: int
    height: int

    def composite(self, region: Region | None = None, dtype: np.dtype[Any] | None = None) -> np.ndarray: ...

    def composite_is_opaque(self, region: Region | None = None, dtype: np.dtype[Any] | None = None) -> bool: ...


BAND_ROWS = TILE_SIZE
"""Rows of a document that :func:`export_document` flattens at a time (one row of tiles)."""

STRIP_ROWS = 32
"""Rows in a strip of a TIFF that :func:`export_document` writes: a band is encoded and written as strips of this
height, so the encoder's buffers stay small next to the band."""


def export_document(
    doc: Flattenable,
    path: str | os.PathLike[str],
    settings: ExportSettings,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> Path:
    """Flatten ``doc`` (a :meth:`~studio.core.document.Document.snapshot`, on a worker thread) and write it as
    :func:`export_image` writes pixels; returns the path written.

    ``progress(fraction, message)`` hears how far it is; ``cancelled()`` is asked before each band (the other
    formats: before and after flattening, as an encoder cannot stop halfway), and when it says so
    :class:`~studio.core.cancel.Cancelled` is raised and nothing is written: an existing file keeps its content.

    An 8-bit or CMYK export is flattened at 8 bits; a 16-bit one at the layers' depth, so 16-bit layers keep their
    16 bits and 8-bit ones are flattened at 8 and widened exactly (less memory than flattening them at 16). An RGB
    TIFF is flattened and written :data:`BAND_ROWS` rows at a time (LZW with the horizontal predictor, or
    uncompressed), so it needs the memory of a few bands, not of the whole image; the other formats and CMYK are
    flattened whole and handed to :func:`export_image`. Failures are those of :func:`export_image`.
    """
    report = progress or _silent
    dtype = np.dtype(np.uint8) if settings.bit_depth == 8 or settings.cmyk_profile else None
    if settings.format != "tiff" or settings.cmyk_profile:
        check_cancelled(cancelled)
        report(0.0, "flattening")
        pixels = doc.composite(dtype=dtype)
        check_cancelled(cancelled)
        report(0.5, "encoding")
        return export_image(pixels, path, settings, overwrite=overwrite)
    p = export_path(path, settings)
    if not overwrite and p.exists():
        raise _exists(p)
    with _export_errors(p):
        icc = resolve_icc(settings.icc)
        channels = 3 if doc.composite_is_opaque(dtype=dtype) else 4  # export_image drops opaque alpha too
        strips = _tiff_strips(doc, dtype, channels, settings, icc, report, cancelled)
        shape = (doc.height, doc.width, channels)
        with writing_image(p, overwrite=overwrite) as handle:
            _write_tiff(tifffile.FileHandle(handle, name=p.name), strips, shape, settings, icc)
    return p


def _tiff_strips(
    doc: Flattenable,
    dtype: np.dtype[Any] | None,
    channels: int,
    settings: ExportSettings,
    icc: bytes,
    progress: Progress,
    cancelled: CancelCheck | None,
) -> Iterator[bytes]:
    """``doc`` flattened band by band, encoded as the :data:`STRIP_ROWS` strips of an RGB (``channels`` 3) or RGBA
    TIFF, top first; progress and cancellation between bands."""
    for y in range(0, doc.height, BAND_ROWS):
        check_cancelled(cancelled)
        progress(y / doc.height, f"rows {y + 1}–{min(y + BAND_ROWS, doc.height)} of {doc.height}")
        band = _in_profile(doc.composite((0, y, doc.width, y + BAND_ROWS), dtype)[..., :channels], settings, icc)
        for top in range(0, band.shape[0], STRIP_ROWS):
            yield _encode_strip(band[top : top + STRIP_ROWS], settings.compression)
        del band  # not held while the next band is flattened


def _encode_strip(pixels: np.ndarray, compression: str) -> bytes:
    """(rows, W, samples) ``pixels`` as a TIFF strip: uncompressed, or LZW with the horizontal predictor (as tifffile
    compresses it)."""
    if compression == "none":
        return pixels.tobytes()
    strip = pixels.copy()  # the predictor works in place
    return imagecodecs.lzw_encode(imagecodecs.delta_encode(strip, axis=-2, out=strip))


def _write_tiff(
    handle: tifffile.FileHandle,
    strips: Iterator[bytes],
    shape: tuple[int, int, int],
    settings: ExportSettings,
    icc: bytes,
) -> None:
    """Write the encoded ``strips`` (:data:`STRIP_ROWS` rows each, top first) as a TIFF of ``shape`` into
    ``handle``."""
    lzw = settings.compression == "lzw"
    dpi = _dpi(settings)
    tifffile.imwrite(
        handle,
        strips,
        shape=shape,
        dtype=np.uint16 if settings.bit_depth == 16 else np.uint8,
        photometric="rgb",
        planarconfig="contig",
        extrasamples=[tifffile.EXTRASAMPLE.UNASSALPHA] if shape[2] == 4 else None,
        rowsperstrip=STRIP_ROWS,
        compression="lzw" if lzw else None,
        predictor="horizontal" if lzw else None,
        iccprofile=icc,
        resolution=dpi,
        resolutionunit="inch" if dpi else None,
        software=False,
        metadata=None,
    )


def _in_profile(pixels: np.ndarray, settings: ExportSettings, icc: bytes) -> np.ndarray:
    """sRGB ``pixels`` at the bit depth of ``settings`` (8-bit widened exactly, 16-bit rounded) in the RGB profile
    ``icc`` they name."""
    if settings.bit_depth == 16 and pixels.dtype == np.uint8:
        pixels = pixels.astype(np.uint16) * np.uint16(257)
    elif settings.bit_depth == 8 and pixels.dtype == np.uint16:
        pixels = to_uint8(pixels)
    if settings.icc != "srgb":
        pixels = convert_from_srgb(pixels, icc, int(INTENTS[settings.intent]))
    return pixels


def _dpi(settings: ExportSettings) -> tuple[float, float] | None:
    return (float(settings.dpi), float(settings.dpi)) if settings.dpi else None


def _silent(_fraction: float, _message: str) -> None:
    """A progress callback that reports nowhere."""


@contextlib.contextmanager
def _export_errors(p: Path) -> Iterator[None]:
    """Failures while exporting to ``p`` as ImageErrors that say "Cannot export"."""
    try:
        yield
    except FileExistsError:
        raise _exists(p) from None
    except ImageError as exc:
        if exc.action == "save":
            raise ImageError(exc.path, exc.reason, "export") from exc
        raise
    except ValueError as exc:
        raise ImageError(p, str(exc), "export") from exc


def _exists(p: Path) -> ExportExistsError:
    return ExportExistsError(
        p, "the file already exists and was left as it was. Choose another name, or confirm overwriting it.", "export"
    )


def _opaque(pixels: np.ndarray) -> bool:
    """True for RGBA uint8/uint16 pixels whose alpha is full everywhere (the alpha an export drops)."""
    return (
        isinstance(pixels, np.ndarray)
        and pixels.ndim == 3
        and pixels.shape[2] == 4
        and pixels.dtype in (np.uint8, np.uint16)
        and int(pixels[..., 3].min()) == np.iinfo(pixels.dtype).max
    )
