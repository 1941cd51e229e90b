"""Print sizes: the print spec editor, File › New from Print Preset and Image › Fit to Print Preset."""

from __future__ import annotations

import math

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.blank import BACKGROUNDS
from studio.core.print_size import PPI_CHOICES, PRESET_TITLES, PRESETS, UNITS, PrintSpec
from studio.core.printing import FIT_MODES, MIN_PRINT_PPI, FitMode, picture_ppi
from studio.qt.printing.widgets import colour_depth_box, dialog_buttons

CUSTOM = "custom"
FIT_TITLES = {
    "crop": "Crop (scale to cover, crop centred)",
    "fill": "Extend with a colour",
    "mirror": "Mirrored wrap (face fills the trim, edges mirrored)",
}


class PrintSpecEditor(QWidget):
    """Preset, physical size in in/cm/mm, ppi, bleed and wrap, with the pixel size shown live, and a warning when
    the print would be soft: its resolution, or that of the picture fitted to it (:attr:`picture_size`), is
    under :data:`~studio.core.printing.MIN_PRINT_PPI`."""

    def __init__(self, spec: PrintSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture_size: tuple[int, int] | None = None
        """The pixel size of the picture that will be fitted to the print (None for a new document)."""
        self.fit_mode: FitMode = "crop"
        """How that picture will be fitted."""
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.preset = QComboBox()
        for name, title in PRESET_TITLES.items():
            self.preset.addItem(title, name)
        self.preset.addItem("Custom size", CUSTOM)
        self.unit = QComboBox()
        self.unit.addItems(list(UNITS))
        self.width_spin, self.height_spin, self.bleed_spin, self.wrap_spin = (QDoubleSpinBox() for _ in range(4))
        for spin in (self.width_spin, self.height_spin):
            spin.setRange(0.1, 5000)
        for spin in (self.bleed_spin, self.wrap_spin):
            spin.setRange(0, 1000)
        self.ppi = QComboBox()
        self.ppi.setEditable(True)
        self.ppi.addItems([str(v) for v in PPI_CHOICES])
        self.pixel_label = QLabel()
        self.pixel_label.setObjectName("pixel-size")
        self.warning_label = QLabel()
        self.warning_label.setObjectName("resolution-warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b9770e;")
        self.warning_label.hide()
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        size_row.addWidget(self.unit)
        form.addRow("Preset", self.preset)
        form.addRow("Trim size", size_row)
        form.addRow("Resolution (ppi)", self.ppi)
        form.addRow("Bleed (each side)", self.bleed_spin)
        form.addRow("Gallery wrap depth", self.wrap_spin)
        form.addRow("Pixel size", self.pixel_label)
        form.addRow(self.warning_label)
        self._unit = "in"
        self._loading = False
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.unit.currentTextChanged.connect(self._unit_changed)
        for spin in (self.width_spin, self.height_spin, self.bleed_spin, self.wrap_spin):
            spin.valueChanged.connect(self._edited)
        self.ppi.currentTextChanged.connect(lambda _text: self.refresh())
        self.set_spec(spec or PRESETS["poster_18x24"])

    def set_spec(self, spec: PrintSpec) -> None:
        self._loading = True
        index = self.preset.findData(spec.name if spec.name in PRESETS else CUSTOM)
        self.preset.setCurrentIndex(index)
        unit = "mm" if spec.name.startswith("a") and spec.name in PRESETS else self.unit.currentText()
        self.unit.setCurrentText(unit)
        self._unit = unit
        k = UNITS[unit]
        decimals = 1 if unit == "mm" else 3
        for spin, inches in (
            (self.width_spin, spec.width_in),
            (self.height_spin, spec.height_in),
            (self.bleed_spin, spec.bleed_in),
            (self.wrap_spin, spec.wrap_in),
        ):
            spin.setDecimals(decimals)
            spin.setSuffix(f" {unit}")
            spin.setValue(inches / k)
        self.ppi.setCurrentText(str(spec.ppi))
        self._loading = False
        self._safe_in = spec.safe_in
        self.refresh()

    def spec(self) -> PrintSpec:
        """The spec shown; ValueError (with a message for the user) when it is not valid."""
        try:
            ppi = int(self.ppi.currentText())
        except ValueError:
            raise ValueError(f"the resolution {self.ppi.currentText()!r} is not a whole number of ppi") from None
        name = self.preset.currentData()
        if name != CUSTOM:
            base = PRESETS[name]
            if self._matches(base):
                return base.with_ppi(ppi)
        k = UNITS[self._unit]
        return PrintSpec(
            self.width_spin.value() * k,
            self.height_spin.value() * k,
            ppi,
            self.bleed_spin.value() * k,
            self.wrap_spin.value() * k,
            min(self._safe_in, self.width_spin.value() * k / 4, self.height_spin.value() * k / 4),
        )

    def _matches(self, base: PrintSpec) -> bool:
        k = UNITS[self._unit]
        shown = (self.width_spin.value(), self.height_spin.value(), self.bleed_spin.value(), self.wrap_spin.value())
        wanted = (base.width_in / k, base.height_in / k, base.bleed_in / k, base.wrap_in / k)
        return all(
            math.isclose(a, b, abs_tol=10 ** -self.width_spin.decimals()) for a, b in zip(shown, wanted, strict=True)
        )

    def _preset_chosen(self) -> None:
        name = self.preset.currentData()
        if self._loading or name == CUSTOM:
            return
        ppi = self.ppi.currentText()
        self.set_spec(PRESETS[name])
        self.ppi.setCurrentText(ppi)

    def _unit_changed(self, unit: str) -> None:
        if self._loading:
            return
        factor = UNITS[self._unit] / UNITS[unit]
        self._unit = unit
        self._loading = True
        for spin in (self.width_spin, self.height_spin, self.bleed_spin, self.wrap_spin):
            value = spin.value() * factor
            spin.setDecimals(1 if unit == "mm" else 3)
            spin.setSuffix(f" {unit}")
            spin.setValue(value)
        self._loading = False
        self.refresh()

    def _edited(self) -> None:
        if self._loading:
            return
        name = self.preset.currentData()
        if name != CUSTOM and not self._matches(PRESETS[name]):
            self._loading = True
            self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
            self._loading = False
        self.refresh()

    def refresh(self) -> None:
        """Show the pixel size and the resolution warning anew (also after :attr:`picture_size` or
        :attr:`fit_mode` changed)."""
        if self._loading:
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self.pixel_label.setText(f"<span style='color:#c33'>{exc}</span>")
            self.warning_label.hide()
            return
        w, h = spec.pixel_size
        tw, th = spec.trim_size
        megapixels = w * h / 1e6
        self.pixel_label.setText(f"<b>{w} × {h} px</b> ({megapixels:.1f} Mpx; trim {tw} × {th} px)")
        warning = self.resolution_warning(spec)
        self.warning_label.setText(warning)
        self.warning_label.setVisible(bool(warning))

    def resolution_warning(self, spec: PrintSpec) -> str:
        """Why ``spec`` would print soft ("" when it would not)."""
        if spec.ppi < MIN_PRINT_PPI:
            return (
                f"⚠ {spec.ppi} ppi is too coarse for a print: it looks soft or shows its pixels below "
                f"{MIN_PRINT_PPI} ppi. Choose {MIN_PRINT_PPI} ppi or more."
            )
        if self.picture_size is None:
            return ""
        ppi = picture_ppi(self.picture_size, spec, self.fit_mode)
        if ppi >= MIN_PRINT_PPI:
            return ""
        width, height = self.picture_size
        return (
            f"⚠ The picture ({width} × {height} px) has only {ppi:.0f} ppi at this size and is enlarged "
            f"{spec.ppi / ppi:.1f}×, so the print looks soft (it needs {MIN_PRINT_PPI} ppi or more). Choose a "
            "smaller print, or re-render its generated layers at print size after fitting."
        )


class NewPrintDocumentDialog(QDialog):
    """File › New from Print Preset."""

    def __init__(self, parent: QWidget | None = None, spec: PrintSpec | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New document from print preset")
        layout = QVBoxLayout(self)
        self.editor = PrintSpecEditor(spec)
        layout.addWidget(self.editor)
        self.background = QComboBox()
        self.background.addItems(list(BACKGROUNDS))
        self.depth = colour_depth_box()
        row = QFormLayout()
        row.addRow("Background", self.background)
        row.addRow("Colour depth", self.depth)
        layout.addLayout(row)
        layout.addWidget(dialog_buttons(self, "Create"))

    def accept(self) -> None:
        try:
            self.editor.spec()
        except ValueError as exc:
            QMessageBox.warning(self, "Print size", str(exc).capitalize())
            return
        super().accept()


class FitToPrintDialog(QDialog):
    """Image › Fit to Print Preset: the spec, and crop / extend with a colour / mirrored wrap.

    ``picture_size`` is the document's pixel size, for the warning when the print would enlarge it too much.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        spec: PrintSpec | None = None,
        picture_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fit to print preset")
        layout = QVBoxLayout(self)
        self.editor = PrintSpecEditor(spec or PRESETS["canvas_12x12"])
        self.editor.picture_size = picture_size
        self.editor.refresh()
        layout.addWidget(self.editor)
        form = QFormLayout()
        self.mode = QComboBox()
        for mode in FIT_MODES:
            self.mode.addItem(FIT_TITLES[mode], mode)
        self.fill_button = QPushButton()
        self.fill_colour = QColor(255, 255, 255)
        self.fill_button.clicked.connect(self._choose_fill)
        self._show_fill()
        form.addRow("Fit", self.mode)
        form.addRow("Fill colour", self.fill_button)
        layout.addLayout(form)
        self.mode.currentIndexChanged.connect(self._mode_chosen)
        self.fill_button.setEnabled(False)
        layout.addWidget(dialog_buttons(self, "Fit"))

    def _mode_chosen(self) -> None:
        self.fill_button.setEnabled(self.mode.currentData() == "fill")
        self.editor.fit_mode = self.mode.currentData()
        self.editor.refresh()

    def fill(self) -> tuple[int, int, int, int]:
        c = self.fill_colour
        return c.red(), c.green(), c.blue(), 255

    def _choose_fill(self) -> None:
        colour = QColorDialog.getColor(self.fill_colour, self, "Fill colour")
        if colour.isValid():
            self.fill_colour = colour
            self._show_fill()

    def _show_fill(self) -> None:
        self.fill_button.setText(self.fill_colour.name())
        self.fill_button.setStyleSheet(f"background: {self.fill_colour.name()};")
