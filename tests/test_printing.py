"""Tests for studio.core.printing: pixel arithmetic, guides, fitting, upscaling, soft proofing."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from studio.core.colour import soft_proof
from studio.core.document import Document, Layer, LayerKind
from studio.core.export import ExportSettings
from studio.core.print_size import PRESETS, PrintSpec, Rect, get_preset
from studio.core.printing import Unsharp, fit_document, fit_to_print, picture_ppi, upscale
from studio.core.project import ProjectError, load_project, save_project

CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")  # Debian libgs-common (AGPL-3+)


def cmyk_profile() -> Path:
    """Ghostscript's SWOP CMYK profile; CI installs it (scripts/system-deps.sh), elsewhere the test skips."""
    if not CMYK_PROFILE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CMYK_PROFILE} is missing: scripts/system-deps.sh should have installed libgs-common")
        pytest.skip("needs Debian's libgs-common (ghostscript's CMYK profile)")
    return CMYK_PROFILE


# --------------------------------------------------------------------------- pixel arithmetic


@pytest.mark.parametrize(
    ("name", "ppi", "trim", "margin"),
    [
        ("poster_18x24", 300, (5400, 7200), 38),  # bleed 0.125 in = 37.5 -> 38 px
        ("poster_18x24", 150, (2700, 3600), 19),  # 18.75 -> 19
        ("canvas_12x12", 300, (3600, 3600), 450 + 75),  # wrap 1.5 in + bleed 0.25 in
        ("canvas_24x24", 300, (7200, 7200), 450 + 75),
        ("canvas_24x24", 240, (5760, 5760), 360 + 60),
        ("canvas_24x24", 150, (3600, 3600), 225 + 38),  # 225 + 37.5
        ("a4", 300, (2480, 3508), 35),  # 210 x 297 mm; bleed 3 mm = 35.4 px
        ("a3", 300, (3508, 4961), 35),
        ("a2", 300, (4961, 7016), 35),
        ("a1", 300, (7016, 9933), 35),
        ("a4", 150, (1240, 1754), 18),
    ],
)
def test_preset_pixel_sizes_follow_exactly(name, ppi, trim, margin):
    spec = get_preset(name, ppi=ppi)
    assert spec.trim_size == trim
    assert spec.margin_px == margin
    assert spec.pixel_size == (trim[0] + 2 * margin, trim[1] + 2 * margin)


def test_canvas_24x24_at_300_ppi_is_7200_plus_wrap_and_bleed():
    spec = PRESETS["canvas_24x24"]
    assert (spec.width_in, spec.height_in, spec.ppi, spec.wrap_in, spec.bleed_in) == (24, 24, 300, 1.5, 0.25)
    assert spec.trim_rect == Rect(525, 525, 7725, 7725)
    assert spec.trim_rect.width == 7200
    assert spec.wrap_rect == Rect(75, 75, 8175, 8175)
    assert spec.bleed_rect == Rect(0, 0, 8250, 8250)
    assert spec.safe_rect == Rect(600, 600, 7650, 7650)  # 0.25 in inside the trim


def test_every_preset_is_named_and_at_300_ppi():
    assert set(PRESETS) == {"poster_18x24", "canvas_12x12", "canvas_24x24", "a4", "a3", "a2", "a1"}
    for name, spec in PRESETS.items():
        assert spec.name == name and spec.ppi == 300
    assert PRESETS["canvas_12x12"].wrap_in > 0 and PRESETS["poster_18x24"].wrap_in == 0


@pytest.mark.parametrize(
    ("size", "unit", "expected"),
    [((10, 20), "cm", (1181, 2362)), ((100, 150), "mm", (1181, 1772)), ((4, 6), "in", (1200, 1800))],
)
def test_custom_sizes_in_any_unit(size, unit, expected):
    spec = PrintSpec.from_units(*size, unit, ppi=300)
    assert spec.pixel_size == expected


def test_custom_bleed_and_wrap_are_in_the_same_unit():
    spec = PrintSpec.from_units(20, 20, "cm", ppi=100, bleed=0.5, wrap=2.54)
    assert spec.bleed_px == 20 and spec.wrap_px == 100
    assert spec.pixel_size == (787 + 240, 787 + 240)


def test_unknown_preset_lists_the_names():
    with pytest.raises(KeyError, match="poster_18x24"):
        get_preset("poster")


@pytest.mark.parametrize(
    "kwargs",
    [{"width_in": 0}, {"height_in": -1}, {"ppi": 0}, {"ppi": 300.5}, {"bleed_in": -0.1}, {"safe_in": 10}],
)
def test_bad_specs_are_refused(kwargs):
    values = {"width_in": 4.0, "height_in": 4.0, "ppi": 100} | kwargs
    with pytest.raises(ValueError):
        PrintSpec(**values)


def test_spec_round_trips_and_rejects_unknown_keys():
    spec = PRESETS["canvas_12x12"].with_ppi(240)
    assert PrintSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(KeyError, match="dpi"):
        PrintSpec.from_dict({**spec.to_dict(), "dpi": 300})


# --------------------------------------------------------------------------- fitting


def gradient(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = x * 255 // max(1, w - 1)
    rgba[..., 1] = y * 255 // max(1, h - 1)
    rgba[..., 3] = 255
    return rgba


TINY = PrintSpec(2, 1, ppi=20, bleed_in=0.1, wrap_in=0.25)  # trim 40 x 20, margin 7 -> 54 x 34


def test_tiny_spec_geometry():
    assert TINY.trim_size == (40, 20) and TINY.margin_px == 7 and TINY.pixel_size == (54, 34)


def test_crop_covers_and_crops_centred():
    src = np.zeros((34, 108, 4), np.uint8)  # already the right height; twice as wide as needed
    src[..., 3] = 255
    src[:, 27:81, 0] = 200  # the centre 54 columns are red
    out = fit_to_print(src, TINY, "crop")
    assert out.shape == (34, 54, 4)
    assert np.all(out[..., 0] == 200)


def test_crop_enlarges_a_small_image():
    out = fit_to_print(gradient(10, 10), TINY, "crop")
    assert out.shape == (34, 54, 4)
    assert out[17, 0, 0] < 20 and out[17, -1, 0] > 235  # the full width of the gradient survives


def test_fill_extends_with_the_colour_and_keeps_the_picture_in_the_trim():
    src = np.full((20, 20, 4), 255, np.uint8)
    src[..., :3] = (10, 20, 30)
    out = fit_to_print(src, TINY, "fill", fill=(200, 0, 0, 255))
    assert out.shape == (34, 54, 4)
    trim = TINY.trim_rect
    centre = out[trim.y0 : trim.y1, trim.x0 + 10 : trim.x0 + 30]  # 20 x 20 fitted into 40 x 20, centred
    assert np.all(centre[..., :3] == (10, 20, 30))
    assert np.all(out[0, :, :3] == (200, 0, 0)) and np.all(out[trim.y0 : trim.y1, trim.x0 + 5, :3] == (200, 0, 0))


def test_mirror_reflects_the_face_into_wrap_and_bleed():
    src = gradient(20, 40)
    out = fit_to_print(src, TINY, "mirror")
    trim = TINY.trim_rect
    face = out[trim.y0 : trim.y1, trim.x0 : trim.x1]
    np.testing.assert_array_equal(face, src)
    m = TINY.margin_px
    np.testing.assert_array_equal(out[trim.y0 : trim.y1, :m], src[:, :m][:, ::-1])  # left side mirrored
    np.testing.assert_array_equal(out[:m, trim.x0 : trim.x1], src[:m][::-1])  # top mirrored


def test_fit_keeps_16_bits_and_label_maps_stay_labels():
    src16 = (gradient(20, 40).astype(np.uint16) * 257) + 1
    out = fit_to_print(src16, TINY, "mirror")
    assert out.dtype == np.uint16
    labels = np.zeros((10, 20), np.uint8)
    labels[:, 10:] = 3
    out_labels = fit_to_print(labels, TINY, "crop", resample=False)
    assert out_labels.shape == (34, 54) and set(np.unique(out_labels)) == {0, 3}


def test_unknown_fit_mode_is_refused():
    with pytest.raises(ValueError, match="crop"):
        fit_to_print(gradient(4, 4), TINY, "stretch")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- upscaling


def test_upscale_lanczos_matches_smooth_content_and_keeps_dtype():
    src = gradient(16, 16)
    out = upscale(src, (64, 48))
    assert out.shape == (48, 64, 4) and out.dtype == np.uint8
    reference = np.asarray(Image.fromarray(src).resize((64, 48), Image.Resampling.LANCZOS))
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 8
    out16 = upscale(src.astype(np.uint16) * 257, (64, 48))
    assert out16.dtype == np.uint16
    assert np.abs(out16.astype(int) // 257 - out.astype(int)).max() <= 1


def test_upscale_does_not_bleed_transparent_colour():
    src = np.zeros((8, 8, 4), np.uint8)
    src[:, :4] = (0, 0, 255, 255)  # opaque blue on the left
    src[:, 4:] = (255, 0, 0, 0)  # fully transparent "red" on the right
    out = upscale(src, (32, 32))
    visible = out[..., 3] > 0
    assert out[visible][:, 0].max() <= 2  # no red shows anywhere


def test_unsharp_mask_increases_edge_contrast():
    src = np.full((32, 32, 3), 100, np.uint8)
    src[:, 16:] = 150
    plain = upscale(src, (64, 64))
    sharp = upscale(src, (64, 64), unsharp=Unsharp(radius=2.0, amount=1.0))
    assert sharp.min() < plain.min() and sharp.max() > plain.max()
    flat = np.full((16, 16, 3), 77, np.uint8)
    np.testing.assert_array_equal(upscale(flat, (32, 32), unsharp=Unsharp()), np.full((32, 32, 3), 77, np.uint8))
    gentle = upscale(src, (64, 64), unsharp=Unsharp(radius=2.0, amount=1.0, threshold=255))
    np.testing.assert_array_equal(gentle, plain)  # nothing exceeds the threshold


# --------------------------------------------------------------------------- soft proofing


def test_soft_proof_flags_saturated_colours_and_matches_littlecms():
    profile = cmyk_profile()
    rgb = np.array([[[0, 255, 0], [0, 0, 255], [128, 128, 128], [200, 150, 120]]], np.uint8)
    proofed, gamut = soft_proof(rgb, profile)
    assert gamut.tolist() == [[True, True, False, False]]  # pure green and blue cannot be printed in SWOP
    srgb = ImageCms.createProfile("sRGB")
    expected = ImageCms.applyTransform(
        Image.fromarray(rgb),
        ImageCms.buildProofTransform(
            srgb,
            srgb,
            ImageCms.getOpenProfile(str(profile)),
            "RGB",
            "RGB",
            ImageCms.Intent.RELATIVE_COLORIMETRIC,
            ImageCms.Intent.RELATIVE_COLORIMETRIC,
            ImageCms.Flags.SOFTPROOFING | ImageCms.Flags.BLACKPOINTCOMPENSATION,
        ),
    )
    np.testing.assert_array_equal(proofed, np.asarray(expected))
    assert np.abs(proofed[0, 0].astype(int) - (0, 255, 0)).max() > 30  # the print is visibly duller


def test_soft_proof_keeps_alpha_and_refuses_bad_input(tmp_path):
    profile = cmyk_profile()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 77
    proofed, gamut = soft_proof(rgba, profile, "perceptual")
    assert proofed.shape == (2, 2, 4) and np.all(proofed[..., 3] == 77) and gamut.shape == (2, 2)
    with pytest.raises(ValueError, match="intent"):
        soft_proof(rgba, profile, "vivid")
    bogus = tmp_path / "bogus.icc"
    bogus.write_bytes(b"not a profile")
    with pytest.raises(ValueError, match=r"bogus\.icc"):
        soft_proof(rgba, bogus)


# --------------------------------------------------------------------------- the document remembers


def test_fitting_a_document_is_one_undoable_step():
    doc = Document.from_pixels(gradient(10, 20))
    top = Layer("paint", LayerKind.RASTER, np.zeros((10, 20, 4), np.uint8))
    mask = Layer("mask", LayerKind.MASK, np.full((10, 20), 255, np.uint8))
    labels = Layer("labels", LayerKind.LABELS, np.full((10, 20), 2, np.uint8))
    for layer in (top, mask, labels):
        doc.insert_layer(layer)
    before = [la.pixels.copy() for la in doc.layers]
    doc.history.push(fit_document(doc, TINY, "fill", fill=(0, 0, 255, 255)))
    assert (doc.width, doc.height) == TINY.pixel_size and doc.print_spec == TINY
    base = doc.layers[0].pixels
    assert base.shape == (34, 54, 4) and tuple(base[0, 0]) == (0, 0, 255, 255)  # the bottom layer gets the fill
    assert tuple(doc.layer(top.id).pixels[0, 0]) == (0, 0, 0, 0)  # layers above stay transparent there
    assert doc.layer(mask.id).pixels[0, 0] == 0 and doc.layer(mask.id).pixels[17, 27] == 255
    assert set(np.unique(doc.layer(labels.id).pixels)) == {0, 2}
    assert doc.history.texts() == ["Fit to custom (fill)"]
    doc.history.undo()
    assert (doc.width, doc.height) == (20, 10) and doc.print_spec is None
    for layer, pixels in zip(doc.layers, before, strict=True):
        np.testing.assert_array_equal(layer.pixels, pixels)
    doc.history.redo()
    assert doc.layers[0].pixels.shape == (34, 54, 4)


def test_project_files_keep_the_print_spec_and_export_settings(tmp_path):
    doc = Document.from_pixels(gradient(8, 8))
    doc.print_spec = PRESETS["canvas_12x12"].with_ppi(150)
    doc.export_settings = ExportSettings("png", 16, dpi=150.0, icc="adobe_rgb")
    save_project(doc, tmp_path / "a.studio")
    loaded = load_project(tmp_path / "a.studio")
    assert loaded.print_spec == doc.print_spec and loaded.export_settings == doc.export_settings

    plain = Document.from_pixels(gradient(8, 8))
    save_project(plain, tmp_path / "b.studio")
    loaded = load_project(tmp_path / "b.studio")
    assert loaded.print_spec is None and loaded.export_settings is None

    with zipfile.ZipFile(tmp_path / "a.studio") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["document.json"])
    manifest["export_settings"]["format"] = "gif"
    members["document.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "c.studio", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ProjectError, match=r"export settings are malformed.*format"):
        load_project(tmp_path / "c.studio")


def test_picture_ppi_is_the_resolution_a_picture_keeps_once_fitted():
    spec = PrintSpec(3, 2, ppi=300, bleed_in=0.1, wrap_in=0.5)  # trim 900 x 600, whole 1260 x 960
    assert picture_ppi((900, 600), spec, "fill") == pytest.approx(300)  # the face exactly: not enlarged
    assert picture_ppi((450, 150), spec, "fill") == pytest.approx(300 / 2)  # limited by its width
    assert picture_ppi((450, 150), spec, "mirror") == pytest.approx(300 / 4)  # covers the face: its height
    assert picture_ppi((630, 480), spec, "crop") == pytest.approx(300 / 2)  # covers the whole print
