"""The GAN breeding panel in the real main window, with a tiny random style-based generator "trained here": children
to choose from, crossbreeding, level mixing, gene sliders, undo, the lineage kept in the project, and a layer whose
recipe re-renders the current image."""

import dataclasses
from importlib.metadata import EntryPoint
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from PySide6.QtCore import Qt
from studio_plugins.gan_breeding.engine import fit, run
from studio_plugins.gan_breeding.generators import from_store
from studio_plugins.gan_breeding.lineage import recipe_for, render_recipe
from studio_plugins.gan_breeding.models import weights_bytes
from studio_plugins.gan_breeding.params import BreedParams
from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator

from studio.core.image import to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import TRAINED, ModelStore
from studio.core.params import make_params
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLUGINS = [EntryPoint("gan_breeding", "studio_plugins.gan_breeding:MANIFEST", ENTRY_POINT_GROUP)]
JOB_TIMEOUT_MS = 60_000
TINY = "tiny_gan"
SIZE = 48


@pytest.fixture
def window(open_window, tmp_path):
    """The window with a 48 px picture open and a tiny style-based generator (32 px, so it has middle styles)
    trained from rules_gan64 in its store."""
    window = open_window(discover_plugins(PLUGINS), size=(1200, 900), settings={"outputs/folder": str(tmp_path)})
    torch.manual_seed(0)
    config = GeneratorConfig(resolution=32, z_dim=8, w_dim=8, mapping_layers=1, channels=8, fine_channels=4)
    store = window.store
    spec = dataclasses.replace(store.specs["rules_gan64"], id=TINY, title="Tiny", base="rules_gan64")
    store.register_trained(spec, weights_bytes(StyleGenerator(config)))
    picture = tmp_path / "picture.png"
    Image.fromarray(np.full((SIZE, SIZE, 3), 90, np.uint8)).save(picture)
    assert window.open_path(picture)
    return window


@pytest.fixture
def panel(window):
    panel = window.panels["gan_breeding"].params_widget
    panel.set_values({"generator": TINY, "seed": 7})
    return panel


def finish(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.job is None, timeout=JOB_TIMEOUT_MS)
    assert window.panels["gan_breeding"].error_text() == ""


def breed_child(qtbot, window, panel, cell: int = 0):
    """Breed a grid of children around the current image and make the cell ``cell`` current."""
    panel.children_button.click()
    finish(qtbot, window)
    qtbot.mouseClick(panel.grid.cells[cell], Qt.MouseButton.LeftButton)
    return panel.current


def test_a_generator_trained_by_another_process_is_offered_at_once(window, panel, qtbot):
    other = ModelStore(window.store.root, specs=window.store.specs)  # `studio train gan` in a terminal, say
    spec = dataclasses.replace(other.specs[TINY], id="tiny_gan-elsewhere", base="rules_gan64")
    other.register_trained(spec, (other.root / TRAINED / f"{TINY}.safetensors").read_bytes())
    offered = lambda: [panel.generator_box.itemText(i) for i in range(panel.generator_box.count())]  # noqa: E731
    qtbot.waitUntil(lambda: "tiny_gan-elsewhere" in offered(), timeout=5000)
    assert panel.model_id() == TINY, "the chosen generator stays chosen"


def test_breeding_with_no_document_open_says_to_open_or_make_one(open_window, tmp_path):
    window = open_window(discover_plugins(PLUGINS), settings={"outputs/folder": str(tmp_path)})
    plugin = window.panels["gan_breeding"]
    plugin.params_widget.children_button.click()
    assert window.job is None and plugin.error_text().startswith("Open a picture or make a new one first")


def test_the_missing_model_banner_counts_a_trained_generator_as_one_the_plugin_can_use(window, qtbot):
    banner = window.banners["gan_breeding"]
    qtbot.waitUntil(banner.isHidden, timeout=5000)  # TINY, trained from rules_gan64, is installed
    ModelStore(window.store.root, specs=window.store.specs).remove(TINY)
    qtbot.waitUntil(lambda: not banner.isHidden(), timeout=5000)
    assert banner.label.text().startswith("This plugin needs one of these models, and none is installed: DCGAN faces")


def test_a_grid_of_children_and_a_click_makes_one_the_parent(window, panel, qtbot):
    assert TINY in [panel.generator_box.itemText(i) for i in range(panel.generator_box.count())]
    panel.side.setValue(4)
    panel.mutation.setValue(0.5)
    panel.children_button.click()
    finish(qtbot, window)
    sample = panel.current
    assert sample.operation == "sample" and sample.params == {"seed": 7} and len(panel.lineage) == 1
    cells = panel.grid.cells
    assert len(cells) == 16 and [c.isChecked() for c in cells].count(True) == 1, "15 children around the parent"
    assert cells[10].isChecked(), "the parent is the middle cell (below right for an even side)"
    qtbot.mouseClick(cells[10], Qt.MouseButton.LeftButton)
    assert panel.current is sample and cells[10].isChecked(), "the parent is no child to choose"

    qtbot.mouseClick(cells[0], Qt.MouseButton.LeftButton)
    child = panel.current
    assert child.operation == "child" and child.parents == (sample.id,) and child.params["mutation"] == 0.5
    assert child.generator == from_store(window.store, TINY).hash and len(panel.lineage) == 2
    assert not panel.grid.cells, "the grid is used up"
    assert np.abs(panel.pictures[child.id].astype(int) - panel.pictures[sample.id]).mean() > 1
    top = panel.tree.topLevelItem(0)
    assert panel.tree.topLevelItemCount() == 1 and top.child(0).data(0, Qt.ItemDataRole.UserRole) == child.id
    assert window.doc.plugin_data["gan_breeding"]["current"] == child.id


def test_a_crossbreed_with_all_weight_on_one_parent_reproduces_it_and_a_blend_is_new(window, panel, qtbot):
    first = breed_child(qtbot, window, panel)
    panel.favourite_button.click()
    assert panel.current.favourite and panel.favourite_button.isChecked()
    second = breed_child(qtbot, window, panel, cell=1)
    panel.favourite_button.click()
    weights = {panel.parent_table.item(row, 0).text(): panel.parent_table.cellWidget(row, 1) for row in range(2)}
    assert list(weights) == ["2. child ★", "3. child ★"], "the favourites (the current image among them)"
    weights["2. child ★"].setValue(1.0)
    weights["3. child ★"].setValue(0.0)
    panel.crossbreed_button.click()
    copy = panel.current
    assert copy.operation == "crossbreed" and copy.parents == (first.id,)
    assert np.array_equal(copy.ws, first.ws), "the parent's own styles"
    difference = np.abs(panel.pictures[copy.id].astype(int) - panel.pictures[first.id])
    assert difference.max() <= 1, "its picture (the parent's was rendered in a batch of children)"

    weights = [panel.parent_table.cellWidget(row, 1) for row in range(panel.parent_table.rowCount())]
    assert panel.parent_table.item(2, 0).text() == "4. crossbreed", "the current image is offered too"
    for weight, value in zip(weights, (0.5, 0.5, 0.0), strict=True):
        weight.setValue(value)
    panel.crossbreed_button.click()
    blend = panel.current
    assert set(blend.parents) == {first.id, second.id} and blend.params["weights"] == [0.5, 0.5]
    assert not np.array_equal(panel.pictures[blend.id], panel.pictures[first.id])
    assert np.array_equal(render_recipe(from_store(window.store, TINY), recipe_for(blend)), panel.pictures[blend.id])


def test_levels_mix_from_the_chosen_parents_and_the_mixing_grid_pairs_them(window, panel, qtbot):
    first = breed_child(qtbot, window, panel)
    panel.favourite_button.click()
    second = breed_child(qtbot, window, panel, cell=2)
    panel.favourite_button.click()
    assert panel.levels_box.isVisibleTo(panel), "the style generator mixes by level"
    for level, node in (("coarse", first), ("middle", second), ("fine", second)):
        box = panel.level_boxes[level]
        box.setCurrentIndex(box.findData(node.id))
    panel.mix_button.click()
    mixed = panel.current
    generator = from_store(window.store, TINY)
    coarse = generator.levels["coarse"]
    assert mixed.operation == "mix" and mixed.params == {"coarse": first.id, "middle": second.id, "fine": second.id}
    np.testing.assert_array_equal(mixed.ws[coarse], first.ws[coarse])
    np.testing.assert_array_equal(mixed.ws[coarse.stop :], second.ws[coarse.stop :])

    panel.mixing_grid_button.click()
    finish(qtbot, window)
    assert len(panel.grid.cells) == 9, "three parents with a weight: the two favourites and the mix"
    assert "Mixing grid" in panel.grid_caption.text()
    qtbot.mouseClick(panel.grid.cells[1], Qt.MouseButton.LeftButton)
    cell = panel.current
    assert cell.operation == "mix" and cell.params["coarse"] == first.id and cell.params["fine"] == second.id


def test_undo_goes_back_to_the_previous_image_and_takes_back_a_gene_edit(window, panel, qtbot):
    assert not panel.undo_button.isEnabled()
    first = breed_child(qtbot, window, panel)
    sample = panel.lineage.get(first.parents[0])
    second = breed_child(qtbot, window, panel, cell=3)
    panel.undo_button.click()
    assert panel.current.id == first.id
    panel.undo_button.click()
    assert panel.current.id == sample.id and not panel.undo_button.isEnabled()
    assert second.id in panel.lineage, "undo moves back, the lineage keeps every image"

    panel.gene_sliders[0].setValue(150)
    qtbot.waitUntil(lambda: panel.edited() is not None and panel.edit_picture is not None, timeout=5000)
    panel.undo_button.click()
    assert panel.current.id == sample.id and panel.gene_sliders[0].value() == 0 and panel.edited() is None


def test_a_gene_slider_edits_the_current_image_live_and_becomes_a_node_when_bred_on(window, panel, qtbot):
    panel.sample_button.click()
    finish(qtbot, window)
    sample = panel.current
    assert len(panel.gene_sliders) == 6
    shown = panel.picture.pixmap().toImage()
    panel.gene_sliders[0].setValue(200)
    qtbot.waitUntil(lambda: panel.picture.pixmap().toImage() != shown, timeout=5000)
    assert not np.array_equal(panel.edit_picture, panel.pictures[sample.id])
    panel.favourite_button.click()
    edited = panel.current
    assert edited.operation == "genes" and edited.parents == (sample.id,) and edited.favourite
    assert edited.params["amounts"] == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert np.array_equal(render_recipe(from_store(window.store, TINY), recipe_for(edited)), panel.pictures[edited.id])
    assert panel.gene_sliders[0].value() == 0, "the sliders edit the new current image"


def test_the_lineage_survives_saving_and_reopening_and_a_reopened_image_breeds_again(window, panel, qtbot, tmp_path):
    child = breed_child(qtbot, window, panel)
    panel.favourite_button.click()
    sample_id = child.parents[0]
    project = tmp_path / "bred.studio"
    assert window.save_project_to(project)
    assert window.open_path(tmp_path / "picture.png")
    assert len(panel.lineage) == 0 and panel.tree.topLevelItemCount() == 0 and panel.current is None

    assert window.open_path(project)
    assert [n.id for n in panel.lineage] == [sample_id, child.id]
    assert panel.current.id == child.id and panel.current.favourite
    np.testing.assert_array_equal(panel.lineage.get(child.id).ws, child.ws)
    assert window.doc.history.is_clean, "showing the lineage does not change the project"

    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    panel.reopen_button.click()
    assert panel.current.id == sample_id
    grandchild = breed_child(qtbot, window, panel, cell=5)
    assert grandchild.parents == (sample_id,) and len(panel.lineage) == 3


def test_to_canvas_adds_a_layer_whose_recipe_re_renders_the_same_pixels(window, panel, qtbot):
    child = breed_child(qtbot, window, panel)
    doc = window.doc
    panel.canvas_button.click()
    finish(qtbot, window)
    layer = doc.layers[-1]
    assert len(doc.layers) == 2 and layer.recipe.plugin_id == "gan_breeding"
    assert layer.recipe.seed == child.noise_seed and layer.recipe.params["generator"] == TINY
    # The grid's cell was rendered in a batch of children, to 8 bits and resized to the cell; the layer alone, to
    # 16 bits: rounding each way and the resize leave a level here and there, rarely two (seen once in a CI run).
    grid_picture = fit(panel.pictures[child.id], (SIZE, SIZE))
    difference = np.abs(to_uint8(layer.pixels).astype(int) - grid_picture)
    assert difference.max() <= 2 and difference.mean() < 0.5

    window.rerender_layer(layer.id, SIZE)
    finish(qtbot, window)
    assert len(doc.layers) == 3
    np.testing.assert_array_equal(doc.layers[-1].pixels, layer.pixels)


def test_cancelling_a_grid_leaves_the_document_untouched_and_the_faces_show_their_notice(window, panel, qtbot):
    panel.children_button.click()
    assert window.job is not None
    window.cancel_job()
    qtbot.wait(200)
    assert "gan_breeding" not in window.doc.plugin_data and window.doc.history.is_clean
    assert not panel.grid.cells and panel.current is None

    assert not panel.notice.isVisibleTo(panel)
    panel.set_values({"generator": "dcgan_faces64"})
    assert "research" in panel.notice.text() and panel.notice.isVisibleTo(panel)
    assert "not installed" in panel.notice.text()


def test_a_damaged_lineage_in_a_project_is_reported_and_kept_until_breeding(window, panel, qtbot):
    damaged = {"lineage": {"format": "studio-gan-lineage", "version": 1, "nodes": [{"id": "x"}]}, "current": ""}
    window.doc.set_plugin_data("gan_breeding", damaged)
    panel.open_document(window.doc)
    assert "the breeding lineage is damaged (nodes[0]" in panel.status.text() and panel.status.isVisibleTo(panel)
    assert len(panel.lineage) == 0 and window.doc.plugin_data["gan_breeding"] == damaged
    panel.sample_button.click()
    finish(qtbot, window)
    assert window.doc.plugin_data["gan_breeding"]["current"] == panel.current.id and not panel.status.text()


def favourites(qtbot, window, panel, count: int):
    """``count`` children, each bred from the one before and marked a favourite."""
    bred = []
    for cell in range(count):
        breed_child(qtbot, window, panel, cell=cell)
        panel.favourite_button.click()
        bred.append(panel.current)
    return bred


def walk_files(tmp_path) -> dict[str, Path]:
    (folder,) = tmp_path.glob("* – GAN breeding */walk")
    return {path.name: path for path in folder.iterdir()}


def frames_of(files: dict[str, Path]) -> list[np.ndarray]:
    names = sorted(name for name in files if name.startswith("frame-"))
    return [np.asarray(Image.open(files[name])) for name in names]


def test_a_walk_from_the_current_image_to_a_favourite_writes_its_frames_and_animations(window, panel, qtbot, tmp_path):
    (favourite,) = favourites(qtbot, window, panel, 1)
    current = breed_child(qtbot, window, panel, cell=5)
    source = window.doc
    assert panel.walk_target.currentData() == favourite.id, "the favourites come first and one is offered"
    assert panel.walk_target.currentText().endswith("★") and panel.walk_target.isVisibleTo(panel)
    panel.walk_frames.setValue(5)
    panel.walk_fps.setValue(5)
    panel.walk_easing.setCurrentIndex(panel.walk_easing.findData("ease-in-out"))
    panel.walk_button.click()
    finish(qtbot, window)

    files = walk_files(tmp_path)
    assert {"walk.gif", "walk.webp", "walk.mp4"} <= set(files)
    frames = frames_of(files)
    assert len(frames) == 5
    assert_same_picture(frames[0], fit(panel_picture(panel, current), (SIZE, SIZE)))
    assert_same_picture(frames[-1], fit(panel_picture(panel, favourite), (SIZE, SIZE)))
    with Image.open(files["walk.gif"]) as gif:  # equal frames merge, keeping their time
        assert sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif)) == 5 * 200
    capture = cv2.VideoCapture(str(files["walk.mp4"]))
    try:
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 5 and capture.get(cv2.CAP_PROP_FPS) == 5
    finally:
        capture.release()

    strip = window.doc
    assert strip is not source and (strip.width, strip.height) == (5 * 33 + 1, 34), "the strip opens as a picture"
    layer = source.layers[-1]
    assert len(source.layers) == 2 and layer.recipe.params["mode"] == "walk" and layer.recipe.params["walk_steps"] == 5
    ctx = RunContext(device="cpu", models=window.store)
    again = drive(run(make_params(BreedParams, layer.recipe.params), Inputs(SIZE, SIZE), ctx), ctx)
    rendered = [output.image for output in again.outputs if output.name.startswith("walk/frame-")]
    assert len(rendered) == 5, "the layer's recipe renders the walk again"
    for picture, frame in zip(rendered, frames, strict=True):
        assert_same_picture(picture, frame)


def test_a_loop_through_three_favourites_returns_to_the_first(window, panel, qtbot, tmp_path):
    bred = favourites(qtbot, window, panel, 3)
    panel.walk_kind.setCurrentIndex(panel.walk_kind.findData("loop"))
    assert not panel.walk_target.isVisibleTo(panel) and panel.walk_form.labelForField(panel.walk_frames).text() == (
        "Frames each"
    )
    panel.walk_frames.setValue(3)
    panel.walk_button.click()
    finish(qtbot, window)

    frames = frames_of(walk_files(tmp_path))
    assert len(frames) == 9
    pictures = [fit(panel_picture(panel, node), (SIZE, SIZE)) for node in bred]
    for index, picture in zip((0, 3, 6), pictures, strict=True):
        assert_same_picture(frames[index], picture)
    first = pictures[0].astype(int)
    assert np.abs(frames[-1] - first).mean() < np.abs(frames[6] - first).mean(), "the last leg goes back to the first"


def test_cancelling_a_walk_leaves_the_document_untouched(window, panel, qtbot):
    favourites(qtbot, window, panel, 1)
    breed_child(qtbot, window, panel, cell=2)
    doc = window.doc
    layers, steps = len(doc.layers), doc.history.texts()
    panel.walk_frames.setValue(240)
    panel.walk_button.click()
    assert window.job is not None
    window.cancel_job()
    qtbot.wait(300)
    assert window.doc is doc and len(doc.layers) == layers and doc.history.texts() == steps


def test_a_loop_needs_two_favourites(window, panel, qtbot):
    favourites(qtbot, window, panel, 1)
    panel.walk_kind.setCurrentIndex(panel.walk_kind.findData("loop"))
    panel.walk_button.click()
    assert window.job is None and "two or more images" in panel.status.text()


def panel_picture(panel, node) -> np.ndarray:
    return panel.pictures[node.id]


def assert_same_picture(frame: np.ndarray, picture: np.ndarray) -> None:
    """Equal but for rounding: a batch of another size may round a pixel the other way."""
    assert frame.shape == picture.shape and np.abs(frame.astype(int) - picture).max() <= 1
