"""Exports, plugin jobs and autosaves read a snapshot of the document taken when they start (issue 19): starting one
copies no pixels on the GUI thread, so it returns at once even on a print-size document, and edits made while it
runs never reach the file or the job."""

import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from studio.core import run
from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.export import ExportSettings
from studio.core.history import PixelEdit
from studio.core.image import load_image, to_uint8
from studio.core.params import make_params
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.project import load_project
from studio.core.tiles import TiledImage
from studio.qt.app import install_crash_handler
from studio.qt.printing import actions

ECHO = [EntryPoint("echo", "failing_plugin:ECHO", ENTRY_POINT_GROUP)]
PRINT_SIZE = 6000
START_S = 0.3
"""Generous for a loaded 2-core machine: a start that copies no pixels takes a few milliseconds."""
TIMEOUT_MS = 30000
RED = (255, 0, 0, 255)


@pytest.fixture(scope="module")
def print_layers() -> list[TiledImage]:
    """Three 6000 x 6000 layers of photo-like content: an opaque gradient with grain and two translucent glazes."""
    rng = np.random.default_rng(19)
    ramp = np.linspace(0, 200, PRINT_SIZE, dtype=np.float32)
    photo = np.empty((PRINT_SIZE, PRINT_SIZE, 4), np.uint8)
    photo[..., 0] = ramp[None, :]
    photo[..., 1] = ramp[:, None]
    photo[..., 2] = rng.integers(0, 56, (PRINT_SIZE, PRINT_SIZE), np.uint8)
    photo[..., 3] = 255
    layers = [TiledImage.from_array(photo)]
    for index in range(2):
        glaze = np.roll(photo, 1000 * (index + 1), axis=index)
        glaze[..., 3] = 120
        layers.append(TiledImage.from_array(glaze))
    return layers


@pytest.fixture
def window(open_window):
    return open_window(discover_plugins(ECHO))


def print_document(images: list[TiledImage]) -> Document:
    """A document of ``images`` (sharing their tiles: the module's layers are made once) with an unsaved edit."""
    doc = Document(PRINT_SIZE, PRINT_SIZE, "Poster")
    for index, image in enumerate(images):
        doc.insert_layer(Layer(f"Layer {index}", LayerKind.RASTER, image.snapshot(), opacity=0.9 if index else 1.0))
    paint(doc)
    return doc


def small_document() -> Document:
    """A 700 x 500 document (several tiles) of two layers of random content, the top one translucent."""
    rng = np.random.default_rng(7)
    doc = Document.from_pixels(rng.integers(0, 256, (500, 700, 4), np.uint8))
    top = rng.integers(0, 256, (500, 700, 4), np.uint8)
    doc.insert_layer(Layer("Glaze", LayerKind.RASTER, top, opacity=0.7))
    return doc


def paint(doc: Document) -> None:
    """The artist paints a red band over the top layer, in one undo step."""
    layer = doc.layers[-1]
    band = np.full((min(100, doc.height), doc.width, 4), RED, np.uint8)
    doc.history.push(PixelEdit.writing("Paint", layer, 0, 0, band))


def shares_every_tile(copy: Document, doc: Document) -> bool:
    """Whether ``copy``'s layers hold the very tiles of ``doc``'s (no pixel was copied)."""
    return all(
        a.id == b.id and a.image is not b.image and all(t is b.image.tiles()[k] for k, t in a.image.tiles().items())
        for a, b in zip(copy.layers, doc.layers, strict=True)
    )


def gate(monkeypatch, owner: object, name: str) -> tuple[threading.Event, list[tuple]]:
    """Make ``owner.name`` wait for the event returned before doing its work; its calls' arguments are recorded."""
    release, calls = threading.Event(), []
    real: Callable = getattr(owner, name)

    def gated(*args, **kwargs):
        calls.append(args)
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, gated)
    return release, calls


def timed(start: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = start()
    return result, time.perf_counter() - t0


# Starting at print size: no pixels copied, back to the event loop at once


def test_starting_an_export_of_a_print_size_document_returns_at_once(
    window, qtbot, print_layers, monkeypatch, tmp_path
):
    doc = print_document(print_layers)
    window.set_document(doc, None)
    given = []
    monkeypatch.setattr(actions, "export_document", lambda snapshot, path, *a, **k: given.append(snapshot) or path)
    settings = ExportSettings("tiff", 16, "none", dpi=300.0)
    started, seconds = timed(lambda: window.print_actions.start_export(tmp_path / "poster.tif", settings, ask=False))
    qtbot.waitUntil(lambda: window.print_actions.exporting is None, timeout=TIMEOUT_MS)
    print(f"start_export at {PRINT_SIZE} x {PRINT_SIZE}: {seconds * 1000:.1f} ms")
    assert started and seconds < START_S
    assert shares_every_tile(given[0], doc), "the worker flattens a snapshot"


def test_starting_a_job_on_a_print_size_document_returns_at_once(window, qtbot, print_layers, monkeypatch):
    doc = print_document(print_layers)
    window.set_document(doc, None)
    given = []

    def build_on_the_worker(snapshot: Document, *args: object) -> None:
        given.append((snapshot, threading.current_thread()))
        raise Cancelled  # the inputs are not needed here

    monkeypatch.setattr(run, "inputs_from_document", build_on_the_worker)
    manifest = window.registry.get("echo")
    handle, seconds = timed(lambda: window.run_plugin(manifest, make_params(manifest.params_class())))
    qtbot.waitUntil(lambda: window.job is None, timeout=TIMEOUT_MS)
    print(f"run_plugin at {PRINT_SIZE} x {PRINT_SIZE}: {seconds * 1000:.1f} ms")
    assert handle is not None and seconds < START_S
    ((snapshot, thread),) = given
    assert thread is not threading.main_thread() and shares_every_tile(snapshot, doc)
    assert doc.history.texts() == ["Paint"], "a cancelled job leaves the document as it was"


def test_starting_an_autosave_of_a_print_size_document_returns_at_once(window, qtbot, print_layers, monkeypatch):
    doc = print_document(print_layers)
    window.set_document(doc, None)
    given = []
    monkeypatch.setattr(window.autosaver, "save", lambda snapshot, original: given.append(snapshot))
    _, seconds = timed(window.autosave)
    assert window.wait_for_autosave(TIMEOUT_MS / 1000)
    print(f"autosave at {PRINT_SIZE} x {PRINT_SIZE}: {seconds * 1000:.1f} ms")
    assert seconds < START_S
    assert shares_every_tile(given[0], doc) and given[0].uid == doc.uid


# Edits made while they run never reach them


def test_an_export_writes_the_document_as_it_was_when_it_started(window, qtbot, monkeypatch, tmp_path):
    doc = small_document()
    window.set_document(doc, None)
    expected = doc.composite()
    release, calls = gate(monkeypatch, actions, "export_document")
    out = tmp_path / "art.png"
    assert window.print_actions.start_export(out, ExportSettings("png", dpi=None), ask=False)
    qtbot.waitUntil(lambda: len(calls) == 1)  # on the worker, not flattened yet
    paint(doc)
    assert (doc.composite()[:100] != expected[:100]).any()
    release.set()
    qtbot.waitUntil(lambda: window.print_actions.exporting is None, timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(load_image(out).pixels, expected)


def test_an_autosave_writes_the_document_as_it_was_when_it_started(window, qtbot, monkeypatch):
    doc = small_document()
    window.set_document(doc, None)
    paint(doc)  # unsaved: it is autosaved
    expected = doc.composite()
    release, calls = gate(monkeypatch, window.autosaver, "save")
    window.autosave()
    qtbot.waitUntil(lambda: len(calls) == 1)
    window.autosave()  # one autosave at a time: this one is skipped
    doc.history.undo()
    doc.layers[0].opacity = 0.5
    release.set()
    assert window.wait_for_autosave(TIMEOUT_MS / 1000) and len(calls) == 1
    (saved,) = window.autosaver.directory.glob("*.studio")
    np.testing.assert_array_equal(load_project(saved).composite(), expected)


def test_the_crash_autosave_is_written_at_once_and_last(window, monkeypatch):
    doc = small_document()
    window.set_document(doc, None)
    paint(doc)
    real, release = window.autosaver.save, threading.Event()

    def save(snapshot: Document, original: object = None) -> object:
        if threading.current_thread() is not threading.main_thread():
            assert release.wait(10)  # the background autosave is slow
        return real(snapshot, original)

    monkeypatch.setattr(window.autosaver, "save", save)
    window.autosave()  # the document as it was before the edit below
    doc.layers[0].opacity = 0.5
    expected = doc.composite()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(window, "show_error", lambda title, text: None)
    install_crash_handler(window)
    threading.Timer(0.3, release.set).start()
    sys.excepthook(RuntimeError, RuntimeError("boom"), None)
    assert window.wait_for_autosave(TIMEOUT_MS / 1000)
    (saved,) = window.autosaver.directory.glob("*.studio")
    np.testing.assert_array_equal(load_project(saved).composite(), expected)


def test_a_job_reads_the_document_as_it_was_when_it_started(window, qtbot, monkeypatch):
    doc = small_document()
    window.set_document(doc, None)
    expected = doc.composite()
    release, calls = gate(monkeypatch, run, "inputs_from_document")
    manifest = window.registry.get("echo")
    assert window.run_plugin(manifest, make_params(manifest.params_class())) is not None
    qtbot.waitUntil(lambda: len(calls) == 1)  # on the worker, inputs not built yet
    paint(doc)
    doc.layers[0].visible = False
    release.set()
    qtbot.waitUntil(lambda: window.job is None, timeout=TIMEOUT_MS)
    assert window.panels["echo"].error_text() == ""
    result = doc.layers[-1]
    assert result.name == "Echo" and [la.name for la in doc.layers] == ["Background", "Glaze", "Echo"]
    np.testing.assert_array_equal(to_uint8(result.pixels), expected)


# Precision


def test_a_16_bit_layer_reaches_a_16_bit_export_with_its_16_bits(window, tmp_path):
    gradient = np.empty((64, 4096, 4), np.uint16)
    gradient[..., :3] = np.arange(4096, dtype=np.uint16)[None, :, None] * 16
    gradient[..., 3] = 65535
    window.set_document(Document.from_pixels(gradient), None)
    actions_ = window.print_actions
    assert actions_.export(tmp_path / "deep.tif", ExportSettings("tiff", 16, dpi=None), ask=False)
    deep = load_image(tmp_path / "deep.tif").pixels
    assert deep.dtype == np.uint16 and len(np.unique(deep[0, :, 0])) == 4096, "no banding"
    np.testing.assert_array_equal(deep[..., :3], gradient[..., :3])
    assert actions_.export(tmp_path / "flat.png", ExportSettings("png", 8, dpi=None), ask=False)
    flat = load_image(tmp_path / "flat.png").pixels
    assert flat.dtype == np.uint8
    np.testing.assert_array_equal(flat[..., :3], to_uint8(gradient[..., :3]))


def test_starting_a_save_of_a_print_size_document_returns_at_once(window, qtbot, print_layers, monkeypatch, tmp_path):
    from studio.qt import main_window

    doc = print_document(print_layers)
    window.set_document(doc, None)
    given = []
    monkeypatch.setattr(main_window, "save_project", lambda snapshot, path: given.append(snapshot))
    started, seconds = timed(lambda: window.save_project_to(tmp_path / "poster.studio", wait=False))
    qtbot.waitUntil(lambda: not window.saving, timeout=TIMEOUT_MS)
    print(f"save at {PRINT_SIZE} x {PRINT_SIZE}: {seconds * 1000:.1f} ms")
    assert started and seconds < START_S
    assert shares_every_tile(given[0], doc) and doc.history.is_clean


def test_a_save_writes_the_document_as_it_was_when_it_started_and_later_edits_stay_unsaved(
    window, qtbot, monkeypatch, tmp_path
):
    from studio.qt import main_window

    doc = small_document()
    window.set_document(doc, None)
    paint(doc)
    expected = doc.composite()
    release, calls = gate(monkeypatch, main_window, "save_project")
    path = tmp_path / "art.studio"
    assert window.save_project_to(path, wait=False)
    qtbot.waitUntil(lambda: len(calls) == 1)
    assert not window.save_project_to(path, wait=False), "one save at a time"
    paint(doc)  # while the file is written
    release.set()
    qtbot.waitUntil(lambda: not window.saving, timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(load_project(path).composite(), expected)
    assert window.project_path == path and not doc.history.is_clean, "the edit made while saving is not in the file"
    doc.history.undo()
    assert doc.history.is_clean, "undoing it returns to what was saved"
