"""Fast mode of the style-transfer plugin with the real ONNX networks (tiny; skipped when not installed)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from studio_plugins.style_transfer.common import rgb_to_yuv
from studio_plugins.style_transfer.contact_sheet import (
    LABEL_HEIGHT,
    PAD,
    build_sheet,
    folder_styles,
    grid,
    preset_styles,
    render_sheet,
    sheet_size,
)
from studio_plugins.style_transfer.engine import run
from studio_plugins.style_transfer.fast import preset_weights, tile_starts
from studio_plugins.style_transfer.params import StyleParams

from studio.core.cancel import Cancelled
from studio.core.image import ImageError, quantize, to_uint8
from studio.core.inputs import Inputs, resample
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.onnx_styles import TRANSFORM_SIZE
from studio.core.params import ParamError

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def store():
    store = ModelStore()
    for model_id in ("magenta_arbitrary", "multistyle26"):
        if store.status(model_id) is not ModelStatus.INSTALLED:
            pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
    return store


@pytest.fixture(scope="module")
def content():
    return np.ascontiguousarray(skimage_data.chelsea()[::4, ::4])  # 75 x 113


@pytest.fixture(scope="module")
def styles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("styles")
    paths = []
    for name in ("coffee", "astronaut"):
        path = folder / f"{name}.png"
        Image.fromarray(getattr(skimage_data, name)()[::4, ::4]).save(path)
        paths.append(str(path))
    return paths


def inputs_of(picture, mask=None):
    rgba = np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
    return Inputs(picture.shape[1], picture.shape[0], rgba, mask)


def render(store, picture, mask=None, frames=None, **values):
    """The final frame, its 16-bit result as 8-bit levels to compare with the 8-bit picture."""
    params = StyleParams(mode="fast", **values)
    ctx = RunContext(models=store)
    final = drive(run(params, inputs_of(picture, mask), ctx), ctx, frames.append if frames is not None else None)
    assert final.image.dtype == np.uint16 and final.image.shape[2] == 3
    return dataclasses.replace(final, image=to_uint8(final.image))


def levels(store, picture, **values):
    params = StyleParams(mode="fast", **values)
    ctx = RunContext(models=store)
    return drive(run(params, inputs_of(picture), ctx), ctx).image


def distance(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_presets_paint_and_differ_from_each_other(store, content):
    first = render(store, content, fast_model="presets", presets="0").image
    second = render(store, content, fast_model="presets", presets="7").image
    assert first.shape == content.shape
    assert distance(first, content) > 10 and distance(second, content) > 10
    assert distance(first, second) > 5


@pytest.mark.parametrize(
    "values",
    [
        {"fast_model": "presets", "precision": "float32"},
        {"fast_model": "presets", "precision": "bfloat16"},
        {"fast_model": "arbitrary"},
        {"fast_model": "arbitrary", "processing_size": 500},
    ],
)
def test_results_keep_more_than_8_bits(store, content, styles, values):
    """The networks compute in float: the 16-bit result holds levels between 8-bit ones, so gradients do not band."""
    result = levels(store, content, style=styles[0], size=300, **values)
    assert result.dtype == np.uint16
    assert (result % 257 != 0).mean() > 0.9
    assert len(np.unique(result[..., 1])) > 4 * 256


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_precisions_paint_the_same_picture(store, content, styles, model):
    """float32 is onnxruntime's picture of the file exactly; bfloat16 (PyTorch) paints the same picture: within a
    level or two of the float32 preset network, within a few levels of the arbitrary network's 8-bit activations."""
    values = {"fast_model": model, "presets": "7", "style": styles[0]}
    exact = levels(store, content, precision="float32", **values)
    if model == "presets":
        expected = store.load("multistyle26").stylize(content, np.eye(26, dtype=np.float32)[7])
    else:
        arbitrary = store.load("magenta_arbitrary")
        expected = arbitrary.stylize_vector(content, arbitrary.style_vector(np.asarray(Image.open(styles[0]))))
    np.testing.assert_array_equal(exact, quantize(expected, 16))
    fast = levels(store, content, precision="bfloat16", **values)
    difference = np.abs(fast.astype(np.float32) - exact.astype(np.float32)) / 257
    tolerance = 1.0 if model == "presets" else 8.0
    assert 0 < difference.mean() < tolerance and np.quantile(difference, 0.99) < 6 * tolerance
    assert np.corrcoef(fast.ravel(), exact.ravel())[0, 1] > 0.98


def test_arbitrary_paints_in_the_style_image(store, content, styles):
    coffee = render(store, content, style=styles[0]).image
    astronaut = render(store, content, style=styles[1]).image
    assert coffee.shape == content.shape
    assert distance(coffee, content) > 10
    assert distance(coffee, astronaut) > 5


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_strength_zero_gives_the_picture_back(store, content, styles, model):
    out = render(store, content, fast_model=model, style=styles[0], strength=0.0).image
    np.testing.assert_array_equal(out, content)


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_strength_moves_monotonically_from_the_picture(store, content, styles, model):
    distances = [
        distance(render(store, content, fast_model=model, style=styles[0], strength=s).image, content)
        for s in (0.0, 0.3, 0.6, 1.0)
    ]
    assert distances == sorted(distances) and distances[-1] > distances[0] + 10


def test_preset_blend_moves_monotonically_between_the_presets(store, content):
    a = render(store, content, fast_model="presets", presets="0").image
    b = render(store, content, fast_model="presets", presets="7").image
    blends = [
        render(store, content, fast_model="presets", presets="0,7", style_weights=f"{1 - t},{t}").image
        for t in (0.25, 0.5, 0.75)
    ]
    to_a = [distance(x, a) for x in [a, *blends, b]]
    to_b = [distance(x, b) for x in [a, *blends, b]]
    assert to_a == sorted(to_a) and to_b == sorted(to_b, reverse=True)


def test_style_image_blend_moves_monotonically_between_the_styles(store, content, styles):
    both = ",".join(styles)
    a, b = (render(store, content, style=path).image for path in styles)
    blends = [render(store, content, style=both, style_weights=f"{1 - t},{t}").image for t in (0.0, 0.5, 1.0)]
    np.testing.assert_array_equal(blends[0], a)
    np.testing.assert_array_equal(blends[2], b)
    assert distance(blends[1], a) > 1 and distance(blends[1], b) > 1
    assert distance(blends[1], a) < distance(b, a) and distance(blends[1], b) < distance(a, b)


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_mask_outside_keeps_the_pixels(store, content, styles, model):
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, 60:] = 1.0
    out = render(store, content, mask, fast_model=model, style=styles[0]).image
    np.testing.assert_array_equal(out[:, :60], content[:, :60])
    assert distance(out[:, 60:], content[:, 60:]) > 10


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_luminance_preservation_keeps_the_chroma(store, content, styles, model):
    plain = render(store, content, fast_model=model, style=styles[1]).image
    kept = render(store, content, fast_model=model, style=styles[1], preserve_colour="luminance").image
    chroma = rgb_to_yuv(content)[..., 1:]
    plain_error = np.abs(rgb_to_yuv(plain)[..., 1:] - chroma).mean()
    kept_error = np.abs(rgb_to_yuv(kept)[..., 1:] - chroma).mean()
    assert kept_error < 0.01 < plain_error
    brightness = np.abs(rgb_to_yuv(kept)[..., 0] - rgb_to_yuv(plain)[..., 0]).mean()
    assert brightness < 0.02, "the styled brightness stays"


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_histogram_preservation_takes_the_pictures_colours(store, content, styles, model):
    plain = render(store, content, fast_model=model, style=styles[0]).image
    matched = render(store, content, fast_model=model, style=styles[0], preserve_colour="histogram").image
    target = content.reshape(-1, 3).mean(0)
    assert np.abs(matched.reshape(-1, 3).mean(0) - target).sum() < np.abs(plain.reshape(-1, 3).mean(0) - target).sum()


@pytest.mark.parametrize("model", ["presets", "arbitrary"])
def test_output_and_processing_sizes(store, content, styles, model):
    out = render(store, content, fast_model=model, style=styles[0], size=150).image
    assert out.shape == (100, 150, 3)
    small = render(store, content, fast_model="presets", processing_size=40, size=150).image
    assert small.shape == (100, 150, 3)
    assert distance(small, out) > 3, "the network painted at another size"


def test_arbitrary_paints_in_tiles_above_its_own_size(store, content, styles):
    single = render(store, content, style=styles[0], size=900).image
    tiled = render(store, content, style=styles[0], size=900, processing_size=900).image
    assert tiled.shape == single.shape == (597, 900, 3)
    assert distance(tiled, single) > 3, "finer strokes than the 384 px single pass"
    starts = tile_starts(900)
    seams = sorted({*starts[1:], *(s + TRANSFORM_SIZE for s in starts[:-1])})
    steps = np.abs(np.diff(tiled.astype(np.float32), axis=1)).mean(axis=(0, 2))
    assert max(steps[x - 1] for x in seams) < 1.8 * np.median(steps), "tile borders are cross-faded, not seams"


def test_final_frame_records_seed_and_models(store, content, styles):
    frames = []
    final = render(store, content, frames=frames, style=styles[0], seed=42)
    assert final.final and final.info["seed"] == 42
    (model,) = final.info["models"]
    record = store.record("magenta_arbitrary")
    assert model["id"] == "magenta_arbitrary" and len(model["sha256"]) == 64
    assert model["sha256"] not in record.files.values(), "two files: a digest of both"
    presets = render(store, content, fast_model="presets").info["models"]
    assert presets == [{"id": "multistyle26", "sha256": next(iter(store.record("multistyle26").files.values()))}]
    progress = [f.progress for f in frames]
    assert progress and progress == sorted(progress) and all(0 <= p < 1 for p in progress)


def test_cancel_stops_the_job(store, content):
    params = StyleParams(mode="fast", fast_model="presets")
    ctx = RunContext(models=store)
    frames = run(params, inputs_of(content), ctx)
    next(frames)
    ctx.cancel()
    with pytest.raises(Cancelled):
        drive(frames, ctx)


def test_bad_style_file_names_the_file(store, content, tmp_path):
    missing = tmp_path / "nowhere.jpg"
    with pytest.raises(ImageError, match=r"nowhere\.jpg"):
        render(store, content, style=str(missing))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    with pytest.raises(ImageError, match=r"broken\.png"):
        render(store, content, style=str(broken))


def test_bad_presets_and_weights_are_explained():
    params = StyleParams(mode="fast", fast_model="presets")
    with pytest.raises(ParamError, match="presets: 26"):
        preset_weights(dataclasses.replace(params, presets="3,26"))
    with pytest.raises(ParamError, match=r"presets: 1\.5"):
        preset_weights(dataclasses.replace(params, presets="1.5"))
    with pytest.raises(ParamError, match="2 weight"):
        preset_weights(dataclasses.replace(params, presets="3", style_weights="1,2"))
    weights = preset_weights(dataclasses.replace(params, presets="3,12", style_weights="3,1"))
    assert weights[3] == pytest.approx(0.75) and weights[12] == pytest.approx(0.25) and weights.sum() == 1


def test_stylize_vector_matches_stylize(store, content, styles):
    model = store.load("magenta_arbitrary")
    style = np.asarray(Image.open(styles[0]))
    expected = model.stylize(content, style)
    assert expected.dtype == np.float32 and expected.min() >= 0 and expected.max() <= 1
    np.testing.assert_array_equal(model.stylize_vector(content, model.style_vector(style)), expected)
    assert model.stylize_vector(content, model.style_vector(style), size=(50, 40)).shape == (40, 50, 3)
    with pytest.raises(ValueError, match="style vector"):
        model.stylize_vector(content, np.zeros(100))


def test_sheet_grid_and_size():
    assert grid(27) == (6, 5)
    assert grid(3, columns=5) == (3, 1)
    assert sheet_size((40, 30), 27) == (6 * (40 + PAD) + PAD, 5 * (30 + LABEL_HEIGHT + PAD) + PAD)
    with pytest.raises(ValueError, match="at least one"):
        grid(0)


def test_build_sheet_places_tiles_under_their_labels():
    tiles = [(f"tile {i}", np.full((30, 40, 3), 40 * i, np.uint8)) for i in range(5)]
    sheet = build_sheet(tiles, columns=2)
    assert sheet.shape == (3 * (30 + LABEL_HEIGHT + PAD) + PAD, 2 * (40 + PAD) + PAD, 3)
    for i in range(5):
        row, col = divmod(i, 2)
        x, y = PAD + col * (40 + PAD), PAD + row * (30 + LABEL_HEIGHT + PAD) + LABEL_HEIGHT
        assert (sheet[y : y + 30, x : x + 40] == 40 * i).all()
        label = sheet[y - LABEL_HEIGHT : y, x : x + 40]
        assert (label < 100).any(), "the label is drawn in dark text"
    with pytest.raises(ValueError, match="tile 'odd'"):
        build_sheet([*tiles, ("odd", np.zeros((10, 10, 3), np.uint8))])


def test_render_sheet_paints_each_style(store, content):
    styles = preset_styles(StyleParams())[:3]
    ctx = RunContext(models=store)
    frames = []
    final = drive(render_sheet(content, styles, ctx, tile=48, paint_size=96), ctx, frames.append)
    tile = (48, 32)  # the 113 x 75 picture shrunk to 48 px on the long side
    assert final.image is None and [(o.name, o.kind) for o in final.outputs] == [("Contact sheet", "document")]
    sheet = final.outputs[0].image
    assert sheet.shape == (*sheet_size(tile, 4)[::-1], 3)
    labels = ["0 · Warm haze", "1 · Black ink on yellow", "2 · Ink wash"]
    assert [f.message for f in frames] == [f"{label} ({n}/3)" for n, label in enumerate(labels, 1)]
    assert final.info["styles"] == labels
    cols, _ = grid(4)
    crops = []
    for index in range(4):
        row, col = divmod(index, cols)
        top, left = PAD + row * (tile[1] + LABEL_HEIGHT + PAD) + LABEL_HEIGHT, PAD + col * (tile[0] + PAD)
        crops.append(sheet[top : top + tile[1], left : left + tile[0]])
    assert distance(crops[0], resample(content, tile)) < 1, "the original comes first"
    assert min(distance(a, b) for i, a in enumerate(crops) for b in crops[i + 1 :]) > 5


def test_folder_styles_and_cancel(store, content, styles, tmp_path):
    folder = Path(styles[0]).parent
    (folder / "notes.txt").write_text("not a picture")
    found = folder_styles(StyleParams(strength=0.5), folder)
    assert [s.label for s in found] == ["astronaut", "coffee"]
    assert all(s.params.fast_model == "arbitrary" and s.params.strength == 0.5 for s in found)
    with pytest.raises(ValueError, match="holds no pictures"):
        folder_styles(StyleParams(), tmp_path)
    ctx = RunContext(models=store)
    frames = render_sheet(content, found, ctx, tile=32)
    next(frames)
    ctx.cancel()
    with pytest.raises(Cancelled):
        drive(frames, ctx)
