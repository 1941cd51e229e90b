"""Issue 18 item 14: several documents open at once in tabs, scrollbars when zoomed in, and a Navigator."""

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from studio.core.blend import BlendMode
from studio.core.document import Document, Layer, LayerKind
from studio.core.history import AddLayer
from studio.core.models.store import ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.qt.main_window import MainWindow

GENERATIVE = [EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP)]
SHOTS = Path("/tmp/helpers")
JOB_TIMEOUT_MS = 30_000


@pytest.fixture
def window(open_window) -> MainWindow:
    return open_window(discover_plugins(GENERATIVE), size=(1000, 700))


def picture(width: int, height: int, name: str) -> Document:
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    pixels[..., 3] = 255
    return Document.from_pixels(pixels, name)


def shot(window: MainWindow, name: str) -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / f"{name}.png"))


def test_each_tab_keeps_its_document_layers_and_zoom(window):
    first, second = picture(60, 40, "first"), picture(80, 50, "second")
    window.set_document(first, None)
    window.add_layer(LayerKind.RASTER)
    window.canvas.set_zoom(3.0)
    window.set_document(second, None)
    assert window.tab_bar.count() == 2 and window.tab_bar.currentIndex() == 1
    assert window.doc is second and window.canvas.doc is second
    assert window.layers_panel.list.count() == 1
    assert window.tab_bar.tabText(0) == "first*", "the unsaved tab says so"
    window.tab_bar.setCurrentIndex(0)
    assert window.doc is first and window.canvas.doc is first
    assert [layer.name for layer in first.layers] == ["Background", "Layer"]
    assert window.layers_panel.list.count() == 2
    assert window.canvas.zoom == pytest.approx(3.0), "the tab's zoom is restored"
    assert window.windowTitle() == "first* — Studio"
    window.set_document(second, None)
    assert window.tab_bar.count() == 2, "showing an open document switches to its tab"


def test_opening_an_open_file_again_switches_to_its_tab(window, tmp_path):
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (30, 20), (255, 0, 0)).save(path)
    assert window.open_path(path)
    opened = window.doc
    window.set_document(picture(20, 20, "other"), None)
    assert window.open_path(path)
    assert window.doc is opened and window.tab_bar.count() == 2


def test_a_result_lands_in_the_document_the_job_started_on_after_switching_tabs(window, qtbot):
    first, second = picture(64, 48, "first"), picture(40, 30, "second")
    window.set_document(first, None)
    panel = window.panels["generative"]
    panel.params_widget.set_values({"rule": "mondrian", "seed": 3})
    window.live_preview.cancel()
    assert window.run_plugin(window.registry.plugins["generative"], panel.params()) is not None
    window.set_document(second, None)  # the artist switches while the job runs
    assert window.job is not None, "switching tabs does not cancel the job"
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert panel.error_text() == ""
    assert [layer.name for layer in first.layers] == ["Background", "Generative rules"]
    assert first.layers[-1].recipe is not None and first.layers[-1].pixels.shape == (48, 64, 4)
    assert [layer.name for layer in second.layers] == ["Background"]
    assert window.doc is second, "the result does not take the artist away from the tab they chose"
    assert window.tab_bar.tabText(0) == "first*"


def test_a_panel_s_own_result_is_handed_over_on_the_document_its_job_started_on(open_window, tmp_path, qtbot):
    from probe_plugin.panel import ProbePanel

    store = ModelStore(tmp_path / "models", {})
    window = open_window(discover_plugins([EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP)]), store)
    store.install("probe_net")
    first = picture(24, 16, "first")
    first.insert_layer(Layer("Mask", LayerKind.MASK, np.full((16, 24), 255, np.uint8)))
    window.set_document(first, None)
    panel = window.panels["probe"].params_widget
    assert isinstance(panel, ProbePanel)
    current_at_result = []

    class Results(list):
        def append(self, frame: object) -> None:
            current_at_result.append(window.doc)  # a panel's handler works on the window's current document
            super().append(frame)

    panel.results = Results()
    assert panel.invert_mask() is not None
    window.set_document(picture(10, 10, "second"), None)
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert current_at_result == [first], "its tab is shown again before the panel gets the result"


def test_closing_a_modified_tab_asks_and_cancel_keeps_it(window, monkeypatch):
    first, second = picture(30, 20, "first"), picture(30, 20, "second")
    window.set_document(first, None)
    window.add_layer(LayerKind.RASTER)
    window.set_document(second, None)
    asked = []

    def answer(button: QMessageBox.StandardButton):
        def question(_parent: object, _title: str, text: str, *_args: object) -> QMessageBox.StandardButton:
            asked.append(text)
            return button

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.tab_bar.tabCloseRequested.emit(0)
    assert asked == ["Save changes to first first?"]
    assert window.tab_bar.count() == 2 and window.doc is first, "cancel keeps the tab, shown"
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    window.tab_bar.tabCloseRequested.emit(0)
    assert window.tab_bar.count() == 1 and window.doc is second
    assert window.canvas.doc is second and window.layers_panel.doc is second
    asked.clear()
    window.tab_bar.tabCloseRequested.emit(0)
    assert asked == [], "a clean document closes without a question"
    assert window.doc is None and window.tab_bar.count() == 0


def test_quitting_asks_for_each_unsaved_document(window, monkeypatch):
    first, second, clean = picture(30, 20, "first"), picture(30, 20, "second"), picture(30, 20, "clean")
    for doc in (first, second, clean):
        window.set_document(doc, None)
        if doc is not clean:
            window.add_layer(LayerKind.RASTER)
    asked = []

    def question(_parent: object, _title: str, text: str, *_args: object) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Cancel if len(asked) == 2 else QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "question", question)
    assert not window.close()
    assert asked == ["Save changes to first first?", "Save changes to second first?"]
    assert window.isVisible() and window.doc is second


def test_every_unsaved_document_is_autosaved(window):
    first, second = picture(30, 20, "first"), picture(30, 20, "second")
    window.set_document(first, None)
    window.add_layer(LayerKind.RASTER)
    window.set_document(second, None)
    window.add_layer(LayerKind.RASTER)
    window.autosave()
    assert window.wait_for_autosave(10)
    saved = sorted(path.name for path in window.autosaver.directory.glob("*.studio"))
    assert saved == sorted(f"autosave-{doc.uid}.studio" for doc in (first, second))


def test_every_document_of_a_crashed_session_recovers_in_its_own_tab(window, monkeypatch):
    from studio.qt.app import offer_recovery

    for name in ("lost one", "lost two"):
        window.autosaver.save(picture(12, 8, name))
    for info in window.autosaver.directory.glob("*.json"):
        record = json.loads(info.read_text())
        record["pid"] = 2**22 + 4321  # no such process: its session died
        info.write_text(json.dumps(record))
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    offer_recovery(window, window.autosaver)
    assert sorted(o.doc.name for o in window.open_documents) == ["lost one", "lost two"]
    assert window.tab_bar.count() == 2 and window.central.currentIndex() == 1


def test_scrollbars_show_when_zoomed_in_and_moving_them_pans(window):
    window.set_document(picture(200, 150, "big"), None)
    horizontal, vertical = window.scrolled_canvas.horizontal, window.scrolled_canvas.vertical
    assert not horizontal.isVisible() and not vertical.isVisible(), "the fitted picture needs no scrollbar"
    window.canvas.set_zoom(8.0)
    assert horizontal.isVisible() and vertical.isVisible()
    assert horizontal.pageStep() == window.canvas.width()
    assert horizontal.maximum() == round(200 * 8.0 / window.canvas.devicePixelRatioF()) - window.canvas.width()
    before = window.canvas.visible_image_rect()
    horizontal.setValue(horizontal.minimum())
    vertical.setValue(vertical.maximum())
    after = window.canvas.visible_image_rect()
    assert after.left() == pytest.approx(0, abs=0.5) and after.bottom() == pytest.approx(150, abs=0.5)
    assert after.width() == pytest.approx(before.width())
    window.canvas.set_zoom(8.0 * 1.25, QPointF(0, 0))
    assert horizontal.value() == round(window.canvas.scroll_position().x())
    shot(window, "tabs-scrollbars")
    window.canvas.fit()
    assert not horizontal.isVisible() and not vertical.isVisible()


def test_the_navigator_frames_the_view_and_dragging_it_pans(window, qtbot):
    window.set_document(picture(200, 150, "big"), None)
    navigator = window.navigator
    window.navigator_dock.raise_()
    qtbot.waitUntil(lambda: not navigator.picture_rect().isEmpty())
    assert navigator.view_rect().contains(navigator.picture_rect()), "fitted: the frame holds the whole picture"
    window.canvas.set_zoom(8.0)
    picture_rect, frame = navigator.picture_rect(), navigator.view_rect()
    scale = picture_rect.width() / 200
    shown = window.canvas.visible_image_rect()
    assert frame.width() == pytest.approx(shown.width() * scale)
    assert frame.left() == pytest.approx(picture_rect.left() + shown.left() * scale)
    target = picture_rect.topLeft() + QPointF(picture_rect.width() * 0.6, picture_rect.height() * 0.55)
    start = frame.center().toPoint()
    QTest.mousePress(navigator, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(navigator, QPoint(int(target.x()), int(target.y())))
    QTest.mouseRelease(navigator, Qt.MouseButton.LeftButton, pos=QPoint(int(target.x()), int(target.y())))
    centre = window.canvas.visible_image_rect().center()
    assert centre.x() == pytest.approx(120, abs=2) and centre.y() == pytest.approx(82.5, abs=2)
    assert navigator.view_rect().center().x() == pytest.approx(target.x(), abs=1.5), "the frame follows the view"
    shot(window, "tabs-navigator")


def test_the_navigator_shows_a_large_documents_changes_once_the_canvas_has_redrawn_them(window, qtbot):
    doc = Document(1000, 6000, "large")  # redrawn in six slices across event-loop turns, top to bottom
    grey, white = np.full((6000, 1000, 4), 128, np.uint8), np.full((6000, 1000, 4), 255, np.uint8)
    grey[..., 3] = 255
    doc.history.push(AddLayer("Grey", Layer("Grey", LayerKind.RASTER, grey)))
    doc.history.push(AddLayer("White", Layer("White", LayerKind.RASTER, white)))
    window.set_document(doc, None)
    window.navigator_dock.raise_()
    navigator = window.navigator

    def shown() -> int:
        """The red near the bottom of the navigator's picture, the last slice the canvas redraws."""
        picture = navigator.picture_rect()
        at = picture.center().x(), picture.top() + 0.95 * picture.height()
        return navigator.grab().toImage().pixelColor(int(at[0]), int(at[1])).red()

    qtbot.waitUntil(lambda: shown() == 255)
    window.layers_panel.set_blend_mode(doc.layers[-1].id, BlendMode.MULTIPLY)  # white multiplied over grey
    qtbot.waitUntil(lambda: shown() == 128)
