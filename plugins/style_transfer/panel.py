"""The style-transfer panel: the generated parameter form showing only the rows of the chosen mode, and a
"Contact sheet…" button that renders the picture in many styles as a new document."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)
from studio_plugins.style_transfer.params import StyleParams

from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.params import split_list
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ParamsPanel

OPTIMISE_ONLY = (
    "network",
    "content_layers",
    "style_layers",
    "content_weight",
    "style_weight",
    "tv_weight",
    "optimizer",
    "iterations",
    "learning_rate",
    "init",
    "style_scale",
    "scales",
    "scale_factor",
    "precision",
    "tile_size",
)
FAST_ONLY = ("fast_model", "presets", "strength", "processing_size")
PRESETS = "The 26 presets"
FOLDER = "Every picture in a folder (arbitrary style)"

JobFactory = Callable[[Inputs], Callable[[RunContext], Iterator[Frame]]]


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
        folder = QFileDialog.getExistingDirectory(self, "Folder of style pictures", self.folder.text())
        if folder:
            self.folder.setText(folder)
            self.source.setCurrentText(FOLDER)

    def job_factory(self, base: Callable[[], StyleParams]) -> JobFactory:
        """The dialog's choices as a job factory; ``factory(inputs)`` raises ValueError on a bad folder or
        bad parameters (``base()`` gives the parameters every style shares)."""
        folder = self.folder.text().strip() if self.uses_folder else None
        tile, paint_size = self.tile.value(), self.paint_size.value()

        def factory(inputs: Inputs) -> Callable[[RunContext], Iterator[Frame]]:
            from studio_plugins.style_transfer.common import content_rgb
            from studio_plugins.style_transfer.contact_sheet import folder_styles, preset_styles, render_sheet

            shared = base()
            styles = folder_styles(shared, folder) if folder is not None else preset_styles(shared)
            content = content_rgb(inputs)
            return lambda ctx: render_sheet(content, styles, ctx, tile=tile, paint_size=paint_size)

        return factory


class StylePanel(ParamsPanel):
    """The style-transfer parameters, rows of the other mode hidden, and the contact sheet run through the host."""

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(StyleParams, parent)
        self.host = host
        self.sheet_button = QPushButton("Contact sheet…")
        self.sheet_button.setAutoDefault(False)
        self.sheet_button.setToolTip("Render the picture in many styles side by side, as a new document")
        self.sheet_button.clicked.connect(self.contact_sheet_dialog)
        self.form.addRow(self.sheet_button)
        self.changed.connect(self.show_relevant_rows)
        self.show_relevant_rows()

    def show_relevant_rows(self) -> None:
        """Show the rows of the chosen mode (and fast model) only."""
        values = self.values()
        fast = values["mode"] == "fast"
        presets = fast and values["fast_model"] == "presets"
        hidden = set(FAST_ONLY if not fast else OPTIMISE_ONLY)
        hidden |= {"style"} if presets else {"presets"} if fast else set()
        for field in self.fields:
            self.set_row_visible(field.name, field.name not in hidden)

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
        self.host.submit("Contact sheet", dialog.job_factory(self.params))
