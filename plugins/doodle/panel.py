"""The neural doodle panel: the style painting with its label map over it, the regions as a locked palette
(colour, name, the texture each stands for), segmenting the style or the document into regions, loading a doodle
drawn in another program, and the parameter rows of the chosen method."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from studio_plugins.doodle.params import STYLE_SOURCE, TEXTURE_INPUTS, DoodleParams, region_sources

from studio.core.image import ImageError, save_image
from studio.core.inputs import InputError, Inputs, InputSpec, label_colours, read_input
from studio.core.jobs import Frame, JobFn, JobHandle, RunContext
from studio.core.labels import colour_hex, match_by_likeness, palette_of, segment, to_indices
from studio.core.params import ParamError
from studio.qt.file_dialogs import start_folder
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ParamsPanel

THUMBNAIL = 200
SWATCH = 40
OVERLAY_OPACITY = 0.45
DOCUMENT_PALETTE = label_colours(np.arange(256, dtype=np.uint8))
SOURCES = (STYLE_SOURCE, *TEXTURE_INPUTS)
SOURCE_TITLES = ("Style painting", *(f"Texture {name[-1]}" for name in TEXTURE_INPUTS))
BLEND = "Blend"
COLOUR, NAME, TEXTURE, FROM = range(4)


def _pixmap(rgb: np.ndarray) -> QPixmap:
    """An RGB uint8 array as a pixmap."""
    rgb = np.ascontiguousarray(rgb[..., :3])
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


def _colour_icon(colour: np.ndarray) -> QIcon:
    pixmap = QPixmap(SWATCH, SWATCH)
    pixmap.fill(QColor(colour_hex(colour)))
    return QIcon(pixmap)


def texture_crop(style: np.ndarray, mask: np.ndarray, side: int = 48) -> np.ndarray:
    """A square crop (at most ``side`` px) of ``style`` around the point deepest inside ``mask`` (H, W bool)."""
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    half = max(1, min(side // 2, int(depth[y, x])))
    return style[max(0, y - half) : y + half, max(0, x - half) : x + half, :3]


class DoodlePanel(ParamsPanel):
    """The doodle parameters (rows of the chosen method only) under the style preview and its region palette."""

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(DoodleParams, parent)
        self.host = host
        self.names: dict[str, str] = {}
        self.palette = np.zeros((0, 3), np.uint8)
        self.region_indices: np.ndarray | None = None

        box = QGroupBox("Style regions")
        column = QVBoxLayout(box)
        column.setContentsMargins(6, 6, 6, 6)
        self.preview = QLabel("Choose a style painting and its label map in the Inputs box, or segment it.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setMinimumHeight(80)
        self.segment_button = QPushButton("Segment the style picture…")
        self.segment_button.setToolTip("Make the style's label map by colour and position, next to the picture")
        self.segment_button.clicked.connect(self.ask_segment_style)
        self.doodle_button = QPushButton("Doodle from the document")
        self.doodle_button.setToolTip("Segment the document's picture into the same regions, as a label layer")
        self.doodle_button.clicked.connect(self.doodle_from_document)
        self.load_button = QPushButton("Load doodle…")
        self.load_button.setToolTip("A label map drawn in another program, snapped to these regions, as a label layer")
        self.load_button.clicked.connect(self.ask_load_doodle)
        self.regions = QTableWidget(0, 4)
        self.regions.setHorizontalHeaderLabels(["Colour", "Name", "Texture", "From"])
        self.regions.verticalHeader().hide()
        self.regions.setIconSize(QSize(SWATCH, SWATCH))
        self.regions.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.regions.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.regions.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.regions.setMinimumWidth(120)
        self.regions.verticalHeader().setDefaultSectionSize(SWATCH + 6)
        self.regions.horizontalHeader().setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.regions.itemChanged.connect(self._rename)
        self.status = QLabel()
        self.status.setWordWrap(True)
        for widget in (self.preview, self.segment_button):
            column.addWidget(widget)
        column.addWidget(self.regions)
        column.addWidget(self.doodle_button)
        column.addWidget(self.load_button)
        column.addWidget(self.status)
        self.form.insertRow(0, box)

        self.editor("region_textures").editingFinished.connect(self.refresh)
        host.extras_changed.connect(self.refresh)  # nothing is chosen in the Inputs box yet

    def _read(self, name: str) -> np.ndarray | None:
        """The extra input ``name`` chosen in the Inputs box, or None when none is chosen or it cannot be read."""
        path = self.host.extras().get(name)
        spec = next(s for s in self.host.manifest.inputs if s.name == name)
        if not path:
            return None
        try:
            return read_input(spec, path)
        except (InputError, ImageError, OSError) as exc:
            self.status.setText(str(exc))
            return None

    def refresh(self) -> None:
        """Show the chosen style painting with its label map over it, and its regions with their sources."""
        self.status.clear()  # what it said was about the inputs before this change
        style, labels = self._read("style"), self._read("style_labels")
        self.palette = palette_of(labels) if labels is not None else np.zeros((0, 3), np.uint8)
        indices, inexact = to_indices(self.palette[None], DOCUMENT_PALETTE) if len(self.palette) else (None, 0)
        self.region_indices = None if indices is None or inexact else indices[0]
        if labels is not None and self.region_indices is None:
            self.status.setText("The label map's colours are not label colours: segment the style to paint with it.")
        if style is not None and labels is not None:
            labels = cv2.resize(labels, (style.shape[1], style.shape[0]), interpolation=cv2.INTER_NEAREST)
        shown = style[..., :3] if style is not None else labels
        if shown is not None:
            if style is not None and labels is not None:
                blend = style[..., :3] * (1 - OVERLAY_OPACITY) + labels * OVERLAY_OPACITY
                shown = np.rint(blend).astype(np.uint8)
            pixmap = _pixmap(shown).scaled(
                THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self.preview.setPixmap(pixmap)
        self._fill_regions(style, labels)

    def _sources(self) -> dict[str, tuple[tuple[str, float], ...]]:
        """The region_textures field as {colour: blend}; empty while it holds a mistake (its row says which)."""
        try:
            return region_sources(self.values()["region_textures"])
        except ParamError:
            return {}

    def _fill_regions(self, style: np.ndarray | None, labels: np.ndarray | None) -> None:
        sources = self._sources()
        self.regions.blockSignals(True)
        self.regions.setRowCount(len(self.palette))
        for row, colour in enumerate(self.palette):
            key = colour_hex(colour)
            swatch = QTableWidgetItem(_colour_icon(colour), "")
            swatch.setToolTip(key)
            swatch.setFlags(Qt.ItemFlag.ItemIsEnabled)
            name = QTableWidgetItem(self.names.get(key, f"Region {row + 1}"))
            name.setData(Qt.ItemDataRole.UserRole, key)
            texture = QTableWidgetItem()
            texture.setFlags(Qt.ItemFlag.ItemIsEnabled)
            blend = sources.get(key, ((STYLE_SOURCE, 1.0),))
            crop = self._swatch(blend[0][0], style, labels, colour)
            if crop is not None:
                texture.setIcon(QIcon(_pixmap(crop)))
            self.regions.setItem(row, COLOUR, swatch)
            self.regions.setItem(row, NAME, name)
            self.regions.setItem(row, TEXTURE, texture)
            self.regions.setCellWidget(row, FROM, self._source_box(key, blend))
        for column in (COLOUR, TEXTURE, FROM):
            self.regions.resizeColumnToContents(column)
        self.regions.setFixedHeight(
            self.regions.horizontalHeader().height()
            + sum(self.regions.rowHeight(r) for r in range(len(self.palette)))
            + 2 * self.regions.frameWidth()
        )
        self.regions.blockSignals(False)

    def _swatch(
        self, source: str, style: np.ndarray | None, labels: np.ndarray | None, colour: np.ndarray
    ) -> np.ndarray | None:
        """A crop of the texture ``source`` stands for in the region of ``colour``; None when it is not chosen."""
        if source != STYLE_SOURCE:
            picture = self._read(source)
            return None if picture is None else texture_crop(picture, np.ones(picture.shape[:2], bool))
        if style is None or labels is None:
            return None
        return texture_crop(style, (labels == colour).all(axis=2))

    def _source_box(self, colour: str, blend: tuple[tuple[str, float], ...]) -> QComboBox:
        """The region's source chooser: the style painting or one texture picture (a blend is edited as text)."""
        box = QComboBox()
        box.addItems(SOURCE_TITLES)
        if len(blend) > 1:
            box.addItem(BLEND)
            box.setCurrentText(BLEND)
        else:
            box.setCurrentIndex(SOURCES.index(blend[0][0]))
        box.setToolTip("Where this region's texture comes from; choose texture pictures in the Inputs box")
        box.currentIndexChanged.connect(lambda index, colour=colour: self.set_source(colour, index))
        return box

    def set_source(self, colour: str, index: int) -> None:
        """Texture the region of ``colour`` from ``SOURCES[index]`` (the style painting's own region by default)."""
        if index >= len(SOURCES):
            return
        sources = self._sources()
        sources.pop(colour, None)
        if SOURCES[index] != STYLE_SOURCE:
            sources[colour] = ((SOURCES[index], 1.0),)
        text = "; ".join(
            f"{key}=" + "+".join(name if len(blend) == 1 else f"{name}*{weight:g}" for name, weight in blend)
            for key, blend in sources.items()
        )
        self.set_values({"region_textures": text})
        self.refresh()

    def _rename(self, item: QTableWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        if key:
            self.names[str(key)] = item.text()

    def region_names(self) -> list[str]:
        """The regions' names, in the palette's order."""
        return [self.regions.item(row, NAME).text() for row in range(self.regions.rowCount())]

    def ask_segment_style(self) -> None:
        """Ask how many regions, then segment the style painting."""
        count, ok = QInputDialog.getInt(self, "Segment the style picture", "Regions", max(2, len(self.palette)), 1, 32)
        if ok:
            self.segment_style(count)

    def segment_style(self, regions: int) -> Path | None:
        """Write the style painting's label map of ``regions`` regions as a PNG next to it (or in the temporary
        folder when that is not writable) and choose it in the Inputs box; None (and why, in the panel) on failure."""
        style = self._read("style")
        if style is None:
            self.status.setText("Choose the style painting in the Inputs box first.")
            return None
        labels = label_colours(segment(style, regions))
        source = Path(self.host.extras()["style"])
        target = source.with_name(f"{source.stem}-labels.png")
        if not os.access(target.parent, os.W_OK):
            target = Path(tempfile.gettempdir()) / target.name
        save_image(labels, target)
        self.host.set_extra("style_labels", str(target))
        self.status.setText(f"{len(self.palette)} regions written to {target.name}.")
        return target

    def doodle_from_document(self) -> JobHandle | None:
        """Segment the document's picture into as many regions as the style has, each painted with the style region
        it resembles most in colour and place (the photo's sky becomes the painting's sky), as a label layer.

        A job (it flattens and segments the whole picture, on the worker); the layer is added when it is done.
        """
        doc = self.host.document
        if doc is None or self.region_indices is None:
            self.status.setText("Open a picture and segment the style first.")
            return None
        # The picture is read from a snapshot, and the style files, on the worker: the doodle the job makes is
        # the input the plugin's own runs require, so the host does not build inputs for it.
        snapshot, files = doc.snapshot(), {name: self.host.extras().get(name) for name in ("style", "style_labels")}
        specs = {spec.name: spec for spec in self.host.manifest.inputs}
        indices, palette, count = self.region_indices, self.palette, len(self.region_indices)
        made: list[np.ndarray] = []

        def make_job(_inputs: Inputs) -> JobFn:
            def job(ctx: RunContext) -> Iterator[Frame]:
                picture = snapshot.composite(dtype=np.dtype(np.uint8))[..., :3]
                segments = segment(picture, count).astype(np.int64) - 1
                ctx.check_cancelled()
                style, labels = (read_input(specs[name], path) if path else None for name, path in files.items())
                likeness = np.arange(count)
                if style is not None and labels is not None:
                    labels = cv2.resize(labels, (style.shape[1], style.shape[0]), interpolation=cv2.INTER_NEAREST)
                    regions, _ = to_indices(labels, palette)
                    likeness = match_by_likeness(picture, segments, style[..., :3], regions.astype(np.int64), count)
                made.append(indices[likeness[segments]])
                yield ctx.frame(1.0, final=True, message="Doodle made")

            return job

        def finished(_frame: Frame) -> None:
            self.host.add_label_layer("Doodle", made[0])
            self.status.setText(f"Added a doodle of {count} regions, each matched to the style region it resembles.")

        return self.host.submit("Doodle from the document", make_job, finished, reads_document=False)

    def ask_load_doodle(self) -> None:
        """Ask for a label map file, then load it as a doodle."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Load doodle", start_folder(self), "Images (*.png *.tif *.tiff *.bmp *.webp)"
        )
        if path:
            self.load_doodle(path)

    def load_doodle(self, path: str) -> int | None:
        """Add the label map file at ``path`` as a label layer, its colours snapped to the style's regions;
        the number of pixels snapping moved (shown in the panel), or None when it could not be loaded."""
        doc = self.host.document
        if doc is None or self.region_indices is None:
            self.status.setText("Open a picture and segment the style first.")
            return None
        try:
            rgb = read_input(InputSpec("doodle", "labels"), path)
            if rgb.shape[:2] != (doc.height, doc.width):
                raise InputError(f"the doodle is {rgb.shape[1]}x{rgb.shape[0]}, the picture {doc.width}x{doc.height}")
        except (InputError, ImageError, OSError) as exc:
            self.status.setText(str(exc))
            return None
        rows, moved = to_indices(rgb, self.palette)
        self.host.add_label_layer(Path(path).stem, self.region_indices[rows])
        self.status.setText(f"Snapped {moved} pixels to the {len(self.palette)} region colours.")
        return moved
