"""Dock panels: the layer stack and the undo history of a document."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache

import numpy as np
import shiboken6
from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.blend import BLEND_MODE_TITLES, BlendMode
from studio.core.document import (
    MAX_LAYER_NAME,
    Document,
    Layer,
    LayerKind,
    LayerLockedError,
    Recipe,
    blank_image,
    to_dtype,
)
from studio.core.history import AddLayer, MoveLayer, RemoveLayer, ReplaceLayers, SetLayerProperties
from studio.core.inputs import label_colours
from studio.core.layer_ops import MergeError, flatten, merge_down
from studio.qt.convert import numpy_to_qimage

THUMB_SIZE = 40
THUMB_THROTTLE_MS = 250

KIND_LABELS = {LayerKind.RASTER: "Image", LayerKind.MASK: "Mask", LayerKind.LABELS: "Labels"}
NEW_LAYER_NAMES = {LayerKind.RASTER: "Layer", LayerKind.MASK: "Mask", LayerKind.LABELS: "Labels"}
NEW_LAYER_TEXTS = {LayerKind.RASTER: "New layer", LayerKind.MASK: "New mask", LayerKind.LABELS: "New label map"}
RECIPE_MARKER_COLOR = "#e8a33d"


# Thumbnails


@cache
def _checker_pixmap() -> QPixmap:
    tile = QPixmap(8, 8)
    tile.fill(QColor("#ffffff"))
    painter = QPainter(tile)
    painter.fillRect(0, 0, 4, 4, QColor("#cccccc"))
    painter.fillRect(4, 4, 4, 4, QColor("#cccccc"))
    painter.end()
    return tile


def layer_thumbnail(layer: Layer, size: int = THUMB_SIZE, device_pixel_ratio: float = 1.0) -> QPixmap:
    """A ``size`` x ``size`` preview of ``layer``, aspect kept and centred.

    Raster layers are drawn over a checkerboard, masks as grey, label maps in the
    label palette (not smoothed, so labels stay distinct).
    """
    ratio = max(device_pixel_ratio, 1.0)
    device_size = round(size * ratio)
    width, height = layer.size
    scale = device_size / max(width, height)
    tw, th = max(1, round(width * scale)), max(1, round(height * scale))
    step = max(1, min(width // (2 * tw), height // (2 * th)))  # subsample cheaply first
    sample = layer.image.sample(step)
    if layer.kind is LayerKind.RASTER:
        sample = to_dtype(sample, np.dtype(np.uint8))
    smooth = layer.kind is not LayerKind.LABELS
    image = numpy_to_qimage(label_colours(sample) if layer.kind is LayerKind.LABELS else sample)
    image = image.scaled(
        tw,
        th,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation,
    )
    pixmap = QPixmap(device_size, device_size)
    pixmap.fill(Qt.GlobalColor.transparent)
    target = QRect((device_size - tw) // 2, (device_size - th) // 2, tw, th)
    painter = QPainter(pixmap)
    if layer.kind is LayerKind.RASTER:
        painter.fillRect(target, QBrush(_checker_pixmap()))
    painter.drawImage(target, image)
    painter.setPen(QColor(128, 128, 128, 160))
    painter.drawRect(target.adjusted(0, 0, -1, -1))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def recipe_text(recipe: Recipe, max_params: int = 24) -> str:
    """A plain-text summary of a recipe for tooltips."""
    lines = [f"Made by: {recipe.plugin_id}"]
    if recipe.seed is not None:
        lines.append(f"Seed: {recipe.seed}")
    if recipe.models:
        lines.append("Models: " + ", ".join(m.get("id", "?") for m in recipe.models))
    if recipe.size:
        lines.append(f"Size: {recipe.size[0]} × {recipe.size[1]}")
    if recipe.params:
        lines.append("Parameters:")
        items = list(recipe.params.items())
        lines.extend(f"  {key} = {value}" for key, value in items[:max_params])
        if len(items) > max_params:
            lines.append(f"  … and {len(items) - max_params} more")
    return "\n".join(lines)


def _layer_tooltip(layer: Layer) -> str:
    state = "visible" if layer.visible else "hidden"
    text = f"{layer.name}\n{KIND_LABELS[layer.kind]}, {state}, opacity {round(layer.opacity * 100)} %"
    if layer.kind is LayerKind.RASTER:
        text += f", {BLEND_MODE_TITLES[layer.blend_mode].lower()}"
    if layer.locked:
        text += ", locked"
    if layer.recipe is not None:
        text += "\n\n" + recipe_text(layer.recipe)
    return text


def _alive(widget: QWidget) -> bool:
    return shiboken6.isValid(widget)


def _set_enabled(widget: QWidget, enabled: bool) -> None:
    if widget.isEnabled() != enabled:
        widget.setEnabled(enabled)


# Layers
#
# PySide6 6.12 under Python 3.11 drops a reference to None for every empty QVariant it hands back (an
# unset role, or one set to None) and for every call that returns nothing (see studio/qt/__init__.py).
# So rows never carry the layer's id, kind or recipe in item roles and nothing reads a role back: the
# panel keeps the shown layers in its own list; and a refresh only sets what differs, so refreshing
# an unchanged dock costs no call per row.


class _LayerDelegate(QStyledItemDelegate):
    """Draws the kind badge, recipe marker and lock; renames go straight to a callback as a history command.

    ``layer_at(row)`` gives the layer a row shows (``None`` for none).
    """

    def __init__(
        self,
        layer_at: Callable[[int], Layer | None],
        rename: Callable[[str, str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._layer_at = layer_at
        self._rename = rename

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        layer = self._layer_at(index.row())
        badge = KIND_LABELS[layer.kind] if layer is not None else ""
        has_recipe = layer is not None and layer.recipe is not None
        locked = layer is not None and layer.locked
        metrics = opt.fontMetrics
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        badge_width = metrics.horizontalAdvance(badge)
        badge_rect = QRect(text_rect.right() - 4 - badge_width, text_rect.top(), badge_width + 1, text_rect.height())
        marker_left = badge_rect.left() - (12 if has_recipe else 0)
        left = marker_left - (16 if locked else 0)
        room = left - text_rect.left() - 12  # the style pads the text; keep clear of the badge
        opt.text = metrics.elidedText(opt.text, Qt.TextElideMode.ElideRight, max(room, 0))
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        painter.save()
        painter.setPen(opt.palette.color(role))
        painter.drawText(badge_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), badge)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if locked:
            _draw_padlock(painter, left + 2, badge_rect.center().y())
        if has_recipe:
            painter.setPen(QColor(255, 255, 255, 160) if selected else Qt.PenStyle.NoPen)
            painter.setBrush(QColor(RECIPE_MARKER_COLOR))
            painter.drawEllipse(marker_left + 2, badge_rect.center().y() - 3, 7, 7)
        painter.restore()

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex) -> QWidget:
        editor = QLineEdit(parent)
        editor.setFrame(False)
        editor.setMaxLength(MAX_LAYER_NAME)
        layer = self._layer_at(index.row())
        editor.setProperty("layer_id", layer.id if layer is not None else "")
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        # Called again when the row changes under an open editor: keep what the user typed.
        layer = self._layer_at(index.row())
        if isinstance(editor, QLineEdit) and not editor.isModified() and layer is not None:
            editor.setText(layer.name)

    def setModelData(
        self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        # The model is not written: the rename becomes an undoable command and the row follows the document.
        if isinstance(editor, QLineEdit):
            self._rename(str(editor.property("layer_id")), editor.text())


def _draw_padlock(painter: QPainter, left: int, centre_y: int) -> None:
    """A small padlock in the pen's colour, 9 px wide, centred on ``centre_y``: the mark of a locked layer."""
    colour = painter.pen().color()
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRect(left + 2, centre_y - 6, 5, 7), 0, 180 * 16)
    painter.drawLine(left + 2, centre_y - 3, left + 2, centre_y - 1)
    painter.drawLine(left + 7, centre_y - 3, left + 7, centre_y - 1)
    painter.fillRect(QRect(left, centre_y - 1, 10, 7), colour)


class LayersPanel(QWidget):
    """The document's layers, top-most first, with opacity, blend mode, lock and layer buttons.

    Every change but showing, hiding, locking and unlocking a layer goes through
    ``doc.history`` so it can be undone; those four only mark the document unsaved.
    Selecting a row makes that layer active (``doc.active_id``); ``active_changed(layer_id)``
    fires whenever the shown active layer changes ("" when there is none);
    ``rerender_requested(layer_id)`` when the context menu's "Re-render at Another
    Size…" is chosen on a layer with a recipe; ``message(text)`` when an action is
    refused (a locked layer), for the status bar.
    """

    active_changed = Signal(str)
    rerender_requested = Signal(str)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self._active_id = ""
        self._syncing = False
        self._thumbnails: dict[str, tuple[tuple[int, float], QIcon]] = {}
        """Each layer's thumbnail by layer id, with the pixels' revision and the pixel ratio it was drawn for."""
        self._rows: list[Layer] = []
        """The layers the rows show, top-most first: what rows are read back from, never the items."""

        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setItemDelegate(_LayerDelegate(self.layer_at, self.rename_layer, self.list))
        self.list.currentRowChanged.connect(self._on_current_row_changed)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(
            lambda pos: self.context_menu(pos).popup(self.list.mapToGlobal(pos))
        )

        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setPageStep(10)
        self.opacity_slider.setToolTip("Opacity of the selected layer")
        self.opacity_slider.valueChanged.connect(self._on_opacity_changed)
        self.opacity_value = QLabel("100 %")
        self.opacity_value.setMinimumWidth(self.opacity_value.fontMetrics().horizontalAdvance("100 %") + 4)
        self.opacity_value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        opacity_row = QHBoxLayout()
        opacity_row.setContentsMargins(0, 0, 0, 0)
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity_slider, 1)
        opacity_row.addWidget(self.opacity_value)

        self.blend_combo = QComboBox()
        for mode, title in BLEND_MODE_TITLES.items():
            self.blend_combo.addItem(title, mode.value)
        self.blend_combo.setToolTip("How the selected image layer mixes with the layers below it")
        self.blend_combo.currentIndexChanged.connect(self._on_blend_changed)
        self.lock_button = QToolButton()
        self.lock_button.setText("Lock")
        self.lock_button.setCheckable(True)
        self.lock_button.setToolTip("Lock the selected layer: no painting, erasing, merging or deleting")
        self.lock_button.toggled.connect(self._on_lock_toggled)
        blend_row = QHBoxLayout()
        blend_row.setContentsMargins(0, 0, 0, 0)
        blend_label = QLabel("Blend")
        blend_label.setMinimumWidth(QLabel("Opacity").sizeHint().width())
        blend_row.addWidget(blend_label)
        blend_row.addWidget(self.blend_combo, 1)
        blend_row.addWidget(self.lock_button)

        def button(text: str, tip: str, slot: Callable[[], object]) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(False)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _checked=False: slot())
            return b

        self.new_layer_button = button("New layer", "Add an empty image layer", self.new_layer)
        self.new_mask_button = button("New mask", "Add an empty mask", lambda: self.new_layer(LayerKind.MASK))
        self.new_labels_button = button(
            "New labels", "Add an empty label map (for doodles)", lambda: self.new_layer(LayerKind.LABELS)
        )
        self.duplicate_button = button("Duplicate", "Duplicate the selected layer", self.duplicate_layer)
        self.delete_button = button("Delete", "Delete the selected layer", self.delete_layer)
        self.up_button = button("Up", "Move the selected layer up", lambda: self.move_layer(1))
        self.down_button = button("Down", "Move the selected layer down", lambda: self.move_layer(-1))
        self.merge_button = button(
            "Merge down", "Merge the selected layer into the one below, with its blend mode", self.merge_down
        )
        self.flatten_button = button("Flatten", "Merge every image layer into one", self.flatten)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        for column, b in enumerate((self.new_layer_button, self.new_mask_button, self.new_labels_button)):
            grid.addWidget(b, 0, column * 4, 1, 4)
        for column, b in enumerate((self.duplicate_button, self.delete_button, self.up_button, self.down_button)):
            grid.addWidget(b, 1, column * 3, 1, 3)
        for column, b in enumerate((self.merge_button, self.flatten_button)):
            grid.addWidget(b, 2, column * 6, 1, 6)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.list, 1)
        layout.addLayout(opacity_row)
        layout.addLayout(blend_row)
        layout.addLayout(grid)

        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(THUMB_THROTTLE_MS)
        self._thumb_timer.timeout.connect(self.refresh_thumbnails)
        self._update_controls()

    # Document

    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (``None`` for none), following its changes."""
        if self.doc is not None:
            self.doc.layers_changed.disconnect(self._on_layers_changed)
            self.doc.pixels_changed.disconnect(self._on_pixels_changed)
        self.doc = doc
        self._thumbnails.clear()
        self._thumb_timer.stop()
        if doc is not None:
            doc.layers_changed.connect(self._on_layers_changed)
            doc.pixels_changed.connect(self._on_pixels_changed)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows from the document (also picks up a changed ``doc.active_id``)."""
        layers = list(reversed(self.doc.layers)) if self.doc is not None else []
        alive = {layer.id for layer in layers}
        for stale in set(self._thumbnails) - alive:
            del self._thumbnails[stale]
        active = self.doc.active_id if self.doc is not None else None
        self._syncing = True
        try:
            while self.list.count() > len(layers):
                self.list.takeItem(self.list.count() - 1)
            del self._rows[len(layers) :]
            while self.list.count() < len(layers):
                item = QListWidgetItem()
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsEditable
                    | Qt.ItemFlag.ItemIsUserCheckable
                )
                self.list.addItem(item)
            shown = self._rows + [None] * (len(layers) - len(self._rows))
            self._rows = layers
            for row, layer in enumerate(layers):
                self._update_item(self.list.item(row), layer, shown[row])
            row = next((r for r, layer in enumerate(layers) if layer.id == active), -1)
            if self.list.currentRow() != row:
                self.list.setCurrentRow(row)
            if row < 0 and self.list.selectedItems():
                self.list.clearSelection()
        finally:
            self._syncing = False
        self._update_controls()
        self._set_active(active or "")

    def refresh_thumbnails(self) -> None:
        """Redraw the thumbnails of the layers whose pixels changed, now (normally done at most every 250 ms after
        pixel changes)."""
        self._thumb_timer.stop()
        if self.doc is None:
            return
        layers = list(reversed(self.doc.layers))
        for row, layer in enumerate(layers[: self.list.count()]):
            self.list.item(row).setIcon(self._thumbnail(layer))

    def layer_id_at(self, row: int) -> str:
        """The id of the layer shown in ``row`` (row 0 is the top-most layer)."""
        layer = self.layer_at(row)
        if layer is None:
            raise IndexError(f"no row {row}")
        return layer.id

    def layer_at(self, row: int) -> Layer | None:
        """The layer shown in ``row``; ``None`` for a row that does not exist."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, layer_id: str) -> int:
        """The row showing ``layer_id``; ``KeyError`` if none does."""
        for row, layer in enumerate(self._rows):
            if layer.id == layer_id:
                return row
        raise KeyError(layer_id)

    # Actions (all undoable)

    def new_layer(self, kind: LayerKind = LayerKind.RASTER) -> Layer | None:
        """Add an empty layer of ``kind`` above the active layer."""
        doc = self.doc
        if doc is None:
            return None
        name = doc.unique_layer_name(NEW_LAYER_NAMES[kind])
        layer = Layer(name, kind, blank_image(kind, doc.width, doc.height, doc.bit_depth))
        doc.history.push(AddLayer(NEW_LAYER_TEXTS[kind], layer, self._above_active()))
        return layer

    def duplicate_layer(self) -> Layer | None:
        """Add a copy of the active layer (pixels, visibility, opacity, blend mode, recipe; unlocked) above it."""
        doc = self.doc
        source = doc.active_layer if doc is not None else None
        if doc is None or source is None:
            return None
        layer = Layer(
            doc.unique_layer_name(f"{source.name} copy"),
            source.kind,
            source.image.snapshot(),
            visible=source.visible,
            opacity=source.opacity,
            recipe=copy.deepcopy(source.recipe),
            blend_mode=source.blend_mode,
        )
        doc.history.push(AddLayer("Duplicate layer", layer, self._above_active()))
        return layer

    def delete_layer(self) -> None:
        """Delete the active layer, unless it is locked (then ``message`` says so)."""
        layer = self.doc.active_layer if self.doc is not None else None
        if self.doc is not None and layer is not None and self._unlocked(layer, "delete it"):
            self.doc.history.push(RemoveLayer("Delete layer", layer.id))

    def merge_down(self) -> None:
        """Merge the active layer into the image layer below it, in one undo step (``message`` says why not)."""
        if self.doc is not None and self.doc.active_id is not None:
            self._push_merge(lambda doc: merge_down(doc, doc.active_id or ""))

    def flatten(self) -> None:
        """Merge every visible image layer into one, dropping hidden ones, in one undo step."""
        self._push_merge(flatten)

    def move_layer(self, offset: int) -> None:
        """Move the active layer ``offset`` places up (positive) or down (negative) the stack."""
        doc = self.doc
        if doc is None or doc.active_id is None:
            return
        index = doc.index_of(doc.active_id)
        target = min(max(index + offset, 0), len(doc.layers) - 1)
        if target != index:
            text = "Move layer up" if target > index else "Move layer down"
            doc.history.push(MoveLayer(text, doc.active_id, target))

    def rename_layer(self, layer_id: str, name: str) -> None:
        """Rename a layer (blank names and unknown layers are ignored)."""
        name = name.strip()
        layer = self._layer(layer_id)
        if self.doc is not None and layer is not None and name and name != layer.name:
            self.doc.history.push(SetLayerProperties("Rename layer", layer_id, {"name": name}))

    def start_rename(self) -> None:
        """Open the name editor on the active layer's row."""
        item = self.list.currentItem()
        if item is not None:
            self.list.scrollToItem(item)
            self.list.editItem(item)

    def set_layer_visible(self, layer_id: str, visible: bool) -> None:
        """Show or hide a layer: not an undo step, but the document becomes unsaved (projects keep it)."""
        self._set_unrecorded(layer_id, visible=visible)

    def set_layer_locked(self, layer_id: str, locked: bool) -> None:
        """Lock or unlock a layer: not an undo step, but the document becomes unsaved (projects keep it)."""
        self._set_unrecorded(layer_id, locked=locked)

    def set_blend_mode(self, layer_id: str, mode: BlendMode) -> None:
        """Set an image layer's blend mode, as an undo step."""
        layer = self._layer(layer_id)
        if self.doc is not None and layer is not None and layer.kind is LayerKind.RASTER and layer.blend_mode != mode:
            text = f"Blend mode {BLEND_MODE_TITLES[mode].lower()}"
            self.doc.history.push(SetLayerProperties(text, layer_id, {"blend_mode": mode}))

    def set_layer_opacity(self, layer_id: str, opacity: float) -> None:
        """Set opacity (0..1); consecutive calls merge into one undo step."""
        layer = self._layer(layer_id)
        if self.doc is not None and layer is not None and abs(layer.opacity - opacity) > 1e-9:
            self.doc.history.push(SetLayerProperties("Layer opacity", layer_id, {"opacity": opacity}))

    def context_menu(self, pos: QPoint) -> QMenu:
        """The menu for the row at ``pos`` (list coordinates, which it selects): rename, duplicate, merge down,
        flatten, lock, and re-render a layer that has a recipe."""
        menu = QMenu(self.list)
        row = self.list.indexAt(pos).row()
        shown = self.layer_at(row)
        layer = self._layer(shown.id) if shown is not None else None
        if layer is not None:
            self.list.setCurrentRow(row)
        for text, slot, enabled in (
            ("Rename…", self.start_rename, layer is not None),
            ("Duplicate", self.duplicate_layer, layer is not None),
            ("Merge Down", self.merge_down, layer is not None),
            ("Flatten Image", self.flatten, self.doc is not None),
        ):
            item = menu.addAction(text)
            item.setEnabled(enabled)
            item.triggered.connect(lambda _checked=False, slot=slot: slot())
        lock = menu.addAction("Locked")
        lock.setCheckable(True)
        lock.setChecked(layer is not None and layer.locked)
        lock.setEnabled(layer is not None)
        if layer is not None:
            lock.toggled.connect(lambda locked, layer_id=layer.id: self.set_layer_locked(layer_id, locked))
        menu.addSeparator()
        action = menu.addAction("Re-render at Another Size…")
        action.setEnabled(layer is not None and layer.recipe is not None)
        if layer is not None:
            action.triggered.connect(lambda _checked=False, layer_id=layer.id: self.rerender_requested.emit(layer_id))
        return menu

    # Internals

    def _layer(self, layer_id: str) -> Layer | None:
        if self.doc is None:
            return None
        try:
            return self.doc.layer(layer_id)
        except KeyError:
            return None

    def _unlocked(self, layer: Layer, action: str) -> bool:
        """True when ``layer`` is unlocked, else ``message`` says it is locked so the artist cannot ``action``."""
        try:
            layer.ensure_unlocked(action)
        except LayerLockedError as exc:
            self.message.emit(str(exc))
            return False
        return True

    def _push_merge(self, make: Callable[[Document], ReplaceLayers]) -> None:
        if self.doc is None:
            return
        try:
            self.doc.history.push(make(self.doc))
        except (LayerLockedError, MergeError) as exc:
            self.message.emit(str(exc))

    def _set_unrecorded(self, layer_id: str, **properties: bool) -> None:
        layer = self._layer(layer_id)
        if self.doc is None or layer is None or all(getattr(layer, k) == v for k, v in properties.items()):
            return
        self.doc.set_layer_properties(layer_id, **properties)
        self.doc.history.mark_modified()

    def _above_active(self) -> int | None:
        doc = self.doc
        if doc is None or doc.active_id is None:
            return None
        return doc.index_of(doc.active_id) + 1

    def _thumbnail(self, layer: Layer) -> QIcon:
        drawn_for = (layer.image.revision, self.devicePixelRatioF())
        cached = self._thumbnails.get(layer.id)
        if cached is None or cached[0] != drawn_for:
            cached = drawn_for, QIcon(layer_thumbnail(layer, THUMB_SIZE, drawn_for[1]))
            self._thumbnails[layer.id] = cached
        return cached[1]

    def _update_item(self, item: QListWidgetItem, layer: Layer, shown: Layer | None) -> None:
        """Bring ``item`` (which showed ``shown``) up to date with ``layer``."""
        # Only set what differs: an open name editor is refreshed on every data change.
        new_layer = shown is None or shown.id != layer.id
        if item.text() != layer.name:
            item.setText(layer.name)
        check = Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked
        # A new row reads as unchecked yet has no check box until one is set.
        if item.data(Qt.ItemDataRole.CheckStateRole) is None or item.checkState() != check:
            item.setCheckState(check)
        tooltip = _layer_tooltip(layer)
        if item.toolTip() != tooltip:
            item.setToolTip(tooltip)
        if new_layer or layer.id not in self._thumbnails:
            item.setIcon(self._thumbnail(layer))

    def _update_controls(self) -> None:
        doc = self.doc
        layer = doc.active_layer if doc is not None else None
        index = doc.index_of(layer.id) if doc is not None and layer is not None else -1
        count = len(doc.layers) if doc is not None else 0
        value = round(layer.opacity * 100) if layer is not None else 100
        if self.opacity_slider.value() != value:
            self.opacity_slider.blockSignals(True)
            self.opacity_slider.setValue(value)
            self.opacity_slider.blockSignals(False)
        if self.opacity_value.text() != f"{self.opacity_slider.value()} %":
            self.opacity_value.setText(f"{self.opacity_slider.value()} %")
        _set_enabled(self.opacity_slider, layer is not None)
        mode = layer.blend_mode if layer is not None else BlendMode.NORMAL
        if self.blend_combo.currentData() != mode.value:
            self.blend_combo.blockSignals(True)
            self.blend_combo.setCurrentIndex(self.blend_combo.findData(mode.value))
            self.blend_combo.blockSignals(False)
        _set_enabled(self.blend_combo, layer is not None and layer.kind is LayerKind.RASTER)
        locked = layer is not None and layer.locked
        if self.lock_button.isChecked() != locked:
            self.lock_button.blockSignals(True)
            self.lock_button.setChecked(locked)
            self.lock_button.blockSignals(False)
        _set_enabled(self.lock_button, layer is not None)
        _set_enabled(self.merge_button, layer is not None and index > 0)
        _set_enabled(self.flatten_button, count > 0)
        for b in (self.new_layer_button, self.new_mask_button, self.new_labels_button):
            _set_enabled(b, doc is not None)
        _set_enabled(self.duplicate_button, layer is not None)
        _set_enabled(self.delete_button, layer is not None)
        _set_enabled(self.up_button, layer is not None and index < count - 1)
        _set_enabled(self.down_button, layer is not None and index > 0)

    def _set_active(self, layer_id: str) -> None:
        if layer_id != self._active_id:
            self._active_id = layer_id
            self.active_changed.emit(layer_id)

    def _on_layers_changed(self) -> None:
        if _alive(self):
            self.refresh()

    def _on_pixels_changed(self, _region: object) -> None:
        if _alive(self) and not self._thumb_timer.isActive():
            self._thumb_timer.start()

    def _on_current_row_changed(self, row: int) -> None:
        if self._syncing or self.doc is None or row < 0:
            return
        layer_id = self.layer_id_at(row)
        self.doc.active_id = layer_id
        self._update_controls()
        self._set_active(layer_id)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        layer = self.layer_at(self.list.row(item))
        if self._syncing or layer is None:
            return
        self.set_layer_visible(layer.id, item.checkState() == Qt.CheckState.Checked)

    def _on_blend_changed(self, index: int) -> None:
        if self.doc is not None and self.doc.active_id is not None and index >= 0:
            self.set_blend_mode(self.doc.active_id, BlendMode(self.blend_combo.itemData(index)))

    def _on_lock_toggled(self, locked: bool) -> None:
        if self.doc is not None and self.doc.active_id is not None:
            self.set_layer_locked(self.doc.active_id, locked)

    def _on_opacity_changed(self, value: int) -> None:
        self.opacity_value.setText(f"{value} %")
        if self.doc is not None and self.doc.active_id is not None:
            self.set_layer_opacity(self.doc.active_id, value / 100)


# History


class HistoryPanel(QWidget):
    """The undo history as a list: the initial state, then one row per command.

    The current state is selected, undone rows are greyed, and clicking a row
    undoes or redoes up to it. Like the layers, rows are never read back from
    item roles (see the note above ``_LayerDelegate``).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.initial_text = "New document"
        self._syncing = False
        self._current = -1
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.currentRowChanged.connect(self._on_current_row_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)

    def set_document(self, doc: Document | None, initial_text: str = "New document") -> None:
        """Show the history of ``doc``; ``initial_text`` names the state before any command ("Open", ...)."""
        if self.doc is not None:
            self.doc.history.changed.disconnect(self._on_history_changed)
        self.doc = doc
        self.initial_text = initial_text
        if doc is not None:
            doc.history.changed.connect(self._on_history_changed)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows from the history."""
        history = self.doc.history if self.doc is not None else None
        texts = [self.initial_text, *history.texts()] if history is not None else []
        current = history.index if history is not None else -1
        self._current = current
        # Both colours are set: clearing a role means setting it to None, which costs None a reference.
        undone = QBrush(self.list.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        done = QBrush(self.list.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text))
        self._syncing = True
        try:
            while self.list.count() > len(texts):
                self.list.takeItem(self.list.count() - 1)
            while self.list.count() < len(texts):
                self.list.addItem(QListWidgetItem())
            for row, text in enumerate(texts):
                item = self.list.item(row)
                if item.text() != text:
                    item.setText(text)
                colour = undone if row > current else done
                if item.foreground() != colour:
                    item.setForeground(colour)
            if self.list.currentRow() != current:
                self.list.setCurrentRow(current)
                if current >= 0:
                    self.list.scrollToItem(self.list.item(current))
        finally:
            self._syncing = False

    def is_undone(self, row: int) -> bool:
        """Whether ``row`` is an undone (greyed) step."""
        return self._current < row < self.list.count()

    def changeEvent(self, event: QEvent) -> None:
        """Recolour the rows when the palette changes (a light or dark theme)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh()

    def _on_history_changed(self) -> None:
        if _alive(self):
            self.refresh()

    def _on_current_row_changed(self, row: int) -> None:
        if self._syncing or self.doc is None or row < 0:
            return
        self.doc.history.go_to(row)
        self.refresh()
