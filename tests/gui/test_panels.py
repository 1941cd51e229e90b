"""Parameter panels, the plugin panel, the layers and history docks, and numpy -> QImage."""

import enum
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Literal

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QStyle,
    QStyleOptionViewItem,
    QToolButton,
    QWidget,
)

from studio.core.document import Document, Layer, LayerKind, Recipe
from studio.core.history import AddLayer
from studio.core.params import Param, ParamError
from studio.core.plugin import PluginManifest, discover_plugins
from studio.qt import docks
from studio.qt.convert import numpy_to_qimage, qimage_to_numpy
from studio.qt.docks import HistoryPanel, LayersPanel, layer_thumbnail
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ParamsPanel, PluginPanel


class Blend(enum.Enum):
    NORMAL = "normal"
    MULTIPLY = "multiply"


@dataclass
class Demo:
    steps: Annotated[int, Param("How many steps to run", min=1, max=50)] = 10
    strength: Annotated[float, Param("Strength of the effect", min=0.0, max=2.0, step=0.05)] = 0.5
    tile: Annotated[bool, Param("Tile seamlessly")] = False
    style: Annotated[Literal["mondrian", "flow_field", "ridge"], Param("Which drawing style")] = "flow_field"
    ink: Annotated[str, Param("Ink colour", widget="color")] = "#112233"
    title: Annotated[str, Param("A title written in the corner")] = "untitled"
    seed: Annotated[int, Param("Random seed", min=0, max=1000, role="seed")] = 7
    size: Annotated[int, Param("Brush size", min=1, max=64, widget="slider")] = 8
    blend: Annotated[Blend, Param("Blend mode")] = Blend.NORMAL


DEFAULTS = {
    "steps": 10,
    "strength": 0.5,
    "tile": False,
    "style": "flow_field",
    "ink": "#112233",
    "title": "untitled",
    "seed": 7,
    "size": 8,
    "blend": Blend.NORMAL,
}

HELP = {
    "steps": "How many steps to run",
    "strength": "Strength of the effect",
    "tile": "Tile seamlessly",
    "style": "Which drawing style",
    "ink": "Ink colour",
    "title": "A title written in the corner",
    "seed": "Random seed",
    "size": "Brush size",
    "blend": "Blend mode",
}


class CustomPanel(ParamsPanel):
    """A plugin's own panel: the generated form plus its own checks, made with the host."""

    fail = False

    def __init__(self, host: PanelHost) -> None:
        super().__init__(Demo)
        self.host = host

    def params(self) -> Demo:
        if CustomPanel.fail:
            raise ParamError("steps: 0 is out of range; use a value from 1 to 50")
        return Demo(steps=3)


class NotAPanel(QWidget):
    """Duck-typed like a panel, but not a ParamsPanel: refused."""

    def __init__(self, host: PanelHost) -> None:
        super().__init__()

    def params(self) -> Demo:
        return Demo()


def plugin_panel(manifest: PluginManifest) -> PluginPanel:
    """A PluginPanel with a host on no window (these tests never run a job)."""
    return PluginPanel(manifest, PanelHost(manifest, SimpleNamespace(doc=None)))


def manifest(panel: str | None = None) -> PluginManifest:
    return PluginManifest(
        id="demo",
        title="Demo",
        params=f"{__name__}:Demo",
        engine=f"{__name__}:Demo",
        panel=panel,
        description="Draws a demo picture from simple rules.",
    )


@pytest.fixture
def params_panel(qtbot):
    panel = ParamsPanel(Demo)
    qtbot.addWidget(panel)
    return panel


# ParamsPanel


def test_params_panel_shows_defaults(params_panel):
    p = params_panel
    assert p.editor("steps").value() == 10
    assert p.editor("strength").value() == pytest.approx(0.5)
    assert p.editor("tile").isChecked() is False
    assert p.editor("style").currentText() == "flow field"
    assert [p.editor("style").itemText(i) for i in range(3)] == ["mondrian", "flow field", "ridge"]
    assert p.editor("ink").color() == "#112233"
    assert p.editor("ink").text() == "#112233"
    assert p.editor("title").text() == "untitled"
    assert p.editor("seed").value() == 7
    assert p.editor("size").value() == 8
    assert p.editor("blend").currentText() == "normal"
    assert p.values() == DEFAULTS
    assert p.label("steps").text() == "Steps"
    assert p.form.rowCount() == len(DEFAULTS)


def test_editor_types(params_panel):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox
    from superqt import QLabeledSlider

    p = params_panel
    assert type(p.editor("steps")) is QSpinBox
    assert type(p.editor("strength")) is QDoubleSpinBox
    assert type(p.editor("tile")) is QCheckBox
    assert type(p.editor("style")) is QComboBox
    assert type(p.editor("blend")) is QComboBox
    assert type(p.editor("title")) is QLineEdit
    assert isinstance(p.editor("size"), QLabeledSlider)
    assert p.editor("strength").singleStep() == pytest.approx(0.05)
    assert p.editor("strength").decimals() == 2


def test_tooltips_are_help_text(params_panel):
    for name, text in HELP.items():
        assert params_panel.label(name).toolTip() == text
        assert params_panel.editor(name).toolTip() == text


def test_editing_changes_values_and_emits_changed(qtbot, params_panel):
    spin = params_panel.editor("steps")
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        spin.setValue(20)
    assert params_panel.values()["steps"] == 20
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert params_panel.values()["steps"] == 21
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        params_panel.editor("style").setCurrentIndex(2)
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        params_panel.editor("tile").setChecked(True)
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        params_panel.editor("blend").setCurrentIndex(1)
    values = params_panel.values()
    assert (values["style"], values["tile"], values["blend"]) == ("ridge", True, Blend.MULTIPLY)


def test_bounds_are_enforced_by_the_widgets(params_panel):
    steps = params_panel.editor("steps")
    assert (steps.minimum(), steps.maximum()) == (1, 50)
    steps.setValue(999)
    assert params_panel.values()["steps"] == 50
    steps.setValue(-5)
    assert params_panel.values()["steps"] == 1
    strength = params_panel.editor("strength")
    strength.setValue(7.5)
    assert params_panel.values()["strength"] == pytest.approx(2.0)
    size = params_panel.editor("size")
    size.setValue(500)
    assert params_panel.values()["size"] == 64


def test_unbounded_int_gets_a_wide_range(qtbot):
    @dataclass
    class Free:
        count: int = 3

    panel = ParamsPanel(Free)
    qtbot.addWidget(panel)
    spin = panel.editor("count")
    assert spin.minimum() <= -1_000_000 and spin.maximum() >= 1_000_000
    spin.setValue(123456)
    assert panel.params() == Free(count=123456)


def test_params_returns_an_instance(params_panel):
    params_panel.editor("steps").setValue(33)
    params_panel.editor("strength").setValue(1.25)
    params_panel.editor("title").setText("Poster")
    params_panel.editor("blend").setCurrentIndex(1)
    params = params_panel.params()
    assert isinstance(params, Demo)
    assert params == Demo(steps=33, strength=1.25, title="Poster", blend=Blend.MULTIPLY)


def test_set_values_set_params_and_reset(qtbot, params_panel):
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        params_panel.set_values({"steps": "12", "style": "ridge", "blend": "multiply", "ink": "#FF0000"})
    assert params_panel.params() == Demo(steps=12, style="ridge", blend=Blend.MULTIPLY, ink="#ff0000")
    with pytest.raises(ParamError, match="steps"):
        params_panel.set_values({"title": "kept?", "steps": 500})
    assert params_panel.values()["title"] == "untitled"  # nothing applied when one value is rejected
    with pytest.raises(ParamError, match="unknown parameter 'nope'"):
        params_panel.set_values({"nope": 1})
    params_panel.set_params(Demo(seed=99, tile=True))
    assert params_panel.values() == {**DEFAULTS, "seed": 99, "tile": True}
    params_panel.editor("steps").setValue(40)
    params_panel.reset()
    assert params_panel.values() == DEFAULTS


@pytest.mark.parametrize("value", [float("nan"), "nan", float("inf"), "-inf"])
def test_set_values_refuses_a_value_that_is_not_finite(params_panel, value):
    with pytest.raises(ParamError, match=r"strength: .* is not a finite number; use a value from 0 to 2"):
        params_panel.set_values({"strength": value})
    assert params_panel.values() == DEFAULTS


def test_set_values_emits_changed_once(qtbot, params_panel):
    count = []
    params_panel.changed.connect(lambda: count.append(1))
    params_panel.set_values({"steps": 11, "seed": 3, "title": "x"})
    assert len(count) == 1
    params_panel.set_values({"steps": 11})  # no difference: no signal
    assert len(count) == 1


def test_random_seed_button(qtbot, params_panel, monkeypatch):
    from PySide6.QtWidgets import QToolButton

    buttons = [b for b in params_panel.findChildren(QToolButton) if b.text() == "Random"]
    assert len(buttons) == 1
    monkeypatch.setattr("random.randint", lambda low, high: high - 1)
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert params_panel.values()["seed"] == 999


def test_colour_button_uses_the_dialog(qtbot, params_panel, monkeypatch):
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args, **kwargs: QColor("#00ff80")))
    button = params_panel.editor("ink")
    with qtbot.waitSignal(params_panel.changed, timeout=1000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert params_panel.values()["ink"] == "#00ff80"
    assert button.text() == "#00ff80"
    swatch = button.icon().pixmap(button.iconSize()).toImage()
    assert swatch.pixelColor(swatch.width() // 2, swatch.height() // 2).name() == "#00ff80"
    # a cancelled dialog keeps the colour
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args, **kwargs: QColor()))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert params_panel.values()["ink"] == "#00ff80"


@dataclass
class WithFiles:
    styles: Annotated[str, Param("Style images", widget="files")] = ""
    guide: Annotated[str, Param("Guide image", widget="file")] = ""


def test_file_editors_fill_the_line_from_the_dialog(qtbot, monkeypatch, tmp_path):
    panel = ParamsPanel(WithFiles)
    qtbot.addWidget(panel)
    chosen = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *args, **kwargs: (chosen, "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (chosen[1], "")))
    buttons = {name: panel.editor(name).parent().findChild(QToolButton) for name in ("styles", "guide")}
    with qtbot.waitSignal(panel.changed, timeout=1000):
        qtbot.mouseClick(buttons["styles"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(buttons["guide"], Qt.MouseButton.LeftButton)
    assert panel.values() == {"styles": ", ".join(chosen), "guide": chosen[1]}
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: ("", "")))
    qtbot.mouseClick(buttons["guide"], Qt.MouseButton.LeftButton)  # a cancelled dialog keeps the path
    assert panel.params().guide == chosen[1]


# PluginPanel


def test_plugin_panel_runs_with_params(qtbot):
    panel = plugin_panel(manifest())
    qtbot.addWidget(panel)
    panel.show()
    assert panel.description.text() == "Draws a demo picture from simple rules."
    assert panel.description.wordWrap()
    assert isinstance(panel.params_widget, ParamsPanel)
    assert panel.scroll_area.widget().isAncestorOf(panel.params_widget)
    assert panel.run_button.isDefault()
    panel.params_widget.editor("steps").setValue(42)
    with qtbot.waitSignal(panel.run_requested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [Demo(steps=42)]


def test_plugin_panel_cancel_and_running_state(qtbot):
    panel = plugin_panel(manifest())
    qtbot.addWidget(panel)
    panel.show()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.set_running(True)
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.cancel_requested, timeout=1000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    panel.set_running(False)
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_plugin_panel_errors_and_reset(qtbot):
    panel = plugin_panel(manifest())
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.error_label.isVisible()
    panel.show_error("The model file is damaged")
    assert panel.error_label.isVisible()
    assert panel.error_label.text() == "The model file is damaged"
    assert panel.error_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    panel.clear_error()
    assert not panel.error_label.isVisible()
    panel.params_widget.editor("steps").setValue(30)
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert panel.params() == Demo()


def test_custom_panel_and_param_error(qtbot, monkeypatch):
    panel = plugin_panel(manifest(panel=f"{__name__}:CustomPanel"))
    qtbot.addWidget(panel)
    panel.show()
    assert isinstance(panel.params_widget, CustomPanel) and panel.params_widget.host is panel.host
    with qtbot.waitSignal(panel.run_requested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [Demo(steps=3)]
    monkeypatch.setattr(CustomPanel, "fail", True)
    emitted = []
    panel.run_requested.connect(emitted.append)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert emitted == []
    assert panel.error_label.isVisible()
    assert "out of range" in panel.error_label.text()
    monkeypatch.setattr(CustomPanel, "fail", False)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert len(emitted) == 1 and not panel.error_label.isVisible()


def test_a_panel_that_is_not_a_params_panel_is_refused(qtbot):
    with pytest.raises(TypeError, match="not a ParamsPanel subclass"):
        plugin_panel(manifest(panel=f"{__name__}:NotAPanel"))


# LayersPanel


def solid(width, height, rgba):
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[...] = rgba
    return pixels


@pytest.fixture
def doc():
    return Document.from_pixels(solid(16, 12, (255, 0, 0, 255)), layer_name="Background")


@pytest.fixture
def layers(qtbot, doc):
    panel = LayersPanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    panel.resize(300, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def row_names(panel):
    return [panel.list.item(r).text() for r in range(panel.list.count())]


def test_new_layer_button_adds_a_row_and_undoes(qtbot, layers, doc):
    assert row_names(layers) == ["Background"]
    with qtbot.waitSignal(layers.active_changed, timeout=1000) as blocker:
        qtbot.mouseClick(layers.new_layer_button, Qt.MouseButton.LeftButton)
    assert row_names(layers) == ["Layer", "Background"]
    assert doc.layers[-1].name == "Layer" and doc.layers[-1].kind is LayerKind.RASTER
    assert blocker.args == [doc.layers[-1].id]
    assert layers.list.currentRow() == 0
    assert doc.history.texts() == ["New layer"]
    qtbot.mouseClick(layers.new_mask_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(layers.new_labels_button, Qt.MouseButton.LeftButton)
    assert [la.kind for la in doc.layers] == [LayerKind.RASTER, LayerKind.RASTER, LayerKind.MASK, LayerKind.LABELS]
    assert row_names(layers) == ["Labels", "Mask", "Layer", "Background"]
    doc.history.undo()
    doc.history.undo()
    doc.history.undo()
    assert row_names(layers) == ["Background"]
    assert len(doc.layers) == 1


def test_rows_are_top_most_first(layers, doc):
    for name in ("one", "two", "three"):
        doc.history.push(AddLayer("add", Layer(name, LayerKind.RASTER, solid(16, 12, (0, 0, 0, 0)))))
    assert row_names(layers) == ["three", "two", "one", "Background"]
    assert [layers.layer_id_at(r) for r in range(4)] == [la.id for la in reversed(doc.layers)]
    layers.list.setCurrentRow(1)  # "two"
    assert doc.active_layer.name == "two"
    layers.up_button.click()
    assert row_names(layers) == ["two", "three", "one", "Background"]
    assert not layers.up_button.isEnabled()
    layers.down_button.click()
    layers.down_button.click()
    assert row_names(layers) == ["three", "one", "two", "Background"]
    doc.history.undo()
    assert row_names(layers) == ["three", "two", "one", "Background"]


def test_selecting_a_row_sets_the_active_layer(qtbot, layers, doc):
    top = Layer("top", LayerKind.MASK, np.zeros((12, 16), np.uint8))
    doc.history.push(AddLayer("add", top))
    assert doc.active_id == top.id
    background = doc.layers[0]
    rect = layers.list.visualItemRect(layers.list.item(1))
    with qtbot.waitSignal(layers.active_changed, timeout=1000) as blocker:
        qtbot.mouseClick(layers.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [background.id]
    assert doc.active_id == background.id


def test_visibility_checkbox_is_not_an_undo_step(qtbot, layers, doc):
    layer = doc.layers[0]
    item = layers.list.item(0)
    view = layers.list
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualItemRect(item)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    check = view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, view)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=check.center())
    assert layer.visible is False
    assert doc.history.texts() == [] and not doc.history.is_clean
    assert item.checkState() == Qt.CheckState.Unchecked
    item.setCheckState(Qt.CheckState.Checked)  # the model path the checkbox takes
    assert layer.visible is True
    assert doc.history.texts() == []


def test_opacity_slider_merges_into_one_undo_step(layers, doc):
    layer = doc.layers[0]
    assert layers.opacity_slider.value() == 100
    for value in (80, 60, 45, 30):
        layers.opacity_slider.setValue(value)
    assert layer.opacity == pytest.approx(0.30)
    assert doc.history.texts() == ["Layer opacity"]
    assert layers.opacity_value.text() == "30 %"
    doc.history.undo()
    assert layer.opacity == pytest.approx(1.0)
    assert layers.opacity_slider.value() == 100
    assert doc.history.texts() == ["Layer opacity"]  # undone, not removed
    assert not doc.history.can_undo


def test_delete_and_undo_restores(qtbot, layers, doc):
    keep = Layer("keep", LayerKind.RASTER, solid(16, 12, (0, 255, 0, 255)))
    doc.history.push(AddLayer("add", keep))
    background = doc.layers[0]
    layers.list.setCurrentRow(1)
    assert doc.active_id == background.id
    qtbot.mouseClick(layers.delete_button, Qt.MouseButton.LeftButton)
    assert row_names(layers) == ["keep"]
    assert doc.layers == [keep]
    doc.history.undo()
    assert row_names(layers) == ["keep", "Background"]
    assert doc.layers[0] is background
    assert (background.pixels[0, 0] == (255, 0, 0, 255)).all()


def test_duplicate_copies_pixels_and_recipe(layers, doc):
    source = doc.layers[0]
    source.recipe = Recipe("generative", {"style": "mondrian"}, seed=5)
    layers.refresh()
    layers.duplicate_button.click()
    copy = doc.layers[1]
    assert row_names(layers) == ["Background copy", "Background"]
    assert copy.image is not source.image and (copy.pixels == source.pixels).all()
    before = source.pixels
    copy.write(0, 0, solid(2, 2, (1, 2, 3, 4)))
    assert (source.pixels == before).all(), "painting the copy leaves the source as it was"
    assert copy.recipe == source.recipe and copy.recipe is not source.recipe
    tooltip = layers.list.item(0).toolTip()
    assert "generative" in tooltip and "Seed: 5" in tooltip and "style = mondrian" in tooltip
    doc.history.undo()
    assert row_names(layers) == ["Background"]


def test_rename_by_double_click(qtbot, layers, doc):
    view = layers.list
    rect = view.visualItemRect(view.item(0))
    # a real double click is press, release, double-click press, release
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    editor = view.findChild(QLineEdit)
    assert editor is not None
    assert editor.text() == "Background"
    editor.selectAll()
    qtbot.keyClicks(editor, "Sky")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: doc.layers[0].name == "Sky", timeout=1000)  # Qt commits on a queued call
    assert row_names(layers) == ["Sky"]
    assert doc.history.texts() == ["Rename layer"]
    doc.history.undo()
    assert row_names(layers) == ["Background"]


def test_thumbnails_follow_pixels_throttled(qtbot, layers, doc, monkeypatch):
    calls = []
    original = docks.layer_thumbnail
    monkeypatch.setattr(docks, "layer_thumbnail", lambda *a, **k: calls.append(1) or original(*a, **k))
    layer = doc.layers[0]

    def centre_colour():
        image = layers.list.item(0).icon().pixmap(40, 40).toImage()
        return image.pixelColor(image.width() // 2, image.height() // 2).name()

    assert centre_colour() == "#ff0000"
    layer.write(0, 0, solid(layer.width, layer.height, (0, 0, 255, 255)))
    for _ in range(50):
        doc.notify_pixels((0, 0, 4, 4))
    assert calls == []  # nothing redrawn synchronously
    qtbot.waitUntil(lambda: centre_colour() == "#0000ff", timeout=2000)
    assert len(calls) == 1  # fifty events, one redraw


def test_thumbnail_kinds(qtbot):
    mask = Layer("m", LayerKind.MASK, np.full((10, 20), 200, np.uint8))
    image = layer_thumbnail(mask, 40).toImage()
    assert image.pixelColor(20, 20).name() == "#c8c8c8"
    assert image.pixelColor(20, 2).alpha() == 0  # letterboxed: 20x10 fits as 40x20
    labels = Layer("l", LayerKind.LABELS, np.full((10, 10), 1, np.uint8))
    colour = layer_thumbnail(labels, 40).toImage().pixelColor(20, 20)
    assert colour.saturation() > 100
    clear = Layer("c", LayerKind.RASTER, np.zeros((10, 10, 4), np.uint8))
    checker = layer_thumbnail(clear, 40).toImage()
    assert {checker.pixelColor(x, 10).name() for x in range(4, 36)} == {"#cccccc", "#ffffff"}


def test_set_document_disconnects_the_previous_one(layers, doc):
    other = Document.from_pixels(solid(16, 12, (0, 0, 0, 255)), layer_name="Other")
    assert len(doc.layers_changed) == 1 and len(doc.pixels_changed) == 1
    layers.set_document(other)
    assert row_names(layers) == ["Other"]
    assert len(doc.layers_changed) == 0 and len(doc.pixels_changed) == 0
    doc.history.push(AddLayer("add", Layer("late", LayerKind.RASTER, solid(16, 12, (0, 0, 0, 0)))))
    assert row_names(layers) == ["Other"]
    layers.set_document(None)
    assert layers.list.count() == 0
    assert not layers.delete_button.isEnabled()


def none_refs_after(action, times):
    """``sys.getrefcount(None)`` before and after running ``action`` ``times`` times."""
    before = sys.getrefcount(None)
    for _ in range(times):
        action()
    return before, sys.getrefcount(None)


def test_refreshing_the_docks_thousands_of_times_keeps_none_alive(qtbot, layers, doc):
    # PySide6 6.12 (Python 3.11) drops a reference to None for every empty QVariant it returns (an unset
    # item role) and every call that returns nothing: a dock that read roles back from its rows, or set
    # every row on each refresh, lost ~10 per row per refresh and aborted ("Fatal Python error: none_dealloc").
    recipe = Recipe("generative", {"rule": "mondrian"}, seed=1)
    for i in range(60):
        kind = (LayerKind.RASTER, LayerKind.MASK, LayerKind.LABELS)[i % 3]
        pixels = solid(16, 12, (0, 0, 0, 0)) if kind is LayerKind.RASTER else np.zeros((12, 16), np.uint8)
        doc.history.push(AddLayer("add", Layer(f"l{i}", kind, pixels, recipe=recipe if i % 2 else None)))
    doc.history.undo()
    history = HistoryPanel()
    qtbot.addWidget(history)
    history.set_document(doc)
    history.show()

    def refresh():
        layers.refresh()
        history.refresh()
        layers.row_of(doc.layers[0].id)
        layers.layer_id_at(5)
        history.is_undone(60)

    before, after = none_refs_after(refresh, 50)  # first a few: a leak fails here, before it can abort
    assert after >= before - 20, f"None lost {before - after} references in 50 refreshes"
    before, after = none_refs_after(refresh, 5000)
    assert after >= before - 20, f"None lost {before - after} references in 5000 refreshes"
    assert row_names(layers) == [f"l{i}" for i in reversed(range(59))] + ["Background"]
    assert history.is_undone(60) and not history.is_undone(59)


def test_studio_qt_keeps_none_alive_whatever_pyside_loses():
    # Every PySide6 call that returns nothing costs None a reference under Python 3.11: a long session
    # makes millions. Importing studio.qt gives None a reserve no session can spend (3.12 makes it immortal).
    from PySide6.QtCore import QObject

    item = QObject()
    for _ in range(100_000):
        item.setObjectName("x")
    assert sys.getrefcount(None) > 2**32


# HistoryPanel


def test_history_panel_follows_pushes_and_clicks(qtbot, doc):
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    panel.resize(250, 300)
    panel.show()
    qtbot.waitExposed(panel)
    rows = lambda: [panel.list.item(r).text() for r in range(panel.list.count())]  # noqa: E731
    assert rows() == ["New document"]
    layers = LayersPanel()
    qtbot.addWidget(layers)
    layers.set_document(doc)
    layers.new_layer()
    layers.new_layer(LayerKind.MASK)
    layers.opacity_slider.setValue(50)
    assert rows() == ["New document", "New layer", "New mask", "Layer opacity"]
    assert panel.list.currentRow() == 3
    doc.history.undo()
    assert panel.list.currentRow() == 2
    assert panel.is_undone(3) and not panel.is_undone(2)
    assert panel.list.item(3).foreground().color() != panel.list.item(2).foreground().color()

    rect = panel.list.visualItemRect(panel.list.item(0))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert doc.history.index == 0
    assert [la.name for la in doc.layers] == ["Background"]
    assert panel.list.currentRow() == 0
    assert [panel.is_undone(r) for r in range(4)] == [False, True, True, True]

    rect = panel.list.visualItemRect(panel.list.item(2))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert doc.history.index == 2
    assert [la.name for la in doc.layers] == ["Background", "Layer", "Mask"]

    layers.new_layer()  # a new command drops the redo rows
    assert rows() == ["New document", "New layer", "New mask", "New layer"]
    assert panel.list.currentRow() == 3

    panel.set_document(Document(4, 4), initial_text="Open")
    assert rows() == ["Open"]
    assert len(doc.history.changed) == 0


# convert


@pytest.mark.parametrize(
    ("shape", "fmt"),
    [
        ((3, 5, 4), QImage.Format.Format_RGBA8888),
        ((3, 5, 3), QImage.Format.Format_RGB888),
        ((3, 5), QImage.Format.Format_Grayscale8),
    ],
)
def test_numpy_to_qimage_copies(qtbot, shape, fmt):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr[..., 3] = 255
    image = numpy_to_qimage(arr)
    assert image.format() == fmt
    assert (image.width(), image.height()) == (5, 3)
    pixel = arr[1, 2, :3] if arr.ndim == 3 else np.repeat(arr[1, 2], 3)
    expected = tuple(int(v) for v in pixel)  # taken before the array is changed
    before = image.pixelColor(2, 1)
    assert (before.red(), before.green(), before.blue()) == expected
    arr[...] = 0
    del arr
    after = image.pixelColor(2, 1)
    assert (after.red(), after.green(), after.blue()) == expected


def test_numpy_to_qimage_strided_and_round_trip(qtbot):
    arr = np.arange(6 * 8 * 4, dtype=np.uint8).reshape(6, 8, 4)
    view = arr[::2, 1::3]  # not contiguous
    assert (qimage_to_numpy(numpy_to_qimage(view)) == view).all()
    with pytest.raises(ValueError, match="uint8"):
        numpy_to_qimage(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="array"):
        numpy_to_qimage(np.zeros((2, 2, 2), np.uint8))


def test_float_slider_and_int_choices(qtbot):
    @dataclass
    class More:
        mix: Annotated[float, Param("Mix", min=0.0, max=1.0, step=0.01, widget="slider")] = 0.25
        scale: Annotated[Literal[1, 2, 4], Param("Upscale factor")] = 2

    panel = ParamsPanel(More)
    qtbot.addWidget(panel)
    assert panel.values() == {"mix": pytest.approx(0.25), "scale": 2}
    panel.editor("mix").setValue(0.75)
    panel.editor("scale").setCurrentIndex(2)
    assert panel.params() == More(mix=pytest.approx(0.75), scale=4)
    panel.editor("mix").setValue(3.0)
    assert panel.values()["mix"] == pytest.approx(1.0)


# Issue 18, items 7 and 9: only the controls that apply, in the real window


def plugins_window(open_window, *names: str):
    from importlib.metadata import EntryPoint

    from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

    entry_points = [EntryPoint(n, f"studio_plugins.{n}:MANIFEST", ENTRY_POINT_GROUP) for n in names]
    window = open_window(discover_plugins(entry_points), size=(1000, 760))
    window.set_document(Document.from_pixels(np.full((48, 64, 4), 255, np.uint8)), None)
    return window


def shown(form, *names: str) -> list[bool]:
    return [form.row_shown(name) for name in names]


def test_switching_the_mode_shows_only_the_rows_that_apply(open_window):
    window = plugins_window(open_window, "style_transfer")
    form = window.panels["style_transfer"].params_widget
    assert shown(form, "network", "optimizer", "learning_rate", "strength", "fast_model") == [1, 1, 0, 0, 0]
    form.editor("optimizer").setCurrentText("adam")
    assert form.row_shown("learning_rate"), "Adam's learning rate shows with Adam"
    form.editor("mode").setCurrentText("fast")
    assert shown(form, "network", "optimizer", "learning_rate", "strength", "fast_model") == [0, 0, 0, 1, 1]
    assert form.row_shown("style") and not form.row_shown("presets")
    form.editor("fast_model").setCurrentText("presets")
    assert not form.row_shown("style") and form.row_shown("presets")
    form.editor("mode").setCurrentText("optimise")
    assert form.row_shown("learning_rate") and form.row_shown("style") and not form.row_shown("presets")


def test_a_slider_runs_and_records_the_value_it_shows(open_window):
    window = plugins_window(open_window, "style_transfer")
    form = window.panels["style_transfer"].params_widget
    form.set_values({"mode": "fast"})
    form.editor("strength").setValue(0.81875)  # where a drag can leave the slider
    assert form.params().strength == 0.82


def test_generative_rules_show_the_rules_own_settings(open_window):
    window = plugins_window(open_window, "generative")
    form = window.panels["generative"].params_widget
    flow = ("flow_particles", "flow_opacity")
    mondrian = ("mondrian_splits", "mondrian_fill")
    assert shown(form, *flow, *mondrian, "margin", "background", "ink") == [1, 1, 0, 0, 0, 0, 0]
    form.editor("rule").setCurrentText("mondrian")
    assert shown(form, *flow, *mondrian, "margin", "lsystem_preset") == [0, 0, 1, 1, 0, 0]
    form.editor("rule").setCurrentText("lsystem")
    assert shown(form, *mondrian, "margin", "lsystem_preset", "jitter") == [0, 0, 1, 1, 1]
    form.editor("palette").setCurrentText("custom")
    assert form.row_shown("background") and form.row_shown("ink")


def test_a_recipe_lists_only_the_parameters_that_applied_and_rerenders_the_same(open_window, qtbot):
    window = plugins_window(open_window, "generative")
    panel = window.panels["generative"]
    panel.params_widget.set_values({"flow_particles": 99})  # then the artist switches to another rule
    panel.params_widget.set_values({"rule": "mondrian", "mondrian_splits": 7, "mondrian_fill": 0.6})
    panel.run_button.click()
    qtbot.waitUntil(lambda: window.job is None, timeout=30_000)
    made = window.doc.layers[-1]
    params = made.recipe.params
    assert params["rule"] == "mondrian" and params["mondrian_splits"] == 7 and params["mondrian_fill"] == 0.6
    assert not {"flow_particles", "flow_opacity", "lsystem_preset", "margin", "background", "ink"} & set(params)
    window.rerender_layer(made.id, 64)
    qtbot.waitUntil(lambda: window.job is None, timeout=30_000)
    again = window.doc.layers[-1]
    assert again is not made and np.array_equal(again.pixels, made.pixels)


def test_deep_dream_lists_the_chosen_networks_layers_grouped_with_the_readmes_names(open_window):
    window = plugins_window(open_window, "deep_dream")
    form = window.panels["deep_dream"].params_widget
    combo = form.editor("layer")
    form.editor("network").setCurrentText("vgg16")
    assert form.choices("layer")[0] == "auto" and set(form.choices("layer")) - {"auto"} == {
        f"relu{block}_{n}" for block in (1, 2) for n in (1, 2)
    } | {f"relu{block}_{n}" for block in (3, 4, 5) for n in (1, 2, 3)}
    texts = [combo.itemText(i).strip() for i in range(combo.count())]
    assert "relu4_2" in texts and texts[1].startswith("Early"), texts
    assert not combo.model().item(1).isSelectable(), "a group heading is not a choice"
    QTest.keyClick(combo, Qt.Key.Key_Down)  # from auto, past the first heading
    assert combo.currentText() == "relu1_1" and form.params().layer == "relu1_1"
    combo.setCurrentIndex(texts.index("relu4_2"))
    assert form.params().layer == "relu4_2"
    form.editor("network").setCurrentText("inception_v3")
    texts = [combo.itemText(i).strip() for i in range(combo.count())]
    assert "Mixed_5b" in texts and "relu4_2" not in texts and len(texts) == 13 + 3
    assert form.params().layer == "auto", "a layer of the other network falls back to auto"
    with pytest.raises(ParamError, match=r"relu4_2.*choose one of auto, Conv2d_4a_3x3, Mixed_5b"):
        form.set_values({"layer": "relu4_2"})


def test_every_plugin_panel_shows_its_fields_whole_in_a_small_window(open_window, qtbot):
    window = open_window(discover_plugins(), size=(1000, 700))
    for plugin_id, dock in window.plugin_docks.items():
        dock.raise_()
        qtbot.wait(50)
        viewport = window.panels[plugin_id].scroll_area.viewport()
        kinds = (QAbstractButton, QAbstractSpinBox, QComboBox)
        fields = [w for w in viewport.findChildren(QWidget) if w.isVisible() and isinstance(w, kinds)]
        assert fields, plugin_id
        for field in fields:
            right = field.mapTo(viewport, field.rect().topRight()).x()
            assert right < viewport.width(), f"{plugin_id}: {type(field).__name__} {field.toolTip()[:40]!r} is cut off"
