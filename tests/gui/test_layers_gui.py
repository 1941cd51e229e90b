"""Issue 18, item 13: layers in the real main window. Blend modes composited the same on the canvas, in an export and
in a plugin's input; rename, duplicate, merge down and flatten from the Layer menu and the Layers panel, each one
undo step; locked layers refuse edits with a hint; showing or hiding a layer is not an undo step."""

from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QStyle, QStyleOptionViewItem

from studio.core.blend import BlendMode
from studio.core.document import Document, Layer, LayerKind, Recipe
from studio.core.inputs import IMAGE
from studio.core.plugin import ENTRY_POINT_GROUP, PluginManifest, discover_plugins
from studio.core.run import inputs_from_document
from studio.qt.main_window import MainWindow

GENERATIVE = [EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP)]
SHOTS = Path("/tmp/helpers")
W, H = 60, 40
BACKDROP = (204, 51, 153)  # 0.8, 0.2, 0.6
SOURCE = (102, 153, 51)  # 0.4, 0.6, 0.2
MULTIPLY = (82, 31, 31)  # Cb * Cs = 0.32, 0.12, 0.12


@pytest.fixture
def window(open_window) -> MainWindow:
    window = open_window(discover_plugins(GENERATIVE), size=(1000, 700))
    doc = Document(W, H, "layers")
    doc.insert_layer(Layer("Photo", LayerKind.RASTER, solid(BACKDROP)))
    doc.insert_layer(Layer("Shade", LayerKind.RASTER, solid(SOURCE), recipe=Recipe("generative", {"rule": "mondrian"})))
    window.set_document(doc, None)
    return window


def solid(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((H, W, 4), (*rgb, 255), np.uint8)


def menu_action(window: MainWindow, menu: str, text: str) -> QAction:
    for top in window.menuBar().actions():
        if top.text() == menu:
            for action in top.menu().actions():
                if action.text() == text:
                    return action
    raise LookupError(f"{menu} › {text}")


def select(window: MainWindow, name: str) -> Layer:
    layer = next(la for la in window.doc.layers if la.name == name)
    window.layers_panel.list.setCurrentRow(window.layers_panel.row_of(layer.id))
    return layer


def canvas_pixel(window: MainWindow, x: int, y: int) -> tuple[int, int, int, int]:
    colour = window.canvas._image.pixelColor(x, y)
    return colour.red(), colour.green(), colour.blue(), colour.alpha()


def shot(widget, name: str) -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


def drag(qtbot, canvas, points) -> None:
    def at(x: int, y: int) -> QPoint:
        return canvas.image_to_widget(QPointF(x + 0.5, y + 0.5)).toPoint()

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(*points[0]))
    for point in points[1:]:
        QTest.mouseMove(canvas, at(*point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(*points[-1]))


def test_a_blend_mode_shows_the_same_on_canvas_in_an_export_and_to_a_plugin(window, tmp_path):
    panel = window.layers_panel
    select(window, "Shade")
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findText("Multiply"))
    doc = window.doc
    assert doc.layers[1].blend_mode is BlendMode.MULTIPLY
    assert doc.history.texts() == ["Blend mode multiply"]
    assert canvas_pixel(window, 5, 5) == (*MULTIPLY, 255)
    assert window.export_to(tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").convert("RGB").getpixel((5, 5)) == MULTIPLY
    reader = PluginManifest("reader", "Reader", params="failing_plugin:FailingParams", engine="x:y", inputs=(IMAGE,))
    assert tuple(inputs_from_document(doc, reader).image[5, 5]) == (*MULTIPLY, 255)
    shot(window.layers_dock, "layers-dock-blend")
    # the Layer menu shows and sets the same mode
    window._update_layer_menu()
    assert [a.text() for a in window.blend_menu.actions() if a.isChecked()] == ["Multiply"]
    next(a for a in window.blend_menu.actions() if a.text() == "Screen").trigger()
    assert doc.layers[1].blend_mode is BlendMode.SCREEN
    assert panel.blend_combo.currentText() == "Screen"
    doc.history.undo()
    assert panel.blend_combo.currentText() == "Multiply"
    # a project keeps the blend mode and the lock
    panel.lock_button.click()
    assert window.save_project_to(tmp_path / "blend.studio")
    assert window.open_path(tmp_path / "blend.studio")
    reopened = window.doc.layers[1]
    assert (reopened.blend_mode, reopened.locked) == (BlendMode.MULTIPLY, True)
    assert canvas_pixel(window, 5, 5) == (*MULTIPLY, 255)


def test_showing_or_hiding_a_layer_is_not_an_undo_step(window):
    panel, doc = window.layers_panel, window.doc
    item = panel.list.item(panel.row_of(doc.layers[1].id))
    option = QStyleOptionViewItem()
    panel.list.initViewItemOption(option)
    option.rect = panel.list.visualItemRect(item)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    box = panel.list.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, panel.list)
    rows = window.history_panel.list.count()
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert not doc.layers[1].visible
    assert canvas_pixel(window, 5, 5) == (*BACKDROP, 255)
    assert window.history_panel.list.count() == rows and doc.history.texts() == []
    assert window.windowTitle().startswith("layers*"), "a project keeps visibility, so it is an unsaved change"
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not doc.layers[1].visible, "undo does not show it again"


def test_a_locked_layer_refuses_painting_erasing_merging_and_deleting(window, qtbot):
    panel, doc, canvas = window.layers_panel, window.doc, window.canvas
    shade = select(window, "Shade")
    panel.lock_button.click()
    assert shade.locked and doc.history.texts() == []
    shot(window.layers_dock, "layers-dock-locked")
    canvas.actual_pixels()
    before = shade.pixels.copy()
    QTest.keyClick(canvas, Qt.Key.Key_B)
    drag(qtbot, canvas, [(10, 20), (40, 20)])
    assert "'Shade' is locked: unlock it in the Layers panel" in window.statusBar().currentMessage()
    QTest.keyClick(canvas, Qt.Key.Key_E)
    drag(qtbot, canvas, [(10, 20), (40, 20)])
    assert "to erase it" in window.statusBar().currentMessage()
    menu_action(window, "&Edit", "&Clear Layer").trigger()
    assert "to clear it" in window.statusBar().currentMessage()
    panel.delete_button.click()
    assert "to delete it" in window.statusBar().currentMessage()
    menu_action(window, "&Layer", "Merge &Down").trigger()
    assert "to merge it" in window.statusBar().currentMessage()
    np.testing.assert_array_equal(shade.pixels, before)
    assert len(doc.layers) == 2 and doc.history.texts() == []
    # the Layer menu unlocks it, and painting works again
    menu_action(window, "&Layer", "Loc&k Layer").trigger()
    assert not shade.locked and not panel.lock_button.isChecked()
    QTest.keyClick(canvas, Qt.Key.Key_B)
    drag(qtbot, canvas, [(10, 20), (40, 20)])
    assert not np.array_equal(shade.pixels, before)


def test_merge_down_from_the_layer_menu_keeps_the_picture_in_one_undo_step(window):
    panel, doc = window.layers_panel, window.doc
    select(window, "Shade")
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findText("Multiply"))
    panel.opacity_slider.setValue(60)
    shown = doc.composite()
    ids = [la.id for la in doc.layers]
    menu_action(window, "&Layer", "Merge &Down").trigger()
    assert [la.name for la in doc.layers] == ["Photo"] and doc.layers[0].recipe is None
    np.testing.assert_array_equal(doc.composite(), shown)
    assert canvas_pixel(window, 5, 5) == (131, 39, 80, 255)  # 0.6 * multiply + 0.4 * the photo
    assert doc.history.texts()[-1] == "Merge Shade down"
    assert window.history_panel.list.item(window.history_panel.list.count() - 1).text() == "Merge Shade down"
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [la.id for la in doc.layers] == ids
    assert panel.list.count() == 2


def test_flatten_from_the_panel_is_one_undo_step(window):
    doc, panel = window.doc, window.layers_panel
    doc.insert_layer(Layer("Mask", LayerKind.MASK, np.zeros((H, W), np.uint8)))
    select(window, "Shade")
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findText("Screen"))
    shown = doc.composite()
    panel.flatten_button.click()
    assert [(la.name, la.kind) for la in doc.layers] == [("Photo", LayerKind.RASTER), ("Mask", LayerKind.MASK)]
    np.testing.assert_array_equal(doc.layers[0].pixels, shown)
    assert doc.history.texts()[-1] == "Flatten image"
    doc.history.undo()
    assert [la.name for la in doc.layers] == ["Photo", "Shade", "Mask"]


def test_duplicate_copies_the_layer_and_its_recipe_above_it(window):
    doc = window.doc
    shade = select(window, "Shade")
    window.layers_panel.blend_combo.setCurrentIndex(window.layers_panel.blend_combo.findText("Overlay"))
    select(window, "Photo")
    select(window, "Shade")
    QTest.keyClick(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert [la.name for la in doc.layers] == ["Photo", "Shade", "Shade copy"]
    copy = doc.layers[2]
    assert copy.recipe == shade.recipe and copy.recipe is not shade.recipe
    assert copy.blend_mode is BlendMode.OVERLAY
    np.testing.assert_array_equal(copy.pixels, shade.pixels)
    assert doc.history.texts()[-1] == "Duplicate layer"


def test_rename_from_the_layer_menu_is_undoable(window, qtbot):
    doc = window.doc
    select(window, "Shade")
    menu_action(window, "&Layer", "Re&name Layer…").trigger()
    editor = window.layers_panel.list.findChild(QLineEdit)
    assert editor is not None and editor.isVisible() and editor.text() == "Shade"
    editor.selectAll()
    QTest.keyClicks(editor, "Shadow")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: doc.layers[1].name == "Shadow", timeout=1000)  # Qt commits on a queued call
    assert doc.history.texts() == ["Rename layer"]
    doc.history.undo()
    assert doc.layers[1].name == "Shade"
    assert window.layers_panel.list.item(0).text() == "Shade"


def test_the_layers_context_menu_offers_the_layer_actions(window):
    panel = window.layers_panel
    rect = panel.list.visualItemRect(panel.list.item(1))
    menu = panel.context_menu(rect.center())
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Rename…", "Duplicate", "Merge Down", "Flatten Image", "Locked", "Re-render at Another Size…"]
    assert window.doc.active_id == window.doc.layers[0].id, "the menu acts on the row it was opened on"
    next(a for a in menu.actions() if a.text() == "Locked").trigger()
    assert window.doc.layers[0].locked


def test_painting_one_layer_redraws_only_its_thumbnail(window, monkeypatch):
    from studio.qt import docks

    panel, doc = window.layers_panel, window.doc
    panel.refresh_thumbnails()
    drawn: list[str] = []
    draw = docks.layer_thumbnail
    monkeypatch.setattr(docks, "layer_thumbnail", lambda layer, *args: drawn.append(layer.name) or draw(layer, *args))
    shade = doc.layers[1]
    shade.write(0, 0, np.zeros((4, 4, 4), np.uint8))
    doc.notify_pixels((0, 0, 4, 4))
    panel.refresh_thumbnails()
    assert drawn == ["Shade"], "the other layers' pixels did not change"
    panel.refresh_thumbnails()
    assert drawn == ["Shade"], "nothing changed since"
