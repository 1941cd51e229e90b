"""Widgets the print dialogs share: OK/Cancel buttons and the ICC profile chooser."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageCms
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from studio.core.colour import find_profiles, profile_description
from studio.qt.file_dialogs import start_folder


def colour_depth_box() -> QComboBox:
    """The choice of a new document's bits per channel (``currentData()``: 8 or 16)."""
    box = QComboBox()
    box.addItem("8 bits per channel", 8)
    box.addItem("16 bits per channel", 16)
    box.setToolTip("16 bits keeps smooth gradients smooth in print; the layers take twice the memory.")
    return box


def dialog_buttons(dialog: QDialog, ok_text: str = "OK") -> QDialogButtonBox:
    """OK (labelled ``ok_text``) and Cancel buttons that accept or reject ``dialog``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class ProfileChooser(QWidget):
    """A combo of installed ICC profiles of one colour space, plus Browse… for any .icc file."""

    def __init__(self, colour_space: str, current: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour_space = colour_space
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(260)
        for path in find_profiles(colour_space):
            self.add(str(path))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)
        if current:
            self.set_path(current)

    def add(self, path: str) -> None:
        if self.combo.findData(path) >= 0:
            return
        try:
            title = profile_description(path)
        except (OSError, ImageCms.PyCMSError):  # an unreadable profile is still listed by name
            title = Path(path).name
        self.combo.addItem(f"{title} ({Path(path).name})", path)

    def set_path(self, path: str) -> None:
        self.add(path)
        self.combo.setCurrentIndex(self.combo.findData(path))

    def path(self) -> str | None:
        return self.combo.currentData()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"{self.colour_space} ICC profile", start_folder(self), "ICC profiles (*.icc *.icm)"
        )
        if path:
            self.set_path(path)
