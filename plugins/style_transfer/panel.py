"""The style-transfer panel: the generated parameter form (the rows of the chosen mode only) with a picker of the
preset styles, and a "Contact sheet…" button that renders the picture in many styles as a new document."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from studio_plugins.style_transfer import thumbnails
from studio_plugins.style_transfer.fast import PRESETS_MODEL
from studio_plugins.style_transfer.params import StyleParams

from studio.core.errors import describe_error
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.nets.onnx_styles import PRESET_COUNT, PRESET_NAMES, preset_label
from studio.core.params import ParamError, numbers, split_list
from studio.qt.background import BackgroundTask
from studio.qt.convert import numpy_to_qimage
from studio.qt.file_dialogs import start_folder
from studio.qt.models_dialog import MissingModelsBanner
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ParamsPanel

PRESETS = "The 26 presets"
FOLDER = "Every picture in a folder (arbitrary style)"

ICON_SIZE = 64
TILE = QSize(100, 108)
VISIBLE_ROWS = 3.4
"""Rows of preset tiles the picker shows before it scrolls."""

JobFactory = Callable[[Inputs], Callable[[RunContext], Iterator[Frame]]]


def parse_presets(presets: str, weights: str) -> dict[int, float]:
    """The presets of the ``presets`` and ``style_weights`` texts with their weights (1 each when the weights are
    empty or do not match), in the order given; what is not a preset is left out."""
    try:
        indices = numbers(presets, "presets")
        values = numbers(weights, "style_weights")
    except ParamError:
        return {}
    if len(values) != len(indices):
        values = [1.0] * len(indices)
    return {
        int(index): value
        for index, value in zip(indices, values, strict=True)
        if index == int(index) and 0 <= index < PRESET_COUNT
    }


def format_presets(chosen: dict[int, float]) -> tuple[str, str]:
    """The ``presets`` and ``style_weights`` texts of ``chosen`` (preset: weight); the weights are empty (equal)
    when every weight is 1."""
    presets = ", ".join(str(index) for index in chosen)
    equal = all(weight == 1.0 for weight in chosen.values())
    return presets, "" if equal else ", ".join(f"{weight:g}" for weight in chosen.values())


class PresetPicker(QWidget):
    """The presets of fast mode as a grid of names and thumbnails, multi-select, with a blend weight per selected
    preset; it edits the same ``presets`` and ``style_weights`` parameters the command line takes.

    ``edited`` fires when the artist changes the choice; :meth:`value` gives it as parameter texts and
    :meth:`set_value` shows parameter texts. Thumbnails come from the cache, or are rendered once on a worker
    thread while the names show with a placeholder. Without the preset network a banner offers to install it.
    """

    edited = Signal()

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.banner = MissingModelsBanner()
        self.banner.install_requested.connect(host.install_model)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setSelectionMode(QListWidget.SelectionMode.MultiSelection)
        self.grid.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.grid.setGridSize(TILE)
        self.grid.setWordWrap(True)
        self.grid.setFixedHeight(round(TILE.height() * VISIBLE_ROWS) + 2 * self.grid.frameWidth())
        self.grid.setToolTip("Click presets to choose them; choose several to blend them")
        placeholder = self._placeholder()
        for index in range(PRESET_COUNT):
            item = QListWidgetItem(placeholder, preset_label(index))
            item.setToolTip(f"Preset {index}: {PRESET_NAMES[index]}")
            self.grid.addItem(item)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        self.blend_box = QWidget()
        self.blend = QFormLayout(self.blend_box)
        self.blend.setContentsMargins(0, 0, 0, 0)
        self.blend.setVerticalSpacing(2)
        self.blend_title = QLabel("Blend weights (relative):")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.banner)
        layout.addWidget(self.grid)
        layout.addWidget(self.status)
        layout.addWidget(self.blend_title)
        layout.addWidget(self.blend_box)
        self._weights: dict[int, float] = {}
        self._spins: dict[int, QDoubleSpinBox] = {}
        self._shown_digest: str | None = None
        self._task = BackgroundTask("studio-preset-thumbnails", parent=self)
        self.grid.itemSelectionChanged.connect(self._selection_edited)
        self._show_blend()

    def _placeholder(self) -> QIcon:
        pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
        pixmap.fill(self.palette().mid().color())
        return QIcon(pixmap)

    # -- the value ------------------------------------------------------------------------------------------------

    def chosen(self) -> dict[int, float]:
        """The selected presets (in preset order) with their weights."""
        return {index: self._weights.get(index, 1.0) for index in self._selected()}

    def value(self) -> tuple[str, str]:
        """The ``presets`` and ``style_weights`` texts of the choice."""
        return format_presets(self.chosen())

    def set_value(self, presets: str, weights: str) -> None:
        """Select the presets of the ``presets`` and ``style_weights`` texts with their weights; emits nothing."""
        chosen = parse_presets(presets, weights)
        if chosen == self.chosen():
            return
        self._weights = dict(chosen)
        self.grid.blockSignals(True)
        try:
            for index in range(PRESET_COUNT):
                self.grid.item(index).setSelected(index in chosen)
        finally:
            self.grid.blockSignals(False)
        self._show_blend()

    def spin(self, index: int) -> QDoubleSpinBox:
        """The weight box of selected preset ``index`` (shown while two or more presets are selected)."""
        return self._spins[index]

    def _selected(self) -> list[int]:
        return sorted(self.grid.row(item) for item in self.grid.selectedItems())

    def _selection_edited(self) -> None:
        self._show_blend()
        self.edited.emit()

    def _weight_edited(self, index: int, weight: float) -> None:
        self._weights[index] = weight
        self.edited.emit()

    def _show_blend(self) -> None:
        """One weight box per selected preset, when more than one is selected."""
        while self.blend.rowCount():
            self.blend.removeRow(0)
        self._spins = {}
        selected = self._selected()
        blended = len(selected) > 1
        if blended:
            for index in selected:
                spin = QDoubleSpinBox()
                spin.setRange(0.0, 100.0)
                spin.setDecimals(2)
                spin.setSingleStep(0.1)
                spin.setValue(self._weights.get(index, 1.0))
                spin.setToolTip(f"Weight of {PRESET_NAMES[index]} in the blend, relative to the others")
                spin.valueChanged.connect(lambda value, i=index: self._weight_edited(i, value))
                self.blend.addRow(preset_label(index), spin)
                self._spins[index] = spin
        self.blend_title.setVisible(blended)
        self.blend_box.setVisible(blended)

    # -- thumbnails -----------------------------------------------------------------------------------------------

    @property
    def has_thumbnails(self) -> bool:
        """Whether the presets show their thumbnails (not placeholders)."""
        return self._shown_digest is not None

    def refresh(self) -> None:
        """Show whether the preset network is installed, and its thumbnails: cached ones at once, else rendered on a
        worker thread (names with placeholders meanwhile)."""
        store = self.host.store
        self.banner.update_for((PRESETS_MODEL,), store, needs="The presets need")
        digest = thumbnails.model_hash(store)
        if digest is None:
            if self._shown_digest is not None:
                self._set_icons(None, [self._placeholder()] * PRESET_COUNT)
            self._say("")
            return
        if digest == self._shown_digest or self._task.busy:
            return
        cached = thumbnails.cached_thumbnails(digest)
        if cached is not None:
            self._show_images(digest, cached)
            return
        self._say("Painting the preset thumbnails…")
        self._task.start(lambda: (digest, thumbnails.thumbnails(store, digest)), self._rendered)

    def _rendered(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._say(f"The preset thumbnails could not be painted: {describe_error(error)}")
            return
        digest, images = result
        self._show_images(digest, images)
        self.refresh()  # the model may have changed while they were painted

    def _show_images(self, digest: str, images: list[np.ndarray]) -> None:
        icons = [
            QIcon(
                QPixmap.fromImage(numpy_to_qimage(image)).scaled(
                    ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
            for image in images
        ]
        self._set_icons(digest, icons)
        self._say("")

    def _set_icons(self, digest: str | None, icons: list[QIcon]) -> None:
        for index, icon in enumerate(icons):
            self.grid.item(index).setIcon(icon)
        self._shown_digest = digest

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()  # the network may have been installed, removed or replaced since
        super().showEvent(event)


class ContactSheetDialog(QDialog):
    """Asks which styles go on the sheet, the tile size and the size the styles paint at."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Contact sheet")
        form = QFormLayout(self)
        self.source = QComboBox()
        self.source.addItems([PRESETS, FOLDER])
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of style pictures")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the folder")
        browse.clicked.connect(self.choose_folder)
        folder_row = QWidget()
        row = QHBoxLayout(folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.tile = QSpinBox()
        self.tile.setRange(32, 2048)
        self.tile.setSingleStep(32)
        self.tile.setValue(256)
        self.tile.setSuffix(" px")
        self.tile.setToolTip("Long side of each picture on the sheet")
        self.paint_size = QSpinBox()
        self.paint_size.setRange(0, 8192)
        self.paint_size.setSingleStep(128)
        self.paint_size.setValue(512)
        self.paint_size.setSuffix(" px")
        self.paint_size.setSpecialValueText("tile size")
        self.paint_size.setToolTip(
            "Long side the styles paint at before shrinking to the tile: the document's size shows the strokes "
            "a full render gets (slower)"
        )
        form.addRow("Styles", self.source)
        form.addRow("Folder", folder_row)
        form.addRow("Tile", self.tile)
        form.addRow("Paint at", self.paint_size)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.source.currentIndexChanged.connect(lambda _i: folder_row.setEnabled(self.uses_folder))
        folder_row.setEnabled(False)

    @property
    def uses_folder(self) -> bool:
        return self.source.currentText() == FOLDER

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder of style pictures", start_folder(self, self.folder.text())
        )
        if folder:
            self.folder.setText(folder)
            self.source.setCurrentText(FOLDER)

    def job_factory(self, shared: StyleParams) -> JobFactory:
        """The dialog's choices (read now) as a job factory; ``factory(inputs)`` raises ValueError on a bad folder
        (``shared``: the parameters every style shares)."""
        folder = self.folder.text().strip() if self.uses_folder else None
        tile, paint_size = self.tile.value(), self.paint_size.value()

        def factory(inputs: Inputs) -> Callable[[RunContext], Iterator[Frame]]:
            from studio_plugins.style_transfer.common import content_rgb
            from studio_plugins.style_transfer.contact_sheet import folder_styles, preset_styles, render_sheet

            styles = folder_styles(shared, folder) if folder is not None else preset_styles(shared)
            content = content_rgb(inputs)
            return lambda ctx: render_sheet(content, styles, ctx, tile=tile, paint_size=paint_size)

        return factory


class StylePanel(ParamsPanel):
    """The style-transfer parameters and the contact sheet, run through the host."""

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(StyleParams, parent)
        self.host = host
        self.sheet_button = QPushButton("Contact sheet…")
        self.sheet_button.setAutoDefault(False)
        self.sheet_button.setToolTip("Render the picture in many styles side by side, as a new document")
        self.sheet_button.clicked.connect(self.contact_sheet_dialog)
        self.form.addRow(self.sheet_button)
        line = self.editor("presets")
        row, _role = self.form.getWidgetPosition(line)
        self.form.removeWidget(line)
        line.hide()  # it still holds the value; the picker edits it
        self.preset_picker = PresetPicker(host)
        caption = QLabel("one, or several to blend")  # one line: the form's minimum height misses a wrapped one
        self.form.setWidget(row, QFormLayout.ItemRole.FieldRole, caption)
        self.form.insertRow(row + 1, self.preset_picker)  # the grid spans the form's width
        self.label("presets").setBuddy(self.preset_picker.grid)
        self.preset_picker.edited.connect(self._presets_picked)
        self.changed.connect(self._show_presets)
        self._show_presets()

    def _presets_picked(self) -> None:
        presets, weights = self.preset_picker.value()
        self.set_values({"presets": presets, "style_weights": weights})

    def _show_presets(self) -> None:
        """Show the presets parameters in the picker, under the presets row; it holds their weights too, so the
        weights row hides while presets are used."""
        values = self.values()
        self.preset_picker.set_value(values["presets"], values["style_weights"])
        uses_presets = values["mode"] == "fast" and values["fast_model"] == "presets"
        self.form.setRowVisible(self.preset_picker, uses_presets)
        self.set_row_visible("style_weights", not uses_presets)

    def contact_sheet_dialog(self) -> None:
        """Ask for the sheet's styles and sizes, then request the job (the current parameters are the base)."""
        dialog = ContactSheetDialog(self)
        styles = split_list(str(self.values()["style"]))
        if styles:
            dialog.folder.setText(os.path.dirname(styles[0]))
        if dialog.exec():
            self.request_contact_sheet(dialog)

    def request_contact_sheet(self, dialog: ContactSheetDialog) -> None:
        """Run the contact-sheet job of ``dialog``'s choices on the document; the sheet opens as a new document."""
        try:
            shared = self.params()
        except ValueError as exc:
            self.host.message(f"Contact sheet: {exc}")
            return
        self.host.submit("Contact sheet", dialog.job_factory(shared))
