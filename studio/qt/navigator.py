"""Moving around a zoomed-in picture: scrollbars beside the canvas, and a Navigator showing the whole picture with
the part in view, which can be dragged to pan."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QScrollBar, QSizePolicy, QWidget

from studio.core.document import Document
from studio.qt.canvas import Canvas

THUMBNAIL_DELAY_MS = 200


class ScrolledCanvas(QWidget):
    """The canvas with a scrollbar on each side the picture does not fit, kept in step with zoom and pan."""

    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.horizontal = QScrollBar(Qt.Orientation.Horizontal)
        self.vertical = QScrollBar(Qt.Orientation.Vertical)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        grid.addWidget(canvas, 0, 0)
        grid.addWidget(self.vertical, 0, 1)
        grid.addWidget(self.horizontal, 1, 0)
        self.horizontal.valueChanged.connect(self._scrolled)
        self.vertical.valueChanged.connect(self._scrolled)
        canvas.view_changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        """Set the scrollbars' ranges and positions from the canvas's zoom and pan."""
        picture = self.canvas.picture_size()
        position = self.canvas.scroll_position()
        view = self.canvas.size()
        for bar, length, page, at in (
            (self.horizontal, picture.width(), view.width(), position.x()),
            (self.vertical, picture.height(), view.height(), position.y()),
        ):
            bar.blockSignals(True)
            # The range also holds the current position, so a picture panned past its edge does not jump back.
            bar.setRange(min(0, round(at)), max(round(length) - page, round(at)))
            bar.setPageStep(page)
            bar.setSingleStep(max(page // 20, 1))
            bar.setValue(round(at))
            bar.blockSignals(False)
            bar.setVisible(length > page)

    def _scrolled(self) -> None:
        self.canvas.scroll_to(QPointF(self.horizontal.value(), self.vertical.value()))


class Navigator(QWidget):
    """The whole picture, with a frame around the part the canvas shows; clicking or dragging pans the canvas."""

    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.doc: Document | None = None
        self._thumbnail = QImage()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THUMBNAIL_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        canvas.view_changed.connect(self.update)
        canvas.picture_changed.connect(self._timer.start)

    def sizeHint(self) -> QSize:
        return QSize(220, 160)

    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (None for none); its changes arrive as the canvas redraws them."""
        self.doc = doc
        self.refresh()

    def refresh(self) -> None:
        """Redraw the picture from the canvas (after a change, or when the navigator is resized)."""
        self._timer.stop()
        self._thumbnail = self.canvas.thumbnail(self.size())
        self.update()

    def picture_rect(self) -> QRectF:
        """Where the picture is drawn, in the navigator's pixels."""
        if self._thumbnail.isNull():
            return QRectF()
        w, h = self._thumbnail.width(), self._thumbnail.height()
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def view_rect(self) -> QRectF:
        """The frame around the part of the picture in view, in the navigator's pixels."""
        picture = self.picture_rect()
        if self.doc is None or picture.isEmpty():
            return QRectF()
        sx, sy = picture.width() / self.doc.width, picture.height() / self.doc.height
        shown = self.canvas.visible_image_rect()
        return QRectF(
            picture.left() + shown.left() * sx,
            picture.top() + shown.top() * sy,
            shown.width() * sx,
            shown.height() * sy,
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.refresh()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(160))
        picture = self.picture_rect()
        if picture.isEmpty():
            return
        painter.drawImage(picture.topLeft(), self._thumbnail)
        frame = self.view_rect()
        if frame.isEmpty() or frame.contains(picture):
            return
        painter.setPen(QPen(QColor(0, 0, 0), 3))
        painter.drawRect(frame)
        painter.setPen(QPen(QColor(255, 80, 60), 1.5))
        painter.drawRect(frame)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self._pan(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._pan(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def _pan(self, position: QPointF) -> None:
        """Centre the canvas on the picture point under ``position``."""
        picture = self.picture_rect()
        if self.doc is None or picture.isEmpty():
            return
        at = position - picture.topLeft()
        self.canvas.center_on(
            QPointF(at.x() * self.doc.width / picture.width(), at.y() * self.doc.height / picture.height())
        )
