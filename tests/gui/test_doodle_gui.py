"""The neural doodle panel in the real main window (tiny random vgg16): segmenting the style into a region
palette, a doodle from the document, running on a painted doodle and loading an anti-aliased doodle."""

import threading
from importlib.metadata import EntryPoint

import cv2
import numpy as np
import pytest
from PIL import Image
from studio_plugins.doodle import panel as doodle_panel
from test_doodle import two_textures
from test_style_optimise import TAPS, tiny_vgg
from tiny_store import tiny_store

from studio.core.document import LayerKind
from studio.core.inputs import label_colours
from studio.core.labels import colour_hex, segment
from studio.core.models.catalog import catalog
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

PLUGINS = [EntryPoint("doodle", "studio_plugins.doodle:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    models = tiny_store(tmp_path_factory.mktemp("doodle-store"), "test_style_optimise:tiny_vgg", tiny_vgg, TAPS, seed=3)
    models.specs = catalog() | models.specs  # the other networks the plugin offers, not installed
    return models


@pytest.fixture
def window(open_window, tmp_path, store):
    return open_window(discover_plugins(PLUGINS), store, (1100, 800), {"outputs/folder": str(tmp_path / "outputs")})


@pytest.fixture
def segmented(window, tmp_path):
    """The window with a 48 px picture of two textures open and the style (the same picture) segmented in two."""
    style = tmp_path / "style.png"
    Image.fromarray(two_textures(48)).save(style)
    assert window.open_path(style)
    panel = window.panels["doodle"]
    panel.inputs_box.set_extra("style", str(style))
    written = panel.params_widget.segment_style(2)
    assert written == tmp_path / "style-labels.png"
    return panel


def test_segmenting_the_style_fills_the_inputs_and_the_palette(segmented):
    doodle = segmented.params_widget
    labels = np.asarray(Image.open(segmented.extras()["style_labels"]).convert("RGB"))
    assert segmented.extras()["style_labels"].endswith("style-labels.png")
    assert (labels[:, :20] == label_colours(np.uint8(1))).all() and (labels[:, 26:] == label_colours(np.uint8(2))).all()
    assert doodle.regions.rowCount() == 2
    colours = [doodle.regions.item(row, 0).toolTip() for row in range(2)]
    assert sorted(colours) == sorted(colour_hex(label_colours(np.uint8(i))) for i in (1, 2))
    assert doodle.region_names() == ["Region 1", "Region 2"]
    assert not doodle.preview.pixmap().isNull()
    assert all(not doodle.regions.item(row, 2).icon().isNull() for row in range(2))


def test_a_message_about_a_path_being_typed_goes_once_the_whole_path_reads(window, tmp_path):
    style = tmp_path / "coffee.png"
    Image.fromarray(two_textures(48)).save(style)
    panel = window.panels["doodle"]
    panel.inputs_box.set_extra("style", str(style)[:-1])  # a keystroke short of the whole path
    assert "coffee.pn" in panel.params_widget.status.text()
    panel.inputs_box.set_extra("style", str(style))
    assert panel.params_widget.status.text() == ""
    assert not panel.params_widget.preview.pixmap().isNull()


def test_doodle_from_the_document_adds_a_label_layer_in_one_undo_step(window, segmented, qtbot, monkeypatch):
    doc = window.doc
    before = len(doc.layers)
    segmented_in = []
    monkeypatch.setattr(
        doodle_panel, "segment", lambda *args: segmented_in.append(threading.current_thread()) or segment(*args)
    )
    segmented.params_widget.doodle_button.click()
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert segmented_in and threading.main_thread() not in segmented_in, "the window does not wait for it"
    layer = doc.layers[-1]
    assert layer.kind is LayerKind.LABELS and len(doc.layers) == before + 1
    assert set(np.unique(layer.pixels)) == set(segmented.params_widget.region_indices)
    assert np.array_equal(layer.pixels, segment(two_textures(48), 2))  # each region is the style region it resembles
    doc.history.undo()
    assert len(doc.layers) == before


def test_running_from_the_panel_on_a_painted_doodle_adds_a_result(window, segmented, qtbot):
    doc = window.doc
    segmented.params_widget.doodle_from_document()
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    layer = doc.layers[-1]
    layer.write(0, 0, np.full((24, doc.width), 2, np.uint8))  # the artist paints the top half with region 2
    doc.notify_pixels()
    segmented.params_widget.set_values({"iterations": 5, "scales": 1})
    window.live_preview.cancel()
    before = len(doc.layers)
    segmented.run_button.click()
    assert window.job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert segmented.error_text() == ""
    assert len(doc.layers) == before + 1
    result = doc.layers[-1]
    assert result.kind is LayerKind.RASTER and result.recipe.plugin_id == "doodle"


def test_an_anti_aliased_doodle_is_snapped_and_the_moved_pixels_shown(window, segmented, tmp_path):
    doodle = np.zeros((48, 48), np.uint8)
    doodle[:, :] = 1
    doodle[16:32, 16:32] = 2
    blurred = cv2.GaussianBlur(label_colours(doodle), (5, 5), 1.0)
    path = tmp_path / "doodle.png"
    Image.fromarray(blurred).save(path)
    moved = segmented.params_widget.load_doodle(str(path))
    assert moved is not None and moved > 0
    assert f"Snapped {moved} pixels" in segmented.params_widget.status.text()
    layer = window.doc.layers[-1]
    assert layer.kind is LayerKind.LABELS and set(np.unique(layer.pixels)) == {1, 2}
    assert (layer.pixels[20:28, 20:28] == 2).all() and (layer.pixels[:8] == 1).all()


def test_only_the_chosen_methods_rows_show(window):
    doodle = window.panels["doodle"].params_widget
    assert doodle.label("style_layers").isVisibleTo(doodle) and not doodle.label("patch_size").isVisibleTo(doodle)
    doodle.set_values({"method": "patch"})
    assert doodle.label("patch_size").isVisibleTo(doodle) and doodle.label("semantic_weight").isVisibleTo(doodle)
    assert not doodle.label("style_layers").isVisibleTo(doodle)


def test_a_region_takes_a_texture_picture_chosen_in_its_row(window, segmented, tmp_path, qtbot):
    """The From column writes region_textures; the region's swatch shows the texture; the recipe keeps it."""
    doodle = segmented.params_widget
    yellow = np.full((48, 48, 3), (240, 220, 30), np.uint8)
    yellow[::4, ::4] = 0  # a sparse texture: a swatch, shrunk, is still nearly yellow
    path = tmp_path / "yellow.png"
    Image.fromarray(yellow).save(path)
    segmented.inputs_box.set_extra("texture_1", str(path))
    colour = doodle.regions.item(1, 0).toolTip()
    doodle.regions.cellWidget(1, 3).setCurrentText("Texture 1")
    assert doodle.values()["region_textures"] == f"{colour}=texture_1"
    swatch = doodle.regions.item(1, 2).icon().pixmap(8, 8).toImage()
    shown = np.array([swatch.pixelColor(x, y).getRgb()[:3] for x in range(8) for y in range(8)])
    assert (np.abs(shown.mean(axis=0) - (225, 206, 28)) < 25).all(), shown.mean(axis=0)  # not the style's texture
    doodle.doodle_from_document()
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    doodle.set_values({"iterations": 3, "scales": 1})
    window.live_preview.cancel()
    segmented.run_button.click()
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert segmented.error_text() == ""
    recipe = window.doc.layers[-1].recipe
    assert recipe.params["region_textures"] == f"{colour}=texture_1"
    assert recipe.input_files["texture_1"] == str(path)  # a re-render finds the texture
    doodle.regions.cellWidget(1, 3).setCurrentText("Style painting")
    assert doodle.values()["region_textures"] == ""
