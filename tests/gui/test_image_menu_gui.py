"""Issue 18, items 11 and 12 in the real main window: the Image menu (resize, canvas size, crop to the selection,
turns and flips, previewed adjustments), the selection tools (rectangle, ellipse, lasso, magic wand) and the
Select menu, copy, cut and paste as a new layer, selection to mask, and a plugin run held to the selection."""

import threading
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.core.adjust import Anchor
from studio.core.document import Document, Layer, LayerKind
from studio.core.models.store import ModelStore
from studio.core.paint import rectangle_mask
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.selection import ellipse_mask
from studio.qt import canvas
from studio.qt.canvas import Tool
from studio.qt.image_dialogs import AdjustDialog, SizeDialog
from studio.qt.rerender import rerender_plan

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBE = [EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 30_000
SHOTS = Path("/tmp/helpers")
RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 200, 30)


@pytest.fixture
def window(open_window, tmp_path):
    store = ModelStore(tmp_path / "models", {})
    window = open_window(discover_plugins(PROBE), store, (1000, 700), {"outputs/folder": str(tmp_path / "outputs")})
    store.install("probe_net")
    return window


@pytest.fixture
def doc(window) -> Document:
    """A 48 x 32 picture: red left, blue right, a green bar splitting the red into two parts (rows 10..13), a label
    map labelling its top half, shown at 600% with the picture layer selected."""
    pixels = np.zeros((32, 48, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[:, :24, :3] = RED
    pixels[:, 24:, :3] = BLUE
    pixels[10:14, :24, :3] = GREEN
    doc = Document.from_pixels(pixels, "Test")
    labels = np.zeros((32, 48), np.uint8)
    labels[:16] = 2
    doc.insert_layer(Layer("Regions", LayerKind.LABELS, labels), 0)
    doc.active_id = doc.layers[1].id
    doc.history.set_clean()
    window.set_document(doc, None)
    window.canvas.set_zoom(6.0)
    return doc


def at(window, x: float, y: float) -> QPoint:
    return window.canvas.image_to_widget(QPointF(x, y)).toPoint()


def drag(qtbot, window, tool: Tool, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Click ``tool`` in the tool bar and drag it from image point ``start`` to ``end``."""
    canvas = window.canvas
    window.tool_bar.tool_actions[tool].trigger()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(window, *start))
    QTest.mouseMove(canvas, at(window, *end))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(window, *end))


def undo(window) -> None:
    window.undo_action.trigger()


def traced(window, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """The ellipse a drag from ``start`` to ``end`` selects, from the image points the mouse really hit."""
    a, b = (window.canvas.widget_to_image(QPointF(at(window, *point))) for point in (start, end))
    return ellipse_mask((a.x(), a.y()), (b.x(), b.y()), 48, 32)


def snapshot(doc: Document) -> list[np.ndarray]:
    return [layer.pixels.copy() for layer in doc.layers]


def assert_restored(doc: Document, before: list[np.ndarray]) -> None:
    assert (doc.width, doc.height) == (before[0].shape[1], before[0].shape[0])
    for layer, pixels in zip(doc.layers, before, strict=True):
        np.testing.assert_array_equal(layer.pixels, pixels)


def open_dialog(window, menu_action, entry: str, kind: type):
    """Choose Image › ``entry`` and return the dialog it opens."""
    menu_action(window, "Image", entry).trigger()
    (dialog,) = [d for d in window.findChildren(kind) if d.isVisible()]
    return dialog


def shot(widget, name: str) -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


def test_turns_and_flips_change_every_layer_and_undo_restores_them(window, doc, menu_action):
    before = snapshot(doc)
    for entry, expected in (
        ("Rotate 90° Clockwise", lambda p: np.rot90(p, -1)),
        ("Rotate 90° Anticlockwise", lambda p: np.rot90(p, 1)),
        ("Rotate 180°", lambda p: np.rot90(p, 2)),
        ("Flip Horizontally", lambda p: p[:, ::-1]),
        ("Flip Vertically", lambda p: p[::-1]),
    ):
        menu_action(window, "Image", entry).trigger()
        for layer, pixels in zip(doc.layers, before, strict=True):
            np.testing.assert_array_equal(layer.pixels, expected(pixels), err_msg=entry)
        assert window.size_label.text() == f"{doc.width} × {doc.height}"
        undo(window)
        assert_restored(doc, before)


def test_resize_and_canvas_size_dialogs(window, doc, menu_action, qtbot):
    before = snapshot(doc)
    dialog = open_dialog(window, menu_action, "Resize Image…", SizeDialog)
    dialog.panel.set_values({"width": 24})
    assert dialog.panel.values()["height"] == 16, "proportions kept"
    assert "48 × 32 px now, 24 × 16 px after" in dialog.note.text()
    shot(dialog, "resize_dialog")
    dialog.accept()
    assert (doc.width, doc.height) == (24, 16)
    picture, labels = doc.layers[1].pixels, doc.layers[0].pixels
    assert tuple(picture[0, 0, :3]) == RED and tuple(picture[0, -1, :3]) == BLUE
    assert set(np.unique(labels)) == {0, 2} and (labels[:8] == 2).all() and labels[8:].max() == 0, "labels exact"
    undo(window)
    assert_restored(doc, before)

    dialog = open_dialog(window, menu_action, "Canvas Size…", SizeDialog)
    dialog.panel.set_values({"width": 60, "height": 40, "anchor": Anchor.TOP_LEFT})
    shot(dialog, "canvas_size_dialog")
    dialog.accept()
    assert (doc.width, doc.height) == (60, 40)
    np.testing.assert_array_equal(doc.layers[1].pixels[:32, :48], before[1])
    assert doc.layers[1].pixels[32:, :, 3].max() == 0 and doc.layers[1].pixels[:, 48:, 3].max() == 0
    undo(window)
    assert_restored(doc, before)


def test_crop_to_the_selection_and_undo(window, doc, menu_action, qtbot):
    before = snapshot(doc)
    menu_action(window, "Image", "Crop to Selection").trigger()
    assert (doc.width, doc.height) == (48, 32) and "Select something" in window.statusBar().currentMessage()
    drag(qtbot, window, Tool.RECTANGLE_MASK, (20.25, 4.25), (30.25, 20.25))
    assert window.tools.tool is Tool.RECTANGLE_MASK
    menu_action(window, "Image", "Crop to Selection").trigger()
    assert (doc.width, doc.height) == (10, 16) and doc.selection is None
    np.testing.assert_array_equal(doc.layers[1].pixels, before[1][4:20, 20:30])
    np.testing.assert_array_equal(doc.layers[0].pixels, before[0][4:20, 20:30])
    undo(window)
    assert_restored(doc, before)
    assert doc.selection is not None and doc.selection[4:20, 20:30].min() == 255


def test_an_adjustment_previews_live_cancel_restores_exactly_and_ok_is_one_undo_step(window, doc, menu_action, qtbot):
    layer = doc.layers[1]
    before = layer.pixels.copy()
    steps = len(doc.history.texts())
    dialog = open_dialog(window, menu_action, "Brightness/Contrast…", AdjustDialog)
    dialog.panel.set_values({"brightness": 0.2})
    qtbot.waitUntil(lambda: not np.array_equal(layer.pixels, before), timeout=2000)
    np.testing.assert_array_equal(layer.pixels[..., :3], np.clip(before[..., :3].astype(int) + 51, 0, 255))
    shown = window.canvas.grab().toImage().pixelColor(at(window, 5, 25))
    assert shown.red() == RED[0] + 51, "the preview is on the canvas"
    shot(window, "adjust_preview")
    dialog.reject()
    np.testing.assert_array_equal(layer.pixels, before)
    assert len(doc.history.texts()) == steps, "a cancelled adjustment leaves no undo step"

    drag(qtbot, window, Tool.RECTANGLE_MASK, (0.25, 0.25), (10.25, 32.25))
    dialog = open_dialog(window, menu_action, "Levels…", AdjustDialog)
    dialog.panel.set_values({"black": 30, "white": 200})
    shot(dialog, "levels_dialog")
    dialog.accept()
    assert doc.history.texts()[-1] == "Levels Background"
    inside = rectangle_mask((0, 0), (10, 32), 48, 32)
    assert not np.array_equal(layer.pixels[inside], before[inside])
    np.testing.assert_array_equal(layer.pixels[~inside], before[~inside]), "only the selection changed"
    assert layer.pixels[0, 0, 0] == round((RED[0] - 30) / 170 * 255)
    undo(window)
    np.testing.assert_array_equal(layer.pixels, before)

    menu_action(window, "Select", "Deselect").trigger()
    dialog = open_dialog(window, menu_action, "Hue/Saturation…", AdjustDialog)
    dialog.panel.set_values({"hue": 120})
    dialog.accept()
    assert tuple(layer.pixels[20, 5, :3]) == GREEN and tuple(layer.pixels[20, 40, :3]) == RED, "a third of a turn"
    undo(window)
    np.testing.assert_array_equal(layer.pixels, before)


def test_the_magic_wand_selects_the_touching_region_of_one_colour_only(window, doc, qtbot, monkeypatch):
    found_in = []
    wand = canvas.magic_wand
    monkeypatch.setattr(canvas, "magic_wand", lambda *a: found_in.append(threading.current_thread()) or wand(*a))
    assert not any(action.isVisible() for action in window.tool_bar.wand_only), "the tolerance is the wand's only"
    QTest.keyClick(window.canvas, Qt.Key.Key_W)
    assert window.tools.tool is Tool.MAGIC_WAND and all(action.isVisible() for action in window.tool_bar.wand_only)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=at(window, 5.5, 20.5))
    qtbot.waitUntil(lambda: not window.canvas.finding_region)  # found on a worker: it flattens the whole picture
    expected = np.zeros((32, 48), np.uint8)
    expected[14:, :24] = 255
    np.testing.assert_array_equal(doc.selection, expected), "the red under the green bar, not the red above it"
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, at(window, 5.5, 2.5))
    qtbot.waitUntil(lambda: not window.canvas.finding_region)
    expected[:10, :24] = 255
    np.testing.assert_array_equal(doc.selection, expected), "Shift adds the red above"
    assert len(found_in) == 2 and threading.main_thread() not in found_in, "the window never waits for the wand"
    window.canvas.set_zoom(12.0, QPointF(at(window, 24, 12)))
    shot(window, "wand_selection")
    shown = window.canvas.grab().toImage()
    edge = [shown.pixelColor(at(window, 24, y + 0.5) + QPoint(dx, 0)) for y in range(10) for dx in (-1, 0, 1)]
    assert {c.name() for c in edge} >= {"#000000", "#ffffff"}, "black and white ants along the selection's edge"
    undo(window)
    undo(window)
    assert doc.selection is None


def test_select_menu_copy_cut_and_paste_as_a_new_layer(window, doc, menu_action, qtbot):
    background = doc.layers[1]
    before = background.pixels.copy()
    QTest.keyClick(window.canvas, Qt.Key.Key_J)
    assert window.tools.tool is Tool.ELLIPSE_MASK
    drag(qtbot, window, Tool.ELLIPSE_MASK, (16, 2), (32, 18))
    ellipse = traced(window, (16, 2), (32, 18))
    np.testing.assert_array_equal(doc.selection > 0, ellipse)
    QTest.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    clipboard = QGuiApplication.clipboard().image()
    assert (clipboard.width(), clipboard.height()) == (16, 16)
    QTest.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    pasted = doc.active_layer
    assert pasted.name == "Pasted" and doc.layers == [doc.layers[0], background, pasted]
    np.testing.assert_array_equal(pasted.pixels[..., 3] > 0, ellipse)
    np.testing.assert_array_equal(pasted.pixels[ellipse], before[ellipse])

    doc.active_id = background.id
    QTest.keyClick(window, Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier)
    assert background.pixels[ellipse, 3].max() == 0 and (background.pixels[~ellipse] == before[~ellipse]).all()
    np.testing.assert_array_equal(doc.composite(), before), "the pasted copy covers the hole exactly"
    undo(window)
    np.testing.assert_array_equal(background.pixels, before)

    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(doc.selection > 0, ~ellipse)
    QTest.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert doc.selection is None
    QTest.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert doc.selection is not None and doc.selection.min() == 255
    menu_action(window, "Select", "Selection to Mask").trigger()
    mask = doc.active_mask()
    assert mask is not None and mask.pixels.min() == 255 and doc.history.texts()[-1] == "Selection to mask"


def test_a_plugin_run_with_a_selection_and_no_mask_changes_only_the_selection(window, doc, qtbot):
    drag(qtbot, window, Tool.LASSO_MASK, (2, 2), (2, 2))
    assert doc.selection is None, "a lasso with no area selects nothing"
    drag(qtbot, window, Tool.ELLIPSE_MASK, (8, 4), (40, 28))
    panel = window.panels["probe"]
    assert panel.inputs_box.uses["mask"].text() == "the selection"
    before = doc.composite()
    window.live_preview.cancel()
    handle = window.run_plugin(panel.manifest, panel.params())
    assert handle is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert panel.error_text() == ""
    for layer in doc.layers[2:]:
        layer.visible = layer.name == "Probe"
    changed = np.any(doc.composite() != before, axis=2)
    inside = traced(window, (8, 4), (40, 28))
    assert changed[inside].mean() > 0.9 and not changed[~inside].any()
    result = next(layer for layer in doc.layers if layer.name == "Probe")
    plan = rerender_plan(doc, result, window.registry, 96)
    assert plan.notes == () and plan.inputs.mask is not None, "a re-render finds the selection the run used"
