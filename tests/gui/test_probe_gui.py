"""The plugin contract through the real main window: the probe plugin's mask, label map and extra picture,
its own model, its named outputs, its own panel on the typed host, re-render at another size, cancel."""

import json
import threading
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image
from probe_plugin.models import WEIGHTS_SHA256
from probe_plugin.panel import ProbePanel
from PySide6.QtWidgets import QMessageBox

from studio.core import run
from studio.core.document import Document, Layer, LayerKind
from studio.core.inputs import label_colours
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

PROBE = [EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 30000
RED, BLUE = (200, 0, 0), (0, 0, 200)


@pytest.fixture
def window(open_window, tmp_path):
    store = ModelStore(tmp_path / "models", {})
    window = open_window(discover_plugins(PROBE), store, settings={"outputs/folder": str(tmp_path / "outputs")})
    store.install("probe_net")  # the window added the plugin's own models to the store's catalog
    return window


def probe_document() -> Document:
    """A 48 x 32 picture with a transparent corner, a mask over its left half and a label map of two regions."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[:4, :4, 3] = 0
    doc = Document.from_pixels(pixels)
    mask = np.zeros((32, 48), np.uint8)
    mask[:, :24] = 255
    doc.insert_layer(Layer("Mask", LayerKind.MASK, mask))
    labels = np.ones((32, 48), np.uint8)
    labels[16:] = 2
    doc.insert_layer(Layer("Regions", LayerKind.LABELS, labels))
    doc.history.set_clean()
    return doc


def run_probe(window, qtbot, **values):
    panel = window.panels["probe"]
    panel.params_widget.set_values(values)
    handle = window.run_plugin(panel.manifest, panel.params())
    assert handle is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    return handle


def test_the_panel_shows_the_inputs_in_use_and_a_hidden_mask_is_not_used(window, qtbot):
    doc = probe_document()
    window.set_document(doc, None)
    box = window.panels["probe"].inputs_box
    assert box.uses["mask"].text() == "“Mask”" and box.uses["labels"].text() == "“Regions”"
    assert box.isVisibleTo(window) and box.extras() == {}
    doc.layers[1].visible = False
    doc.layers_changed.emit()
    assert box.uses["mask"].text() == (
        "none yet: paint one with the Mask brush, or select with the Rectangle, Ellipse, Lasso or Magic wand"
    )
    run = window.run_plugin(window.registry.get("probe"), window.panels["probe"].params())
    assert run is None and "needs mask" in window.panels["probe"].error_text()


def test_an_unreadable_extra_picture_is_named_in_the_panel_and_the_document_is_unchanged(window, qtbot, tmp_path):
    doc = probe_document()
    window.set_document(doc, None)
    broken = tmp_path / "tint.png"
    broken.write_bytes(b"not a picture")
    window.panels["probe"].inputs_box.set_extra("tint", str(broken))
    run_probe(window, qtbot)  # the file is read with the document's inputs, on the job's worker thread
    assert window.panels["probe"].error_text().startswith("Cannot open tint.png: it is not an image file")
    assert [layer.name for layer in doc.layers] == ["Background", "Mask", "Regions"] and doc.history.is_clean


def test_a_run_repaints_only_inside_the_mask_and_its_outputs_land_as_one_undo_step(window, qtbot, tmp_path):
    doc = probe_document()
    window.set_document(doc, None)
    tint = tmp_path / "tint.png"
    Image.new("RGB", (8, 8), (0, 255, 0)).save(tint)
    window.panels["probe"].inputs_box.set_extra("tint", str(tint))
    before = doc.composite()
    run_probe(window, qtbot, variant=5)

    names = [layer.name for layer in doc.layers]
    assert names == ["Background", "Mask", "Regions", "Probe", "Probe – Region outlines"]
    result = doc.layers[3]
    doc.layers[4].visible = False  # the outlines
    changed = np.any(doc.composite() != before, axis=2)
    assert changed[:, :24].mean() > 0.9 and not changed[:, 24:].any()
    assert result.pixels[0, 0, 3] == 0 and (result.pixels[4:, :24, 3] == 255).all()
    assert (result.pixels[:, 24:, 3] == 0).all(), "the layer is transparent outside the mask"
    doc.layers[4].visible = True

    recipe = result.recipe
    installed = window.store.record("probe_net")
    assert WEIGHTS_SHA256 in installed.inputs.values(), "installed from the file shipped under tests/"
    assert recipe.models == [{"id": "probe_net", "sha256": installed.files["model.safetensors"]}]
    assert set(recipe.inputs) == {"image", "mask", "labels", "tint"}
    assert recipe.input_files == {"tint": str(tint)} and recipe.seed == 5

    outline = doc.layers[4].pixels
    assert (outline[16, :, 3] == 255).all() and np.delete(outline[..., 3], 16, axis=0).max() == 0

    colours = sorted("".join(f"{c:02x}" for c in rgb) for rgb in label_colours(np.uint8([1, 2])))
    written = sorted(p.relative_to(tmp_path / "outputs") for p in (tmp_path / "outputs").rglob("*") if p.is_file())
    assert [p.parts[1:] for p in written] == [*[("regions", f"region-{c}.png") for c in colours], ("regions.json",)]
    summary = json.loads((tmp_path / "outputs" / written[2]).read_text())
    assert [(s["colour"], s["pixels"]) for s in summary] == [(f"#{c}", 768) for c in colours]

    doc.history.undo()
    assert [layer.name for layer in doc.layers] == ["Background", "Mask", "Regions"]


def test_cancel_leaves_the_document_untouched(window, qtbot):
    doc = probe_document()
    window.set_document(doc, None)
    panel = window.panels["probe"]
    panel.params_widget.set_values({"passes": 50})
    window.jobs.queue.preview_interval_s = 0.0
    handle = window.run_plugin(panel.manifest, panel.params())
    window.cancel_job()
    assert handle.wait(JOB_TIMEOUT_MS / 1000)
    qtbot.wait(50)
    assert [layer.name for layer in doc.layers] == ["Background", "Mask", "Regions"]
    assert doc.history.is_clean


def test_a_document_output_opens_as_a_new_document(window, qtbot, monkeypatch):
    window.set_document(probe_document(), None)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    run_probe(window, qtbot, swatches=True, region_files=False)
    assert window.doc.name.endswith("region swatches")
    assert (window.doc.width, window.doc.height) == (64, 32)


def test_the_own_panel_works_through_its_typed_host(window, qtbot, monkeypatch):
    panel = window.panels["probe"].params_widget
    assert isinstance(panel, ProbePanel)
    doc = probe_document()
    window.set_document(doc, None)
    assert panel.status.text() == f"layers: 3; probe_net {ModelStatus.INSTALLED}"
    built_in, build = [], run.inputs_from_document
    monkeypatch.setattr(
        run, "inputs_from_document", lambda *args: built_in.append(threading.current_thread()) or build(*args)
    )
    assert panel.invert_mask() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert built_in and threading.main_thread() not in built_in, "the document is flattened on the worker"
    assert len(panel.results) == 1
    inverted = panel.results[0].image
    assert inverted[:, :24].max() == 0 and inverted[:, 24:].min() == 255
    assert [layer.name for layer in doc.layers] == ["Background", "Mask", "Regions"], "on_result took the frame"
    host = window.hosts["probe"]
    layer = host.add_layer("From the host", inverted)
    assert doc.layers[-1] is layer and layer.pixels.shape == (32, 48, 4)


def test_a_probe_layer_rerenders_at_another_size_with_its_mask_labels_and_tint(window, qtbot, tmp_path, monkeypatch):
    doc = probe_document()
    window.set_document(doc, None)
    tint = tmp_path / "tint.png"
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tint)
    window.panels["probe"].inputs_box.set_extra("tint", str(tint))
    run_probe(window, qtbot, region_files=False)
    layer = doc.layers[3]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.rerender_layer(layer.id, 96) is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert (window.doc.width, window.doc.height) == (96, 64)
    assert [la.name for la in window.doc.layers] == ["Source (resized)", "Probe", "Probe at 96 × 64 – Region outlines"]
    rerendered = window.doc.layers[1]
    assert rerendered.recipe.params["long_side"] == 96 and rerendered.recipe.input_files == {"tint": str(tint)}
    assert set(rerendered.recipe.inputs) == {"image", "mask", "labels", "tint"}
