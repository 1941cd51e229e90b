"""Image files in and out: formats, 16 bit, EXIF orientation, ICC to sRGB, size limits.

Everything the application reads becomes an (H, W, 4) RGBA array in the sRGB working
space, 8 or 16 bits per channel. Everything it writes carries an sRGB ICC profile and,
when known, the print resolution. Every refusal is an :class:`ImageError` that names the
file, says why, and says what to do.

Qt-free: used by the GUI, the CLI, batch workers and tests alike.

Notes and limitations:

* Pillow decodes 16-bit colour PNG/TIFF to 8 bits, so those are decoded with OpenCV.
  Pillow's own decompression-bomb limit is a process-wide setting; while
  :func:`load_image` runs it is raised (never lowered, never disabled) to ``max_pixels``
  so that Pillow does not refuse images this module accepts. It is restored afterwards.
* ICC conversion (:mod:`studio.core.colour`) uses LittleCMS (``PIL.ImageCms``, perceptual intent) for 8-bit images.
  For 16-bit sources the conversion is done in floating point from the profile's
  matrix and tone curves (matrix/TRC RGB profiles and grey profiles, which covers
  the RGB working spaces and what cameras and editors write). A 16-bit source with a
  LUT-only profile is converted by LittleCMS at 8 bits and loaded as 8-bit; a warning
  is logged.
* PNG gAMA/cHRM chunks without an ICC profile are ignored (treated as sRGB).
* Pillow cannot write 16-bit colour either: 16-bit PNG/TIFF are encoded by OpenCV and
  the sRGB profile, the dpi (and, for TIFF, ExtraSamples = unassociated alpha) are then
  added to the file by hand, so 16-bit files carry the same metadata as 8-bit ones.
* BMP cannot carry an ICC profile (sRGB by convention). WebP has no resolution field,
  so the dpi is written into its EXIF block (and read back from there). PNG and BMP
  store pixels per metre, so a dpi is kept to within about 0.013 (150 -> 150.012; read
  back as 150.0).
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import math
import os
import re
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from studio.core.atomic import atomic_write
from studio.core.colour import (
    check_rgb_pixels,
    composite_over,
    grey16_to_srgb,
    pil_to_srgb,
    rgb16_to_srgb,
    srgb_profile_bytes,
)
from studio.core.errors import ReadableError

__all__ = [
    "EXPORT_FORMATS",
    "MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "ImageError",
    "LoadedImage",
    "decode_png16",
    "encode_png16",
    "file_bit_depth",
    "load_image",
    "pillow_pixel_limit",
    "quantize",
    "save_image",
    "to_uint8",
    "writing_image",
]

log = logging.getLogger(__name__)

MAX_PIXELS: int = 200_000_000
"""Default pixel-count limit for :func:`load_image`; prints need up to about 70 Mpx."""

SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")

EXPORT_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
"""File suffix -> Pillow format name, for export dialogs."""

_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")
_ACCEPTED_FORMATS = frozenset({*_PIL_FORMATS, "MPO"})  # MPO: a JPEG with extra frames (many cameras)
_FORMAT_LIST = "PNG, JPEG, TIFF, WebP or BMP"
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
_SIXTEEN_BIT_COLOUR = frozenset({"RGB;16", "RGBA;16", "LA;16"})  # decoded by OpenCV; Pillow keeps 8 bits
_TIFF_COMPRESSION = ("lzw", "none")
_JPEG_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}  # Pillow's subsampling codes
_JPEG_MAX_SIDE = 65_500
_WEBP_MAX_SIDE = 16_383
_ORIENTATION_TAG = 0x0112
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WebP"),
    (b"BM", 0, "BMP"),
)


class ImageError(ReadableError):
    """An image file could not be read or written.

    ``path`` is the file, ``reason`` says why and what to do; ``str(e)`` reads like
    "Cannot open photo.jpg: the file is truncated or corrupt. Re-export it ...".
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, action: str = "open") -> None:
        self.path = Path(path)
        self.reason = reason
        self.action = action
        super().__init__(f"Cannot {action} {self.path.name}: {reason}")

    def __reduce__(self) -> tuple[type[ImageError], tuple[Path, str, str]]:
        return (type(self), (self.path, self.reason, self.action))


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image in the sRGB working space.

    ``pixels`` is (H, W, 4) RGBA, uint8 or uint16; ``bit_depth`` is its bits per channel.
    ``profile`` describes the embedded ICC profile the pixels were converted from
    (None when there was none or it was already sRGB).
    """

    pixels: np.ndarray
    path: Path
    source_mode: str
    bit_depth: int
    profile: str | None
    dpi: tuple[float, float] | None


# --------------------------------------------------------------------------- public API


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Convert uint16 to uint8 with rounding (x * 255 / 65535); uint8 is returned as is."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype != np.uint16:
        raise TypeError(f"to_uint8 expects uint8 or uint16 pixels, not {pixels.dtype}")
    if pixels.size == 0:
        return np.zeros(pixels.shape, np.uint8)
    import cv2

    # round(x / 257) in one pass without temporaries; OpenCV's float rounding is exact for every level, as no
    # x / 257 comes within 0.0019 of a half.
    rows = np.ascontiguousarray(pixels).reshape(-1, pixels.shape[-1] if pixels.ndim > 1 else 1)
    return cv2.convertScaleAbs(rows, alpha=1.0 / 257.0).reshape(pixels.shape)


def quantize(values: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float ``values`` in 0..1 as uint8 (``bit_depth`` 8) or uint16 (16) levels, clipped and rounded: how an engine
    that computes in float hands over its picture (16 bits for a result, so gradients do not band)."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
    scaled = np.fmax(values, 0.0)  # NaN becomes 0: fmax prefers the number
    np.minimum(scaled, 1.0, out=scaled)
    scaled *= 255.0 if bit_depth == 8 else 65535.0
    scaled += 0.5
    return scaled.astype(np.uint8 if bit_depth == 8 else np.uint16)


def load_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read an image file as sRGB RGBA pixels; refuse anything unreadable with an ImageError.

    The size in the file header is checked against ``max_pixels`` before any pixel is
    decoded. EXIF orientation is applied and an embedded ICC profile is converted to sRGB.
    16-bit sources keep 16 bits.
    """
    p = Path(path)
    _check_readable(p)
    _check_webp_header(p, max_pixels)
    try:
        with pillow_pixel_limit(max_pixels), Image.open(p, formats=_PIL_FORMATS) as im:
            _check_pixels(p, im.size, max_pixels)
            if im.format not in _ACCEPTED_FORMATS:  # pragma: no cover - formats= restricts this
                raise _unsupported(p, im.format or "this")
            try:
                return _decode(p, im)
            except MemoryError as exc:
                reason = (
                    f"there is not enough memory to decode this {im.width} × {im.height} image. "
                    "Close other programs or scale the image down in another program first."
                )
                raise ImageError(p, reason) from exc
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        match = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(p, int(match.group(1)) if match else None, None, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(p) from exc
    except PermissionError as exc:
        raise ImageError(
            p, "permission denied. Check the file's permissions or copy it somewhere you can read."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error) as exc:
        raise ImageError(p, "the file is truncated or corrupt. Re-export it from the program that made it.") from exc


def file_bit_depth(pixels: np.ndarray, path: str | os.PathLike[str]) -> int:
    """The bits per channel to write ``pixels`` to ``path`` with: 16 for uint16 pixels in a format that holds them
    (PNG, TIFF), else 8 (JPEG, WebP and BMP hold 8)."""
    fmt = EXPORT_FORMATS.get(Path(path).suffix.lower())
    return 16 if pixels.dtype == np.uint16 and fmt in _SIXTEEN_BIT_FORMATS else 8


def save_image(
    pixels: np.ndarray,
    path: str | os.PathLike[str],
    *,
    quality: int = 95,
    dpi: tuple[float, float] | None = None,
    bit_depth: int = 8,
    background: tuple[int, int, int] = (255, 255, 255),
    icc_profile: bytes | None = None,
    tiff_compression: str = "lzw",
    jpeg_subsampling: str = "4:4:4",
    cmyk: bool = False,
    overwrite: bool = True,
) -> None:
    """Write (H, W, 4) RGBA or (H, W, 3) RGB pixels (uint8/uint16) to ``path``, atomically.

    The format follows the suffix. The file carries ``icc_profile`` (default: sRGB; the
    pixels must already be in that space; not BMP) and ``dpi`` when given. JPEG and BMP have
    no alpha: it is composited over ``background``; JPEG uses ``jpeg_subsampling`` chroma
    (4:4:4, 4:2:2 or 4:2:0) and ``quality``. PNG and TIFF can be written with
    ``bit_depth=16``; TIFF with ``tiff_compression`` "lzw" or "none". With ``cmyk=True``
    the (H, W, 4) uint8 pixels are C, M, Y, K (TIFF and JPEG only). WebP is lossless when
    ``quality == 100``. Raises ImageError for an unsupported suffix or when the file cannot
    be encoded or written; an existing file at ``path`` is then left untouched. With
    ``overwrite=False`` an existing file is never replaced: FileExistsError is raised,
    also when the file appears while encoding. Bad arguments raise ValueError/TypeError.
    """
    p = Path(path)
    fmt = EXPORT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        shown = f"'{p.suffix}'" if p.suffix else "a name without an extension"
        reason = f"{shown} is not a supported image type. Use one of: {', '.join(SUPPORTED_SUFFIXES)}."
        raise ImageError(p, reason, "save")
    rgb = check_rgb_pixels(pixels)
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, not {quality!r}")
    if bit_depth == 16 and fmt not in _SIXTEEN_BIT_FORMATS:
        reason = f"{fmt} files hold only 8 bits per channel. Choose PNG or TIFF for 16 bits, or export 8 bits."
        raise ImageError(p, reason, "save")
    if dpi is not None and (len(dpi) != 2 or not all(math.isfinite(v) and v > 0 for v in dpi)):
        raise ValueError(f"dpi must be two positive numbers, not {dpi!r}")
    if len(background) != 3 or not all(0 <= int(v) <= 255 for v in background):
        raise ValueError(f"background must be three values 0..255, not {background!r}")
    if tiff_compression not in _TIFF_COMPRESSION:
        raise ValueError(f"tiff_compression must be one of {', '.join(_TIFF_COMPRESSION)}, not {tiff_compression!r}")
    if jpeg_subsampling not in _JPEG_SUBSAMPLING:
        raise ValueError(f"jpeg_subsampling must be one of {', '.join(_JPEG_SUBSAMPLING)}, not {jpeg_subsampling!r}")
    if cmyk and (fmt not in ("TIFF", "JPEG") or rgb.shape[2] != 4 or rgb.dtype != np.uint8 or bit_depth != 8):
        reason = "CMYK images are written as 8-bit TIFF or JPEG only. Choose TIFF or JPEG with 8 bits."
        raise ImageError(p, reason, "save")
    _check_writable_target(p)
    _check_format_size(p, fmt, rgb.shape[1], rgb.shape[0])

    try:
        data = _encode(
            rgb,
            fmt,
            quality=quality,
            dpi=dpi,
            bit_depth=bit_depth,
            background=background,
            icc=icc_profile or srgb_profile_bytes(),
            tiff_compression=tiff_compression,
            jpeg_subsampling=jpeg_subsampling,
            cmyk=cmyk,
        )
    except MemoryError as exc:
        raise ImageError(
            p, "there is not enough memory to encode the image. Close other programs and retry.", "save"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ImageError(p, f"the image could not be encoded as {fmt} ({exc}). Try another format.", "save") from exc

    with writing_image(p, overwrite=overwrite) as handle:
        for piece in data:
            handle.write(piece)


@contextlib.contextmanager
def writing_image(path: Path, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """A file to write the image ``path`` into, atomically (:func:`~studio.core.atomic.atomic_write`), as
    :func:`save_image` does: a missing folder or a failed write (a full disk, no permission) raises an ImageError
    saying what to do, and the earlier file is kept. With ``overwrite=False`` an existing file raises
    FileExistsError."""
    _check_writable_target(path)
    try:
        with atomic_write(path, overwrite=overwrite) as handle:
            yield handle
    except FileExistsError:
        raise
    except OSError as exc:  # atomic_write's WriteError: the previous file is intact
        raise ImageError(path, _write_failure_reason(path, exc), "save") from exc


# --------------------------------------------------------------------------- loading


def _check_readable(p: Path) -> None:
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise ImageError(p, "the file does not exist. Check that it was not moved, renamed or deleted.") from exc
    except PermissionError as exc:
        raise ImageError(p, "permission denied. Check the permissions of the file and its folder.") from exc
    except OSError as exc:
        raise ImageError(p, f"the file cannot be read ({exc.strerror or exc}). Check the drive and retry.") from exc
    if p.is_dir():
        raise ImageError(p, "it is a folder, not an image file. Choose an image file.")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(p, "it is not a regular file (a device, pipe or socket). Choose an image file.")
    if st.st_size == 0:
        raise ImageError(p, "the file is empty (0 bytes). Re-export it from the program that made it.")


def _check_webp_header(p: Path, max_pixels: int) -> None:
    """WebP: Pillow builds the decoder while opening, so check the canvas size first."""
    try:
        with p.open("rb") as fh:
            head = fh.read(30)
    except OSError:
        return  # Image.open reports it
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return
    chunk = head[12:16]
    size: tuple[int, int] | None = None
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        size = struct.unpack("<H", head[26:28])[0] & 0x3FFF, struct.unpack("<H", head[28:30])[0] & 0x3FFF
    elif chunk == b"VP8X":
        size = int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    elif chunk == b"VP8L" and head[20] == 0x2F:
        bits = struct.unpack("<I", head[21:25])[0]
        size = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if size is not None:
        _check_pixels(p, size, max_pixels)


def _check_pixels(p: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise _too_many_pixels(p, width * height, size, max_pixels)


def _too_many_pixels(p: Path, count: int | None, size: tuple[int, int] | None, max_pixels: int) -> ImageError:
    what = f"{count:,} pixels" if count is not None else "too many pixels"
    if size is not None:
        what += f" ({size[0]} × {size[1]})"
    reason = (
        f"it has {what}, more than the limit of {max_pixels:,} pixels. The limit protects against damaged "
        "or malicious files; if the image is genuine, scale it down in another program first."
    )
    return ImageError(p, reason)


def _unsupported(p: Path, fmt: str) -> ImageError:
    return ImageError(p, f"{fmt} images are not supported. Convert it to {_FORMAT_LIST} first.")


def _unidentified(p: Path) -> ImageError:
    try:
        with p.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    for signature, offset, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature and (name != "WebP" or head[:4] == b"RIFF"):
            reason = f"the file is truncated or corrupt (its {name} header cannot be read). Re-export it."
            return ImageError(p, reason)
    other = None
    with contextlib.suppress(Exception), Image.open(p) as im:  # only to name the format in the message
        other = im.format
    if other:
        return _unsupported(p, other)
    return ImageError(p, f"it is not an image file that Studio can read. Use a {_FORMAT_LIST} file.")


_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved: int | None = None


@contextlib.contextmanager
def pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Raise Pillow's global bomb limit to ``max_pixels`` (if lower) while images load.

    Our own header check enforces ``max_pixels``; this only keeps Pillow from refusing
    (or warning about) images within it. Nested and concurrent loads share one override.
    """
    global _limit_users, _limit_saved  # noqa: PLW0603 - process-wide Pillow setting, guarded by a lock
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved = Image.MAX_IMAGE_PIXELS
        _limit_users += 1
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and current < max_pixels:
            Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _limit_saved


def _decode(p: Path, im: ImageFile.ImageFile) -> LoadedImage:
    icc = im.info.get("icc_profile") or None
    dpi = _read_dpi(im)
    rawmode = _rawmode(im)
    if rawmode in _SIXTEEN_BIT_COLOUR and im.format in _SIXTEEN_BIT_FORMATS:
        loaded = _decode_16bit_colour(p, im, icc, dpi, rawmode)
        if loaded is not None:
            return loaded

    source_mode = "I;16" if im.mode.startswith("I;16") else im.mode
    orientation = _orientation(im)
    if orientation == 1:
        im.load()
        transposed: Image.Image = im
    else:
        transposed = ImageOps.exif_transpose(im)  # decodes the pixels
    if orientation in (5, 6, 7, 8) and dpi is not None:
        dpi = (dpi[1], dpi[0])

    if transposed.mode.startswith("I;16") or (transposed.mode == "I" and "16" in rawmode):
        grey = np.asarray(transposed)
        grey = np.clip(grey, 0, 65535).astype(np.uint16) if grey.dtype != np.uint16 else grey.astype(np.uint16)
        alpha = np.full(grey.shape, 65535, np.uint16)
        transparent = im.info.get("transparency")
        if isinstance(transparent, int):
            alpha[grey == transparent] = 0
        pixels, profile = grey16_to_srgb(p, grey, icc)
        channels = [pixels, pixels, pixels] if pixels.ndim == 2 else [pixels]
        pixels = np.dstack([*channels, alpha])
        return LoadedImage(pixels, p, source_mode, 16, profile, dpi)
    if transposed.mode in ("I", "F"):
        reason = "images with 32 bits per channel are not supported. Save it with 8 or 16 bits per channel."
        raise ImageError(p, reason)

    pixels, profile = _pil_to_srgb_rgba(p, transposed, icc=icc)
    return LoadedImage(pixels, p, source_mode, 8, profile, dpi)


def _rawmode(im: Image.Image) -> str:
    """The file's raw pixel layout (e.g. "RGB;16B" -> "RGB;16"), or the mode."""
    tile = getattr(im, "tile", None)
    if tile:
        args = tile[0].args
        raw = args[0] if isinstance(args, tuple) else args
        if isinstance(raw, str):
            base, _, bits = raw.partition(";")
            return f"{base};16" if bits.startswith("16") else raw
    return im.mode


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8) without decoding; a PNG's EXIF after the pixels is not seen."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not make the image unreadable
        log.warning("Ignoring unreadable EXIF data", exc_info=True)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """numpy equivalent of ImageOps.exif_transpose for an (H, W, C) array."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def _read_dpi(im: Image.Image) -> tuple[float, float] | None:
    """Resolution from the format's own field, else from EXIF; None when absent or bogus (<= 1)."""
    values = im.info.get("dpi")
    if values is None and "exif" in im.info:
        with contextlib.suppress(Exception):
            exif = im.getexif()
            x, y, unit = exif.get(0x011A), exif.get(0x011B), exif.get(0x0128, 2)
            if x is not None and y is not None and unit in (2, 3):
                scale = 2.54 if unit == 3 else 1.0
                values = (float(x) * scale, float(y) * scale)
    try:
        dpi_x, dpi_y = (float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(dpi_x) and math.isfinite(dpi_y)) or dpi_x <= 1 or dpi_y <= 1:
        return None
    return _tidy_dpi(dpi_x), _tidy_dpi(dpi_y)


def _tidy_dpi(value: float) -> float:
    """Undo the rounding of pixels-per-metre fields (PNG, BMP): 299.9994 -> 300.0, 150.0124 -> 150.0."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < 0.0128 else round(value, 3)  # half of 1 px/m in dpi


def _decode_16bit_colour(
    p: Path, im: Image.Image, icc: bytes | None, dpi: tuple[float, float] | None, rawmode: str
) -> LoadedImage | None:
    """16-bit colour PNG/TIFF through OpenCV (Pillow would truncate to 8 bits)."""
    import cv2

    data = np.fromfile(p, dtype=np.uint8)
    # OpenCV applies EXIF orientation for some formats and not others; hide it and apply it here.
    _hide_orientation(data, im.format or "")
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    del data
    if decoded is None:
        raise ImageError(p, "the file is truncated or corrupt. Re-export it from the program that made it.")
    if decoded.dtype != np.uint16 or sorted(decoded.shape[:2]) != sorted(im.size):
        log.warning("OpenCV decoded %s as %s %s; loading it with 8 bits", p, decoded.dtype, decoded.shape)
        return None
    rgb, alpha = _split_decoded(decoded)
    del decoded

    source_mode = rawmode
    rgb16, profile = rgb16_to_srgb(p, rgb, icc)
    if rgb16 is None:  # LUT-based profile: LittleCMS at 8 bits
        rgba8 = np.dstack([to_uint8(rgb), to_uint8(alpha) if alpha is not None else _opaque(rgb.shape, np.uint8)])
        pixels, profile = _pil_to_srgb_rgba(p, Image.fromarray(rgba8, "RGBA"), icc=icc)
        bit_depth = 8
    else:
        pixels = np.dstack([rgb16, alpha if alpha is not None else _opaque(rgb16.shape, np.uint16)])
        bit_depth = 16
    orientation = _orientation(im)
    pixels = _apply_orientation(pixels, orientation)
    if orientation in (5, 6, 7, 8) and dpi is not None:
        dpi = (dpi[1], dpi[0])
    return LoadedImage(np.ascontiguousarray(pixels), p, source_mode, bit_depth, profile, dpi)


def _split_decoded(decoded: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """OpenCV's grey, BGR or BGRA pixels as RGB and alpha (None when the image has none)."""
    if decoded.ndim == 2:
        return np.dstack([decoded, decoded, decoded]), None
    return decoded[..., 2::-1], decoded[..., 3] if decoded.shape[2] == 4 else None


def decode_png16(data: bytes) -> np.ndarray | None:
    """The 16-bit PNG ``data`` as RGBA uint16 pixels, taken as they are (no colour conversion, no orientation); None
    when OpenCV cannot decode it or it is not 16 bits per channel. Check the size in the header first."""
    import cv2

    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if decoded is None or decoded.dtype != np.uint16:
        return None
    rgb, alpha = _split_decoded(decoded)
    return np.ascontiguousarray(np.dstack([rgb, alpha if alpha is not None else _opaque(rgb.shape, np.uint16)]))


def _hide_orientation(data: np.ndarray, fmt: str) -> None:
    """Neutralise the EXIF orientation in an in-memory PNG/TIFF (TIFF: set 1, PNG: rename eXIf)."""
    view = memoryview(data)
    try:
        if fmt == "TIFF":
            order = "<" if bytes(view[:2]) == b"II" else ">"
            (magic,) = struct.unpack_from(order + "H", view, 2)
            if magic == 42:  # classic TIFF
                (ifd,) = struct.unpack_from(order + "I", view, 4)
                (count,) = struct.unpack_from(order + "H", view, ifd)
                first, size, value_at = ifd + 2, 12, 8
            else:  # BigTIFF
                (ifd,) = struct.unpack_from(order + "Q", view, 8)
                (count,) = struct.unpack_from(order + "Q", view, ifd)
                first, size, value_at = ifd + 8, 20, 12
            for i in range(min(count, 4096)):
                entry = first + i * size
                if struct.unpack_from(order + "H", view, entry)[0] == _ORIENTATION_TAG:
                    struct.pack_into(order + "H", view, entry + value_at, 1)
        elif fmt == "PNG":
            pos = 8
            while pos + 8 <= len(view):
                (length,) = struct.unpack_from(">I", view, pos)
                kind = bytes(view[pos + 4 : pos + 8])
                if kind == b"IDAT":
                    break  # OpenCV only honours an eXIf before the pixel data
                if kind == b"eXIf":
                    body = bytes(view[pos + 8 : pos + 8 + length])
                    view[pos + 4 : pos + 8] = b"exIf"  # an unknown private chunk, ignored by decoders
                    struct.pack_into(">I", view, pos + 8 + length, zlib.crc32(b"exIf" + body))
                pos += 12 + length
    except (struct.error, ValueError, IndexError):
        log.warning("Could not hide the EXIF orientation from OpenCV; the image may be rotated wrongly")


def _opaque(shape: tuple[int, ...], dtype: type[np.unsignedinteger]) -> np.ndarray:
    return np.full(shape[:2], np.iinfo(dtype).max, dtype)


# --------------------------------------------------------------------------- into sRGB


def _pil_to_srgb_rgba(p: Path, im: Image.Image, *, icc: bytes | None) -> tuple[np.ndarray, str | None]:
    """Any 8-bit Pillow image -> (H, W, 4) uint8 sRGB RGBA, converting from the ICC profile ``icc``."""
    mode = im.mode
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode in ("P", "PA") or (mode == "RGB" and "transparency" in im.info):
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("La", "RGBa"):
        im, mode = im.convert(mode[:-1] + "A"), mode[:-1] + "A"

    alpha: np.ndarray | None = None
    if mode in ("LA", "RGBA"):
        alpha = np.asarray(im.getchannel("A"))
        im, mode = im.convert(mode[:-1]), mode[:-1]
    elif mode == "L" and isinstance(im.info.get("transparency"), int):
        alpha = np.where(np.asarray(im) == im.info["transparency"], 0, 255).astype(np.uint8)
    elif mode in ("RGBX", "YCbCr", "HSV"):
        im, mode = im.convert("RGB"), "RGB"

    rgb, description = pil_to_srgb(p, im, icc)
    pixels = np.asarray(rgb)
    if alpha is None:
        alpha = _opaque(pixels.shape, np.uint8)
    return np.dstack([pixels, alpha]), description


# --------------------------------------------------------------------------- saving


def _check_writable_target(p: Path) -> None:
    folder = p.parent
    if not folder.is_dir():
        raise ImageError(p, f"the folder {folder} does not exist. Choose an existing folder.", "save")
    if p.is_dir():
        raise ImageError(p, "a folder with that name already exists. Choose another file name.", "save")


def _check_format_size(p: Path, fmt: str, width: int, height: int) -> None:
    limit = {"JPEG": _JPEG_MAX_SIDE, "WEBP": _WEBP_MAX_SIDE}.get(fmt)
    if limit is not None and max(width, height) > limit:
        reason = f"{fmt} images can be at most {limit:,} pixels wide and high ({width} × {height}). Choose PNG or TIFF."
        raise ImageError(p, reason, "save")


def _write_failure_reason(p: Path, exc: OSError) -> str:
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full. Free some space or choose another drive; the existing file was not changed."
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied in {p.parent}. Choose a folder you can write to; the existing file was not changed."
    if code == errno.ENOENT:
        return f"the folder {p.parent} does not exist. Choose an existing folder."
    cause = exc.strerror or str(exc)
    return f"{cause}. Choose another folder or retry; the existing file was not changed."


Piece = bytes | memoryview
"""A part of an encoded file, written in order with the others."""


def _encode(
    rgb: np.ndarray,
    fmt: str,
    *,
    quality: int,
    dpi: tuple[float, float] | None,
    bit_depth: int,
    background: tuple[int, int, int],
    icc: bytes,
    tiff_compression: str = "lzw",
    jpeg_subsampling: str = "4:4:4",
    cmyk: bool = False,
) -> list[Piece]:
    """The encoded file as pieces to write in order (no joined copy of a large file is made)."""
    if bit_depth == 16:
        pixels16 = rgb if rgb.dtype == np.uint16 else rgb.astype(np.uint16) * 257
        if fmt == "PNG":
            return _encode_png16(pixels16, dpi, icc)
        return _encode_tiff16(pixels16, dpi, icc, tiff_compression)

    pixels = to_uint8(rgb)
    if fmt in ("JPEG", "BMP") and pixels.shape[2] == 4 and not cmyk:
        pixels = composite_over(pixels, background)
    image = Image.fromarray(pixels, "CMYK" if cmyk else "RGBA" if pixels.shape[2] == 4 else "RGB")
    options: dict[str, object] = {}
    if fmt == "PNG":
        options = {"icc_profile": icc, "compress_level": 6}
    elif fmt == "JPEG":
        subsampling = _JPEG_SUBSAMPLING[jpeg_subsampling]
        options = {"icc_profile": icc, "quality": quality, "subsampling": subsampling, "optimize": True}
    elif fmt == "TIFF":
        options = {"icc_profile": icc, "compression": "tiff_lzw" if tiff_compression == "lzw" else "raw"}
    elif fmt == "WEBP":
        # exact: lossless keeps the colour of fully transparent pixels too
        options = {"icc_profile": icc, "quality": quality, "lossless": quality == 100, "exact": quality == 100}
        if dpi is not None:
            exif = Image.Exif()
            exif[0x011A], exif[0x011B], exif[0x0128] = float(dpi[0]), float(dpi[1]), 2
            options["exif"] = exif.tobytes()
    if dpi is not None and fmt != "WEBP":
        options["dpi"] = (float(dpi[0]), float(dpi[1]))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return [buffer.getbuffer()]


def encode_png16(pixels: np.ndarray) -> bytes:
    """(H, W, 3|4) uint16 sRGB pixels as a 16-bit PNG (what :func:`decode_png16` reads)."""
    return b"".join(_encode_png16(pixels, None, srgb_profile_bytes()))


def _encode_png16(pixels: np.ndarray, dpi: tuple[float, float] | None, icc: bytes) -> list[Piece]:
    """16-bit PNG through OpenCV, then iCCP and pHYs chunks added by hand."""
    import cv2

    bgr = pixels[..., [2, 1, 0, 3]] if pixels.shape[2] == 4 else pixels[..., ::-1]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("OpenCV could not encode the PNG")
    chunks = [(b"iCCP", _png_profile_name(icc) + b"\x00\x00" + zlib.compress(icc))]
    if dpi is not None:
        ppm = [round(v / 0.0254) for v in dpi]
        chunks.append((b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    return _png_with_chunks(memoryview(encoded).cast("B"), chunks)


def _png_profile_name(icc: bytes) -> bytes:
    """The iCCP chunk's profile name: "sRGB" for the built-in profile, else "ICC Profile" (as Pillow writes)."""
    return b"sRGB" if icc == srgb_profile_bytes() else b"ICC Profile"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunks(data: memoryview, extra: list[tuple[bytes, bytes]]) -> list[Piece]:
    """Insert chunks right after IHDR, dropping colour/resolution chunks they replace."""
    replaced = {b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs"}
    out: list[Piece] = [data[:8]]
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = bytes(data[pos + 4 : pos + 8])
        end = pos + 12 + length
        if kind not in replaced:
            out.append(data[pos:end])
        if kind == b"IHDR":
            out.extend(_png_chunk(k, body) for k, body in extra)
        pos = end
    return out


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _encode_tiff16(
    pixels: np.ndarray, dpi: tuple[float, float] | None, icc: bytes, compression: str = "lzw"
) -> list[Piece]:
    """16-bit TIFF (LZW with horizontal predictor, or uncompressed) through OpenCV, then tags patched in.

    OpenCV writes neither an ICC profile nor ExtraSamples, and only integer dpi; the
    first IFD is rewritten at the end of the file with the profile, unassociated
    alpha and the exact resolution. Pixel data is not touched.
    """
    import cv2

    bgr = pixels[..., [2, 1, 0, 3]] if pixels.shape[2] == 4 else pixels[..., ::-1]
    if compression == "lzw":
        params = [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_LZW]
        params += [cv2.IMWRITE_TIFF_PREDICTOR, cv2.IMWRITE_TIFF_PREDICTOR_HORIZONTAL]
    else:
        params = [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_NONE]
    ok, encoded = cv2.imencode(".tiff", np.ascontiguousarray(bgr), params)
    if not ok:
        raise ValueError("OpenCV could not encode the TIFF")
    return _tiff_with_tags(memoryview(encoded).cast("B"), icc=icc, dpi=dpi, alpha=pixels.shape[2] == 4)


def _tiff_with_tags(data: memoryview, *, icc: bytes, dpi: tuple[float, float] | None, alpha: bool) -> list[Piece]:
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    if order is None or struct.unpack_from(order + "H", data, 2)[0] != 42:
        raise ValueError("OpenCV wrote an unexpected TIFF layout")
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    entries: dict[int, bytes] = {}
    for i in range(count):
        raw = bytes(data[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
        entries[struct.unpack_from(order + "H", raw)[0]] = raw
    (next_ifd,) = struct.unpack_from(order + "I", data, ifd + 2 + 12 * count)
    for tag in (282, 283, 296, 338, 34675):
        entries.pop(tag, None)

    # The new values and IFD go after OpenCV's bytes, which are written as they are.
    tail = bytearray(len(data) % 2)  # values start on a word boundary

    def append(blob: bytes) -> int:
        offset = len(data) + len(tail)
        tail.extend(blob)
        if (len(data) + len(tail)) % 2:
            tail.extend(b"\0")
        return offset

    def entry(tag: int, kind: int, n: int, value: bytes) -> bytes:
        if n * _TIFF_TYPE_SIZES[kind] <= 4:
            return struct.pack(order + "HHI", tag, kind, n) + value.ljust(4, b"\0")
        return struct.pack(order + "HHII", tag, kind, n, append(value))

    entries[34675] = entry(34675, 7, len(icc), icc)
    if alpha:
        entries[338] = entry(338, 3, 1, struct.pack(order + "H", 2))  # unassociated alpha
    if dpi is not None:
        for tag, value in ((282, dpi[0]), (283, dpi[1])):
            numerator, denominator = _rational(value)
            entries[tag] = entry(tag, 5, 1, struct.pack(order + "II", numerator, denominator))
        entries[296] = entry(296, 3, 1, struct.pack(order + "H", 2))  # inches
    table = struct.pack(order + "H", len(entries)) + b"".join(entries[t] for t in sorted(entries))
    new_ifd = append(table + struct.pack(order + "I", next_ifd))
    if len(data) + len(tail) >= 1 << 32:
        raise ValueError("the TIFF file would exceed 4 GB")
    header = bytes(data[:4]) + struct.pack(order + "I", new_ifd)
    return [header, data[8:], bytes(tail)]


def _rational(value: float) -> tuple[int, int]:
    denominator = 1000
    return round(value * denominator), denominator
