"""The Image menu's dialogs: a colour adjustment previewed live on its layer, and the new size of the picture or
its canvas."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from studio.core.adjust import Adjustment, CanvasSize, ImageSize, adjust_step, adjusted
from studio.core.document import Document, Layer
from studio.core.params import ParamError
from studio.qt.params_panel import ParamsPanel

PREVIEW_DELAY_MS = 40


class _FormDialog(QDialog):
    """A ParamsPanel of ``params_class`` with a note under it, OK and Cancel."""

    def __init__(self, title: str, params_class: type, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # an adjustment's copy of the layer goes with it
        self.setWindowTitle(title)
        self.panel = ParamsPanel(params_class)
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        column = QVBoxLayout(self)
        column.addWidget(self.panel)
        column.addWidget(self.note)
        column.addWidget(buttons)
        self.setMinimumWidth(380)

    def params(self) -> Any:
        return self.panel.params()


class AdjustDialog(_FormDialog):
    """An adjustment of a raster layer, shown on the canvas as it is edited (inside the selection when there is
    one). OK keeps it as one undo step; Cancel puts back exactly the pixels the layer had."""

    def __init__(
        self, doc: Document, layer: Layer, title: str, adjustment_class: type, parent: QWidget | None = None
    ) -> None:
        super().__init__(f"{title}: {layer.name}", adjustment_class, parent)
        self.doc, self.layer, self.title = doc, layer, title
        self.before = layer.image.snapshot()
        self.original = self.before.read()
        where = "inside the selection" if doc.selection is not None else "on the whole layer"
        self.note.setText(f"Shown on the canvas as you change it, {where}.")
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(PREVIEW_DELAY_MS)
        self.timer.timeout.connect(self.preview)
        self.panel.changed.connect(self.timer.start)

    def preview(self) -> None:
        """Show the adjustment with the settings shown now on the layer."""
        self.timer.stop()
        try:
            adjustment: Adjustment = self.params()
        except ParamError as exc:
            self.note.setText(str(exc))
            return
        self.layer.write(0, 0, adjusted(self.doc, self.layer, adjustment, self.original))
        self.doc.notify_pixels()

    def done(self, result: int) -> None:
        if result == QDialog.DialogCode.Accepted:
            self.preview()
            step = adjust_step(self.doc, self.layer, self.title, self.before)
            if step.changes:
                self.doc.history.push(step, applied=True)
        else:
            self.timer.stop()
            self.layer.image.put_tiles(self.layer.image.tile_keys(), self.before.tiles())
            self.doc.notify_pixels()
        super().done(result)


class SizeDialog(_FormDialog):
    """Resize Image (``ImageSize``) or Canvas Size (``CanvasSize``), starting at the document's size; with "keep
    proportions", changing the width changes the height and back."""

    def __init__(
        self, doc: Document, params_class: type[ImageSize | CanvasSize], parent: QWidget | None = None
    ) -> None:
        title = "Resize Image" if params_class is ImageSize else "Canvas Size"
        super().__init__(title, params_class, parent)
        self.doc = doc
        self._shown = (doc.width, doc.height)
        self.panel.set_values({"width": doc.width, "height": doc.height})
        self.panel.changed.connect(self._on_change)
        self._on_change()

    def _on_change(self) -> None:
        values = self.panel.values()
        width, height = values["width"], values["height"]
        if values.get("keep_proportions") and (width, height) != self._shown:
            if width != self._shown[0]:
                height = max(1, round(width * self.doc.height / self.doc.width))
            else:
                width = max(1, round(height * self.doc.width / self.doc.height))
            self._shown = (width, height)
            self.panel.set_values({"width": width, "height": height})
        self._shown = (width, height)
        self.note.setText(f"{self.doc.width} × {self.doc.height} px now, {width} × {height} px after.")
