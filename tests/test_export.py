"""Tests for studio.core.export: files read back with the asked format, dpi, ICC, bit depth and size."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, JpegImagePlugin
from test_printing import cmyk_profile

from studio.core import export as export_module
from studio.core import image as image_module
from studio.core.blend import BlendMode
from studio.core.cancel import Cancelled
from studio.core.colour import srgb_profile_bytes
from studio.core.document import Document, Layer, LayerKind
from studio.core.export import (
    EXPORT_PRESETS,
    ExportExistsError,
    ExportSettings,
    ExportSettingsError,
    adobe_rgb_profile_path,
    export_document,
    export_image,
    load_presets,
    save_preset,
)
from studio.core.image import ImageError, load_image
from studio.core.print_size import PRESETS
from studio.core.printing import fit_to_print
from studio.core.tiles import TiledImage


def adobe_rgb() -> Path:
    found = adobe_rgb_profile_path()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no Adobe RGB profile: scripts/system-deps.sh should have installed icc-profiles-free")
        pytest.skip("needs Debian's icc-profiles-free or colord-data")
    return found


def noise(h: int = 24, w: int = 32, channels: int = 3, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top, (h, w, channels), dtype=dtype, endpoint=True)


def icc_of(path: Path) -> bytes:
    with Image.open(path) as im:
        return im.info.get("icc_profile", b"")


def tiff_pixels(path: Path) -> np.ndarray:
    """The stored samples as RGB (OpenCV decodes LZW; tifffile would need imagecodecs for it)."""
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(decoded[..., 2::-1])


def description(icc: bytes) -> str:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description.strip()


# --------------------------------------------------------------------------- settings


def test_settings_round_trip_through_json():
    settings = ExportSettings("jpeg", quality=80, subsampling="4:2:0", dpi=240.0, icc="adobe_rgb", intent="relative")
    data = json.loads(json.dumps(settings.to_dict()))
    assert ExportSettings.from_dict(data) == settings
    assert ExportSettings.from_dict({}) == ExportSettings()
    assert ExportSettings.from_dict({"format": "TIF", "icc": "SRGB"}) == ExportSettings("tiff")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"colour": "srgb"}, "colour"),
        ({"format": "gif"}, "format"),
        ({"format": "jpeg", "bit_depth": 16}, "bit_depth"),
        ({"compression": "zip"}, "compression"),
        ({"quality": 0}, "quality"),
        ({"quality": True}, "quality"),
        ({"subsampling": "4:1:1"}, "subsampling"),
        ({"dpi": -3}, "dpi"),
        ({"icc": "prophoto"}, "icc"),
        ({"format": "png", "cmyk_profile": "/x/swop.icc"}, "cmyk_profile"),
        ({"bit_depth": 16, "cmyk_profile": "/x/swop.icc"}, "cmyk_profile"),
        ({"intent": "vivid"}, "intent"),
    ],
)
def test_bad_settings_name_the_key(data, key):
    with pytest.raises(ExportSettingsError) as caught:
        ExportSettings.from_dict(data)
    assert caught.value.key == key and key in str(caught.value)


def test_user_presets_are_saved_next_to_the_built_in_ones(tmp_path):
    store = tmp_path / "presets.json"
    assert load_presets(store) == EXPORT_PRESETS
    mine = ExportSettings("png", 16, dpi=150.0)
    save_preset("My lab", mine, store)
    save_preset("Other", EXPORT_PRESETS["jpeg_web"], store)
    presets = load_presets(store)
    assert presets["My lab"] == mine and presets["Other"] == EXPORT_PRESETS["jpeg_web"]
    assert set(EXPORT_PRESETS) < set(presets)
    store.write_text('{"broken": {"format": "gif"}, "ok": {"format": "webp"}}')
    assert "broken" not in load_presets(store) and load_presets(store)["ok"].format == "webp"


# --------------------------------------------------------------------------- format, dpi, ICC, bits


@pytest.mark.parametrize(
    ("settings", "fmt", "mode"),
    [
        (ExportSettings("tiff", 8, "lzw", dpi=300.0), "TIFF", "RGB"),
        (ExportSettings("tiff", 8, "none", dpi=150.0), "TIFF", "RGB"),
        (ExportSettings("png", 8, dpi=240.0), "PNG", "RGB"),
        (ExportSettings("jpeg", quality=90, dpi=300.0), "JPEG", "RGB"),
        (ExportSettings("webp", quality=100, dpi=72.0), "WEBP", "RGB"),
    ],
)
def test_eight_bit_exports_carry_dpi_and_srgb(tmp_path, settings, fmt, mode):
    pixels = noise()
    path = export_image(pixels, tmp_path / "out", settings)
    assert path.suffix == settings.suffix
    with Image.open(path) as im:
        assert (im.format, im.mode, im.size) == (fmt, mode, (32, 24))
        assert im.info["icc_profile"] == srgb_profile_bytes()
        if fmt == "TIFF":
            assert im.info["compression"] == ("tiff_lzw" if settings.compression == "lzw" else "raw")
        if fmt == "JPEG":
            assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    assert load_image(path).dpi == (settings.dpi, settings.dpi)
    if settings.format in ("png", "tiff") or settings.quality == 100:
        np.testing.assert_array_equal(load_image(path).pixels[..., :3], pixels)


def test_jpeg_subsampling_and_quality_are_applied(tmp_path):
    pixels = noise(64, 64)
    small = export_image(pixels, tmp_path / "a.jpg", ExportSettings("jpeg", quality=40, subsampling="4:2:0"))
    large = export_image(pixels, tmp_path / "b.jpg", ExportSettings("jpeg", quality=95))
    with Image.open(small) as im:
        assert JpegImagePlugin.get_sampling(im) == 2
    assert small.stat().st_size < large.stat().st_size


@pytest.mark.parametrize(("fmt", "compression"), [("tiff", "lzw"), ("tiff", "none"), ("png", "lzw")])
def test_sixteen_bit_round_trip_keeps_sixteen_bits(tmp_path, fmt, compression):
    pixels = noise(dtype=np.uint16, seed=3)
    pixels[0, 0] = (1, 258, 65534)  # not multiples of 257: 8 bits would lose them
    assert np.any(pixels % 257 != 0)
    path = export_image(pixels, tmp_path / "deep", ExportSettings(fmt, 16, compression, dpi=300.0))
    loaded = load_image(path)
    assert loaded.bit_depth == 16 and loaded.dpi == (300.0, 300.0)
    np.testing.assert_array_equal(loaded.pixels[..., :3], pixels)
    assert icc_of(path) == srgb_profile_bytes()
    if fmt == "tiff":
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert page.bitspersample == 16
            assert page.compression == (tifffile.COMPRESSION.LZW if compression == "lzw" else 1)
        np.testing.assert_array_equal(tiff_pixels(path), pixels)


def test_eight_bit_pixels_are_promoted_exactly_to_sixteen(tmp_path):
    pixels = noise(seed=4)
    path = export_image(pixels, tmp_path / "promoted.tif", ExportSettings("tiff", 16))
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].bitspersample == 16
    np.testing.assert_array_equal(tiff_pixels(path), pixels.astype(np.uint16) * 257)


def test_transparency_is_kept_and_opaque_alpha_dropped(tmp_path):
    rgba = noise(channels=4, seed=5)
    with Image.open(export_image(rgba, tmp_path / "a.png", ExportSettings("png"))) as im:
        assert im.mode == "RGBA"
    rgba[..., 3] = 255
    with Image.open(export_image(rgba, tmp_path / "b.png", ExportSettings("png"))) as im:
        assert im.mode == "RGB"


def test_adobe_rgb_is_embedded_and_the_colours_converted(tmp_path):
    profile = adobe_rgb()
    pixels = noise(seed=6)
    path = export_image(pixels, tmp_path / "adobe.png", ExportSettings("png", icc="adobe_rgb"))
    embedded = icc_of(path)
    assert embedded == profile.read_bytes()
    assert "Adobe RGB (1998)" in description(embedded)
    with Image.open(path) as im:
        stored = np.asarray(im)
    assert not np.array_equal(stored, pixels)  # converted, not just tagged
    assert np.abs(stored - adobe_rgb_reference(pixels / 255) * 255).max() <= 1.5


def adobe_rgb_reference(srgb: np.ndarray) -> np.ndarray:
    """sRGB (0..1) -> Adobe RGB (1998) (0..1) from the published D65 matrices and gamma 563/256."""
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    srgb_to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    adobe_to_xyz = np.array([[0.5767, 0.1856, 0.1882], [0.2973, 0.6274, 0.0753], [0.0270, 0.0707, 0.9911]])
    adobe_linear = np.clip(linear @ (np.linalg.inv(adobe_to_xyz) @ srgb_to_xyz).T, 0, 1)
    return adobe_linear ** (256 / 563)


def test_adobe_rgb_sixteen_bit_conversion_keeps_sixteen_bits(tmp_path):
    adobe_rgb()
    pixels = noise(dtype=np.uint16, seed=7)
    path = export_image(pixels, tmp_path / "adobe16.tif", ExportSettings("tiff", 16, icc="adobe_rgb"))
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].bitspersample == 16
    stored = tiff_pixels(path)
    error = np.abs(stored - adobe_rgb_reference(pixels / 65535) * 65535)
    assert error.max() <= 257 and np.median(error) <= 8  # the reference's matrices have 4 digits
    back = load_image(path)  # the inverse conversion through the embedded profile
    assert back.bit_depth == 16
    assert np.abs(back.pixels[..., :3].astype(int) - pixels.astype(int)).max() <= 40  # < 0.1 % of full scale


def test_any_icc_file_can_be_embedded(tmp_path):
    custom = tmp_path / "mine.icc"
    srgb_like = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    custom.write_bytes(srgb_like.tobytes())
    path = export_image(noise(), tmp_path / "c.tif", ExportSettings(icc=str(custom)))
    assert icc_of(path) == custom.read_bytes()
    with pytest.raises(ImageError, match=r"nowhere\.icc does not exist"):
        export_image(noise(), tmp_path / "d.tif", ExportSettings(icc=str(tmp_path / "nowhere.icc")))


def test_missing_adobe_rgb_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_ADOBE_RGB_FILES", (tmp_path / "absent.icc",))
    with pytest.raises(ImageError, match="icc-profiles-free"):
        export_image(noise(), tmp_path / "a.tif", ExportSettings(icc="adobe_rgb"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_print_preset_exports_at_its_exact_pixel_size(tmp_path, name):
    spec = PRESETS[name].with_ppi(10)  # small files; the 300 ppi arithmetic is checked in test_printing
    pixels = fit_to_print(noise(16, 16, 4), spec, "mirror")
    settings = ExportSettings("tiff", 16, dpi=float(spec.ppi))
    path = export_image(pixels, tmp_path / name, settings)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert (page.imagewidth, page.imagelength) == spec.pixel_size
        assert page.bitspersample == 16
        assert page.tags["XResolution"].value == (10_000, 1000)
    assert load_image(path).dpi == (10.0, 10.0)


# --------------------------------------------------------------------------- CMYK


@pytest.mark.parametrize(("fmt", "intent"), [("tiff", "perceptual"), ("tiff", "relative"), ("jpeg", "relative")])
def test_cmyk_export_matches_littlecms_with_the_profile(tmp_path, fmt, intent):
    profile = cmyk_profile()
    colours = np.array([[[200, 40, 30], [20, 120, 200], [128, 128, 128], [250, 240, 200]]], np.uint8)
    pixels = np.repeat(np.repeat(colours, 16, axis=0), 16, axis=1)  # flat 16 x 16 patches for JPEG
    settings = ExportSettings(fmt, cmyk_profile=str(profile), intent=intent, dpi=300.0, quality=100)
    path = export_image(pixels, tmp_path / "cmyk", settings)
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"),
        ImageCms.getOpenProfile(str(profile)),
        "RGB",
        "CMYK",
        {"perceptual": ImageCms.Intent.PERCEPTUAL, "relative": ImageCms.Intent.RELATIVE_COLORIMETRIC}[intent],
        ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
    expected = np.asarray(ImageCms.applyTransform(Image.fromarray(colours), transform))[0]
    with Image.open(path) as im:
        assert im.mode == "CMYK" and im.info["icc_profile"] == profile.read_bytes()
        assert im.info["dpi"] == (300, 300)
        stored = np.asarray(im)
    got = stored[8, 8::16]  # the centre of each patch
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= (0 if fmt == "tiff" else 3)


def test_cmyk_needs_a_cmyk_profile(tmp_path):
    rgb_profile = tmp_path / "rgb.icc"
    rgb_profile.write_bytes(srgb_profile_bytes())
    with pytest.raises(ImageError, match="RGB profile"):
        export_image(noise(), tmp_path / "a.tif", ExportSettings(cmyk_profile=str(rgb_profile)))


# --------------------------------------------------------------------------- atomic, never overwriting


def test_existing_file_is_not_overwritten_without_asking(tmp_path):
    target = tmp_path / "print.png"
    target.write_bytes(b"earlier work")
    with pytest.raises(ExportExistsError, match="already exists"):
        export_image(noise(), target, ExportSettings("png"))
    assert target.read_bytes() == b"earlier work"
    export_image(noise(), target, ExportSettings("png"), overwrite=True)
    assert load_image(target).pixels.shape == (24, 32, 4)


def test_a_file_appearing_during_the_export_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "race.tif"
    real_encode = image_module._encode

    def encode_while_someone_writes(*args, **kwargs):
        target.write_bytes(b"someone else's")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(image_module, "_encode", encode_while_someone_writes)
    with pytest.raises(ExportExistsError):
        export_image(noise(), target, ExportSettings())
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["race.tif"]


def test_a_write_failing_halfway_leaves_no_partial_file_and_the_earlier_one_intact(tmp_path, monkeypatch):
    target = tmp_path / "print.tif"
    export_image(noise(seed=1), target, ExportSettings())
    before = target.read_bytes()
    real_atomic_write = image_module.atomic_write

    @contextlib.contextmanager
    def disk_full_halfway(path, **kwargs):
        with real_atomic_write(path, **kwargs) as handle:

            class HalfWriter:
                def write(self, data: bytes) -> int:
                    handle.write(data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, "No space left on device")

            yield HalfWriter()

    monkeypatch.setattr(image_module, "atomic_write", disk_full_halfway)
    with pytest.raises(ImageError, match="disk is full"):
        export_image(noise(seed=2), target, ExportSettings(), overwrite=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["print.tif"]


def test_a_missing_folder_or_wrong_suffix_is_reported(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        export_image(noise(), tmp_path / "nowhere" / "a.tif", ExportSettings())
    with pytest.raises(ImageError, match=r"ends in \.png but the format is TIFF"):
        export_image(noise(), tmp_path / "a.png", ExportSettings("tiff"))
    with pytest.raises(ImageError, match="WEBP images can be at most"):
        export_image(np.zeros((2, 17_000, 3), np.uint8), tmp_path / "wide.webp", ExportSettings("webp"))
    assert list(tmp_path.iterdir()) == []


def test_the_same_pixels_give_the_same_file_in_another_process(tmp_path):
    settings = ExportSettings("png", 8, dpi=300.0)
    here = export_image(noise(), tmp_path / "here.png", settings)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from test_export import noise;"
        "from studio.core.export import ExportSettings, export_image;"
        "export_image(noise(), sys.argv[2], ExportSettings('png', 8, dpi=300.0))"
    )
    there = tmp_path / "there.png"
    subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(there)], check=True)
    assert here.read_bytes() == there.read_bytes()  # no time stamp in the embedded profile


def test_exported_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = export_image(noise(), tmp_path / "out.png", ExportSettings("png", 8))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------- a document, flattened band by band


def layered_document(width: int = 301, height: int = 530) -> Document:
    """8- and 16-bit layers with transparency, opacity and blend modes, sized to cross tile and band borders."""
    rng = np.random.default_rng(9)
    photo = rng.integers(0, 65535, (height, width, 4), dtype=np.uint16, endpoint=True)
    photo[..., 3] = 65535
    photo[: height // 3, : width // 2, 3] = 30000  # translucent in one corner
    glaze = rng.integers(0, 255, (height, width, 4), dtype=np.uint8, endpoint=True)
    doc = Document(width, height)
    doc.insert_layer(Layer("Photo", LayerKind.RASTER, photo))
    doc.insert_layer(Layer("Glaze", LayerKind.RASTER, glaze, opacity=0.6, blend_mode=BlendMode.MULTIPLY))
    spot = Layer("Spot", LayerKind.RASTER, np.zeros((height, width, 4), np.uint8), blend_mode=BlendMode.SCREEN)
    spot.write(200, 240, noise(100, 40, 4, seed=10))  # across the first band border and a tile border
    doc.insert_layer(spot)
    return doc


def flattened(doc: Document, settings: ExportSettings) -> np.ndarray:
    """What export_document flattens: 8 bits for an 8-bit export, the layers' depth for a 16-bit one."""
    return doc.composite(dtype=np.dtype(np.uint8) if settings.bit_depth == 8 else None)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("compression", ["lzw", "none"])
@pytest.mark.parametrize("opaque", [False, True])
def test_a_document_exported_band_by_band_equals_the_whole_image_export(tmp_path, bits, compression, opaque):
    doc = layered_document()
    if opaque:
        doc.layers[0].write(0, 0, np.full((doc.height, doc.width, 4), 65535, np.uint16))
    settings = ExportSettings("tiff", bits, compression, dpi=240.0)
    banded = export_document(doc, tmp_path / "banded", settings)
    whole = export_image(flattened(doc, settings), tmp_path / "whole.tif", settings)
    assert banded == tmp_path / "banded.tif"
    new, old = load_image(banded), load_image(whole)
    assert new.bit_depth == bits and new.dpi == (240.0, 240.0)
    np.testing.assert_array_equal(new.pixels, old.pixels)
    assert icc_of(banded) == srgb_profile_bytes()
    with tifffile.TiffFile(banded) as tif:
        page = tif.pages[0]
        assert page.samplesperpixel == (3 if opaque else 4)
        assert page.extrasamples == (() if opaque else (2,))  # unassociated alpha
        assert page.compression == (tifffile.COMPRESSION.LZW if compression == "lzw" else 1)
        assert page.predictor == (2 if compression == "lzw" else 1)
        assert page.rowsperstrip == 32 and len(page.dataoffsets) == 17  # 530 rows
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.INCH
        np.testing.assert_array_equal(page.asarray(), tifffile.imread(whole))


def test_a_banded_export_converts_to_the_chosen_profile(tmp_path):
    adobe_rgb()
    doc = layered_document(90, 300)
    settings = ExportSettings("tiff", 16, icc="adobe_rgb", dpi=300.0)
    banded = export_document(doc, tmp_path / "adobe.tif", settings)
    whole = export_image(flattened(doc, settings), tmp_path / "whole.tif", settings)
    assert icc_of(banded) == icc_of(whole) == adobe_rgb().read_bytes()
    np.testing.assert_array_equal(tiff_pixels(banded), tiff_pixels(whole))


@pytest.mark.parametrize(
    "settings",
    [ExportSettings("png", 16), ExportSettings("jpeg", quality=100), ExportSettings("webp", quality=100)],
)
def test_other_formats_export_the_flattened_document(tmp_path, settings):
    doc = layered_document(60, 40)
    path = export_document(doc, tmp_path / "doc", settings)
    whole = export_image(flattened(doc, settings), tmp_path / "whole", settings)
    assert path.suffix == settings.suffix
    assert path.read_bytes() == whole.read_bytes()


def test_a_cmyk_document_export_goes_through_the_printer_profile(tmp_path):
    settings = ExportSettings("tiff", cmyk_profile=str(cmyk_profile()))
    path = export_document(layered_document(60, 40), tmp_path / "cmyk", settings)
    with Image.open(path) as im:
        assert im.mode == "CMYK" and im.info["icc_profile"] == cmyk_profile().read_bytes()


def test_a_document_export_never_replaces_a_file_unasked(tmp_path):
    doc = layered_document(40, 30)
    target = tmp_path / "print.tif"
    target.write_bytes(b"earlier work")
    with pytest.raises(ExportExistsError, match="already exists"):
        export_document(doc, target, ExportSettings())
    assert target.read_bytes() == b"earlier work"
    export_document(doc, target, ExportSettings(), overwrite=True)
    assert load_image(target).pixels.shape == (30, 40, 4)
    with pytest.raises(ImageError, match=r"ends in \.png but the format is TIFF"):
        export_document(doc, tmp_path / "a.png", ExportSettings())
    with pytest.raises(ImageError, match=r"Cannot export a\.tif: the folder .* does not exist"):
        export_document(doc, tmp_path / "nowhere" / "a.tif", ExportSettings())
    assert [p.name for p in tmp_path.iterdir()] == ["print.tif"]


def test_a_file_appearing_during_a_document_export_is_not_replaced(tmp_path):
    target = tmp_path / "race.tif"
    doc = layered_document(40, 30)

    class Racing:
        width, height = doc.width, doc.height

        def composite(self, region=None, dtype=None):
            if not target.exists():
                target.write_bytes(b"someone else's")
            return doc.composite(region, dtype)

        def composite_is_opaque(self, region=None, dtype=None):
            return doc.composite_is_opaque(region, dtype)

    with pytest.raises(ExportExistsError):
        export_document(Racing(), target, ExportSettings())
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["race.tif"]


def test_a_document_export_failing_halfway_leaves_the_earlier_file_intact(tmp_path, monkeypatch):
    doc = layered_document()
    target = tmp_path / "print.tif"
    export_document(doc, target, ExportSettings())
    before = target.read_bytes()
    real_atomic_write = image_module.atomic_write
    written: list[int] = []

    @contextlib.contextmanager
    def disk_full_after_a_strip(path, **kwargs):
        with real_atomic_write(path, **kwargs) as handle:

            class Filling:
                def __getattr__(self, name):
                    return getattr(handle, name)

                def write(self, data) -> int:
                    if sum(written) > 100_000:  # the header and the first strip are in
                        handle.write(bytes(data)[: len(data) // 2])
                        raise OSError(errno.ENOSPC, "No space left on device")
                    written.append(len(data))
                    return handle.write(data)

            yield Filling()

    monkeypatch.setattr(image_module, "atomic_write", disk_full_after_a_strip)
    with pytest.raises(ImageError, match=r"Cannot export print\.tif: the disk is full"):
        export_document(layered_document(), target, ExportSettings(bit_depth=16), overwrite=True)
    assert len(written) >= 2
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["print.tif"]


def test_a_document_export_reports_its_bands_and_stops_when_cancelled(tmp_path):
    doc = layered_document()  # 530 rows: bands at rows 0, 256 and 512
    target = tmp_path / "print.tif"
    heard: list[tuple[float, str]] = []
    export_document(doc, target, ExportSettings(), progress=lambda f, m: heard.append((f, m)))
    assert heard == [(0.0, "rows 1–256 of 530"), (256 / 530, "rows 257–512 of 530"), (512 / 530, "rows 513–530 of 530")]
    before = target.read_bytes()
    asked: list[int] = []

    def cancelled_in_the_second_band() -> bool:
        asked.append(len(asked))
        return len(asked) > 2

    with pytest.raises(Cancelled):
        export_document(
            doc, target, ExportSettings(bit_depth=16), overwrite=True, cancelled=cancelled_in_the_second_band
        )
    assert len(asked) == 3, "asked before each band until it said stop"
    assert target.read_bytes() == before, "the earlier file is kept whole"
    with pytest.raises(Cancelled):
        export_document(doc, tmp_path / "other.png", ExportSettings("png"), cancelled=lambda: True)
    assert [p.name for p in tmp_path.iterdir()] == ["print.tif"], "nothing half-written is left"


def test_a_sixteen_bit_document_export_needs_a_few_bands_not_the_whole_image(tmp_path):
    size = 4096
    rng = np.random.default_rng(11)
    grain = rng.integers(0, 65535, (256, 256, 4), dtype=np.uint16, endpoint=True)
    grain[..., 3] = 65535
    glaze = noise(256, 256, 4, seed=12)
    keys = [(row, column) for row in range(size // 256) for column in range(size // 256)]
    doc = Document(size, size)
    doc.insert_layer(Layer("Photo", LayerKind.RASTER, TiledImage(size, size, 4, np.uint16, dict.fromkeys(keys, grain))))
    glazed = {key: glaze for key in keys if sum(key) % 4 == 0}  # blended tiles here and there, to keep it fast
    doc.insert_layer(Layer("Glaze", LayerKind.RASTER, TiledImage(size, size, 4, np.uint8, glazed)))
    whole_image = size * size * 3 * 2  # one 16-bit RGB array of the document; the old export held several
    tracemalloc.start()
    try:
        path = export_document(doc, tmp_path / "big.tif", ExportSettings("tiff", 16, "lzw"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < whole_image / 3, f"peak {peak / 1e6:.0f} MB for a {whole_image / 1e6:.0f} MB image"
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert (page.imagelength, page.imagewidth, page.samplesperpixel, page.bitspersample) == (size, size, 3, 16)
        np.testing.assert_array_equal(page.asarray()[-256:, :256], doc.composite((0, size - 256, 256, size))[..., :3])
