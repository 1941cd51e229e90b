"""The welcome view the window shows while no document is open, and the New document form it shares with File ›
New: screen sizes and the print presets, open, recent files and a sample picture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.blank import BACKGROUNDS
from studio.core.print_size import PRESET_TITLES, PRESETS
from studio.qt.printing.widgets import colour_depth_box

RESOURCES = Path(__file__).parent / "resources"
SAMPLE_PICTURE = RESOURCES / "sample-chelsea.jpg"
SAMPLE_CREDIT = "Chelsea the cat, photo by Stefan van der Walt (CC0), from scikit-image"
SCREEN_SIZES: dict[str, tuple[int, int]] = {
    "Square 1024 × 1024": (1024, 1024),
    "Square 512 × 512": (512, 512),
    "Full HD 1920 × 1080": (1920, 1080),
    "4K UHD 3840 × 2160": (3840, 2160),
    "Portrait 1080 × 1350": (1080, 1350),
}
CUSTOM = "Custom size"


@dataclass(frozen=True)
class NewDocument:
    """What the artist asked for: a size (or a print preset, which brings its own size), a background and the bits
    per channel of its layers."""

    width: int
    height: int
    background: str
    print_preset: str | None = None
    """A key of :data:`~studio.core.print_size.PRESETS`, or None for a screen picture."""
    bit_depth: int = 8
    """8 or 16 bits per channel (16: smooth gradients in print, twice the memory)."""


class NewDocumentForm(QWidget):
    """A size preset (screen sizes, then the print presets at 300 ppi), the size, the background and the colour
    depth."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.preset = QComboBox()
        for title, (width, height) in SCREEN_SIZES.items():
            self.preset.addItem(title, (width, height, None))
        self.preset.insertSeparator(self.preset.count())
        for name, spec in PRESETS.items():
            width, height = spec.pixel_size
            self.preset.addItem(f"Print: {PRESET_TITLES[name]}", (width, height, name))
        self.preset.addItem(CUSTOM, None)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin in (self.width_spin, self.height_spin):
            spin.setRange(1, 30000)
            spin.setSuffix(" px")
            spin.valueChanged.connect(self._size_edited)
        self.background = QComboBox()
        self.background.addItems(list(BACKGROUNDS))
        self.depth = colour_depth_box()
        form.addRow("Preset", self.preset)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        form.addRow("Background", self.background)
        form.addRow("Colour depth", self.depth)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self._preset_chosen()

    def choice(self) -> NewDocument:
        data = self.preset.currentData()
        preset = data[2] if data is not None else None
        width, height, background = self.width_spin.value(), self.height_spin.value(), self.background.currentText()
        return NewDocument(width, height, background, preset, self.depth.currentData())

    def _preset_chosen(self) -> None:
        data = self.preset.currentData()
        if data is None:
            return
        for spin, value in ((self.width_spin, data[0]), (self.height_spin, data[1])):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def _size_edited(self) -> None:
        """A size typed by hand is a custom size (a print preset keeps its own size, bleed and guides)."""
        data = self.preset.currentData()
        if data is not None and (data[0], data[1]) != (self.width_spin.value(), self.height_spin.value()):
            self.preset.setCurrentIndex(self.preset.findText(CUSTOM))


class NewDocumentDialog(QDialog):
    """File › New: asks for the size (or a preset) and background of a new document."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New document")
        column = QVBoxLayout(self)
        self.form = NewDocumentForm()
        column.addWidget(self.form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)


class WelcomeView(QWidget):
    """What the window shows while no document is open: start a new document, open one, or open a sample."""

    new_requested = Signal(object)
    """A :class:`NewDocument`."""
    open_requested = Signal()
    recent_requested = Signal(object)
    """The :class:`~pathlib.Path` of a recent file."""
    sample_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMaximumWidth(820)
        grid = QGridLayout(card)
        grid.setContentsMargins(24, 20, 24, 24)
        grid.setHorizontalSpacing(24)
        title = QLabel("<h2>Welcome to Studio</h2>Start a new picture, open one, or try a sample.")
        grid.addWidget(title, 0, 0, 1, 2)

        new_box = QGroupBox("New document")
        new_column = QVBoxLayout(new_box)
        self.form = NewDocumentForm()
        self.create_button = QPushButton("Create")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(lambda: self.new_requested.emit(self.form.choice()))
        new_column.addWidget(self.form)
        new_column.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignRight)
        new_column.addStretch(1)
        grid.addWidget(new_box, 1, 0)

        open_box = QGroupBox("Open")
        open_column = QVBoxLayout(open_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.open_requested)
        self.sample_button = QPushButton("Open a sample picture")
        self.sample_button.setToolTip(SAMPLE_CREDIT)
        self.sample_button.clicked.connect(self.sample_requested)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        open_column.addLayout(buttons)
        credit = QLabel(f"<small>Sample: {SAMPLE_CREDIT}</small>")
        credit.setWordWrap(True)
        open_column.addWidget(credit)
        open_column.addWidget(QLabel("Recent files"))
        self.recent = QListWidget()
        self.recent.itemActivated.connect(lambda item: self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.no_recent = QLabel("<i>None yet: what you open or save is listed here.</i>")
        open_column.addWidget(self.recent, 1)
        open_column.addWidget(self.no_recent)
        grid.addWidget(open_box, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(1)

    def set_recent(self, paths: list[Path]) -> None:
        """List ``paths`` (newest first); activating one asks to open it."""
        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(path.name)
            item.setToolTip(str(path))
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.no_recent.setVisible(not paths)
