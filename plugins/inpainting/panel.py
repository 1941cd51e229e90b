"""The inpainting panel: how to mark the holes, the rows of the chosen method only, and the model to fill with
chosen from the installed inpainting models (Studio's and those trained from it)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget
from studio_plugins.inpainting.params import InpaintParams

from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ERROR_COLOR, ParamsPanel

HOW_TO = (
    "Mark the holes on a mask with the Mask brush (M), or select them with the Rectangle (R), Ellipse (J), "
    "Lasso (L) or Magic wand (W); Alt takes away. Inputs names the mask (or the selection) a run fills."
)


class _ModelBox(QComboBox):
    """An editable combo box over the ``model`` parameter's line edit, its list refreshed each time it opens."""

    def __init__(self, line: QLineEdit, refresh: Callable[[], None]) -> None:
        super().__init__()
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        text = line.text()
        self.setLineEdit(line)  # which empties it
        line.setText(text)
        self.setToolTip(line.toolTip())
        self._refresh = refresh

    def set_choices(self, model_ids: list[str]) -> None:
        """List ``model_ids``, keeping the text typed (filling the list must not choose a model)."""
        if [self.itemText(i) for i in range(self.count())] == model_ids:
            return
        line = self.lineEdit()
        text = line.text()
        line.blockSignals(True)
        try:
            self.clear()
            self.addItems(model_ids)
            line.setText(text)
        finally:
            line.blockSignals(False)

    def showPopup(self) -> None:
        self._refresh()
        super().showPopup()


class InpaintPanel(ParamsPanel):
    """The inpainting parameters: a line on making the mask, the chosen method's rows, installed models to pick."""

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(InpaintParams, parent)
        self.host = host
        self.how_to = QLabel(HOW_TO)
        self.how_to.setWordWrap(True)
        self.form.insertRow(0, self.how_to)

        line = self.editor("model")
        assert isinstance(line, QLineEdit)
        row, _role = self.form.getWidgetPosition(line)
        self.form.removeWidget(line)
        self.model_box = _ModelBox(line, self.refresh)
        self.form.setWidget(row, QFormLayout.ItemRole.FieldRole, self.model_box)
        self.model_hint = QLabel()
        self.model_hint.setWordWrap(True)
        palette = self.model_hint.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(ERROR_COLOR))
        self.model_hint.setPalette(palette)
        self.form.insertRow(row + 1, "", self.model_hint)

        self.changed.connect(self.refresh)
        host.models_changed.connect(self.refresh)
        self.refresh()

    def inpainting_models(self, installed: bool = True) -> list[str]:
        """Ids of the inpainting models the store knows (only the installed ones with ``installed``): the
        plugin's own and every model trained from one of them."""
        store = self.host.store
        bases = self.host.manifest.models
        known = store.installed() if installed else list(store.specs)
        return [m for m in known if m in bases or store.specs[m].base in bases]

    def model_hint_text(self) -> str:
        """Why the chosen model cannot fill and what to do, or "" when it is installed or not used."""
        values = self.values()
        model = values["model"]
        if values["method"] != "network" or model in self.inpainting_models():
            return ""
        train = "train your own in the Training panel"
        if not model:
            return f"Choose a model: an installed one, or {train}."
        if model not in self.inpainting_models(installed=False):
            return f"{model} is not an inpainting model: choose an installed one, or {train}."
        return f"{model} is not installed: install it in Plugins › Models…, or {train}."

    def refresh(self) -> None:
        """List the installed models, and under the model why it cannot fill, if it cannot."""
        self.model_box.set_choices(self.inpainting_models())
        hint = self.model_hint_text()
        self.model_hint.setText(hint)
        self.form.setRowVisible(self.model_hint, bool(hint))
