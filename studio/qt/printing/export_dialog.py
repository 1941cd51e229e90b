"""File › Export Image…: named presets and every export setting, then the file name."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.colour import INTENTS
from studio.core.export import FORMATS, ExportSettings, ExportSettingsError, export_path, load_presets, save_preset
from studio.core.image import ImageError
from studio.qt.file_dialogs import start_folder
from studio.qt.printing.widgets import ProfileChooser, dialog_buttons


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
        layout.addWidget(dialog_buttons(self, "Export"))

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
        path, _ = QFileDialog.getOpenFileName(self, "RGB ICC profile", start_folder(self), "ICC profiles (*.icc *.icm)")
        if path:
            if self.icc.findData(path) < 0:
                self.icc.addItem(Path(path).name, path)
            self.icc.setCurrentIndex(self.icc.findData(path))

    def _browse_path(self) -> None:
        fmt = self.format.currentData()
        patterns = " ".join(f"*{s}" for s in FORMATS[fmt])
        start = start_folder(self, self.path_edit.text())
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
