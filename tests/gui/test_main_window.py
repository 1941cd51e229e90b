"""The real main window, driven headless: open, paint, undo, run plugins, cancel, save, export."""

import dataclasses
import gc
import sys
import threading
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from handmade import decompression_bomb_png
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

import studio
from studio.core.document import Document, Layer, LayerKind
from studio.core.jobs import JobState
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.params import make_params
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.project import save_project
from studio.qt import rerender
from studio.qt.canvas import Tool

PLUGINS = [
    EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP),
    EntryPoint("failing", "failing_plugin:MANIFEST", ENTRY_POINT_GROUP),
]


@pytest.fixture
def make_window(open_window):
    def make(entry_points=PLUGINS, size=(1000, 760), store=None):
        return open_window(discover_plugins(entry_points), store, size)

    return make


@pytest.fixture
def window(make_window):
    """The window with a document: Studio starts on the welcome view (issue 18 item 10), so these tests paint on
    the blank 1024 px white document its Create button makes."""
    window = make_window()
    window.welcome.create_button.click()
    return window


def write_image(path: Path, size=(120, 80), color=(40, 90, 160)) -> Path:
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[...] = color
    pixels[:, : size[0] // 2, 0] = 220
    Image.fromarray(pixels).save(path)
    return path


def snapshot(doc):
    return [(layer.id, layer.name, layer.visible, layer.opacity, layer.pixels.copy()) for layer in doc.layers]


def assert_same_document(before, doc):
    after = snapshot(doc)
    assert [b[:4] for b in before] == [a[:4] for a in after]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(b[4], a[4])


def widget_point(canvas, x, y) -> QPoint:
    return canvas.image_to_widget(QPointF(x + 0.5, y + 0.5)).toPoint()


def drag(qtbot, canvas, points):
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *points[0]))
    for point in points[1:]:
        QTest.mouseMove(canvas, widget_point(canvas, *point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *points[-1]))


def test_open_paint_undo_redo(window, qtbot, tmp_path):
    path = write_image(tmp_path / "photo.png")
    assert window.open_path(path)
    doc = window.doc
    assert (doc.width, doc.height) == (120, 80)
    canvas = window.canvas
    canvas.actual_pixels()
    original = doc.layers[0].pixels.copy()
    window.tool_bar.set_color((255, 255, 0))
    window.tools.size = 8
    window.tools.hardness = 1.0
    QTest.keyClick(canvas, Qt.Key.Key_B)
    assert window.tools.tool is Tool.BRUSH
    drag(qtbot, canvas, [(20, 40), (60, 40), (100, 40)])
    pixels = doc.layers[0].pixels
    assert (pixels[40, 20:101, :3] == (255, 255, 0)).all(), "the stroke covers its path"
    changed = np.any(pixels != original, axis=2)
    ys, _ = np.nonzero(changed)
    assert ys.min() >= 40 - 5 and ys.max() <= 40 + 5, "nothing changed away from the stroke"
    assert window.windowTitle().startswith("photo*")
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(doc.layers[0].pixels, original)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (doc.layers[0].pixels[40, 20:101, :3] == (255, 255, 0)).all()


def test_shortcuts_switch_tools_and_resize_the_brush(window):
    canvas = window.canvas
    QTest.keyClick(canvas, Qt.Key.Key_E)
    assert window.tools.tool is Tool.ERASER
    size = window.tools.size
    QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert window.tools.size > size
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert window.tools.size < size
    zoom = canvas.zoom
    QTest.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0 != zoom


def test_mask_brush_creates_a_mask_and_paints_only_it(window, qtbot):
    canvas = window.canvas
    before = window.doc.layers[0].pixels.copy()
    QTest.keyClick(canvas, Qt.Key.Key_M)
    window.tools.size = 10
    drag(qtbot, canvas, [(100, 100), (200, 100)])
    mask = window.doc.active_mask()
    assert mask is not None and mask.pixels[100, 150] == 255 and mask.pixels[300, 300] == 0
    np.testing.assert_array_equal(window.doc.layers[0].pixels, before)
    shown = canvas.grab().toImage()
    masked = shown.pixelColor(widget_point(canvas, 150, 100))
    clear = shown.pixelColor(widget_point(canvas, 300, 300))
    assert (clear.red(), clear.green(), clear.blue()) == (255, 255, 255)
    assert masked.red() > 200 and masked.green() < 200 and masked.blue() < 200, "the mask shows as a red overlay"


def run_and_collect(window, qtbot, plugin_id, values, timeout=20000):
    manifest = window.registry.get(plugin_id)
    events = []
    window.jobs.bridge.event.connect(events.append)
    params = make_params(manifest.params_class(), values)
    handle = window.run_plugin(manifest, params)
    return handle, events


def test_generative_plugin_streams_previews_then_adds_an_undoable_layer(window, qtbot):
    window.set_document(window.doc.__class__.from_pixels(np.full((256, 384, 4), 255, np.uint8)), None)
    window.jobs.queue.preview_interval_s = 0.0  # every preview the engine offers, however fast this machine is
    panel = window.panels["generative"]
    panel.params_widget.set_values({"rule": "flow_field", "seed": 5, "flow_steps": 600})
    events = []
    window.jobs.bridge.event.connect(events.append)
    previews_seen = []
    window.jobs.bridge.event.connect(lambda e: previews_seen.append(window.canvas.has_preview))
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert window.job is not None and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: window.job is None, timeout=30000)
    qtbot.waitUntil(lambda: events[-1].state is not JobState.PREVIEW)  # this test's own copy of the last event
    states = [e.state for e in events]
    assert states.count(JobState.PREVIEW) >= 2
    assert states[-1] is JobState.FINISHED and JobState.PREVIEW not in states[states.index(JobState.FINISHED) :]
    assert any(previews_seen), "previews were shown on the canvas"
    assert not window.canvas.has_preview
    doc = window.doc
    assert [layer.name for layer in doc.layers] == ["Background", "Generative rules"]
    result = doc.layers[-1]
    assert result.recipe.plugin_id == "generative" and result.recipe.seed == 5
    assert result.recipe.params["rule"] == "flow_field" and result.recipe.params["flow_steps"] == 600
    np.testing.assert_array_equal(result.pixels, events[-1].frame.image)
    window.undo()
    assert len(doc.layers) == 1
    window.redo()
    assert doc.layers[-1] is result


def mondrian_layer(window, qtbot, height: int, width: int) -> Layer:
    """The layer the Generative rules panel's Run makes on a new white document (a Mondrian, seed 3)."""
    window.set_document(window.doc.__class__.from_pixels(np.full((height, width, 4), 255, np.uint8)), None)
    panel = window.panels["generative"]
    panel.params_widget.set_values({"rule": "mondrian", "seed": 3})
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.job is None, timeout=30000)
    return window.doc.layers[-1]


def test_a_generative_layer_rerenders_at_print_size_as_the_same_artwork(window, qtbot, monkeypatch):
    small = mondrian_layer(window, qtbot, 96, 128)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    read_in = []
    read = rerender._read_inputs
    monkeypatch.setattr(rerender, "_read_inputs", lambda *a: read_in.append(threading.current_thread()) or read(*a))
    assert window.rerender_layer(small.id, 512) is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=30000)
    assert read_in and threading.main_thread() not in read_in, "the layers below are flattened on the worker"
    big = window.doc.layers[-1]
    assert (window.doc.width, window.doc.height) == (512, 384) and big.recipe.params["size"] == 512
    assert big.recipe.seed == 3
    shrunk = np.asarray(Image.fromarray(big.pixels).resize((128, 96), Image.Resampling.BOX)).astype(int)
    assert np.abs(shrunk[..., :3] - small.pixels[..., :3]).mean() < 12, "the same composition, only finer"


def test_rerendering_a_layer_an_older_studio_made_says_so(window, qtbot):
    layer = mondrian_layer(window, qtbot, 48, 64)
    assert rerender.rerender_plan(window.doc, layer, window.registry, 128).notes == ()
    layer.recipe = dataclasses.replace(layer.recipe, studio_version="0.1.0")
    (note,) = rerender.rerender_plan(window.doc, layer, window.registry, 128).notes
    assert "made by Studio 0.1.0" in note and f"this is {studio.__version__}" in note


def test_cancel_mid_run_leaves_the_document_unchanged(window, qtbot):
    window.set_document(window.doc.__class__.from_pixels(np.full((1536, 1536, 4), 255, np.uint8)), None)
    before = snapshot(window.doc)
    history = window.doc.history.texts()
    handle, events = run_and_collect(window, qtbot, "generative", {"rule": "flow_field", "flow_steps": 1000})
    qtbot.waitUntil(lambda: any(e.state is JobState.PREVIEW for e in events), timeout=20000)
    assert window.canvas.has_preview
    qtbot.mouseClick(window.job_bar.cancel_button, Qt.MouseButton.LeftButton)
    assert window.job is None and not window.canvas.has_preview
    assert handle.wait(1.0), "the engine stopped within a second"
    qtbot.wait(200)
    assert_same_document(before, window.doc)
    assert window.doc.history.texts() == history
    assert window.doc.history.is_clean


def test_engine_error_is_shown_in_the_panel(window, qtbot):
    before = snapshot(window.doc)
    window.run_plugin(window.registry.get("failing"), make_params(window.registry.get("failing").params_class()))
    qtbot.waitUntil(lambda: window.job is None, timeout=10000)
    panel = window.panels["failing"]
    assert "no pixels; pick another style image" in panel.error_text()
    assert panel.run_button.isEnabled()
    assert_same_document(before, window.doc)


def test_save_project_and_reopen_every_layer(window, make_window, qtbot, tmp_path):
    window.open_path(write_image(tmp_path / "photo.png", (64, 48)))
    window.add_mask_layer()
    window.doc.active_mask().write(10, 10, np.full((10, 20), 255, np.uint8))
    window.doc.notify_pixels()
    run_and_collect(window, qtbot, "generative", {"rule": "mondrian", "seed": 9})
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    window.doc.layers[0].opacity = 0.6
    path = tmp_path / "work.studio"
    assert window.save_project_to(path)
    assert window.doc.history.is_clean and window.windowTitle().startswith("work.studio —")
    other = make_window()
    assert other.open_path(path)
    assert len(other.doc.layers) == 3
    for a, b in zip(window.doc.layers, other.doc.layers, strict=True):
        assert (a.id, a.name, a.kind, a.visible, a.opacity) == (b.id, b.name, b.kind, b.visible, b.opacity)
        np.testing.assert_array_equal(a.pixels, b.pixels)
        assert a.recipe == b.recipe
    assert other.doc.layers[-1].recipe.seed == 9


def test_a_project_with_3000_layers_opens_and_keeps_none_alive(window, qtbot, tmp_path):
    # PySide6 6.12 (Python 3.11) drops a reference to None for every empty QVariant it returns and every
    # call that returns nothing: opening 3000 layers used to abort ("Fatal Python error: none_dealloc").
    doc = Document(8, 6, "many")
    rng = np.random.default_rng(5)
    for i in range(3000):
        kind = (LayerKind.RASTER, LayerKind.MASK, LayerKind.LABELS)[i % 3]
        shape = (6, 8, 4) if kind is LayerKind.RASTER else (6, 8)
        doc.layers.append(Layer(f"layer {i}", kind, rng.integers(0, 4, shape, dtype=np.uint8)))
    path = tmp_path / "many.studio"
    save_project(doc, path)
    assert window.open_path(path)
    window.add_mask_layer()
    window.doc.history.undo()
    window.layers_panel.list.viewport().repaint()
    qtbot.wait(50)
    before = sys.getrefcount(None)
    for _ in range(20):  # an unchanged dock costs nothing per row, however many rows
        window.layers_panel.refresh()
        window.history_panel.refresh()
    assert sys.getrefcount(None) >= before - 20, f"None lost {before - sys.getrefcount(None)} references"
    assert sys.getrefcount(None) > 2**32
    assert window.layers_panel.list.count() == 3000
    assert window.layers_panel.layer_id_at(0) == doc.layers[-1].id
    assert window.layers_panel.list.item(2999).text() == "layer 0"


@pytest.mark.parametrize(("suffix", "exact"), [(".png", True), (".tif", True), (".webp", False), (".jpg", False)])
def test_export_and_read_back(window, tmp_path, suffix, exact):
    window.open_path(write_image(tmp_path / "photo.png", (64, 48)))
    out = tmp_path / f"export{suffix}"
    assert window.export_to(out)
    expected = window.doc.composite()[..., :3].astype(int)
    with Image.open(out) as image:
        assert image.size == (64, 48)
        got = np.asarray(image.convert("RGB")).astype(int)
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        assert np.abs(got - expected).mean() < 4


def test_corrupt_image_and_decompression_bomb_are_refused_clearly(window, tmp_path):
    before = snapshot(window.doc)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    assert not window.open_path(corrupt)
    assert "corrupt.jpg" in window.last_error
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(decompression_bomb_png(60000, 60000))
    assert not window.open_path(bomb)
    assert "bomb.png" in window.last_error and "pixels" in window.last_error
    assert_same_document(before, window.doc)


def test_broken_plugin_is_reported_and_the_rest_load(make_window):
    broken = EntryPoint("broken", "no_such_module_xyz:MANIFEST", ENTRY_POINT_GROUP)
    window = make_window([*PLUGINS, broken])
    assert "generative" in window.panels and "broken" not in window.panels
    assert "broken" in window.statusBar().currentMessage()
    assert "no_such_module_xyz" in window.registry.errors[0].error


def test_layout_and_recent_files_persist(make_window, tmp_path):
    first = make_window()
    first.open_path(write_image(tmp_path / "a.png"))
    first.resize(720, 540)
    first.history_dock.hide()
    size = (first.width(), first.height())
    assert size != (1000, 760)
    first.close()
    second = make_window(size=None)
    assert (second.width(), second.height()) == size
    assert second.history_dock.isHidden()
    assert second.recent_files()[0].name == "a.png"
    second.close()


def test_autosave_writes_a_recoverable_project(window, tmp_path):
    window.add_mask_layer()
    window.autosave()
    assert window.wait_for_autosave(10)
    saved = list((tmp_path / "autosave").glob("*.studio"))
    assert len(saved) == 1
    window.add_layer(LayerKind.RASTER)
    window.autosave()  # being written while the window closes: the close waits for it, then removes it
    window.doc.history.set_clean()
    window.close()
    assert list((tmp_path / "autosave").glob("*.studio")) == [], "a clean close removes the autosave"


def test_space_drag_pans_and_wheel_zooms_around_the_cursor(window, qtbot):
    canvas = window.canvas
    canvas.actual_pixels()
    anchor = widget_point(canvas, 300, 200)
    before = canvas.widget_to_image(QPointF(anchor))
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=anchor)
    QTest.mouseMove(canvas, anchor + QPoint(40, 25))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=anchor + QPoint(40, 25))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    moved = canvas.widget_to_image(QPointF(anchor + QPoint(40, 25)))
    assert abs(moved.x() - before.x()) < 1 and abs(moved.y() - before.y()) < 1, "the image followed the drag"
    assert window.doc.history.texts() == [], "panning painted nothing"
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent

    pos = QPointF(anchor)
    under = canvas.widget_to_image(pos)
    event = QWheelEvent(
        pos,
        canvas.mapToGlobal(pos),
        P(0, 0),
        P(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    canvas.wheelEvent(event)
    assert canvas.zoom == pytest.approx(1.25)
    after = canvas.widget_to_image(pos)
    assert abs(after.x() - under.x()) < 0.5 and abs(after.y() - under.y()) < 0.5


def test_dropping_files_opens_the_first_and_imports_the_rest(window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    first = write_image(tmp_path / "first.png", (50, 40), (10, 200, 10))
    second = write_image(tmp_path / "second.png", (30, 20), (200, 10, 10))
    data = QMimeData()
    data.setUrls(
        [
            QUrl.fromLocalFile(str(first)),
            QUrl.fromLocalFile(str(second)),
            QUrl.fromLocalFile(str(tmp_path / "notes.txt")),
        ]
    )
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)
    doc = window.doc
    assert (doc.width, doc.height) == (50, 40)
    assert [layer.name for layer in doc.layers] == ["first.png", "second"]
    assert tuple(doc.layers[1].pixels[5, 25]) == (200, 10, 10, 255)
    assert doc.layers[1].pixels[30, 40, 3] == 0, "outside the imported image the layer is transparent"


def test_recovery_after_a_crash_restores_the_autosave(window, tmp_path, monkeypatch):
    import json

    from PySide6.QtWidgets import QMessageBox

    from studio.qt.app import offer_recovery

    crashed = window.doc.__class__.from_pixels(np.full((16, 12, 4), 90, np.uint8), name="lost work")
    crashed.insert_layer(Layer("Mask", LayerKind.MASK, np.full((16, 12), 255, np.uint8)))
    window.autosaver.save(crashed)
    info = next((tmp_path / "autosave").glob("*.json"))
    record = json.loads(info.read_text())
    record["pid"] = 2**22 + 4321
    info.write_text(json.dumps(record))
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    offer_recovery(window, window.autosaver)
    assert_same_document(snapshot(crashed), window.doc)
    assert window.doc.name == "lost work"
    assert not window.doc.history.is_clean, "recovered work counts as unsaved"
    assert list((tmp_path / "autosave").iterdir()) == []


def test_missing_model_banner_installs_through_the_models_dialog(make_window, qtbot, tmp_path):
    import hashlib

    from local_hub import LocalHub
    from tiny_models import hub_file, npz_bytes, spec

    hub = LocalHub()
    hub.files["tiny.npz"] = npz_bytes()
    digest = hashlib.sha256(hub.files["tiny.npz"]).hexdigest()
    store = ModelStore(tmp_path / "models", {"tiny": spec("tiny", hub_file(hub.url("tiny.npz"), digest))})
    needs_model = EntryPoint("needs_model", "failing_plugin:NEEDS_MODEL", ENTRY_POINT_GROUP)
    window = make_window([needs_model], store=store)
    banner = window.banners["needs_model"]
    assert not banner.isHidden() and "Tiny tiny" in banner.label.text()
    qtbot.mouseClick(banner.button, Qt.MouseButton.LeftButton)
    dialog = window.models_dialog()
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=10000)
    assert store.status("tiny") is ModelStatus.INSTALLED
    row = dialog.row_of("tiny")
    assert dialog.table.item(row, 1).text() == "installed"
    assert dialog.table.item(row, 4).text() == "needs_model"
    assert banner.isHidden()
    assert "MIT (test weights)" in dialog.details.toPlainText()
    dialog.close()
    hub.close()


def test_a_failed_install_is_shown_in_the_dialog(make_window, qtbot, tmp_path):
    from tiny_models import hub_file, spec

    store = ModelStore(tmp_path / "models", {"tiny": spec("tiny", hub_file("http://127.0.0.1:9/tiny.npz", "ab" * 32))})
    window = make_window([], store=store)
    dialog = window.models_dialog()
    dialog.install("tiny")
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=20000)
    row = dialog.row_of("tiny")
    assert "127.0.0.1:9" in dialog.table.item(row, 1).toolTip()
    assert store.status("tiny") is not ModelStatus.INSTALLED


def test_garbage_cycles_are_collected_on_the_gui_thread_only(window, qtbot):
    """A collection in a worker thread could hand PySide6 Qt objects that Qt has deleted already (a crash)."""
    assert not gc.isenabled(), "no collection where a worker happens to allocate"
    # What earlier tests left to delete is freed now, not while the garbage waits (frees lower gc's counts).
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.wait(10)
    collected_in, kept = [], []

    class Cycle:
        def __del__(self) -> None:
            collected_in.append(threading.current_thread())

    def make_garbage() -> None:
        cycle = Cycle()
        cycle.me = cycle
        del cycle
        # Well past the threshold (no collection here): objects that an earlier test's threads free meanwhile
        # lower the count again, and an idle window allocates too little to cross it on its own.
        kept.append([[] for _ in range(10 * gc.get_threshold()[0])])

    worker = threading.Thread(target=make_garbage)
    worker.start()
    worker.join()
    assert collected_in == []
    qtbot.waitUntil(lambda: collected_in == [threading.main_thread()], timeout=5000)


def test_a_full_collection_waits_until_the_oldest_generation_grew_by_a_quarter(window, monkeypatch):
    """A full collection walks every object (about 90 ms with torch loaded): not each time its count is crossed."""
    from studio.qt import garbage

    collector = QCoreApplication.instance().findChild(garbage.GuiThreadCollector)
    oldest, collected, clock = [object()] * 1000, [], [1000.0]
    monkeypatch.setattr(garbage.gc, "get_count", lambda: (0, 0, gc.get_threshold()[2] + 1))
    monkeypatch.setattr(garbage.gc, "get_objects", lambda generation=None: oldest)
    monkeypatch.setattr(garbage.gc, "collect", lambda generation=2: collected.append(generation))
    monkeypatch.setattr(garbage.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(collector, "_long_lived", 0)  # as new: earlier tests' collections set these
    monkeypatch.setattr(collector, "_checked", clock[0] - garbage.FULL_CHECK_S)
    collector.collect()
    assert collected == [2], "the first full collection sets the baseline"
    oldest += [object()] * 200
    clock[0] += garbage.FULL_CHECK_S
    collector.collect()
    assert collected == [2, 1], "grown by a fifth: only the younger generations"
    oldest += [object()] * 100
    collector.collect()
    assert collected == [2, 1, 1], "looked again too soon"
    clock[0] += garbage.FULL_CHECK_S
    collector.collect()
    assert collected == [2, 1, 1, 2]


def test_no_collection_while_a_mouse_button_is_held(window, monkeypatch):
    """A collection after a burst of objects takes 100 ms or more: not in the middle of a stroke or a drag."""
    from PySide6.QtGui import QGuiApplication

    from studio.qt import garbage

    collector = QCoreApplication.instance().findChild(garbage.GuiThreadCollector)
    collected: list[int] = []
    monkeypatch.setattr(garbage.gc, "get_count", lambda: (gc.get_threshold()[0] + 1, 0, 0))
    monkeypatch.setattr(garbage.gc, "collect", lambda generation=2: collected.append(generation))
    monkeypatch.setattr(QGuiApplication, "mouseButtons", staticmethod(lambda: Qt.MouseButton.LeftButton))
    collector.collect()
    assert collected == []
    monkeypatch.setattr(QGuiApplication, "mouseButtons", staticmethod(lambda: Qt.MouseButton.NoButton))
    collector.collect()
    assert collected == [0]
