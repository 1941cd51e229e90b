"""Selections and masks made with the rectangle and lasso tools on a zoomed, panned canvas, and the inpainting panel
in the real main window: the chosen method's rows, the installed models, and a run filling a rectangle selection.

On a picture layer the tools select (the document's selection, which a run uses when there is no mask); on a mask
layer they fill the mask, Alt clearing it."""

from dataclasses import replace
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from studio_plugins.inpainting.models import weights_bytes
from studio_plugins.inpainting.net import NetConfig, PConvUNet

from studio.core.document import LayerKind
from studio.core.models.store import ModelStore
from studio.core.paint import polygon_mask
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.qt.canvas import Tool

PLUGINS = [EntryPoint("inpainting", "studio_plugins.inpainting:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 60_000
SIZE = (64, 48)
NETWORK_ROWS = ("model", "feather", "working_size", "precision")


@pytest.fixture
def window(open_window, tmp_path):
    outputs = {"outputs/folder": str(tmp_path / "outputs")}
    return open_window(discover_plugins(PLUGINS), size=(1100, 800), settings=outputs)


@pytest.fixture
def picture(window, tmp_path, qtbot):
    """A 64x48 picture of stripes open at 300%, panned off centre."""
    width, height = SIZE
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = np.arange(width)[None, :] * 4
    pixels[::4, :, 1] = 200
    path = tmp_path / "stripes.png"
    Image.fromarray(pixels).save(path)
    assert window.open_path(path)
    canvas = window.canvas
    canvas.set_zoom(3.0)
    centre = QPoint(canvas.width() // 2, canvas.height() // 2)
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=centre)
    QTest.mouseMove(canvas, centre + QPoint(37, -23))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=centre + QPoint(37, -23))
    assert canvas.zoom == 3.0
    return window.doc


def at(canvas, x, y) -> QPoint:
    """The widget point showing image point (x, y), to the nearest widget pixel (a sixth of an image pixel)."""
    return canvas.image_to_widget(QPointF(x, y)).toPoint()


def drag(qtbot, canvas, points, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, points[-1])


def draw_rectangle(qtbot, canvas, x0, y0, x1, y1, modifier=Qt.KeyboardModifier.NoModifier):
    """Drag the rectangle tool over the pixels x0..x1-1, y0..y1-1 (a quarter pixel in from their corners)."""
    QTest.keyClick(canvas, Qt.Key.Key_R)
    drag(qtbot, canvas, [at(canvas, x0 + 0.25, y0 + 0.25), at(canvas, x1 + 0.25, y1 + 0.25)], modifier)


def test_a_dragged_rectangle_selects_exactly_its_pixels_and_becomes_a_mask(window, picture, qtbot, menu_action):
    draw_rectangle(qtbot, window.canvas, 10, 6, 30, 22)
    assert window.tools.tool is Tool.RECTANGLE_MASK
    assert picture.active_mask() is None and len(picture.layers) == 1
    expected = np.zeros(SIZE[::-1], np.uint8)
    expected[6:22, 10:30] = 255
    np.testing.assert_array_equal(picture.selection, expected)
    assert window.panels["inpainting"].inputs_box.uses["mask"].text() == "the selection"
    menu_action(window, "Select", "Selection to Mask").trigger()
    mask = picture.active_mask()
    assert mask is not None and mask.name == "Mask" and len(picture.layers) == 2
    np.testing.assert_array_equal(mask.pixels, expected)


def test_a_lasso_fills_the_inside_of_its_shape(window, picture, qtbot):
    canvas = window.canvas
    QTest.keyClick(canvas, Qt.Key.Key_L)
    assert window.tools.tool is Tool.LASSO_MASK
    corners = [at(canvas, 8, 8), at(canvas, 50, 8), at(canvas, 8, 40)]
    drag(qtbot, canvas, [*corners, corners[0]])
    selection = picture.selection
    traced = [canvas.widget_to_image(QPointF(point)) for point in corners]
    inside = polygon_mask([(p.x(), p.y()) for p in traced], *SIZE)
    np.testing.assert_array_equal(selection, np.where(inside, 255, 0))
    assert selection[15, 15] == 255 and selection[35, 35] == 0 and inside.sum() > 500


def test_on_a_mask_alt_subtracts_and_one_undo_takes_back_a_whole_shape(window, picture, qtbot):
    canvas = window.canvas
    window.add_mask_layer()
    mask = picture.active_mask()
    draw_rectangle(qtbot, canvas, 10, 6, 30, 22)
    draw_rectangle(qtbot, canvas, 20, 0, 40, 48, Qt.KeyboardModifier.AltModifier)
    assert (mask.pixels[6:22, 10:20] == 255).all() and mask.pixels[:, 20:].max() == 0
    draw_rectangle(qtbot, canvas, 0, 30, 5, 40, Qt.KeyboardModifier.ShiftModifier)
    assert (mask.pixels[30:40, :5] == 255).all()
    assert picture.history.texts()[-3:] == ["Add to Mask", "Subtract from Mask", "Add to Mask"]
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mask.pixels[30:40, :5].max() == 0 and (mask.pixels[6:22, 10:20] == 255).all()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (mask.pixels[6:22, 10:30] == 255).all()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mask.pixels.max() == 0 and picture.selection is None, "the shapes went into the mask only"


def test_the_panel_shows_the_chosen_methods_rows_and_the_installed_models(window):
    assert "inpainting" in window.plugin_docks
    panel = window.panels["inpainting"].params_widget
    assert all(panel.label(name).isVisibleTo(panel) for name in NETWORK_ROWS)
    assert not panel.label("radius").isVisibleTo(panel)
    assert "Rectangle (R)" in panel.how_to.text() and "Lasso (L)" in panel.how_to.text()
    assert panel.model_box.count() == 0, "nothing is installed"
    assert "pconv_inpaint is not installed" in panel.model_hint.text() and panel.model_hint.isVisibleTo(panel)
    panel.set_values({"method": "telea"})
    assert not any(panel.label(name).isVisibleTo(panel) for name in NETWORK_ROWS)
    assert panel.label("radius").isVisibleTo(panel) and not panel.model_hint.isVisibleTo(panel)

    store = window.store
    trained = replace(store.specs["pconv_inpaint"], id="pconv_inpaint-myrun", title="My run", base="pconv_inpaint")
    store.register_trained(trained, weights_bytes(PConvUNet(NetConfig(levels=3, width=8))))
    panel.set_values({"method": "network"})
    assert [panel.model_box.itemText(i) for i in range(panel.model_box.count())] == ["pconv_inpaint-myrun"]
    assert panel.values()["model"] == "pconv_inpaint", "listing the models chooses none"
    panel.model_box.setCurrentIndex(0)
    assert panel.params().model == "pconv_inpaint-myrun" and not panel.model_hint.isVisibleTo(panel)
    panel.set_values({"model": "vgg16"})
    assert "vgg16 is not an inpainting model" in panel.model_hint.text()


def test_running_telea_on_a_rectangle_selection_changes_only_the_rectangle(window, picture, qtbot):
    draw_rectangle(qtbot, window.canvas, 10, 6, 30, 22)
    panel = window.panels["inpainting"]
    panel.params_widget.set_values({"method": "telea"})
    window.live_preview.cancel()
    before = picture.composite()
    panel.run_button.click()
    assert window.job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert panel.error_text() == ""
    result = picture.layers[-1]
    assert result.kind is LayerKind.RASTER and result.recipe.plugin_id == "inpainting" and len(picture.layers) == 2
    changed = np.any(picture.composite() != before, axis=2)
    inside = np.zeros(SIZE[::-1], bool)
    inside[6:22, 10:30] = True
    assert changed[inside].mean() > 0.5 and not changed[~inside].any(), "the picture changed inside the rectangle only"


def test_a_network_trained_on_a_plugins_own_model_is_listed_after_a_restart(open_window, tmp_path):
    first = open_window(discover_plugins(PLUGINS))
    trained = replace(first.store.specs["pconv_inpaint"], id="pconv_inpaint-myrun", base="pconv_inpaint")
    first.store.register_trained(trained, weights_bytes(PConvUNet(NetConfig(levels=3, width=8))))

    again = open_window(discover_plugins(PLUGINS), store=ModelStore(tmp_path / "models"))  # Studio started again
    assert "pconv_inpaint-myrun" in again.store.specs
    panel = again.panels["inpainting"].params_widget
    assert [panel.model_box.itemText(i) for i in range(panel.model_box.count())] == ["pconv_inpaint-myrun"]


def test_a_network_trained_or_removed_by_another_process_shows_in_the_open_window(window, tmp_path, qtbot):
    panel = window.panels["inpainting"].params_widget
    window.show_models()
    other = ModelStore(tmp_path / "models", specs=window.store.specs)  # `studio train` in a terminal, say
    trained = replace(other.specs["pconv_inpaint"], id="pconv_inpaint-elsewhere", base="pconv_inpaint")
    assert "pconv_inpaint-elsewhere" not in window.store.specs

    other.register_trained(trained, weights_bytes(PConvUNet(NetConfig(levels=3, width=8))))
    listed = lambda: [panel.model_box.itemText(i) for i in range(panel.model_box.count())]  # noqa: E731
    qtbot.waitUntil(lambda: listed() == ["pconv_inpaint-elsewhere"], timeout=5000)
    dialog = window.models_dialog()
    assert dialog.table.item(dialog.row_of("pconv_inpaint-elsewhere"), 1).text() == "installed"

    other.remove("pconv_inpaint-elsewhere")
    qtbot.waitUntil(lambda: listed() == [], timeout=5000)
    assert dialog.table.item(dialog.row_of("pconv_inpaint-elsewhere"), 1).text() != "installed"
