"""16-bit layers end to end: a plugin result computed in float keeps 16 bits through its layer, the project file,
layer operations and the exports (counting distinct levels: more than 256 means no 8-bit banding)."""

import dataclasses
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from batch_plugins import RAMP, RampParams

from studio.core import adjust, run
from studio.core.document import Document, Layer
from studio.core.export import ExportSettings, export_image
from studio.core.image import load_image, to_uint8
from studio.core.inputs import IMAGE
from studio.core.jobs import RunContext, drive
from studio.core.layer_ops import flatten, merge_down
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.print_size import PrintSpec
from studio.core.printing import fit_document
from studio.core.project import load_project, save_project
from studio.core.run import (
    build_inputs,
    deferred_inputs,
    deferred_job,
    result_layer,
    result_picture,
    run_plugin,
)
from studio.core.selection import copy_pixels, cut_pixels, paste_layer, select_all
from studio.core.tiles import TiledImage

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WIDTH = 4096


def levels(pixels: np.ndarray) -> int:
    """Distinct values of the first colour channel."""
    return len(np.unique(pixels[..., 0]))


def ramp_layer(doc: Document) -> Layer:
    inputs = build_inputs(RAMP, {}, (doc.width, doc.height))
    frame = run_plugin(RAMP, RampParams(), inputs, RunContext())
    return result_layer(doc, RAMP, RampParams(), inputs, frame)


def ramp_document(height: int = 2) -> Document:
    doc = Document.from_pixels(np.full((height, WIDTH, 4), 255, np.uint8), "ramp")
    doc.insert_layer(ramp_layer(doc))
    return doc


def test_a_16_bit_result_survives_its_layer_the_project_and_a_16_bit_export(tmp_path):
    doc = ramp_document()
    layer = doc.layers[1]
    assert (layer.bit_depth, layer.pixels.dtype) == (16, np.uint16)
    assert levels(layer.pixels) > 256

    save_project(doc, tmp_path / "ramp.studio")
    reopened = load_project(tmp_path / "ramp.studio")
    assert reopened.layers[1].bit_depth == 16
    np.testing.assert_array_equal(reopened.layers[1].pixels, layer.pixels)

    picture = reopened.composite()
    assert picture.dtype == np.uint16 and levels(picture) > 256
    for name, fmt in (("deep.tif", "tiff"), ("deep.png", "png")):
        export_image(picture, tmp_path / name, ExportSettings(format=fmt, bit_depth=16))
        written = load_image(tmp_path / name)
        assert written.bit_depth == 16 and levels(written.pixels) > 256
        np.testing.assert_array_equal(written.pixels[..., :3], picture[..., :3])
    export_image(picture, tmp_path / "flat.png", ExportSettings(format="png", bit_depth=8))
    flat = load_image(tmp_path / "flat.png")
    assert flat.bit_depth == 8 and levels(flat.pixels) == 256
    np.testing.assert_array_equal(flat.pixels[..., :3], to_uint8(picture)[..., :3])


def test_the_canvas_and_plugins_still_get_8_bits_of_a_16_bit_document():
    doc = ramp_document()
    shown = doc.composite(dtype=np.dtype(np.uint8))
    assert shown.dtype == np.uint8
    np.testing.assert_array_equal(shown, to_uint8(doc.composite()))


@pytest.mark.parametrize(("suffix", "bits"), [(".png", 16), (".tif", 16), (".jpg", 8), (".webp", 8)])
def test_studio_run_writes_a_16_bit_result_with_16_bits_where_the_format_holds_them(
    tmp_path, monkeypatch, suffix, bits
):
    from studio.cli import main

    registry = discover_plugins([EntryPoint("ramp", "batch_plugins:RAMP", ENTRY_POINT_GROUP)])
    monkeypatch.setattr("studio.core.plugin.discover_plugins", lambda *args: registry)
    out = tmp_path / f"ramp{suffix}"
    assert main(["run", "ramp", "--size", f"{WIDTH}x2", "-o", str(out)]) == 0
    written = load_image(out)
    assert written.bit_depth == bits
    assert levels(written.pixels) > 256 if bits == 16 else levels(written.pixels) <= 256


def test_result_picture_keeps_16_bits_over_an_8_bit_input():
    picture = np.zeros((2, WIDTH, 4), np.uint8)
    picture[..., 3] = 255
    picture[:, : WIDTH // 2, 3] = 0  # transparency stays transparency
    reading = dataclasses.replace(RAMP, inputs=(IMAGE,))
    inputs = build_inputs(reading, {"image": picture}, None)
    frame = run_plugin(reading, RampParams(), inputs, RunContext())
    result = result_picture(frame.image, inputs)
    assert result.dtype == np.uint16 and levels(result[:, WIDTH // 2 :]) > 256
    assert not result[:, : WIDTH // 2, 3].any() and (result[:, WIDTH // 2 :, 3] == 65535).all()


def test_a_batch_exports_a_16_bit_result_with_16_bits(tmp_path):
    from studio.core.batch import load_job, run_job

    registry = discover_plugins(
        [
            EntryPoint("ramp", "batch_plugins:RAMP", ENTRY_POINT_GROUP),
            EntryPoint("tint", "batch_plugins:MANIFEST", ENTRY_POINT_GROUP),
        ]
    )
    job_file = tmp_path / "job.toml"
    job_file.write_text(
        f'size = [{WIDTH}, 2]\noutput = "ramp-{{index}}.png"\n[[steps]]\nplugin = "ramp"\n'
        '[[steps]]\nplugin = "tint"\namount = 0.0\n[[steps]]\nplugin = "ramp"\n[export]\nbit_depth = 16\n'
    )
    job = load_job(job_file, registry)
    summary = run_job(job, workers=1, registry=registry)
    assert not summary.failed
    written = load_image(job.items[0].output)
    assert written.bit_depth == 16 and levels(written.pixels) > 256


OPERATIONS = {
    "levels": lambda doc, layer: adjust_layer(doc, layer, adjust.Levels(black=10, white=240, gamma=1.2)),
    "hue and saturation": lambda doc, layer: adjust_layer(doc, layer, adjust.HueSaturation(20, 0.2, 0.1)),
    "brightness and contrast": lambda doc, layer: adjust_layer(doc, layer, adjust.BrightnessContrast(0.1, 0.2)),
    "resize": lambda doc, _layer: doc.history.push(adjust.resize_image(doc, WIDTH + 100, 5)),
    "canvas size": lambda doc, _layer: doc.history.push(adjust.canvas_size(doc, WIDTH + 8, 6)),
    "crop": lambda doc, _layer: doc.history.push(adjust.crop(doc, (4, 0, WIDTH - 4, 3))),
    "rotate": lambda doc, _layer: doc.history.push(adjust.rotate(doc, 1)),
    "flip": lambda doc, _layer: doc.history.push(adjust.flip(doc, True)),
    "fit to print": lambda doc, _layer: doc.history.push(
        fit_document(doc, PrintSpec(14.0, 0.1, 300, safe_in=0.0), "fill")
    ),
}


def adjust_layer(doc: Document, layer: Layer, adjustment: adjust.Adjustment) -> None:
    before = layer.image.snapshot()
    layer.write(0, 0, adjust.adjusted(doc, layer, adjustment, layer.pixels))
    doc.history.push(adjust.adjust_step(doc, layer, "Adjust", before), applied=True)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_layer_operations_keep_16_bits(operation):
    doc = ramp_document(height=4)
    OPERATIONS[operation](doc, doc.layers[1])
    layer = doc.layers[1]
    assert layer.bit_depth == 16 and doc.layers[0].bit_depth == 8
    pixels = layer.pixels
    assert levels(pixels if pixels.shape[1] > pixels.shape[0] else pixels.transpose(1, 0, 2)) > 256


def test_16_bit_adjustments_match_the_8_bit_ones():
    rng = np.random.default_rng(1)
    eight = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    sixteen = eight.astype(np.uint16) * 257
    for adjustment in (
        adjust.Levels(black=10, white=240, gamma=1.2),
        adjust.HueSaturation(20, 0.2, 0.1),
        adjust.BrightnessContrast(0.1, 0.2),
    ):
        deep = adjustment.apply(sixteen)
        assert deep.dtype == np.uint16
        difference = np.abs(to_uint8(deep).astype(int) - adjustment.apply(eight).astype(int))
        assert difference.max() <= 1, adjustment


def test_copy_cut_paste_merge_and_flatten_keep_16_bits():
    doc = ramp_document()
    ramp = doc.layers[1]
    doc.history.push(select_all(doc))
    copied = copy_pixels(doc, ramp)
    assert copied is not None and copied[0].dtype == np.uint16 and levels(copied[0]) > 256
    doc.history.push(paste_layer(doc, *copied))
    assert doc.layers[-1].bit_depth == 16
    np.testing.assert_array_equal(doc.layers[-1].pixels, ramp.pixels)
    doc.history.push(cut_pixels(doc, ramp))
    assert ramp.bit_depth == 16 and not ramp.pixels[..., 3].any()
    doc.history.undo()
    doc.history.push(merge_down(doc, doc.layers[-1].id))
    assert doc.layers[-1].bit_depth == 16 and levels(doc.layers[-1].pixels) > 256
    doc.history.push(flatten(doc))
    assert [layer.bit_depth for layer in doc.layers] == [16] and levels(doc.layers[0].pixels) > 256


def test_a_deferred_job_reads_its_snapshot_and_makes_the_result_layer_pixels_on_its_own_thread(monkeypatch):
    picture = np.zeros((2, WIDTH, 4), np.uint8)
    picture[..., 3] = 255
    picture[:, : WIDTH // 2, 3] = 0
    doc = Document.from_pixels(picture)
    reading = dataclasses.replace(RAMP, inputs=(IMAGE,))
    inputs = deferred_inputs(doc, reading)
    doc.layers[0].write(0, 0, np.full((2, WIDTH, 4), 255, np.uint8))  # painted after the job started
    ctx = RunContext()
    final = drive(deferred_job(reading, RampParams(), inputs)(ctx), ctx)
    assert isinstance(final.prepared, TiledImage)
    monkeypatch.setattr(run, "result_pixels", None)  # the GUI thread must not work the result out again
    layer = result_layer(doc, reading, RampParams(), inputs(), final)
    assert layer.image is final.prepared and layer.bit_depth == 16
    assert not layer.pixels[:, : WIDTH // 2, 3].any(), "held to the picture as it was when the job started"
    assert (layer.pixels[:, WIDTH // 2 :, 3] == 65535).all() and levels(layer.pixels[:, WIDTH // 2 :]) > 256
