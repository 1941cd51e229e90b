"""Print and export in the GUI: new document from a print preset, fit to print, guides, soft proof, export.

:class:`PrintActions` adds the menu entries to the main window and owns the state they
need (guides on or off, the soft proof). The dialogs are plain QDialogs whose values
are read with ``spec()`` / ``settings()``, so tests can drive them directly.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import ImageCms
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.document import Document, Layer, LayerKind
from studio.core.export import (
    FORMATS,
    ExportSettings,
    ExportSettingsError,
    export_image,
    export_path,
    find_profiles,
    load_presets,
    profile_description,
    save_preset,
)
from studio.core.image import ImageError
from studio.core.jobs import describe_error
from studio.core.printing import (
    FIT_MODES,
    INTENTS,
    PPI_CHOICES,
    PRESET_TITLES,
    PRESETS,
    UNITS,
    PrintSpec,
    fit_document,
    load_profile,
    soft_proof,
)
from studio.qt.background import BackgroundTask
from studio.qt.canvas import Canvas, premultiply
from studio.qt.convert import numpy_to_qimage
from studio.qt.job_bar import JobBar

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

CUSTOM = "custom"
PROOF_MAX_SIDE = 1600
"""The soft proof is computed at most this many pixels wide/high (it is a preview)."""
PROOF_DELAY_MS = 400
GAMUT_COLOUR = np.array([255, 0, 255], np.uint16)
GAMUT_OPACITY = 0.7
FIT_TITLES = {
    "crop": "Crop (scale to cover, crop centred)",
    "fill": "Extend with a colour",
    "mirror": "Mirrored wrap (face fills the trim, edges mirrored)",
}
GUIDE_STYLES: dict[str, tuple[QColor, Qt.PenStyle]] = {
    "bleed": (QColor(230, 40, 60), Qt.PenStyle.DashLine),
    "wrap": (QColor(255, 170, 0), Qt.PenStyle.DashLine),
    "trim": (QColor(0, 200, 255), Qt.PenStyle.SolidLine),
    "safe": (QColor(60, 220, 90), Qt.PenStyle.DotLine),
}


def _buttons(dialog: QDialog, ok_text: str = "OK") -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


# --------------------------------------------------------------------------- print spec editor


class PrintSpecEditor(QWidget):
    """Preset, physical size in in/cm/mm, ppi, bleed and wrap, with the pixel size shown live."""

    def __init__(self, spec: PrintSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self._unit = "in"
        self._loading = False
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.unit.currentTextChanged.connect(self._unit_changed)
        for spin in (self.width_spin, self.height_spin, self.bleed_spin, self.wrap_spin):
            spin.valueChanged.connect(self._edited)
        self.ppi.currentTextChanged.connect(lambda _text: self._update_label())
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
        self._update_label()

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
        self._update_label()

    def _edited(self) -> None:
        if self._loading:
            return
        name = self.preset.currentData()
        if name != CUSTOM and not self._matches(PRESETS[name]):
            self._loading = True
            self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
            self._loading = False
        self._update_label()

    def _update_label(self) -> None:
        if self._loading:
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self.pixel_label.setText(f"<span style='color:#c33'>{exc}</span>")
            return
        w, h = spec.pixel_size
        tw, th = spec.trim_size
        megapixels = w * h / 1e6
        self.pixel_label.setText(f"<b>{w} × {h} px</b> ({megapixels:.1f} Mpx; trim {tw} × {th} px)")


class NewPrintDocumentDialog(QDialog):
    """File › New from Print Preset."""

    def __init__(self, parent: QWidget | None = None, spec: PrintSpec | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New document from print preset")
        layout = QVBoxLayout(self)
        self.editor = PrintSpecEditor(spec)
        layout.addWidget(self.editor)
        self.background = QComboBox()
        self.background.addItems(["White", "Black", "Transparent"])
        row = QFormLayout()
        row.addRow("Background", self.background)
        layout.addLayout(row)
        layout.addWidget(_buttons(self, "Create"))

    def accept(self) -> None:
        try:
            self.editor.spec()
        except ValueError as exc:
            QMessageBox.warning(self, "Print size", str(exc).capitalize())
            return
        super().accept()


class FitToPrintDialog(QDialog):
    """Image › Fit to Print Preset: the spec, and crop / extend with a colour / mirrored wrap."""

    def __init__(self, parent: QWidget | None = None, spec: PrintSpec | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fit to print preset")
        layout = QVBoxLayout(self)
        self.editor = PrintSpecEditor(spec or PRESETS["canvas_12x12"])
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
        self.mode.currentIndexChanged.connect(lambda _i: self.fill_button.setEnabled(self.mode.currentData() == "fill"))
        self.fill_button.setEnabled(False)
        layout.addWidget(_buttons(self, "Fit"))

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


# --------------------------------------------------------------------------- guides


def paint_print_guides(painter: QPainter, canvas: Canvas) -> None:
    """Trim, safe area, wrap and bleed lines of the canvas's document's print spec."""
    doc = canvas.doc
    spec = doc.print_spec if doc is not None else None
    if spec is None:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    margin = spec.margin_px
    if margin > 0:  # shade what is cut off or wraps round the frame
        outer = canvas.image_to_widget_rect(QRectF(0, 0, spec.pixel_size[0], spec.pixel_size[1]))
        trim = spec.trim_rect
        inner = canvas.image_to_widget_rect(QRectF(trim.x0, trim.y0, trim.width, trim.height))
        shade = QColor(0, 0, 0, 60)
        painter.fillRect(QRectF(outer.left(), outer.top(), outer.width(), inner.top() - outer.top()), shade)
        painter.fillRect(QRectF(outer.left(), inner.bottom(), outer.width(), outer.bottom() - inner.bottom()), shade)
        painter.fillRect(QRectF(outer.left(), inner.top(), inner.left() - outer.left(), inner.height()), shade)
        painter.fillRect(QRectF(inner.right(), inner.top(), outer.right() - inner.right(), inner.height()), shade)
    rects = {"bleed": spec.bleed_rect.inset(0), "wrap": spec.wrap_rect, "trim": spec.trim_rect, "safe": spec.safe_rect}
    for name, rect in rects.items():
        if name == "bleed" and spec.bleed_px == 0:
            continue
        if name == "wrap" and spec.wrap_px == 0:
            continue
        colour, style = GUIDE_STYLES[name]
        pen = QPen(colour, 2, style)
        pen.setCosmetic(True)
        painter.setPen(pen)
        box = canvas.image_to_widget_rect(QRectF(rect.x0, rect.y0, rect.width, rect.height))
        painter.drawRect(box.adjusted(0.5, 0.5, -0.5, -0.5))
        painter.drawText(box.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, name)
    painter.restore()


# --------------------------------------------------------------------------- soft proof


class SoftProofDialog(QDialog):
    """View › Soft Proof…: choose the printer profile and the rendering intent."""

    def __init__(self, parent: QWidget | None = None, profile: str | None = None, intent: str = "relative") -> None:
        super().__init__(parent)
        self.setWindowTitle("Soft proof")
        form = QFormLayout(self)
        self.profile = ProfileChooser("CMYK", profile)
        self.intent = QComboBox()
        for name in INTENTS:
            self.intent.addItem(name.capitalize(), name)
        self.intent.setCurrentIndex(self.intent.findData(intent))
        form.addRow("Printer profile", self.profile)
        form.addRow("Rendering intent", self.intent)
        note = QLabel("Out-of-gamut areas are shown in magenta.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(_buttons(self, "Proof"))

    def accept(self) -> None:
        if not self.profile.path():
            QMessageBox.warning(self, "Soft proof", "Choose a printer profile (.icc) first.")
            return
        super().accept()


class SoftProof(QObject):
    """Keeps the canvas's soft proof up to date with the document, computed off the GUI thread.

    An edit restarts a short timer (debounce); when it fires, the visible raster layers
    are handed to a worker thread, which flattens them, shrinks the result to preview
    size and proofs it through the printer profile. Only the numpy -> QImage step runs on
    the GUI thread. Every edit, document switch or profile change starts a new
    generation: a result of an older generation is dropped (it may have read pixels
    while they were being painted), and one run at a time is in flight, the newest
    request waiting for it. ``updated(share)`` tells the out-of-gamut share of each proof
    shown; ``failed(message)`` that the profile could not be used (the proof is off then).
    """

    updated = Signal(float)
    failed = Signal(str)

    def __init__(self, canvas: Canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.profile: str | None = None
        self.intent = "relative"
        self.out_of_gamut = 0.0
        self._doc: Document | None = None
        self._generation = 0
        self._requested = False
        self._task = BackgroundTask("studio-soft-proof", parent=self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROOF_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    @property
    def active(self) -> bool:
        return self.profile is not None

    @property
    def computing(self) -> bool:
        """True while a proof is being computed or waits to be."""
        return self._task.busy or self._requested or self._timer.isActive()

    def start(self, profile: str, intent: str) -> None:
        """Proof through ``profile``; ValueError when the file is not a readable ICC profile or the intent is wrong.

        The proof itself arrives a moment later (``updated``); a profile that cannot
        be used for proofing is reported through ``failed``.
        """
        if intent not in INTENTS:
            raise ValueError(f"rendering intent must be one of {', '.join(INTENTS)}, not {intent!r}")
        load_profile(profile)
        self.profile, self.intent = profile, intent
        self.follow(self.canvas.doc)
        self.refresh()

    def stop(self) -> None:
        self.profile = None
        self._generation += 1
        self._requested = False
        self._timer.stop()
        self.follow(None)
        self.canvas.proof_image = None
        self.canvas.update()

    def follow(self, doc: Document | None) -> None:
        if self._doc is not None:
            self._doc.pixels_changed.disconnect(self._changed)
        self._generation += 1
        self._doc = doc if self.active else None
        if self._doc is not None:
            self._doc.pixels_changed.connect(self._changed)

    def _changed(self, _region: object) -> None:
        self._generation += 1
        self._timer.start()

    def refresh(self) -> None:
        """Compute the proof of the document as it is now (after the running computation, if any)."""
        doc = self.canvas.doc
        if doc is None or self.profile is None:
            return
        if self._task.busy:
            self._requested = True
            return
        self._requested = False
        layers = [
            Layer(la.name, la.kind, la.pixels, la.visible, la.opacity)
            for la in doc.layers
            if la.kind is LayerKind.RASTER and la.visible
        ]
        generation, profile, intent = self._generation, self.profile, self.intent
        self._task.start(
            lambda: proof_preview(doc.width, doc.height, layers, profile, intent),
            lambda result, error: self._show(generation, result, error),
        )

    def _show(self, generation: int, result: tuple[np.ndarray, float] | None, error: BaseException | None) -> None:
        if self._requested:
            self.refresh()
        if generation != self._generation or self.profile is None:
            return  # stale: the document, the profile or the pixels changed while it was computed
        if error is not None:
            self.stop()
            self.failed.emit(describe_error(error))
            return
        assert result is not None
        pixels, self.out_of_gamut = result
        image = numpy_to_qimage(pixels)
        image.reinterpretAsFormat(QImage.Format.Format_RGBA8888_Premultiplied)
        self.canvas.proof_image = image
        self.canvas.update()
        self.updated.emit(self.out_of_gamut)


def proof_preview(width: int, height: int, layers: list[Layer], profile: str, intent: str) -> tuple[np.ndarray, float]:
    """The soft proof of ``layers`` flattened, at most PROOF_MAX_SIDE px, out-of-gamut areas in magenta.

    Returns premultiplied RGBA uint8 and the out-of-gamut share (0..1). Qt-free, so it
    runs on a worker thread; ``layers`` may share their pixels with the document.
    """
    flat = Document(width, height)
    flat.layers = layers
    rgba = flat.composite()
    scale = min(1.0, PROOF_MAX_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    proofed, gamut = soft_proof(rgba, profile, intent)
    mix = proofed[gamut][:, :3].astype(np.uint16) * round((1 - GAMUT_OPACITY) * 256) + GAMUT_COLOUR * round(
        GAMUT_OPACITY * 256
    )
    proofed[gamut, :3] = (mix >> 8).astype(np.uint8)
    return np.ascontiguousarray(premultiply(proofed)), float(gamut.mean())


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
            self, f"{self.colour_space} ICC profile", "", "ICC profiles (*.icc *.icm)"
        )
        if path:
            self.set_path(path)


# --------------------------------------------------------------------------- export


class ExportDialog(QDialog):
    """File › Export Image…: named presets and every export setting, then the file name."""

    def __init__(
        self,
        parent: QWidget | None = None,
        settings: ExportSettings | None = None,
        path: Path | None = None,
        presets_file: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export image")
        self.presets_file = presets_file
        layout = QVBoxLayout(self)
        preset_row = QHBoxLayout()
        self.preset = QComboBox()
        self.save_preset_button = QPushButton("Save as Preset…")
        self.save_preset_button.clicked.connect(self._save_preset)
        preset_row.addWidget(QLabel("Preset"))
        preset_row.addWidget(self.preset, 1)
        preset_row.addWidget(self.save_preset_button)
        layout.addLayout(preset_row)

        file_box = QGroupBox("File")
        form = QFormLayout(file_box)
        self.format = QComboBox()
        for name in FORMATS:
            self.format.addItem({"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "webp": "WebP"}[name], name)
        self.bit_depth = QComboBox()
        self.bit_depth.addItem("8 bits per channel", 8)
        self.bit_depth.addItem("16 bits per channel", 16)
        self.compression = QComboBox()
        self.compression.addItem("LZW (lossless)", "lzw")
        self.compression.addItem("None", "none")
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.subsampling = QComboBox()
        self.subsampling.addItems(["4:4:4", "4:2:2", "4:2:0"])
        self.dpi = QDoubleSpinBox()
        self.dpi.setRange(0, 10000)
        self.dpi.setDecimals(1)
        self.dpi.setSpecialValueText("none")
        self.dpi.setSuffix(" dpi")
        form.addRow("Format", self.format)
        form.addRow("Bit depth", self.bit_depth)
        form.addRow("Compression", self.compression)
        form.addRow("Quality", self.quality)
        form.addRow("Chroma subsampling", self.subsampling)
        form.addRow("Resolution", self.dpi)
        layout.addWidget(file_box)

        colour_box = QGroupBox("Colour")
        colour = QFormLayout(colour_box)
        self.icc = QComboBox()
        self.icc.addItem("sRGB (built in)", "srgb")
        self.icc.addItem("Adobe RGB (1998) compatible", "adobe_rgb")
        self.icc_other = QPushButton("Other…")
        self.icc_other.clicked.connect(self._browse_icc)
        icc_row = QHBoxLayout()
        icc_row.addWidget(self.icc, 1)
        icc_row.addWidget(self.icc_other)
        self.cmyk = QCheckBox("Convert to a printer's CMYK profile")
        self.cmyk_profile = ProfileChooser("CMYK")
        self.intent = QComboBox()
        for name in INTENTS:
            self.intent.addItem(name.capitalize(), name)
        colour.addRow("ICC profile", icc_row)
        colour.addRow(self.cmyk)
        colour.addRow("CMYK profile", self.cmyk_profile)
        colour.addRow("Rendering intent", self.intent)
        layout.addWidget(colour_box)

        path_row = QHBoxLayout()
        self.path_edit = QLineEdit(str(path) if path else "")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_path)
        path_row.addWidget(QLabel("Save to"))
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        layout.addLayout(path_row)
        self.summary = QLabel()
        self.summary.setObjectName("export-summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addWidget(_buttons(self, "Export"))

        self._loading = False
        self._presets: dict[str, ExportSettings] = {}
        self._reload_presets()
        self.set_settings(settings or ExportSettings())
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        for combo in (self.format, self.bit_depth, self.compression, self.subsampling, self.icc, self.intent):
            combo.currentIndexChanged.connect(self._edited)
        self.cmyk_profile.combo.currentIndexChanged.connect(self._edited)
        self.quality.valueChanged.connect(self._edited)
        self.dpi.valueChanged.connect(self._edited)
        self.cmyk.toggled.connect(self._edited)
        self._edited()

    # values

    def settings(self) -> ExportSettings:
        """The settings shown; ExportSettingsError when the combination is not valid."""
        cmyk = self.cmyk.isChecked() and self.format.currentData() in ("tiff", "jpeg")
        return ExportSettings(
            format=self.format.currentData(),
            bit_depth=8 if cmyk else self.bit_depth.currentData(),
            compression=self.compression.currentData(),
            quality=self.quality.value(),
            subsampling=self.subsampling.currentText(),
            dpi=self.dpi.value() or None,
            icc=self.icc.currentData(),
            cmyk_profile=self.cmyk_profile.path() if cmyk else None,
            intent=self.intent.currentData(),
        )

    def set_settings(self, settings: ExportSettings) -> None:
        self._loading = True
        self.format.setCurrentIndex(self.format.findData(settings.format))
        self.bit_depth.setCurrentIndex(self.bit_depth.findData(settings.bit_depth))
        self.compression.setCurrentIndex(self.compression.findData(settings.compression))
        self.quality.setValue(settings.quality)
        self.subsampling.setCurrentText(settings.subsampling)
        self.dpi.setValue(settings.dpi or 0)
        if self.icc.findData(settings.icc) < 0:
            self.icc.addItem(Path(settings.icc).name, settings.icc)
        self.icc.setCurrentIndex(self.icc.findData(settings.icc))
        self.cmyk.setChecked(settings.cmyk_profile is not None)
        if settings.cmyk_profile:
            self.cmyk_profile.set_path(settings.cmyk_profile)
        self.intent.setCurrentIndex(self.intent.findData(settings.intent))
        self._loading = False
        self._edited()

    def path(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text).expanduser() if text else None

    # reactions

    def _reload_presets(self, select: str | None = None) -> None:
        self._presets = load_presets(self.presets_file)
        self._loading = True
        self.preset.clear()
        self.preset.addItem("(current settings)", None)
        for name, settings in self._presets.items():
            self.preset.addItem(f"{name} — {settings.describe()}", name)
        if select is not None:
            self.preset.setCurrentIndex(self.preset.findData(select))
        self._loading = False

    def _preset_chosen(self) -> None:
        name = self.preset.currentData()
        if not self._loading and name is not None:
            self.set_settings(self._presets[name])
            self.preset.setCurrentIndex(self.preset.findData(name))

    def _edited(self) -> None:
        if self._loading:
            return
        fmt = self.format.currentData()
        cmyk = self.cmyk.isChecked() and fmt in ("tiff", "jpeg")
        self.bit_depth.setEnabled(fmt in ("tiff", "png") and not cmyk)
        if fmt not in ("tiff", "png") or cmyk:
            self.bit_depth.setCurrentIndex(0)
        self.compression.setEnabled(fmt == "tiff")
        self.quality.setEnabled(fmt in ("jpeg", "webp"))
        self.subsampling.setEnabled(fmt == "jpeg")
        self.cmyk.setEnabled(fmt in ("tiff", "jpeg"))
        self.cmyk_profile.setEnabled(cmyk)
        self.icc.setEnabled(not cmyk)
        self.icc_other.setEnabled(not cmyk)
        path = self.path()
        if path is not None and path.suffix.lower() not in FORMATS[fmt]:
            self.path_edit.setText(str(path.with_suffix(FORMATS[fmt][0])))
        current = self.preset.currentData()
        try:
            settings = self.settings()
        except ExportSettingsError as exc:
            self.summary.setText(f"<span style='color:#c33'>{exc}</span>")
            return
        if self._presets.get(current) != settings:  # show the preset these settings are, if any
            match = next((name for name, preset in self._presets.items() if preset == settings), None)
            self._loading = True
            self.preset.setCurrentIndex(self.preset.findData(match) if match else 0)
            self._loading = False
        self.summary.setText(settings.describe())

    def _browse_icc(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "RGB ICC profile", "", "ICC profiles (*.icc *.icm)")
        if path:
            if self.icc.findData(path) < 0:
                self.icc.addItem(Path(path).name, path)
            self.icc.setCurrentIndex(self.icc.findData(path))

    def _browse_path(self) -> None:
        fmt = self.format.currentData()
        patterns = " ".join(f"*{s}" for s in FORMATS[fmt])
        start = self.path_edit.text() or str(Path.home())
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", start, f"{fmt.upper()} ({patterns})", options=QFileDialog.Option.DontConfirmOverwrite
        )
        if path:
            self.path_edit.setText(path)

    def _save_preset(self) -> None:
        try:
            settings = self.settings()
        except ExportSettingsError as exc:
            QMessageBox.warning(self, "Export preset", str(exc))
            return
        name, ok = QInputDialog.getText(self, "Save export preset", "Preset name:")
        if ok and name.strip():
            try:
                save_preset(name, settings, self.presets_file)
            except OSError as exc:
                QMessageBox.warning(self, "Export preset", f"Cannot save the preset: {exc}")
                return
            self._reload_presets(select=name.strip())

    def accept(self) -> None:
        try:
            settings = self.settings()
            path = self.path()
            if path is None:
                raise ValueError("Choose where to save the file.")
            export_path(path, settings)
        except (ExportSettingsError, ImageError, ValueError) as exc:
            QMessageBox.warning(self, "Export", str(exc))
            return
        super().accept()


# --------------------------------------------------------------------------- menu actions


class PrintActions(QObject):
    """The print and export menu entries of the main window, and their state."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.soft_proof = SoftProof(window.canvas, self)
        self.soft_proof.updated.connect(self._proof_updated)
        self.soft_proof.failed.connect(self._proof_failed)
        self.guides_action: QAction | None = None
        self.proof_action: QAction | None = None
        self.presets_file: Path | None = None  # None: the user's config folder (tests point it elsewhere)
        self._proof_announced = True
        self._export_task = BackgroundTask("studio-export", daemon=False, parent=self)
        self._exporting: Path | None = None
        self._last_export: Path | None = None
        self._close_when_exported = False
        self.export_bar = JobBar()
        self.export_bar.setObjectName("export-bar")
        self.export_bar.cancel_button.hide()  # an encoder cannot be stopped halfway; the write is atomic anyway
        window.statusBar().insertPermanentWidget(0, self.export_bar)

    def add_to_menus(self, file: QMenu, image: QMenu, view: QMenu) -> None:
        new = QAction("New from &Print Preset…", self.window)
        new.triggered.connect(lambda _checked=False: self.new_document_dialog())
        file.insertAction(file.actions()[1], new)
        fit = image.addAction("&Fit to Print Preset…")
        fit.triggered.connect(lambda _checked=False: self.fit_dialog())
        view.addSeparator()
        self.guides_action = view.addAction("Print &Guides")
        self.guides_action.setCheckable(True)
        self.guides_action.setShortcut("Ctrl+;")
        self.guides_action.toggled.connect(self.set_guides)
        self.proof_action = view.addAction("Soft &Proof…")
        self.proof_action.setCheckable(True)
        self.proof_action.setShortcut("Ctrl+Shift+P")
        self.proof_action.triggered.connect(self._proof_toggled)

    # documents

    def document_changed(self, doc: Document) -> None:
        """The window shows another document: the proof follows it, guides show its print spec."""
        doc.layers_changed.connect(self._update_size_label)
        if self.soft_proof.active:
            self.window.canvas.proof_image = None  # the previous document's proof must not show meanwhile
            self.soft_proof.follow(doc)
            self.soft_proof.refresh()

    def _update_size_label(self) -> None:
        doc = self.window.doc
        if doc is not None:
            self.window.size_label.setText(f"{doc.width} × {doc.height}")

    def new_document(self, spec: PrintSpec, background: str = "White") -> Document:
        from studio.qt.main_window import blank_document

        doc = blank_document(*spec.pixel_size, background)
        doc.name = spec.name if spec.name != CUSTOM else "Untitled print"
        doc.print_spec = spec
        self.window.set_document(doc, None)
        if self.guides_action is not None:
            self.guides_action.setChecked(True)
        return doc

    def new_document_dialog(self) -> None:
        dialog = NewPrintDocumentDialog(self.window)
        if dialog.exec() and self.window.confirm_discard():
            self.new_document(dialog.editor.spec(), dialog.background.currentText())

    def fit(self, spec: PrintSpec, mode: str, fill: tuple[int, int, int, int] = (255, 255, 255, 255)) -> None:
        doc = self.window.doc
        if doc is None:
            return
        try:
            fit_document(doc, spec, mode, fill=fill)  # type: ignore[arg-type]
        except MemoryError:
            self.window.show_error("Fit to print", "There is not enough memory for this print size.")
            return
        if self.guides_action is not None:
            self.guides_action.setChecked(True)
        self.window.canvas.fit()

    def fit_dialog(self) -> None:
        doc = self.window.doc
        if doc is None:
            return
        dialog = FitToPrintDialog(self.window, doc.print_spec)
        if dialog.exec():
            try:
                spec = dialog.editor.spec()
            except ValueError as exc:
                self.window.show_error("Fit to print", str(exc))
                return
            self.fit(spec, dialog.mode.currentData(), dialog.fill())

    # guides and proof

    def set_guides(self, on: bool) -> None:
        canvas = self.window.canvas
        canvas.guides_painter = paint_print_guides if on else None
        canvas.update()
        if on and (self.window.doc is None or self.window.doc.print_spec is None):
            self.window.statusBar().showMessage(
                "This document has no print size: use File › New from Print Preset or Image › Fit to Print Preset",
                8000,
            )

    def start_proof(self, profile: str, intent: str = "relative") -> bool:
        try:
            self.soft_proof.start(profile, intent)
        except ValueError as exc:
            self.window.show_error("Soft proof", str(exc))
            if self.proof_action is not None:
                self.proof_action.setChecked(False)
            return False
        if self.proof_action is not None:
            self.proof_action.setChecked(True)
        self._proof_announced = False
        self.window.statusBar().showMessage(f"Soft proof through {Path(profile).name} ({intent})…", 10000)
        return True

    def _proof_updated(self, share: float) -> None:
        if self._proof_announced or self.soft_proof.profile is None:
            return
        self._proof_announced = True
        name, intent = Path(self.soft_proof.profile).name, self.soft_proof.intent
        self.window.statusBar().showMessage(
            f"Soft proof through {name} ({intent}): {share:.1%} of the image is out of gamut", 10000
        )

    def _proof_failed(self, message: str) -> None:
        if self.proof_action is not None:
            self.proof_action.setChecked(False)
        self.window.show_error("Soft proof", message)

    def stop_proof(self) -> None:
        self.soft_proof.stop()
        if self.proof_action is not None:
            self.proof_action.setChecked(False)

    def _proof_toggled(self, checked: bool) -> None:
        if not checked:
            self.stop_proof()
            return
        dialog = SoftProofDialog(self.window, self.soft_proof.profile, self.soft_proof.intent)
        if dialog.exec():
            self.start_proof(dialog.profile.path() or "", dialog.intent.currentData())
        elif self.proof_action is not None:
            self.proof_action.setChecked(False)

    # export

    def default_settings(self) -> ExportSettings:
        doc = self.window.doc
        if doc is not None and doc.export_settings is not None:
            return doc.export_settings
        if doc is not None and doc.print_spec is not None:
            return ExportSettings("tiff", 16, dpi=float(doc.print_spec.ppi))
        return ExportSettings("png", dpi=None)

    @property
    def exporting(self) -> Path | None:
        """The file being written by the running export, or None."""
        return self._exporting

    def start_export(self, path: Path, settings: ExportSettings, *, ask: bool = True) -> bool:
        """Export the flattened document on a worker thread; False when nothing was started.

        The pixels are flattened (copied) first, so edits made while the file is
        written do not reach it. The job bar shows the export, the status bar its
        result; an error is shown naming the file. An existing file is replaced only
        after asking (unless ``ask`` is False). One export runs at a time: another is
        refused with a message while it runs.
        """
        doc = self.window.doc
        if doc is None:
            return False
        if self._exporting is not None:
            self.window.statusBar().showMessage(
                f"{self._exporting.name} is still being exported: export again when it is written.", 8000
            )
            return False
        try:
            target = export_path(path, settings)
        except ImageError as exc:
            self.window.show_error("Cannot export", str(exc))
            return False
        overwrite = target.exists()
        if overwrite and ask and not self._confirm_replace(target):
            return False
        pixels = doc.composite()

        def done(written: Path | None, error: BaseException | None) -> None:
            self._export_finished(doc, settings, written, error, target)

        self._exporting, self._last_export = target, None
        self.export_bar.start(f"Exporting {target.name}…")
        self.export_bar.progress.setRange(0, 0)  # busy: an encoder reports no progress
        self.export_bar.eta.setText(settings.describe())
        self._export_task.start(lambda: export_image(pixels, target, settings, overwrite=overwrite), done)
        return True

    def export(self, path: Path, settings: ExportSettings, *, ask: bool = True) -> Path | None:
        """Export and wait for the file (for scripts and tests; the menu uses :meth:`start_export`).

        Returns the path written, or None when nothing was (the error has been shown).
        """
        if not self.start_export(path, settings, ask=ask):
            return None
        self.wait_for_export()
        return self._last_export

    def wait_for_export(self, timeout: float | None = None) -> bool:
        """Block until the running export (if any) is written and reported; False on timeout."""
        return self._export_task.wait(timeout)

    def close_after_export(self) -> bool:
        """Called when the window is asked to close: True (close later) while an export is being written.

        The window then closes by itself once the file is complete.
        """
        if self._exporting is None:
            return False
        self._close_when_exported = True
        self.window.statusBar().showMessage(
            f"Finishing the export of {self._exporting.name}; Studio closes when it is written.", 0
        )
        return True

    def _confirm_replace(self, target: Path) -> bool:
        answer = QMessageBox.question(
            self.window,
            "Replace file?",
            f"{target.name} already exists in {target.parent}. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _export_finished(
        self, doc: Document, settings: ExportSettings, written: Path | None, error: BaseException | None, target: Path
    ) -> None:
        self._exporting = None
        self.export_bar.progress.setRange(0, 1000)
        self.export_bar.stop()
        if error is not None:
            text = (
                str(error) if isinstance(error, ImageError) else f"Cannot export {target.name}: {describe_error(error)}"
            )
            self.window.show_error("Cannot export", text)
            self.window.statusBar().showMessage(f"{target.name} was not exported", 8000)
        else:
            self._last_export = written
            doc.export_settings = settings
            self.window.statusBar().showMessage(f"Exported {written} ({settings.describe()})", 8000)
        if self._close_when_exported:
            self._close_when_exported = False
            QTimer.singleShot(0, self.window.close)

    def export_dialog(self) -> None:
        doc = self.window.doc
        if doc is None:
            return
        settings = self.default_settings()
        start = Path(self.window._last_dir()) / f"{Path(doc.name).stem or 'untitled'}{settings.suffix}"
        dialog = ExportDialog(self.window, settings, start, self.presets_file)
        if dialog.exec():
            path = dialog.path()
            if path is not None:
                with contextlib.suppress(ExportSettingsError):
                    self.start_export(path, dialog.settings())
