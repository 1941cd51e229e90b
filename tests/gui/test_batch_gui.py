"""File › Batch Render…: a chosen layer's recipe over queued pictures and folders, on a thread, with cancel and
resume."""

from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image

from studio.core.batch import load_job
from studio.core.blank import blank_document
from studio.core.document import Layer, LayerKind, Recipe
from studio.core.history import AddLayer
from studio.core.image import load_image
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext
from studio.core.params import make_params, params_to_dict
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.run import run_plugin
from studio.qt.batch_dialog import BatchDialog

REGISTRY = discover_plugins([EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP)])
SLOW = {"rule": "flow_field", "flow_particles": 6000, "flow_steps": 400}  # about 0.5 s per 64 px item


@pytest.fixture
def window(open_window):
    """The window with a blank document to hold recipe layers (Studio starts on the welcome view)."""
    window = open_window(REGISTRY)
    window.set_document(blank_document(64, 64), None)
    return window


def with_recipe_layer(window, values, name="Generative rules"):
    manifest = REGISTRY.get("generative")
    params = make_params(manifest.params_class(), values)
    pixels = np.zeros((window.doc.height, window.doc.width, 4), np.uint8)
    layer = Layer(name, LayerKind.RASTER, pixels, recipe=Recipe("generative", params_to_dict(params)))
    window.doc.history.push(AddLayer(name, layer))
    return params


def photos(folder, sizes):
    folder.mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 25 * i, np.uint8)).save(folder / f"photo{i}.png")
    return folder


def open_dialog(window, tmp_path, source):
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "&Batch Render…")
    action.trigger()
    dialog = window.findChildren(BatchDialog)[-1]
    dialog.add_inputs([source])
    dialog.output_edit.setText(str(tmp_path / "out"))
    dialog.template_edit.setText("{stem}-{step1.seed}")
    dialog.format_combo.setCurrentText("PNG, 8 bit")
    return dialog


def test_the_recipe_renders_over_a_folder_and_the_job_file_matches(qtbot, window, tmp_path):
    params = with_recipe_layer(window, {"rule": "mondrian", "seed": 5})
    source = photos(tmp_path / "photos", [(48, 32), (32, 40), (40, 40)])
    dialog = open_dialog(window, tmp_path, source)
    assert "Generative rules" in dialog.recipe_label.text() and dialog.start_button.isEnabled()

    dialog.start()
    assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60_000)
    assert sorted(dialog.summary.done) == [1, 2, 3] and not dialog.summary.failed
    assert dialog.overall.value() == 3 and "3 done, 0 skipped, 0 failed" in dialog.log.toPlainText()

    manifest = REGISTRY.get("generative")
    for i, (w, h) in enumerate([(48, 32), (32, 40), (40, 40)]):
        expected = run_plugin(manifest, params, Inputs(w, h), RunContext(device="cpu")).image
        written = load_image(tmp_path / "out" / f"photo{i}-5.png").pixels
        assert np.array_equal(written, expected), f"photo{i}"

    job = load_job(tmp_path / "out" / "studio-batch.toml", REGISTRY)
    assert [item.output_name for item in job.items] == ["photo0-5.png", "photo1-5.png", "photo2-5.png"]
    assert job.items[0].steps[0].params == params_to_dict(params)
    dialog.close()


def test_cancel_keeps_finished_items_and_the_next_run_resumes(qtbot, window, tmp_path):
    with_recipe_layer(window, SLOW)
    source = photos(tmp_path / "photos", [(64, 64)] * 8)
    dialog = open_dialog(window, tmp_path, source)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.overall.value() >= 1, timeout=60_000)
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60_000)
    assert dialog.summary.interrupted and 1 <= len(dialog.summary.done) < 8
    finished = len(dialog.summary.done)
    assert len(list((tmp_path / "out").glob("*.png"))) == finished

    dialog.start()
    qtbot.waitUntil(lambda: dialog.summary is not None and not dialog.running, timeout=120_000)
    assert len(dialog.summary.skipped) == finished and len(dialog.summary.done) == 8 - finished
    assert len(list((tmp_path / "out").glob("*.png"))) == 8
    dialog.close()


def test_without_a_recipe_the_dialog_says_what_to_do(window, tmp_path):
    dialog = window.show_batch_dialog()
    assert "No layer has a recipe" in dialog.recipe_label.text() and not dialog.start_button.isEnabled()
    dialog.close()


def test_pictures_and_folders_are_queued_and_the_chosen_layers_recipe_renders(qtbot, window, tmp_path):
    chosen = with_recipe_layer(window, {"rule": "mondrian", "seed": 5}, name="Mondrian")
    with_recipe_layer(window, {"rule": "mondrian", "seed": 9}, name="Other")  # the active layer
    folder = photos(tmp_path / "photos", [(48, 32), (32, 40)])
    single = photos(tmp_path / "single", [(40, 40), (20, 20)]) / "photo1.png"
    (tmp_path / "notes.txt").write_text("not a picture")
    dialog = open_dialog(window, tmp_path, folder)
    dialog.template_edit.setText("{stem}-{input_index}-{step1.seed}")
    dialog.add_inputs([single, folder, tmp_path / "notes.txt"])
    assert [p.name for p in dialog.queued()] == ["photos", "photo1.png"]  # the folder once; no text file
    assert "notes.txt is not a picture" in dialog.log.toPlainText()

    assert dialog.recipe_combo.currentText() == "“Other”"  # the active layer's recipe first, named
    assert "“Other”" in dialog.recipe_label.text()
    dialog.recipe_combo.setCurrentIndex(dialog.recipe_combo.findText("“Mondrian”"))
    assert "Generative rules" in dialog.recipe_label.text() and "“Mondrian”" in dialog.recipe_label.text()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60_000)
    assert sorted(dialog.summary.done) == [1, 2, 3] and not dialog.summary.failed, dialog.log.toPlainText()
    assert dialog.current_label.text() == "Finished"
    assert dialog.current.value() == dialog.current.maximum()  # the current-item bar ends full

    manifest = REGISTRY.get("generative")
    for name, size in (("photo0-1-5.png", (48, 32)), ("photo1-2-5.png", (32, 40)), ("photo1-3-5.png", (20, 20))):
        expected = run_plugin(manifest, chosen, Inputs(*size), RunContext(device="cpu")).image
        assert np.array_equal(load_image(tmp_path / "out" / name).pixels, expected), name
    dialog.queue.setCurrentRow(0)
    dialog.remove_selected()
    assert [p.name for p in dialog.queued()] == ["photo1.png"]
    dialog.close()


def test_cancelling_shows_at_once_and_stays_until_the_batch_stops(qtbot, window, tmp_path):
    with_recipe_layer(window, SLOW)
    dialog = open_dialog(window, tmp_path, photos(tmp_path / "photos", [(64, 64)] * 6))
    seen: list[str] = []
    dialog.bridge.event.connect(lambda _event: seen.append(dialog.current_label.text()))  # after the dialog's slot
    dialog.start()
    qtbot.waitUntil(lambda: any(text.startswith("Item") for text in seen), timeout=60_000)
    dialog.cancel()
    assert dialog.cancel_button.text() == "Cancelling…" and not dialog.cancel_button.isEnabled()
    assert dialog.current_label.text().startswith("Cancelling")
    seen.clear()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60_000)
    assert seen and all(text.startswith("Cancelling") for text in seen)
    assert dialog.current_label.text() == "Cancelled" and dialog.cancel_button.text() == "Cancel"
    dialog.close()
