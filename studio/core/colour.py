"""Colour management in one place: ICC profiles, the sRGB working space, conversions and soft proofs.

Everything Studio reads is converted into sRGB (:func:`pil_to_srgb`, :func:`rgb16_to_srgb`,
:func:`grey16_to_srgb`); everything it writes is converted out of sRGB into the chosen
profile (:func:`convert_from_srgb`, :func:`srgb_to_cmyk`); a print is previewed through a
printer's profile (:func:`soft_proof`). LittleCMS (``PIL.ImageCms``) does the 8-bit work;
16-bit RGB goes through the profile's matrix and tone curves in floating point, so it keeps
16 bits. Qt-free, and it imports nothing else from Studio.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

_CHUNK_PIXELS = 1 << 20  # rows are processed in blocks of about this many pixels

INTENTS: dict[str, ImageCms.Intent] = {
    "perceptual": ImageCms.Intent.PERCEPTUAL,
    "relative": ImageCms.Intent.RELATIVE_COLORIMETRIC,
    "saturation": ImageCms.Intent.SATURATION,
    "absolute": ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
}

PROFILE_DIRS: tuple[Path, ...] = (
    Path("/usr/share/color/icc"),
    Path("/usr/local/share/color/icc"),
    Path.home() / ".local/share/color/icc",
    Path.home() / ".local/share/icc",
    Path("/Library/ColorSync/Profiles"),
    Path("/System/Library/ColorSync/Profiles"),
    Path.home() / "Library/ColorSync/Profiles",
    Path("C:/Windows/System32/spool/drivers/color"),
)


# --------------------------------------------------------------------------- profiles


@cache
def srgb_profile_bytes() -> bytes:
    """The sRGB ICC profile embedded in every saved file (LittleCMS built-in sRGB).

    LittleCMS stamps the profile with the time it was made (header bytes 24..35);
    that field is zeroed so the same pixels always give the same file.
    """
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = bytes(12)
    return bytes(data)


@cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """:func:`srgb_profile_bytes` opened: the working space every transform starts or ends in."""
    return ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes()))


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


def read_profile(path: Path, colour_space: str) -> bytes:
    """The bytes of the ICC profile file ``path``, a ``colour_space`` ("RGB", "CMYK") profile.

    ValueError says what is wrong and what to do.
    """
    data = _read_profile_file(path.expanduser())
    space = _profile_from_bytes(data, path.name).profile.xcolor_space.strip()
    if space != colour_space:
        hint = "choose it as the CMYK profile" if space == "CMYK" else f"choose an {colour_space} profile"
        raise ValueError(f"the ICC profile {path.name} is a {space} profile; {hint}.")
    return data


def _read_profile_file(path: Path) -> bytes:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ValueError(f"the ICC profile {path} is not a regular file (a device or pipe). Choose an .icc file.")
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"the ICC profile {path} does not exist. Choose an existing .icc file.") from None
    except OSError as exc:
        raise ValueError(f"the ICC profile {path} cannot be read ({exc.strerror or exc}).") from None


def profile_description(path: str | os.PathLike[str]) -> str:
    """The description stored in an ICC profile file (its file name when it has none)."""
    return _description(str(path), os.path.getmtime(path))


@cache
def _description(path: str, _mtime: float) -> str:
    profile = ImageCms.getOpenProfile(path)
    return (profile.profile.profile_description or "").strip() or Path(path).name


def find_profiles(colour_space: str = "CMYK") -> list[Path]:
    """Installed ICC profiles of ``colour_space`` ("CMYK", "RGB", ...), sorted by file name."""
    found: dict[str, Path] = {}
    for folder in PROFILE_DIRS:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix.lower() not in (".icc", ".icm") or not path.is_file() or path.name in found:
                continue
            try:
                with path.open("rb") as fh:
                    head = fh.read(40)
            except OSError:
                continue
            if len(head) == 40 and head[36:40] == b"acsp" and head[16:20].decode("latin-1").strip() == colour_space:
                found[path.name] = path
    return sorted(found.values(), key=lambda p: p.name.lower())


# --------------------------------------------------------------------------- into sRGB (loading)


def pil_to_srgb(p: Path, im: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """An 8-bit Pillow image without alpha (L, RGB, CMYK, LAB, ...) as sRGB RGB, converted from its ICC profile.

    Returns the RGB image and the description of the profile it was converted from (None
    when there was none, it was sRGB, or it did not fit the image and was ignored).
    """
    opened = _open_profile(p, icc)
    if opened is not None:
        profile, name = opened
        try:
            transform = ImageCms.buildTransform(profile, srgb_profile(), im.mode, "RGB", ImageCms.Intent.PERCEPTUAL)
            rgb = ImageCms.applyTransform(im, transform)
        except (ImageCms.PyCMSError, ValueError, OSError):
            log.warning("%s: the embedded ICC profile %r does not fit a %s image; ignoring it", p, name, im.mode)
        else:
            if rgb is not None:
                return rgb, name
    if im.mode == "LAB":
        converted = ImageCms.applyTransform(
            im, ImageCms.buildTransform(ImageCms.createProfile("LAB"), srgb_profile(), "LAB", "RGB")
        )
        assert converted is not None
        return converted, None
    return im.convert("RGB"), None


def grey16_to_srgb(p: Path, grey: np.ndarray, icc: bytes | None) -> tuple[np.ndarray, str | None]:
    """16-bit grey -> sRGB: (H, W) grey when no conversion is needed, else (H, W, 3)."""
    opened = _open_profile(p, icc)
    if opened is None:
        return grey, None
    _, description = opened
    try:
        tags = _icc_tags(icc or b"")
        if (icc or b"")[16:20] != b"GRAY" or b"kTRC" not in tags:
            raise ValueError("not a grey profile with a tone curve")
        curve = _icc_curve(tags[b"kTRC"])
    except (ValueError, struct.error):
        log.warning("%s: cannot use the ICC profile %r for a 16-bit grey image; ignoring it", p, description)
        return grey, None
    lut = curve(np.arange(65536, dtype=np.float64) / 65535.0)
    out = np.empty(grey.shape, np.uint16)
    for rows in _row_blocks(grey.shape):
        out[rows] = _encode_srgb16(lut[grey[rows]])
    return np.dstack([out, out, out]), description


def rgb16_to_srgb(p: Path, rgb: np.ndarray, icc: bytes | None) -> tuple[np.ndarray | None, str | None]:
    """16-bit RGB -> sRGB in floating point through the profile's matrix and tone curves.

    Returns (pixels, description), or (None, description) when the profile is not a
    matrix/TRC RGB profile (the caller then converts at 8 bits).
    """
    opened = _open_profile(p, icc)
    if opened is None:
        return np.ascontiguousarray(rgb), None
    _, description = opened
    try:
        matrix, curves = _matrix_shaper(icc or b"")
    except (ValueError, struct.error, np.linalg.LinAlgError):
        if (icc or b"")[16:20] == b"RGB ":
            log.warning("%s: ICC profile %r is not matrix/TRC; converting at 8 bits", p, description)
            return None, description
        log.warning("%s: the ICC profile %r does not fit an RGB image; ignoring it", p, description)
        return np.ascontiguousarray(rgb), None
    x = np.arange(65536, dtype=np.float64) / 65535.0
    luts = [curve(x).astype(np.float32) for curve in curves]
    to_srgb = (np.linalg.inv(_srgb_matrix()) @ matrix).astype(np.float32)
    out = np.empty(rgb.shape, np.uint16)
    for rows in _row_blocks(rgb.shape):
        block = rgb[rows]
        linear = np.stack([luts[c][block[..., c]] for c in range(3)], axis=-1)
        out[rows] = _encode_srgb16(linear @ to_srgb.T)
    return out, description


def _open_profile(p: Path, icc: bytes | None) -> tuple[ImageCms.ImageCmsProfile, str] | None:
    """The embedded profile and its description, or None when there is none or it is sRGB."""
    if not icc:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.warning("%s: ignoring an unreadable embedded ICC profile; assuming sRGB", p)
        return None
    description = (profile.profile.profile_description or "").strip() or "unnamed ICC profile"
    if _is_srgb(icc):
        return None
    return profile, description


def _is_srgb(icc: bytes) -> bool:
    """True for a matrix/TRC profile whose primaries and tone curves are sRGB's (whatever its name)."""
    try:
        matrix, curves = _matrix_shaper(icc)
    except (ValueError, struct.error, np.linalg.LinAlgError):
        return False
    if not np.allclose(matrix, _srgb_matrix(), atol=0.003):
        return False
    x = np.linspace(0.0, 1.0, 256)
    reference = np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))
    return all(float(np.max(np.abs(curve(x) - reference))) < 0.003 for curve in curves)


# --------------------------------------------------------------------------- out of sRGB (saving, exporting)


def check_rgb_pixels(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as a contiguous (H, W, 3|4) uint8/uint16 array; TypeError or ValueError says what is wrong."""
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array, not {type(pixels).__name__}")
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"pixels must have shape (H, W, 3) or (H, W, 4), not {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
    return np.ascontiguousarray(pixels)


def composite_over(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Composite 8-bit RGBA over an opaque background colour (in sRGB, as image editors do)."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    colour = rgba[..., :3].astype(np.uint16)
    bg = np.array(background, dtype=np.uint16)
    return ((colour * alpha + bg * (255 - alpha) + 127) // 255).astype(np.uint8)


def convert_from_srgb(pixels: np.ndarray, icc: bytes, intent: int = 0) -> np.ndarray:
    """sRGB RGB(A) pixels converted into the RGB profile ``icc`` (alpha untouched); a new array.

    8-bit pixels go through LittleCMS with ``intent`` (an ``ImageCms.Intent``). 16-bit pixels
    keep 16 bits: they are converted in floating point through the profile's matrix and
    tone curves (colorimetric), so only matrix/TRC profiles (Adobe RGB, Display P3, ...)
    are accepted for them. Raises ValueError when the profile cannot take sRGB colours.
    """
    rgb = check_rgb_pixels(pixels)
    if _is_srgb(icc):
        return rgb.copy()
    if rgb.dtype == np.uint16:
        return _srgb16_to_matrix_profile(rgb, icc)
    try:
        target = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(srgb_profile(), target, "RGB", "RGB", ImageCms.Intent(intent))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"the ICC profile cannot take RGB colours ({exc})") from exc
    out = rgb.copy()
    for rows in _row_blocks(rgb.shape):
        block = Image.fromarray(np.ascontiguousarray(rgb[rows, :, :3]), "RGB")
        out[rows, :, :3] = np.asarray(ImageCms.applyTransform(block, transform))
    return out


def srgb_to_cmyk(
    pixels: np.ndarray, icc: bytes, intent: int = 0, background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """8-bit sRGB RGB(A) pixels as (H, W, 4) uint8 C, M, Y, K through the CMYK profile ``icc``.

    Alpha is composited over ``background`` first (CMYK files have none). LittleCMS in
    Pillow converts CMYK at 8 bits, so 16-bit pixels are refused: round them with
    ``studio.core.image.to_uint8`` first. Black point compensation is on, as print
    workflows expect. Raises ValueError for a non-CMYK profile.
    """
    rgb = check_rgb_pixels(pixels)
    if rgb.dtype != np.uint8:
        raise TypeError(f"CMYK conversion takes 8-bit pixels, not {rgb.dtype}")
    if rgb.shape[2] == 4:
        rgb = composite_over(rgb, background)
    try:
        target = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if target.profile.xcolor_space.strip() != "CMYK":
            raise ValueError(f"it is a {target.profile.xcolor_space.strip()} profile, not CMYK")
        flags = ImageCms.Flags.BLACKPOINTCOMPENSATION
        transform = ImageCms.buildTransform(srgb_profile(), target, "RGB", "CMYK", ImageCms.Intent(intent), flags)
    except (ImageCms.PyCMSError, OSError, TypeError) as exc:
        raise ValueError(f"the ICC profile cannot convert to CMYK ({exc})") from exc
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    for rows in _row_blocks(rgb.shape):
        block = Image.fromarray(np.ascontiguousarray(rgb[rows]), "RGB")
        out[rows] = np.asarray(ImageCms.applyTransform(block, transform))
    return out


def _srgb16_to_matrix_profile(rgb: np.ndarray, icc: bytes) -> np.ndarray:
    """16-bit sRGB -> a matrix/TRC RGB profile in floating point (the inverse of rgb16_to_srgb)."""
    try:
        matrix, curves = _matrix_shaper(icc)
    except (ValueError, struct.error, np.linalg.LinAlgError) as exc:
        raise ValueError(
            f"16-bit export needs a matrix/TRC RGB profile and this one is not ({exc}); export 8 bits instead"
        ) from exc
    x = np.arange(65536, dtype=np.float64) / 65535.0
    srgb_linear = np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)
    to_target = (np.linalg.inv(matrix) @ _srgb_matrix()).astype(np.float32)
    forwards = [np.maximum.accumulate(curve(x)) for curve in curves]  # encoded -> linear, monotone to invert
    out = rgb.copy()
    for rows in _row_blocks(rgb.shape):
        linear = np.clip(srgb_linear[rgb[rows, :, :3]] @ to_target.T, 0.0, 1.0)
        for c, forward in enumerate(forwards):
            out[rows, :, c] = np.rint(np.interp(linear[..., c], forward, x) * 65535.0).astype(np.uint16)
    return out


# --------------------------------------------------------------------------- soft proofing


@lru_cache(maxsize=8)
def _proof_transforms(
    printer: ImageCms.ImageCmsProfile, intent: str, mode: str
) -> tuple[ImageCms.ImageCmsTransform, ImageCms.ImageCmsTransform]:
    flags = ImageCms.Flags.SOFTPROOFING | ImageCms.Flags.BLACKPOINTCOMPENSATION
    args = (srgb_profile(), srgb_profile(), printer, mode, mode, ImageCms.Intent.RELATIVE_COLORIMETRIC, INTENTS[intent])
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


# --------------------------------------------------------------------------- matrix/TRC profiles in floating point


def _row_blocks(shape: tuple[int, ...]) -> Iterator[slice]:
    """Row slices of about _CHUNK_PIXELS pixels each, so no conversion copies a whole print at once."""
    step = max(1, _CHUNK_PIXELS // max(1, shape[1]))
    for start in range(0, shape[0], step):
        yield slice(start, start + step)


def _encode_srgb16(linear: np.ndarray) -> np.ndarray:
    """Linear light (0..1) -> sRGB-encoded uint16."""
    v = np.clip(linear, 0.0, 1.0)
    encoded = np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    return np.rint(encoded * 65535.0).astype(np.uint16)


@cache
def _srgb_matrix() -> np.ndarray:
    matrix, _ = _matrix_shaper(srgb_profile_bytes())
    return matrix


def _matrix_shaper(icc: bytes) -> tuple[np.ndarray, list[Callable[[np.ndarray], np.ndarray]]]:
    """The RGB -> PCS XYZ (D50) matrix and the three tone curves of a matrix/TRC profile."""
    if icc[16:20] != b"RGB " or icc[20:24] != b"XYZ ":
        raise ValueError("not an RGB profile with an XYZ connection space")
    tags = _icc_tags(icc)
    columns = [_icc_xyz(tags[sig]) for sig in (b"rXYZ", b"gXYZ", b"bXYZ") if sig in tags]
    curves = [_icc_curve(tags[sig]) for sig in (b"rTRC", b"gTRC", b"bTRC") if sig in tags]
    if len(columns) != 3 or len(curves) != 3:
        raise ValueError("not a matrix/TRC profile")
    matrix = np.array(columns, dtype=np.float64).T
    np.linalg.inv(matrix)  # raises LinAlgError for a degenerate matrix
    return matrix, curves


def _icc_tags(icc: bytes) -> dict[bytes, bytes]:
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    (count,) = struct.unpack_from(">I", icc, 128)
    tags: dict[bytes, bytes] = {}
    for i in range(min(count, 1000)):
        sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if offset + size > len(icc):
            raise ValueError("tag outside the profile")
        tags[sig] = icc[offset : offset + size]
    return tags


def _icc_xyz(tag: bytes) -> tuple[float, float, float]:
    if tag[:4] != b"XYZ ":
        raise ValueError("not an XYZ tag")
    x, y, z = struct.unpack_from(">iii", tag, 8)
    return x / 65536, y / 65536, z / 65536


def _icc_curve(tag: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A 'curv' or 'para' tone curve as a function on 0..1 (encoded -> linear)."""
    kind = tag[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", tag, 8)
        if n == 0:
            return lambda x: x
        if n == 1:
            gamma = struct.unpack_from(">H", tag, 12)[0] / 256
            return lambda x: np.power(x, gamma)
        table = np.frombuffer(tag, dtype=">u2", count=n, offset=12).astype(np.float64) / 65535
        grid = np.linspace(0.0, 1.0, n)
        return lambda x: np.interp(x, grid, table)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        counts = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
        if function not in counts:
            raise ValueError(f"unknown parametric curve type {function}")
        params = [v / 65536 for v in struct.unpack_from(f">{counts[function]}i", tag, 12)]
        return _parametric_curve(function, params)
    raise ValueError(f"unsupported curve type {kind!r}")


def _parametric_curve(function: int, params: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    g, a, b, c, d, e, f = [*params, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0][:7]

    def power(x: np.ndarray) -> np.ndarray:
        return np.power(np.maximum(a * x + b, 0.0), g)

    def curve(x: np.ndarray) -> np.ndarray:
        if function == 0:
            y = np.power(x, g)
        elif function == 1:
            y = np.where(x >= -b / a, power(x), 0.0)
        elif function == 2:
            y = np.where(x >= -b / a, power(x) + c, c)
        elif function == 3:
            y = np.where(x >= d, power(x), c * x)
        else:
            y = np.where(x >= d, power(x) + e, c * x + f)
        return np.clip(y, 0.0, 1.0)

    return curve
