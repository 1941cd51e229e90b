"""Issue 18, an artist's day: hidden layers after reopening, results that open as documents, transparency,
live preview following the mask in use, and hints instead of errors in an incomplete form."""

import threading
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QStyle, QStyleOptionViewItem

from studio.core.document import Document, Layer, LayerKind
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.project import save_project
from studio.qt.main_window import MainWindow
from studio.qt.welcome import NewDocument

STYLE = [EntryPoint("style_transfer", "studio_plugins.style_transfer:MANIFEST", ENTRY_POINT_GROUP)]
GENERATIVE = [EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 30_000
SHOTS = Path("/tmp/shots")


@pytest.fixture
def make_window(open_window):
    def make(entry_points=STYLE) -> MainWindow:
        store = ModelStore()
        if entry_points is STYLE:
            for model_id in ("magenta_arbitrary", "multistyle26"):
                if store.status(model_id) is not ModelStatus.INSTALLED:
                    pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
        return open_window(discover_plugins(entry_points), store, size=(1000, 700))

    return make


def shot(window: MainWindow, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / f"{name}.png"))


def cat(tmp_path: Path) -> Path:
    skimage_data = pytest.importorskip("skimage.data")
    path = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()[::5, ::5][:60, :90]).save(path)  # 90 x 60
    return path


def fast(window: MainWindow, **values: object):
    panel = window.panels["style_transfer"]
    panel.params_widget.set_values({"mode": "fast", "fast_model": "presets", "presets": "5", **values})
    window.live_preview.cancel()
    return panel


def run_and_wait(qtbot, window: MainWindow, panel) -> None:
    panel.run_button.click()
    assert window.job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert panel.error_text() == ""


def fail_on_question(monkeypatch) -> None:
    def question(*_args: object, **_kwargs: object) -> QMessageBox.StandardButton:
        raise AssertionError("a finished result must not wait on a question")

    monkeypatch.setattr(QMessageBox, "question", question)


# 1. Hidden layers after reopening


def test_a_reopened_hidden_layer_can_be_shown_with_its_checkbox(make_window, qtbot, tmp_path):
    doc = Document(64, 48, "hidden")
    doc.insert_layer(Layer("Background", LayerKind.RASTER, np.full((48, 64, 4), 255, np.uint8)))
    doc.insert_layer(Layer("Sketch", LayerKind.RASTER, np.full((48, 64, 4), 90, np.uint8), visible=False))
    save_project(doc, tmp_path / "hidden.studio")
    window = make_window(GENERATIVE)
    assert window.open_path(tmp_path / "hidden.studio")
    panel = window.layers_panel
    row = panel.row_of(window.doc.layers[1].id)
    item = panel.list.item(row)
    assert item.data(Qt.ItemDataRole.CheckStateRole) is not None, "the hidden layer's row has a checkbox"
    shot(window, "1-reopened-hidden-layer")
    option = QStyleOptionViewItem()
    panel.list.initViewItemOption(option)
    option.rect = panel.list.visualItemRect(item)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    box = panel.list.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, panel.list)
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert window.doc.layers[1].visible
    assert window.doc.composite()[0, 0, 0] < 255, "the layer shows on the canvas"
    shot(window, "1-shown-again")


# 2. A finished result never waits on a question


def test_a_run_at_another_size_keeps_the_unsaved_document(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    assert window.open_path(cat(tmp_path))
    source = window.doc
    window.add_layer(LayerKind.RASTER)  # an unsaved change
    panel = fast(window, size=180)
    fail_on_question(monkeypatch)
    run_and_wait(qtbot, window, panel)
    assert window.doc is not source and (window.doc.width, window.doc.height) == (180, 120)
    shot(window, "2-result-opened-source-kept")
    assert [opened.doc for opened in window.open_documents] == [source, window.doc], "the source stays in its tab"
    assert not source.history.is_clean and [layer.name for layer in source.layers] == ["cat.png", "Layer"]


def test_rerender_and_contact_sheet_results_open_without_a_question(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    assert window.open_path(cat(tmp_path))
    run_and_wait(qtbot, window, fast(window))
    fail_on_question(monkeypatch)
    window.rerender_layer(window.doc.layers[-1].id, 150)  # the document is unsaved: it has a new layer
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert (window.doc.width, window.doc.height) == (150, 100)
    picture = np.zeros((30, 40, 4), np.uint8)
    window._open_picture(picture, "sheet", "Contact sheet")  # the re-render is unsaved too
    assert window.doc.name == "sheet"
    assert [o.doc.name for o in window.open_documents] == ["cat", "cat 150×100", "sheet"], "each in its own tab"


# 3. Transparency and the mask hold for every plugin


def test_style_transfer_keeps_transparency_and_changes_nothing_outside_the_mask(make_window, qtbot, tmp_path):
    window = make_window()
    assert window.open_path(cat(tmp_path))
    doc = window.doc
    picture = doc.layers[0]
    erased = picture.pixels.copy()
    erased[:, :20, 3] = 0  # erased on the left
    picture.write(0, 0, erased)
    mask = window.add_layer(LayerKind.MASK)
    mask.write(0, 0, np.full((doc.height, 60), 255, np.uint8))  # work on the left two thirds only
    doc.notify_pixels()
    before = doc.composite()
    run_and_wait(qtbot, window, fast(window))
    after = doc.composite(dtype=np.dtype(np.uint8))
    shot(window, "3-style-transfer-transparent-and-masked")
    assert (after[:, :20, 3] == 0).all(), "erased pixels stay erased"
    np.testing.assert_array_equal(after[:, 60:], before[:, 60:])
    assert np.abs(after[:, 20:60, :3].astype(int) - before[:, 20:60, :3].astype(int)).mean() > 10


def test_generative_reads_no_picture_so_its_result_is_whole(make_window, qtbot):
    window = make_window(GENERATIVE)
    # A transparent document: the rule holds transparency of an input picture only.
    doc = window.new_document(NewDocument(96, 64, "Transparent"))
    panel = window.panels["generative"]
    panel.run_button.click()
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert panel.error_text() == ""
    assert (doc.layers[-1].pixels[..., 3] == 255).all()


# 4. The live preview follows the mask in use


def test_live_preview_refreshes_when_the_mask_in_use_changes(make_window, qtbot, tmp_path):
    window = make_window()
    assert window.open_path(cat(tmp_path))
    doc = window.doc
    picture = doc.layers[0]
    mask = window.add_layer(LayerKind.MASK)
    mask.write(0, 0, np.zeros((doc.height, 45), np.uint8))
    doc.notify_pixels()
    window.layers_panel.list.setCurrentRow(window.layers_panel.row_of(picture.id))
    panel = fast(window)
    panel.params_widget.editor("strength").setValue(0.9)
    qtbot.waitUntil(lambda: window.live_preview.running, timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.live_preview.running and window.canvas.has_preview, timeout=JOB_TIMEOUT_MS)
    assert window.live_preview.in_use == (mask.id, None, None)
    other = Layer("Whole", LayerKind.MASK, np.full((60, 90), 255, np.uint8))
    doc.insert_layer(other, 1)  # below the first mask: selecting it makes it the mask in use
    window.layers_panel.list.setCurrentRow(window.layers_panel.row_of(other.id))
    assert window.live_preview.timer.isActive(), "the preview re-renders for the new mask"
    qtbot.waitUntil(lambda: window.live_preview.in_use == (other.id, None, None), timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.live_preview.running and window.canvas.has_preview, timeout=JOB_TIMEOUT_MS)
    window.layers_panel.list.setCurrentRow(window.layers_panel.row_of(picture.id))  # the topmost mask again
    assert window.live_preview.timer.isActive()
    qtbot.waitUntil(lambda: window.live_preview.in_use == (mask.id, None, None), timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.live_preview.running and window.canvas.has_preview, timeout=JOB_TIMEOUT_MS)
    window.layers_panel.set_layer_visible(mask.id, False)  # hiding it: the other mask is used
    assert window.live_preview.timer.isActive() and window.canvas.has_preview
    qtbot.waitUntil(lambda: window.live_preview.in_use == (other.id, None, None), timeout=JOB_TIMEOUT_MS)
    shot(window, "4-live-preview-after-mask-change")


# 5. An incomplete form is a hint, not an error


def test_fast_mode_without_a_style_is_a_hint(make_window, qtbot, tmp_path, caplog):
    window = make_window()
    assert window.open_path(cat(tmp_path))
    panel = window.panels["style_transfer"]
    panel.params_widget.set_values({"mode": "fast", "fast_model": "arbitrary", "style": ""})
    qtbot.wait(600)  # past the live preview's debounce
    assert not window.live_preview.running
    assert panel.error_text() == ""
    assert panel.hint_text() == "Choose a style picture"
    panel.run_button.click()
    assert window.job is None and panel.error_text() == ""
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    window.plugin_docks["style_transfer"].raise_()
    shot(window, "5-fast-mode-hint")
    panel.params_widget.set_values({"style": str(cat(tmp_path))})
    assert panel.hint_text() == ""


# 18. Quitting is quick


def test_quitting_does_not_wait_for_a_job_stuck_in_a_long_step(make_window, qtbot):
    window = make_window(GENERATIVE)
    stuck, release = threading.Event(), threading.Event()

    def long_step(_progress: object, _cancelled: object) -> None:
        stuck.set()
        release.wait(30)  # one step of an engine that does not look at its cancel flag for a long while

    window.jobs.run_task("A long step", long_step, lambda *_: None)
    assert stuck.wait(10)
    try:
        started = time.monotonic()
        assert window.close()
        assert time.monotonic() - started < 1.0
        assert not window.isVisible()
    finally:
        release.set()
