"""Tests for studio.core.image: formats, bit depths, modes, orientation, ICC, limits, saving."""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from handmade import decompression_bomb_png, png_chunk, png_file
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from studio.core import colour as colour_module
from studio.core import image as image_module
from studio.core.colour import srgb_profile_bytes
from studio.core.image import (
    EXPORT_FORMATS,
    MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    ImageError,
    LoadedImage,
    load_image,
    save_image,
    to_uint8,
)

GHOSTSCRIPT_ICC = Path("/usr/share/color/icc/ghostscript")

# --------------------------------------------------------------------------- helpers: hand-built files


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _gamma_curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _table_curve(gamma: float, n: int = 256) -> bytes:
    table = np.rint(np.power(np.linspace(0, 1, n), gamma) * 65535).astype(">u2")
    return b"curv\0\0\0\0" + struct.pack(">I", n) + table.tobytes()


def _para_curve(g: float, a: float, b: float, c: float, d: float) -> bytes:
    return b"para\0\0\0\0" + struct.pack(">H", 3) + b"\0\0" + b"".join(_s15(v) for v in (g, a, b, c, d))


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67


def _icc_profile(space: bytes, description: str, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal but genuine ICC v2 display profile (LittleCMS accepts it)."""
    tags = [(b"desc", _desc_tag(description)), (b"cprt", b"text\0\0\0\0none\0"), (b"wtpt", _xyz_tag(D50)), *tags]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        data += b"\0" * (-(start + len(data)) % 4)
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    data += b"\0" * (-len(data) % 4)
    header = (
        struct.pack(">I", start + len(data))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + space
        + b"XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + b"\0" * 4
        + b"".join(_s15(v) for v in D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


D50 = (0.9642, 1.0, 0.8249)


def _srgb_colorants() -> list[tuple[float, float, float]]:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).profile
    return [srgb.red_colorant[0], srgb.green_colorant[0], srgb.blue_colorant[0]]


# Adobe RGB (1998) primaries adapted to D50, as in published profiles.
WIDE_COLORANTS = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]


def rgb_profile(curve: bytes, colorants: list[tuple[float, float, float]], description: str) -> bytes:
    tags = [(sig, _xyz_tag(col)) for sig, col in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    return _icc_profile(b"RGB ", description, tags)


def linear_srgb_profile() -> bytes:
    """sRGB primaries with a linear (gamma 1.0) tone curve: 128 in it is 188 in sRGB."""
    return rgb_profile(_gamma_curve(1.0), _srgb_colorants(), "Linear RGB test profile")


def grey_profile(gamma: float) -> bytes:
    return _icc_profile(b"GRAY", f"Grey gamma {gamma}", [(b"kTRC", _gamma_curve(gamma))])


def srgb_encode(linear: np.ndarray | float) -> np.ndarray:
    v = np.asarray(linear, dtype=np.float64)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def lcms(pixels: np.ndarray, icc: bytes, mode: str = "RGB") -> np.ndarray:
    """Reference conversion of 8-bit pixels to sRGB by LittleCMS."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    target = ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes()))  # the profile saved files carry
    transform = ImageCms.buildTransform(source, target, mode, "RGB", ImageCms.Intent.PERCEPTUAL)
    return np.asarray(ImageCms.applyTransform(Image.fromarray(pixels, mode), transform))


def png_with_iccp(data: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR of an existing PNG."""
    (length,) = struct.unpack_from(">I", data, 8)
    end_of_ihdr = 8 + 12 + length
    chunk = png_chunk(b"iCCP", b"test\0\0" + zlib.compress(icc))
    return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]


def tiff16_rgb(pixels: np.ndarray, orientation: int) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF with an Orientation tag, written by hand."""
    height, width, _ = pixels.shape
    strip = pixels.astype("<u2").tobytes()
    n = 11
    bps_offset = 8 + 2 + 12 * n + 4
    strip_offset = bps_offset + 6
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 3, bps_offset),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, strip_offset),
        (274, 3, 1, orientation),
        (277, 3, 1, 3),
        (278, 3, 1, height),
        (279, 4, 1, len(strip)),
        (284, 3, 1, 1),
    ]
    ifd = struct.pack("<H", n)
    for tag, kind, count, value in entries:
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<3H", 16, 16, 16) + strip


def gradient_rgba(height: int = 24, width: int = 32) -> np.ndarray:
    """A smooth test image (lossy codecs keep it close) with varying alpha."""
    y, x = np.mgrid[0:height, 0:width]
    r = x * 255 // (width - 1)
    g = y * 255 // (height - 1)
    b = (x + y) * 255 // (width + height - 2)
    a = 255 - (x * 200 // (width - 1))
    return np.dstack([r, g, b, a]).astype(np.uint8)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- constants and small API


def test_public_constants() -> None:
    assert MAX_PIXELS == 200_000_000
    assert SUPPORTED_SUFFIXES == (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
    assert tuple(EXPORT_FORMATS) == SUPPORTED_SUFFIXES
    assert set(EXPORT_FORMATS.values()) == {"PNG", "JPEG", "TIFF", "WEBP", "BMP"}


def test_to_uint8_rounds_every_value() -> None:
    values = np.arange(65536, dtype=np.uint16)
    expected = np.floor(values.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    result = to_uint8(values)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)
    assert to_uint8(np.array([0, 128, 129, 385, 65535], np.uint16)).tolist() == [0, 0, 1, 1, 255]
    picture = np.random.default_rng(0).integers(0, 65536, (5, 7, 4), dtype=np.uint16)
    for pixels in (picture, picture[:, ::2, :3], picture[:0]):  # channels, a strided view, nothing
        converted = to_uint8(pixels)
        assert converted.shape == pixels.shape and converted.dtype == np.uint8
        np.testing.assert_array_equal(converted, expected[pixels])


def test_to_uint8_passes_uint8_through_and_rejects_other_types() -> None:
    pixels = np.zeros((2, 2, 4), np.uint8)
    assert to_uint8(pixels) is pixels
    with pytest.raises(TypeError):
        to_uint8(np.zeros((2, 2), np.float32))


def test_srgb_profile_bytes_is_a_valid_srgb_profile() -> None:
    data = srgb_profile_bytes()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    assert "sRGB" in profile.profile.profile_description
    assert data[36:40] == b"acsp"


def test_image_error_message_and_pickling(tmp_path: Path) -> None:
    error = ImageError(tmp_path / "photo.jpg", "the file is truncated or corrupt. Re-export it.")
    assert str(error) == "Cannot open photo.jpg: the file is truncated or corrupt. Re-export it."
    assert error.path == tmp_path / "photo.jpg"
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.path, clone.reason, str(clone)) == (error.path, error.reason, str(error))


def test_loaded_image_is_frozen(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert isinstance(loaded, LoadedImage)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.bit_depth = 16  # type: ignore[misc]


def test_core_module_does_not_import_qt() -> None:
    code = "import sys, studio.core.image; print(any(m.startswith(('PySide6', 'shiboken6')) for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------- round trips


LOSSLESS = {".png", ".tif", ".tiff"}


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_each_format_round_trips_as_rgba(tmp_path: Path, suffix: str) -> None:
    pixels = gradient_rgba()
    path = tmp_path / f"picture{suffix}"
    save_image(pixels, path)
    with Image.open(path) as im:
        assert im.format == EXPORT_FORMATS[suffix]

    loaded = load_image(path)
    assert loaded.pixels.shape == (24, 32, 4)
    assert loaded.pixels.dtype == np.uint8
    assert loaded.bit_depth == 8
    assert loaded.path == path
    assert loaded.profile is None  # the sRGB profile we embed needs no conversion
    got = loaded.pixels.astype(int)
    if suffix in LOSSLESS:
        np.testing.assert_array_equal(loaded.pixels, pixels)
    elif suffix == ".webp":
        assert np.abs(got - pixels).mean() < 3
    else:  # JPEG and BMP: no alpha, composited over white, opaque on load
        alpha = pixels[..., 3:4].astype(int)
        expected = (pixels[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
        assert (got[..., 3] == 255).all()
        if suffix == ".bmp":
            np.testing.assert_array_equal(got[..., :3], expected)
        else:
            assert np.abs(got[..., :3] - expected).mean() < 2.5


def test_webp_quality_100_is_lossless(tmp_path: Path) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    save_image(pixels, tmp_path / "a.webp", quality=100)
    np.testing.assert_array_equal(load_image(tmp_path / "a.webp").pixels, pixels)
    save_image(pixels, tmp_path / "b.webp", quality=80)
    assert not np.array_equal(load_image(tmp_path / "b.webp").pixels, pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_is_composited_over_the_background(tmp_path: Path, suffix: str) -> None:
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[...] = (255, 0, 0, 128)  # half-transparent red
    save_image(pixels, tmp_path / f"a{suffix}", background=(0, 0, 255))
    got = load_image(tmp_path / f"a{suffix}").pixels[4, 4].astype(int)
    expected = np.array([128, 0, 127, 255])  # (255*128 + 0*127) / 255, (0*128 + 255*127) / 255
    assert np.abs(got - expected).max() <= (0 if suffix == ".bmp" else 3)


def test_rgb_and_uint16_input_saved_as_8_bit(tmp_path: Path) -> None:
    pixels16 = np.random.default_rng(5).integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    save_image(pixels16, tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.source_mode == "RGB"
    np.testing.assert_array_equal(loaded.pixels[..., :3], to_uint8(pixels16))
    assert (loaded.pixels[..., 3] == 255).all()


# --------------------------------------------------------------------------- 16 bits


ODD_VALUES = np.array([1, 1000, 12345, 40001, 65534], dtype=np.uint16)  # none is a multiple of 257


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_keeps_16_bits(tmp_path: Path, suffix: str) -> None:
    grey = np.tile(ODD_VALUES, (3, 1))
    Image.fromarray(grey).save(tmp_path / f"g{suffix}")
    loaded = load_image(tmp_path / f"g{suffix}")
    assert loaded.pixels.dtype == np.uint16
    assert loaded.bit_depth == 16
    assert loaded.source_mode == "I;16"
    assert loaded.pixels.shape == (3, 5, 4)
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[..., channel], grey)
    assert (loaded.pixels[..., 3] == 65535).all()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_keeps_16_bits(tmp_path: Path, suffix: str, channels: int) -> None:
    rgba = np.random.default_rng(channels).integers(0, 65536, (5, 7, channels), dtype=np.uint16)
    rgba[0, 0, :3] = ODD_VALUES[:3]
    order = [2, 1, 0, 3][:channels]
    assert cv2.imwrite(str(tmp_path / f"c{suffix}"), rgba[..., order])  # written by an independent encoder
    loaded = load_image(tmp_path / f"c{suffix}")
    assert loaded.pixels.dtype == np.uint16
    assert loaded.bit_depth == 16
    assert loaded.source_mode == ("RGBA;16" if channels == 4 else "RGB;16")
    np.testing.assert_array_equal(loaded.pixels[..., :3], rgba[..., :3])
    expected_alpha = rgba[..., 3] if channels == 4 else np.full((5, 7), 65535)
    np.testing.assert_array_equal(loaded.pixels[..., 3], expected_alpha)


def test_16_bit_grey_with_alpha_png(tmp_path: Path) -> None:
    la = np.array([[[1000, 65535], [30001, 0], [65534, 32769]]], dtype=">u2")  # one row, three pixels
    idat = zlib.compress(b"\0" + la.tobytes())
    (tmp_path / "la.png").write_bytes(png_file(3, 1, 16, 4, idat))
    loaded = load_image(tmp_path / "la.png")
    assert loaded.bit_depth == 16
    assert loaded.source_mode == "LA;16"
    assert loaded.pixels[0].tolist() == [[1000] * 3 + [65535], [30001] * 3 + [0], [65534] * 3 + [32769]]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_save_16_bit_round_trip_with_metadata(tmp_path: Path, suffix: str, channels: int) -> None:
    pixels = np.random.default_rng(7).integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    path = tmp_path / f"deep{suffix}"
    save_image(pixels, path, bit_depth=16, dpi=(300, 150))

    loaded = load_image(path)
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.pixels[..., :channels], pixels)
    assert loaded.dpi == pytest.approx((300, 150), abs=0.01)

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # an independent decoder sees the same numbers
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[..., [2, 1, 0, 3][:channels]], pixels)

    with Image.open(path) as im:
        assert im.info["icc_profile"] == srgb_profile_bytes()
        assert im.info["dpi"] == pytest.approx((300, 150), abs=0.02)
        if suffix == ".tif":
            assert im.info["compression"] == "tiff_lzw"
            if channels == 4:
                assert im.tag_v2[338] == (2,)  # unassociated alpha


def test_save_16_bit_from_uint8_scales_by_257(tmp_path: Path) -> None:
    pixels = np.array([[[0, 1, 128, 255]]], dtype=np.uint8)
    save_image(pixels, tmp_path / "a.png", bit_depth=16)
    assert load_image(tmp_path / "a.png").pixels.tolist() == [[[0, 257, 128 * 257, 65535]]]


# --------------------------------------------------------------------------- modes


def test_palette_with_per_index_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2])
    im.save(tmp_path / "p.png", transparency=bytes([0, 128, 255]))
    loaded = load_image(tmp_path / "p.png")
    assert loaded.source_mode == "P"
    assert loaded.pixels[0].tolist() == [[255, 0, 0, 0], [0, 255, 0, 128], [0, 0, 255, 255]]


def test_palette_with_one_transparent_index(tmp_path: Path) -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6))
    im.putdata([0, 1])
    im.save(tmp_path / "p.png", transparency=1)
    assert load_image(tmp_path / "p.png").pixels[0].tolist() == [[10, 20, 30, 255], [200, 100, 50, 0]]


def test_grey_alpha_and_one_bit_images(tmp_path: Path) -> None:
    Image.fromarray(np.array([[[7, 200], [250, 0]]], np.uint8), "LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").pixels[0].tolist() == [[7, 7, 7, 200], [250, 250, 250, 0]]
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "bw.png")
    loaded = load_image(tmp_path / "bw.png")
    assert loaded.source_mode == "1"
    assert loaded.pixels[0].tolist() == [[255, 255, 255, 255], [0, 0, 0, 255]]


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_becomes_plausible_rgb(tmp_path: Path, suffix: str) -> None:
    cyan = Image.new("CMYK", (8, 8), (255, 0, 0, 0))
    cyan.save(tmp_path / f"cyan{suffix}")
    loaded = load_image(tmp_path / f"cyan{suffix}")
    assert loaded.source_mode == "CMYK"
    r, g, b, a = (int(v) for v in loaded.pixels[4, 4])
    assert r < 40 and g > 200 and b > 200 and a == 255


@pytest.mark.skipif(not (GHOSTSCRIPT_ICC / "default_cmyk.icc").exists(), reason="needs ghostscript's CMYK profile")
def test_cmyk_jpeg_with_embedded_print_profile(tmp_path: Path) -> None:
    icc = (GHOSTSCRIPT_ICC / "default_cmyk.icc").read_bytes()
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg", icc_profile=icc, quality=95)
    loaded = load_image(tmp_path / "cyan.jpg")
    assert loaded.profile is not None and "CMYK" in loaded.profile
    r, g, b, _ = (int(v) for v in loaded.pixels[4, 4])
    assert r < 100 and g > 120 and b > 200  # printed cyan is duller than pure (0, 255, 255)


# --------------------------------------------------------------------------- orientation


def _marked_image() -> Image.Image:
    """40 x 20 grey with a red block in the top-left corner."""
    pixels = np.full((20, 40, 3), 128, np.uint8)
    pixels[:6, :6] = (255, 0, 0)
    return Image.fromarray(pixels)


def _is_red(pixel: np.ndarray) -> bool:
    return bool(pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp"])
def test_exif_orientation_6_rotates_clockwise(tmp_path: Path, suffix: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    options = {"exif": exif.tobytes()}
    if suffix != ".webp":
        options["dpi"] = (300, 150)
    _marked_image().save(tmp_path / f"o{suffix}", **options)
    loaded = load_image(tmp_path / f"o{suffix}")
    assert loaded.pixels.shape == (40, 20, 4)  # portrait now
    assert _is_red(loaded.pixels[2, 17])  # the stored top-left corner is shown top-right
    assert not _is_red(loaded.pixels[2, 2])
    assert not _is_red(loaded.pixels[37, 17])
    if suffix != ".webp":
        assert loaded.dpi == pytest.approx((150, 300), abs=0.01)  # x and y swap with the rotation


def test_exif_orientation_on_16_bit_tiff(tmp_path: Path) -> None:
    stored = np.random.default_rng(9).integers(0, 65536, (3, 5, 3), dtype=np.uint16)
    (tmp_path / "o.tif").write_bytes(tiff16_rgb(stored, orientation=6))
    loaded = load_image(tmp_path / "o.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.pixels[..., :3], np.rot90(stored, -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_orientation_matches_pillow(orientation: int) -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    np.testing.assert_array_equal(image_module._apply_orientation(pixels, orientation), expected)


# --------------------------------------------------------------------------- colour management


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_linear_profile_is_converted_to_srgb(tmp_path: Path, suffix: str) -> None:
    Image.new("RGB", (8, 8), (128, 128, 128)).save(tmp_path / f"lin{suffix}", icc_profile=linear_srgb_profile())
    loaded = load_image(tmp_path / f"lin{suffix}")
    assert loaded.profile == "Linear RGB test profile"
    expected = round(float(srgb_encode(128 / 255)) * 255)  # 188
    assert expected == 188
    assert np.abs(loaded.pixels[4, 4, :3].astype(int) - expected).max() <= 2


def test_icc_conversion_keeps_alpha(tmp_path: Path) -> None:
    Image.new("RGBA", (2, 2), (128, 64, 0, 77)).save(tmp_path / "a.png", icc_profile=linear_srgb_profile())
    r, g, b, a = (int(v) for v in load_image(tmp_path / "a.png").pixels[0, 0])
    assert (r, a) == (188, 77)
    assert abs(g - round(float(srgb_encode(64 / 255)) * 255)) <= 1 and b == 0


def test_wide_gamut_profile_matches_littlecms_8_bit(tmp_path: Path) -> None:
    icc = rgb_profile(_gamma_curve(563 / 256), WIDE_COLORANTS, "Wide test profile")
    pixels = np.random.default_rng(11).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "wide.png", icc_profile=icc)
    loaded = load_image(tmp_path / "wide.png")
    np.testing.assert_array_equal(loaded.pixels[..., :3], lcms(pixels, icc))
    assert not np.array_equal(loaded.pixels[..., :3], pixels)


@pytest.mark.parametrize(
    "curve",
    [_gamma_curve(563 / 256), _table_curve(1.8), _para_curve(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)],
    ids=["gamma", "table", "parametric"],
)
def test_16_bit_conversion_matches_littlecms(tmp_path: Path, curve: bytes) -> None:
    icc = rgb_profile(curve, WIDE_COLORANTS, "Wide 16-bit test profile")
    pixels8 = np.random.default_rng(13).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", (pixels8.astype(np.uint16) * 257)[..., ::-1])
    assert ok
    (tmp_path / "wide16.png").write_bytes(png_with_iccp(encoded.tobytes(), icc))
    loaded = load_image(tmp_path / "wide16.png")
    assert loaded.bit_depth == 16
    assert loaded.profile == "Wide 16-bit test profile"
    difference = np.abs(loaded.pixels[..., :3] / 257 - lcms(pixels8, icc))
    assert difference.max() <= 1.0  # LittleCMS rounds to 8 bits, we keep 16


def test_16_bit_linear_profile_gives_exact_srgb_values(tmp_path: Path) -> None:
    values = np.array([[[1000, 32896, 60001]]], dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", values[..., ::-1])
    assert ok
    (tmp_path / "lin16.png").write_bytes(png_with_iccp(encoded.tobytes(), linear_srgb_profile()))
    loaded = load_image(tmp_path / "lin16.png")
    expected = np.rint(srgb_encode(values / 65535) * 65535)
    assert np.abs(loaded.pixels[..., :3].astype(int) - expected).max() <= 2
    assert loaded.pixels.dtype == np.uint16


def test_16_bit_lut_profile_falls_back_to_8_bit_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_matrix(icc: bytes) -> None:
        raise ValueError("pretend the profile has only LUTs")

    icc = linear_srgb_profile()
    _, encoded = cv2.imencode(".png", np.full((2, 2, 3), 128 * 257, np.uint16))
    (tmp_path / "lut16.png").write_bytes(png_with_iccp(encoded.tobytes(), icc))
    monkeypatch.setattr(colour_module, "_matrix_shaper", not_matrix)
    loaded = load_image(tmp_path / "lut16.png")
    assert loaded.bit_depth == 8 and loaded.pixels.dtype == np.uint8
    assert loaded.pixels[0, 0].tolist() == [188, 188, 188, 255]


@pytest.mark.parametrize("bits", [8, 16])
def test_grey_profile_is_converted(tmp_path: Path, bits: int) -> None:
    value = 128 if bits == 8 else 128 * 257
    grey = np.full((2, 2), value, np.uint8 if bits == 8 else np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png", icc_profile=grey_profile(1.0))
    loaded = load_image(tmp_path / "g.png")
    assert loaded.profile == "Grey gamma 1.0"
    assert loaded.bit_depth == bits
    expected = srgb_encode(128 / 255) * (255 if bits == 8 else 65535)
    assert np.abs(loaded.pixels[0, 0, :3] - expected).max() <= (1 if bits == 8 else 3)


@pytest.mark.skipif(not (GHOSTSCRIPT_ICC / "a98.icc").exists(), reason="needs ghostscript's Adobe RGB profile")
def test_real_adobe_rgb_profile_16_bit(tmp_path: Path) -> None:
    icc = (GHOSTSCRIPT_ICC / "a98.icc").read_bytes()
    pixels8 = np.random.default_rng(17).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "a98.png"), (pixels8.astype(np.uint16) * 257)[..., ::-1])
    (tmp_path / "a98.png").write_bytes(png_with_iccp((tmp_path / "a98.png").read_bytes(), icc))
    loaded = load_image(tmp_path / "a98.png")
    assert loaded.bit_depth == 16 and loaded.profile is not None
    assert np.abs(loaded.pixels[..., :3] / 257 - lcms(pixels8, icc)).max() <= 1.0


def test_srgb_tagged_image_is_not_touched(tmp_path: Path) -> None:
    pixels = np.random.default_rng(19).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "s.png", icc_profile=srgb_profile_bytes())
    loaded = load_image(tmp_path / "s.png")
    assert loaded.profile is None
    np.testing.assert_array_equal(loaded.pixels[..., :3], pixels)


def test_broken_profile_is_ignored(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2), (10, 20, 30)).save(tmp_path / "b.png", icc_profile=b"this is not an ICC profile")
    loaded = load_image(tmp_path / "b.png")
    assert loaded.profile is None
    assert loaded.pixels[0, 0].tolist() == [10, 20, 30, 255]


# --------------------------------------------------------------------------- limits and refusals


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(decompression_bomb_png())
    assert path.stat().st_size < 200

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.core, "new", no_decoding)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "bomb.png" in message and "pixels" in message and "10,000,000,000" in message
    assert caught.value.path == path
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_pixel_limit_is_checked_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    save_image(np.zeros((100, 120, 3), np.uint8), path)

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.core, "new", no_decoding)
    with pytest.raises(ImageError, match=r"12,000 pixels \(120 × 100\).*limit of 5,000 pixels") as caught:
        load_image(path, max_pixels=5000)
    assert f"big{suffix}" in str(caught.value)


def test_pillow_limit_does_not_refuse_images_within_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_image(np.zeros((50, 50, 3), np.uint8), tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # as if Pillow's own limit were far below ours
    loaded = load_image(tmp_path / "a.png", max_pixels=10_000)
    assert loaded.pixels.shape == (50, 50, 4)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow's own note on the cut TIFF
@pytest.mark.parametrize("kind", ["png", "png16", "jpg", "tif"])
def test_truncated_file_is_refused(tmp_path: Path, kind: str) -> None:
    noise = np.random.default_rng(23).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / f"cut.{kind.removesuffix('16')}"
    if kind == "png16":
        save_image(noise.astype(np.uint16) * 257, path, bit_depth=16)
    else:
        save_image(noise, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt") as caught:
        load_image(path)
    assert str(caught.value).startswith(f"Cannot open {path.name}: ")


def test_text_file_renamed_to_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("shopping list: eggs, milk\n" * 10)
    with pytest.raises(ImageError, match="not an image file") as caught:
        load_image(path)
    assert "notes.png" in str(caught.value)


def test_damaged_png_header(tmp_path: Path) -> None:
    path = tmp_path / "damaged.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\xff" * 40)
    with pytest.raises(ImageError, match=r"damaged.png: the file is truncated or corrupt \(its PNG header"):
        load_image(path)


def test_unsupported_image_format_is_named(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "anim.gif")
    with pytest.raises(ImageError, match=r"anim.gif: GIF images are not supported\. Convert it to PNG"):
        load_image(tmp_path / "anim.gif")


def test_missing_file_directory_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.png: the file does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageError, match=r"folder\.png: it is a folder"):
        load_image(tmp_path / "folder.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.jpg: the file is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp"])
def test_save_writes_dpi_and_profile(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"print{suffix}"
    save_image(gradient_rgba(), path, dpi=(300, 150))
    with Image.open(path) as im:  # PNG and BMP store pixels per metre: 150 dpi reads back as 150.012
        assert im.info["dpi"] == pytest.approx((300, 150), abs=0.02)
        if suffix != ".bmp":  # BMP cannot carry a profile
            assert im.info["icc_profile"] == srgb_profile_bytes()
    assert load_image(path).dpi == pytest.approx((300, 150), abs=0.01)


def test_webp_dpi_and_profile(tmp_path: Path) -> None:
    save_image(gradient_rgba(), tmp_path / "a.webp", dpi=(240, 240))
    with Image.open(tmp_path / "a.webp") as im:
        assert im.info["icc_profile"] == srgb_profile_bytes()
    assert load_image(tmp_path / "a.webp").dpi == (240.0, 240.0)


def test_no_dpi_means_none(tmp_path: Path) -> None:
    for suffix in (".png", ".tif", ".jpg"):
        save_image(gradient_rgba(), tmp_path / f"a{suffix}")
        assert load_image(tmp_path / f"a{suffix}").dpi is None


def test_jpeg_uses_444_and_quality(tmp_path: Path) -> None:
    noise = np.random.default_rng(29).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    save_image(noise, tmp_path / "hi.jpg", quality=95)
    save_image(noise, tmp_path / "lo.jpg", quality=40)
    with Image.open(tmp_path / "hi.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size


def test_tiff_8_bit_uses_lzw(tmp_path: Path) -> None:
    save_image(gradient_rgba(), tmp_path / "a.tif")
    with Image.open(tmp_path / "a.tif") as im:
        assert im.info["compression"] == "tiff_lzw"


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"Cannot save a.gif: '.gif' is not a supported image type.*\.png.*\.bmp"):
        save_image(gradient_rgba(), tmp_path / "a.gif")
    with pytest.raises(ImageError, match="a name without an extension"):
        save_image(gradient_rgba(), tmp_path / "noext")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp"])
def test_16_bit_is_refused_for_8_bit_formats(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(ImageError, match=r"8 bits per channel\. Choose PNG or TIFF"):
        save_image(gradient_rgba(), tmp_path / f"a{suffix}", bit_depth=16)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        save_image(np.zeros((4, 4), np.uint8), tmp_path / "a.png")
    with pytest.raises(TypeError, match="uint8 or uint16"):
        save_image(np.zeros((4, 4, 3), np.float32), tmp_path / "a.png")
    with pytest.raises(ValueError, match="bit_depth"):
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png", bit_depth=12)
    with pytest.raises(ValueError, match="quality"):
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.jpg", quality=0)
    assert files_in(tmp_path) == []


def test_save_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"does not exist\. Choose an existing folder"):
        save_image(gradient_rgba(), tmp_path / "nowhere" / "a.png")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(("suffix", "bit_depth"), [(".png", 8), (".jpg", 8), (".tif", 16)])
def test_failed_save_leaves_existing_file_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, bit_depth: int
) -> None:
    path = tmp_path / f"keep{suffix}"
    path.write_bytes(b"previous content")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageError, match=rf"Cannot save keep{suffix}: the disk is full") as caught:
        save_image(gradient_rgba(), path, bit_depth=bit_depth)
    assert isinstance(caught.value.__cause__, OSError)
    assert path.read_bytes() == b"previous content"
    assert files_in(tmp_path) == [path.name]  # no temporary file left behind


def test_successful_save_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"old")
    save_image(gradient_rgba(), path)
    np.testing.assert_array_equal(load_image(path).pixels, gradient_rgba())
    assert files_in(tmp_path) == ["a.png"]


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    save_image(gradient_rgba(), tmp_path / "LOUD.JPG")
    with Image.open(tmp_path / "LOUD.JPG") as im:
        assert im.format == "JPEG"
