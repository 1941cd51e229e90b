"""Print guides: trim, safe area, wrap and bleed lines drawn over the canvas."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from studio.qt.canvas import Canvas

GUIDE_STYLES: dict[str, tuple[QColor, Qt.PenStyle]] = {
    "bleed": (QColor(230, 40, 60), Qt.PenStyle.DashLine),
    "wrap": (QColor(255, 170, 0), Qt.PenStyle.DashLine),
    "trim": (QColor(0, 200, 255), Qt.PenStyle.SolidLine),
    "safe": (QColor(60, 220, 90), Qt.PenStyle.DotLine),
}


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
