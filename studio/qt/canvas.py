"""The canvas: shows the document and its selection, takes brush strokes and selections, zooms and pans."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, QSize, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget
from superqt.utils import FunctionWorker, create_worker

from studio.core.document import Document, Layer, LayerKind, LayerLockedError, Region, is_opaque
from studio.core.image import to_uint8
from studio.core.inputs import label_colours
from studio.core.paint import Brush, Stroke, pick_color, polygon_mask, rectangle_mask
from studio.core.selection import Combine, ellipse_mask, fill_shape, magic_wand, outline, select

MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
MASK_COLOR = np.array([230, 40, 60], np.float32)
MASK_OPACITY = 0.45
REFRESH_SLICE_PIXELS = 1 << 20
LABEL_OPACITY = 0.5
ANTS_INTERVAL_MS = 150
MAX_MARCHING_SEGMENTS = 20_000
ELLIPSE_POINTS = 64


class Tool(StrEnum):
    BRUSH = "brush"
    ERASER = "eraser"
    MASK = "mask"
    PICKER = "picker"
    FILL = "fill"
    RECTANGLE_MASK = "rectangle_mask"
    ELLIPSE_MASK = "ellipse_mask"
    LASSO_MASK = "lasso_mask"
    MAGIC_WAND = "magic_wand"


SELECTION_TOOLS = (Tool.RECTANGLE_MASK, Tool.ELLIPSE_MASK, Tool.LASSO_MASK, Tool.MAGIC_WAND)
CORNER_TOOLS = (Tool.RECTANGLE_MASK, Tool.ELLIPSE_MASK)


@dataclass
class ToolSettings:
    """The current tool and brush, shared by the canvas and the tool options bar."""

    tool: Tool = Tool.BRUSH
    size: float = 24.0
    hardness: float = 0.8
    opacity: float = 1.0
    color: tuple[int, int, int] = (20, 20, 20)
    label: int = 1
    tolerance: int = 32

    def brush(self, erase: bool = False) -> Brush:
        return Brush(self.size, self.hardness, self.opacity, self.color, erase=erase, label=self.label)


def _checker_brush(cell: int = 8) -> QBrush:
    pixmap = QPixmap(cell * 2, cell * 2)
    pixmap.fill(QColor(204, 204, 204))
    painter = QPainter(pixmap)
    painter.fillRect(0, 0, cell, cell, QColor(255, 255, 255))
    painter.fillRect(cell, cell, cell, cell, QColor(255, 255, 255))
    painter.end()
    return QBrush(pixmap)


@dataclass(frozen=True)
class ViewState:
    """How a document was shown: its zoom, its pan, and whether it was fitted to the view."""

    zoom: float
    offset: QPointF
    fit: bool


class Canvas(QWidget):
    """Displays a :class:`Document` and edits it with the tools in :class:`ToolSettings`.

    ``zoom`` is in device pixels per image pixel, so 100% shows every image
    pixel on one screen pixel, also on high-DPI screens.
    """

    zoom_changed = Signal(float)
    cursor_moved = Signal(int, int)
    color_picked = Signal(tuple)
    message = Signal(str)
    mask_needed = Signal()
    view_changed = Signal()
    picture_changed = Signal()
    """Some of the document's composited picture was redrawn (the region, or a slice of a large document)."""
    """The zoom, the pan or the view's size changed."""

    def __init__(self, tools: ToolSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self.doc: Document | None = None
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._fit_mode = True
        self._image = QImage()
        self._overlay = QImage()
        self._overlay_clear = True
        self._reduced_image = ReducedCopy()
        self._reduced_overlay = ReducedCopy()
        self._preview: QImage | None = None
        self._hold_preview = False
        self.proof_image: QImage | None = None  # a soft proof shown instead of the document (any size)
        self.guides_painter: Callable[[QPainter, Canvas], None] | None = None  # print guides, drawn on top
        self._stale_from: int | None = None
        self._slice_timer = QTimer(self)
        self._slice_timer.setSingleShot(True)
        self._slice_timer.setInterval(0)
        self._slice_timer.timeout.connect(self._refresh_next_slice)
        self._stroke: Stroke | None = None
        self._selection: list[QPointF] = []  # the rectangle's corners or the lasso's points, in image pixels
        self._subtract = False
        self._add = False
        self._wands: list[FunctionWorker] = []
        """Magic wand clicks being worked out (kept so their workers live until they report)."""
        self._ants: list[QLineF] = []  # the document selection's outline, in image pixels
        self._ants_phase = 0
        self._ants_timer = QTimer(self)
        self._ants_timer.setInterval(ANTS_INTERVAL_MS)
        self._ants_timer.timeout.connect(self._march)
        self._pan_anchor: QPointF | None = None
        self._space_down = False
        self._cursor: QPointF | None = None
        self._checker = _checker_brush()
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAcceptDrops(False)
        self.setMinimumSize(200, 150)

    def sizeHint(self) -> QSize:
        return QSize(900, 700)

    # Document

    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None and self.doc is not doc:
            self.doc.pixels_changed.disconnect(self._on_pixels_changed)
            self.doc.selection_changed.disconnect(self._on_selection_changed)
        connect = doc is not None and doc is not self.doc
        self.doc = doc
        self._stroke = None
        self._selection = []
        self._preview = None
        self._hold_preview = False
        self._stale_from = None
        self._slice_timer.stop()
        self._reduced_image = ReducedCopy()
        self._reduced_overlay = ReducedCopy()
        if doc is not None:
            if connect:
                doc.pixels_changed.connect(self._on_pixels_changed)
                doc.selection_changed.connect(self._on_selection_changed)
            self._image = QImage(doc.width, doc.height, QImage.Format.Format_RGBA8888_Premultiplied)
            self._overlay = QImage(doc.width, doc.height, QImage.Format.Format_RGBA8888_Premultiplied)
            self._overlay.fill(0)
            self._overlay_clear = True
            self._refresh(None)
            self.fit()
        self._on_selection_changed()

    def set_preview(self, image: QImage | None) -> None:
        """Show a job's preview on top of the document.

        None hides it, or, while the document is still being redrawn after a
        change, hides it as soon as the redraw is complete (no flash of the old image).
        """
        if image is None and self._stale_from is not None:
            self._hold_preview = True
            return
        self._hold_preview = False
        self._preview = image
        self.update()

    def preview_image(self, image: np.ndarray) -> QImage:
        """A job's preview (RGB(A) uint8, or uint16: a live preview shows a plugin's result) as a premultiplied
        QImage at the size it is shown at.

        Previews arrive several times a second and are drawn once or twice, so
        shrinking once (a whole factor, then the rest) is far cheaper than letting
        every paint convert and smooth-scale the full image. Safe to call from a
        worker thread: it reads only the zoom and the document size.
        """
        image = to_uint8(image)
        if image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
        step = _reduction(self._zoom)
        if step >= 2:
            size = (max(image.shape[1] // step, 1), max(image.shape[0] // step, 1))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        if self._zoom < 1.0 and self.doc is not None:
            size = (max(round(self.doc.width * self._zoom), 1), max(round(self.doc.height * self._zoom), 1))
            if size[0] < image.shape[1]:
                image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        qimage = QImage(image.shape[1], image.shape[0], QImage.Format.Format_RGBA8888_Premultiplied)
        _view(qimage)[...] = premultiply(np.ascontiguousarray(image))
        return qimage

    @property
    def has_preview(self) -> bool:
        return self._preview is not None

    def _on_selection_changed(self) -> None:
        """Trace the document's selection along pixel edges for the marching ants (still when very ragged)."""
        selection = None if self.doc is None else self.doc.selection
        edges = np.zeros((0, 4), np.float32) if selection is None else outline(selection)
        self._ants = [QLineF(*segment) for segment in edges.tolist()]
        if 0 < len(self._ants) <= MAX_MARCHING_SEGMENTS:
            self._ants_timer.start()
        else:
            self._ants_timer.stop()
        self.update()

    def _march(self) -> None:
        self._ants_phase = (self._ants_phase + 1) % 8
        self.update()

    def _on_pixels_changed(self, region: Region | None) -> None:
        doc = self.doc
        if doc is not None and (doc.width, doc.height) != (self._image.width(), self._image.height()):
            self.set_document(doc)  # the canvas was resized (fitted to a print, or that undone)
            return
        if region is None and doc is not None and doc.width * doc.height > REFRESH_SLICE_PIXELS:
            # A large document is redrawn in slices across event-loop turns, so the window never stalls.
            self._stale_from = 0
            self._slice_timer.start()
            return
        self._refresh(region)
        if region is None:
            self.update()
        else:
            x0, y0, x1, y1 = region
            self.update(
                self.image_to_widget_rect(QRectF(x0, y0, x1 - x0, y1 - y0)).toAlignedRect().adjusted(-2, -2, 2, 2)
            )

    def _refresh_next_slice(self) -> None:
        doc = self.doc
        if doc is None or self._stale_from is None:
            return
        top = self._stale_from
        bottom = min(top + max(1, REFRESH_SLICE_PIXELS // doc.width), doc.height)
        self._refresh((0, top, doc.width, bottom))
        if bottom < doc.height:
            self._stale_from = bottom
            self._slice_timer.start()
            if self._preview is None:
                self.update(self.image_to_widget_rect(QRectF(0, top, doc.width, bottom - top)).toAlignedRect())
            return
        self._stale_from = None
        if self._hold_preview:
            self._hold_preview = False
            self._preview = None
        self.update()

    def _refresh(self, region: Region | None) -> None:
        doc = self.doc
        if doc is None:
            return
        x0, y0, x1, y1 = region or (0, 0, doc.width, doc.height)
        if x0 >= x1 or y0 >= y1:
            return
        _view(self._image)[y0:y1, x0:x1] = premultiply(doc.composite((x0, y0, x1, y1), np.dtype(np.uint8)))
        self._reduced_image.update(self._image, (x0, y0, x1, y1))
        self.picture_changed.emit()
        has_overlays = any(la.kind is not LayerKind.RASTER and la.visible for la in doc.layers)
        if has_overlays or not self._overlay_clear:
            _view(self._overlay)[y0:y1, x0:x1] = self._overlay_patch((x0, y0, x1, y1))
            self._reduced_overlay.update(self._overlay, (x0, y0, x1, y1))
            self._overlay_clear = not has_overlays and region is None

    def _overlay_patch(self, region: Region) -> np.ndarray:
        """Masks as a translucent red, label maps in their colours, premultiplied RGBA."""
        assert self.doc is not None
        x0, y0, x1, y1 = region
        out = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        overlays = [la for la in self.doc.layers if la.visible and la.kind is not LayerKind.RASTER]
        if not overlays:
            return out
        for piece, key in overlays[0].image.pieces(region):
            drawn = [layer for layer in overlays if layer.image.stored(key)]  # the others are empty there
            if drawn:
                px0, py0, px1, py1 = piece
                out[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0] = _overlay_piece(drawn, piece)
        return out

    # Geometry

    @property
    def zoom(self) -> float:
        return self._zoom

    def _scale(self) -> float:
        return self._zoom / self.devicePixelRatioF()

    def image_to_widget(self, point: QPointF) -> QPointF:
        return self._offset + point * self._scale()

    def widget_to_image(self, point: QPointF) -> QPointF:
        return (point - self._offset) / self._scale()

    def image_to_widget_rect(self, rect: QRectF) -> QRectF:
        s = self._scale()
        return QRectF(self._offset + rect.topLeft() * s, rect.size() * s)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (widget coordinates) in place."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        fixed = self.widget_to_image(anchor)
        self._zoom = zoom
        self._offset = anchor - fixed * self._scale()
        self._fit_mode = False
        self.zoom_changed.emit(zoom)
        self._view_moved()

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / 1.25)

    def actual_pixels(self) -> None:
        """100%: one image pixel per screen pixel, centred."""
        self._zoom = 1.0
        self._fit_mode = False
        self._center()
        self.zoom_changed.emit(self._zoom)

    def fit(self) -> None:
        """Fit the whole image in the view, and keep fitting when the view is resized."""
        if self.doc is None:
            return
        margin = 24
        avail_w, avail_h = max(self.width() - 2 * margin, 16), max(self.height() - 2 * margin, 16)
        dpr = self.devicePixelRatioF()
        self._zoom = min(avail_w / self.doc.width, avail_h / self.doc.height) * dpr
        self._zoom = min(max(self._zoom, MIN_ZOOM), MAX_ZOOM)
        self._fit_mode = True  # before centring: scrollbars hidden on the way resize the view, which fits again
        self._center()
        self.zoom_changed.emit(self._zoom)

    def _center(self) -> None:
        if self.doc is None:
            return
        s = self._scale()
        self._offset = QPointF((self.width() - self.doc.width * s) / 2, (self.height() - self.doc.height * s) / 2)
        self._view_moved()

    def picture_size(self) -> QSizeF:
        """The document's size on screen at the current zoom, in widget pixels."""
        if self.doc is None:
            return QSizeF()
        return QSizeF(self.doc.width, self.doc.height) * self._scale()

    def scroll_position(self) -> QPointF:
        """Where the view's top-left corner is, in widget pixels from the picture's top-left corner."""
        return -self._offset

    def scroll_to(self, position: QPointF) -> None:
        """Pan so that the view's top-left corner is ``position`` (see :meth:`scroll_position`)."""
        self._offset = -position
        self._fit_mode = False
        self._view_moved()

    def center_on(self, point: QPointF) -> None:
        """Pan so that the image point ``point`` is in the middle of the view."""
        self.scroll_to(point * self._scale() - QPointF(self.width() / 2, self.height() / 2))

    def visible_image_rect(self) -> QRectF:
        """The part of the document the view shows, in image pixels."""
        if self.doc is None:
            return QRectF()
        shown = QRectF(self.widget_to_image(QPointF(0, 0)), self.widget_to_image(QPointF(self.width(), self.height())))
        return shown.intersected(QRectF(0, 0, self.doc.width, self.doc.height))

    def view_state(self) -> ViewState:
        """The zoom and pan, to show the document the same way again with :meth:`restore_view`."""
        return ViewState(self._zoom, QPointF(self._offset), self._fit_mode)

    def restore_view(self, state: ViewState) -> None:
        if state.fit:
            self.fit()
            return
        self._zoom, self._offset, self._fit_mode = state.zoom, QPointF(state.offset), False
        self.zoom_changed.emit(self._zoom)
        self._view_moved()

    def thumbnail(self, size: QSize) -> QImage:
        """The document's picture shrunk to fit ``size`` (masks, selections and previews left out)."""
        if self.doc is None or self._image.isNull():
            return QImage()
        mode = Qt.TransformationMode.SmoothTransformation
        return self._image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)

    def _view_moved(self) -> None:
        self.view_changed.emit()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
        else:
            self.view_changed.emit()

    # Painting

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().color(self.backgroundRole()).darker(160))
        doc = self.doc
        if doc is None:
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open an image (Ctrl+O) or drop one here")
            return
        target = self.image_to_widget_rect(QRectF(0, 0, doc.width, doc.height))
        visible = target.intersected(QRectF(event.rect()))
        if visible.isEmpty():
            return
        self._checker.setTransform(self._checker.transform().fromTranslate(target.left(), target.top()))
        painter.fillRect(visible, self._checker)
        source = QRectF(self.widget_to_image(visible.topLeft()), self.widget_to_image(visible.bottomRight()))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1.0)
        if self._preview is not None:
            layers = [self._preview]
        elif self.proof_image is not None:
            layers = [self.proof_image]
        else:
            step = _reduction(self._zoom)
            layers = [self._reduced_image.get(self._image, step), self._reduced_overlay.get(self._overlay, step)]
        for image in layers:
            scale = image.width() / doc.width
            painter.drawImage(visible, image, QRectF(source.topLeft() * scale, source.size() * scale))
        if self.guides_painter is not None:
            self.guides_painter(painter, self)
        self._paint_brush_outline(painter)
        self._paint_ants(painter)
        self._paint_selection(painter)

    def _paint_ants(self, painter: QPainter) -> None:
        """The document's selection as a black and white dashed outline that moves."""
        if not self._ants or self._preview is not None:
            return
        painter.save()
        s = self._scale()
        painter.setTransform(QTransform(s, 0, 0, s, self._offset.x(), self._offset.y()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        white = QPen(QColor(255, 255, 255), 0)
        black = QPen(QColor(0, 0, 0), 0)
        black.setDashPattern([4, 4])
        black.setDashOffset(self._ants_phase)
        for pen in (white, black):
            painter.setPen(pen)
            painter.drawLines(self._ants)
        painter.restore()

    def _paint_brush_outline(self, painter: QPainter) -> None:
        no_brush = (Tool.PICKER, Tool.FILL, *SELECTION_TOOLS)
        if self._cursor is None or self.tools.tool in no_brush or self._pan_anchor is not None:
            return
        radius = self.tools.size / 2 * self._scale()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for color, r in ((QColor(0, 0, 0, 160), radius + 0.5), (QColor(255, 255, 255, 200), radius - 0.5)):
            painter.setPen(QPen(color, 1))
            painter.drawEllipse(self._cursor, max(r, 1.0), max(r, 1.0))

    def _selection_outline(self) -> QPolygonF:
        """The selection being dragged, in widget coordinates (a rectangle as its four corners)."""
        points = self._selection
        if self.tools.tool is Tool.RECTANGLE_MASK and len(points) == 2:
            a, b = points
            points = [a, QPointF(b.x(), a.y()), b, QPointF(a.x(), b.y())]
        elif self.tools.tool is Tool.ELLIPSE_MASK and len(points) == 2:
            centre, radii = (points[0] + points[1]) / 2, (points[1] - points[0]) / 2
            turns = (2 * math.pi * i / ELLIPSE_POINTS for i in range(ELLIPSE_POINTS))
            points = [centre + QPointF(radii.x() * math.cos(t), radii.y() * math.sin(t)) for t in turns]
        return QPolygonF([self.image_to_widget(point) for point in points])

    def _paint_selection(self, painter: QPainter) -> None:
        if len(self._selection) < 2:
            return
        outline = self._selection_outline()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawPolygon(outline)
        painter.setPen(QPen(QColor(0, 0, 0), 1, Qt.PenStyle.DashLine))
        painter.drawPolygon(outline)

    def _update_selection(self, before: QRectF) -> None:
        self.update(before.united(self._selection_outline().boundingRect()).toAlignedRect().adjusted(-2, -2, 2, 2))

    def tools_changed(self) -> None:
        """Show the cursor and outline of the tool just chosen."""
        self._restore_cursor()
        self.update()

    def _restore_cursor(self) -> None:
        if self.tools.tool in SELECTION_TOOLS:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.unsetCursor()

    # Input

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_zoom(self._zoom * math.pow(1.25, steps), event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._pan_anchor = None
            self._restore_cursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press(event.position(), event.button(), 1.0, event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._move(event.position(), 1.0)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._release(event.position(), event.button())

    def tabletEvent(self, event: QTabletEvent) -> None:
        kind = event.type()
        pressure = event.pressure()
        if kind == QTabletEvent.Type.TabletPress:
            self._press(event.position(), event.button(), pressure, event.modifiers())
        elif kind == QTabletEvent.Type.TabletMove:
            self._move(event.position(), pressure)
        elif kind == QTabletEvent.Type.TabletRelease:
            self._release(event.position(), event.button())
        event.accept()

    def _press(self, pos: QPointF, button: Qt.MouseButton, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        if self.doc is None:
            return
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_anchor = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if button != Qt.MouseButton.LeftButton:
            return
        point = self.widget_to_image(pos)
        tool = self.tools.tool
        if tool is Tool.PICKER:
            color = pick_color(self.doc, int(point.x()), int(point.y()))
            if color is not None:
                self.color_picked.emit(color)
            return
        if tool is Tool.FILL:
            self._fill()
            return
        if tool in SELECTION_TOOLS:
            if self._mask_hidden():
                return
            self._subtract = bool(modifiers & Qt.KeyboardModifier.AltModifier)
            self._add = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
            if tool is Tool.MAGIC_WAND:
                self._wand(math.floor(point.x()), math.floor(point.y()))
            else:
                self._selection = [point, point]
            return
        layer = self._target_layer()
        if layer is None:
            return
        self._stroke = Stroke(self.doc, layer, self.tools.brush(erase=tool is Tool.ERASER))
        self._stroke.add_point(point.x(), point.y(), pressure)

    def _target_layer(self) -> Layer | None:
        assert self.doc is not None
        active = self.doc.active_layer
        if self.tools.tool is Tool.MASK:
            if self._mask_hidden():
                return None
            mask = self.doc.active_mask()
            if mask is None:
                self.mask_needed.emit()
                mask = self.doc.active_mask()
            return mask if mask is None or self._unlocked(mask) else None
        layer = active
        if layer is None:
            self.message.emit("There is no layer to paint on: add one in the Layers panel.")
            return None
        if not layer.visible:
            self.message.emit(f"Layer {layer.name!r} is hidden: show it to paint on it.")
            return None
        return layer if self._unlocked(layer) else None

    def _unlocked(self, layer: Layer) -> bool:
        """True when ``layer`` may be painted on, else False and why in a message (it is locked)."""
        try:
            layer.ensure_unlocked("erase it" if self.tools.tool is Tool.ERASER else "paint on it")
        except LayerLockedError as exc:
            self.message.emit(str(exc))
            return False
        return True

    def _mask_hidden(self) -> bool:
        """True, and why in a message, when the active layer is a hidden mask (the mask tools leave it alone)."""
        assert self.doc is not None
        active = self.doc.active_layer
        if active is not None and active.kind is LayerKind.MASK and not active.visible:
            self.message.emit(f"Mask {active.name!r} is hidden: show it to paint on it.")
            return True
        return False

    def _fill(self) -> None:
        from studio.core.paint import fill

        layer = self._target_layer()
        if layer is not None and self.doc is not None:
            self.doc.history.push(fill(self.doc, layer, self.tools.brush()))

    def _move(self, pos: QPointF, pressure: float) -> None:
        old_cursor = self._cursor
        self._cursor = pos
        if self._pan_anchor is not None:
            self._offset += pos - self._pan_anchor
            self._pan_anchor = pos
            self._fit_mode = False
            self._view_moved()
            return
        if self.doc is not None:
            point = self.widget_to_image(pos)
            self.cursor_moved.emit(math.floor(point.x()), math.floor(point.y()))
            if self._stroke is not None:
                self._stroke.add_point(point.x(), point.y(), pressure)
            if self._selection:
                self._extend_selection(point)
        self._update_outline(old_cursor)

    def _extend_selection(self, point: QPointF) -> None:
        """Move the rectangle's far corner to ``point``, or add it to the lasso when it moved a screen pixel."""
        before = self._selection_outline().boundingRect()
        if self.tools.tool in CORNER_TOOLS:
            self._selection[-1] = point
        elif (point - self._selection[-1]).manhattanLength() * self._scale() >= 1:
            self._selection.append(point)
        self._update_selection(before)

    def _update_outline(self, old: QPointF | None) -> None:
        r = int(self.tools.size / 2 * self._scale()) + 4
        for point in (old, self._cursor):
            if point is not None:
                self.update(QRect(int(point.x()) - r, int(point.y()) - r, 2 * r, 2 * r))

    def _release(self, pos: QPointF, button: Qt.MouseButton) -> None:
        if self._pan_anchor is not None:
            self._pan_anchor = None
            if self._space_down:
                self.setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self._restore_cursor()
            return
        if button == Qt.MouseButton.LeftButton and self._selection:
            self._extend_selection(self.widget_to_image(pos))
            self._finish_selection()
            return
        if button == Qt.MouseButton.LeftButton and self._stroke is not None and self.doc is not None:
            command = self._stroke.finish()
            self._stroke = None
            if command is not None:
                self.doc.history.push(command, applied=True)

    def _finish_selection(self) -> None:
        assert self.doc is not None
        points = [(p.x(), p.y()) for p in self._selection]
        size = (self.doc.width, self.doc.height)
        if self.tools.tool is Tool.RECTANGLE_MASK:
            selected = rectangle_mask(points[0], points[-1], *size)
        elif self.tools.tool is Tool.ELLIPSE_MASK:
            selected = ellipse_mask(points[0], points[-1], *size)
        else:
            selected = polygon_mask(points, *size)
        self._update_selection(QRectF())
        self._selection = []
        self._select(selected, self._subtract, self._add)

    def _wand(self, x: int, y: int) -> None:
        """The magic wand at (x, y): the region is found on a worker thread (it flattens the whole picture, from a
        snapshot), then selected as the click's modifiers said, if the document is still the one clicked."""
        assert self.doc is not None
        doc, snapshot, tolerance = self.doc, self.doc.snapshot(), self.tools.tolerance
        subtract, add = self._subtract, self._add

        def region() -> np.ndarray:
            picture = snapshot.composite(dtype=np.dtype(np.uint8))  # the tolerance is in 8-bit levels
            return magic_wand(picture, x, y, tolerance)

        def chosen(selected: np.ndarray) -> None:
            self._wands.remove(worker)
            if self.doc is doc and selected.shape == (doc.height, doc.width):
                self._select(selected, subtract, add)

        worker = create_worker(region)
        worker.returned.connect(chosen)
        self._wands.append(worker)
        worker.start()

    @property
    def finding_region(self) -> bool:
        """Whether a magic wand click is still being worked out."""
        return bool(self._wands)

    def _select(self, selected: np.ndarray, subtract: bool, add: bool) -> None:
        """Fill ``selected`` into the active mask, or the active label map with the current label (``subtract``:
        clear them); on a picture layer, make it the selection (``add`` to it, or ``subtract`` from it). One undo
        step."""
        assert self.doc is not None
        active = self.doc.active_layer
        if active is not None and active.kind is not LayerKind.RASTER and active.visible:
            if not self._unlocked(active):
                return
            command = fill_shape(active, selected, subtract, self.tools.label)
        else:
            how = Combine.SUBTRACT if subtract else Combine.ADD if add else Combine.REPLACE
            command = select(self.doc, selected, how)
        if command is not None:
            self.doc.history.push(command)

    def leaveEvent(self, event: object) -> None:
        old = self._cursor
        self._cursor = None
        self._update_outline(old)
        self.cursor_moved.emit(-1, -1)


def _reduction(zoom: float) -> int:
    """The whole factor by which an image can be shrunk before drawing it at ``zoom``."""
    return max(1, math.floor(1.0 / zoom))


class ReducedCopy:
    """A premultiplied RGBA QImage shrunk by a whole factor, kept up to date region by region.

    Zoomed out on a large document, drawing this instead of the full image keeps
    every repaint cheap; it is rebuilt only when the factor changes.
    """

    def __init__(self) -> None:
        self.image: QImage | None = None
        self.step = 1

    def get(self, full: QImage, step: int) -> QImage:
        if step < 2:
            return full
        if self.image is None or self.step != step:
            self.step = step
            self.image = QImage(full.width() // step or 1, full.height() // step or 1, full.format())
            self.update(full, (0, 0, full.width(), full.height()))
        return self.image

    def update(self, full: QImage, region: Region) -> None:
        """Shrink ``region`` of ``full`` into the copy (nothing to do before the first ``get``)."""
        if self.image is None:
            return
        s = self.step
        x0, y0, x1, y1 = region
        dx0, dy0 = x0 // s, y0 // s
        dx1, dy1 = min(-(-x1 // s), self.image.width()), min(-(-y1 // s), self.image.height())
        if dx0 >= dx1 or dy0 >= dy1:
            return
        patch = _view(full)[dy0 * s : dy1 * s, dx0 * s : dx1 * s]
        _view(self.image)[dy0:dy1, dx0:dx1] = cv2.resize(patch, (dx1 - dx0, dy1 - dy0), interpolation=cv2.INTER_AREA)


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 with colour multiplied by alpha (what Qt draws fastest)."""
    if is_opaque(rgba):
        return rgba
    out = rgba.copy()
    out[..., :3] = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:4] + 127) // 255
    return out


def _view(image: QImage) -> np.ndarray:
    """A writable numpy view (H, W, 4) of a 32-bit QImage's pixels."""
    buffer = np.frombuffer(image.bits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return buffer[:, : image.width() * 4].reshape(image.height(), image.width(), 4)


def _overlay_piece(layers: list[Layer], region: Region) -> np.ndarray:
    """Masks as a translucent red, label maps in their colours, over ``region``: premultiplied RGBA uint8."""
    x0, y0, x1, y1 = region
    out = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
    for layer in layers:
        values = layer.image.view(region)
        if layer.kind is LayerKind.MASK:
            alpha = values.astype(np.float32) / 255.0 * MASK_OPACITY * layer.opacity
            color = np.broadcast_to(MASK_COLOR, (*values.shape, 3))
        else:
            alpha = (values > 0).astype(np.float32) * LABEL_OPACITY * layer.opacity
            color = label_colours(values).astype(np.float32)
        a = alpha[..., None]
        out[..., :3] = color * a + out[..., :3] * (1 - a)
        out[..., 3:4] = 255.0 * a + out[..., 3:4] * (1 - a)
    return (out + 0.5).astype(np.uint8)
