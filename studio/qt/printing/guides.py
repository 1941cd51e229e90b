"""Print guides: trim, safe area, wrap and bleed lines drawn over the canvas, named in a legend beside them."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen

from studio.core.print_size import PrintSpec, Rect
from studio.qt.canvas import Canvas

GUIDE_STYLES: dict[str, tuple[QColor, Qt.PenStyle]] = {
    "bleed": (QColor(230, 40, 60), Qt.PenStyle.DashLine),
    "wrap": (QColor(255, 170, 0), Qt.PenStyle.DashLine),
    "trim": (QColor(0, 200, 255), Qt.PenStyle.SolidLine),
    "safe": (QColor(60, 220, 90), Qt.PenStyle.DotLine),
}


LEGEND_GAP = 6
"""Pixels between the legend and the outermost guide line."""
SWATCH = 16
"""The length of a guide's line sample in the legend."""


def _guide_rects(spec: PrintSpec) -> dict[str, Rect]:
    """The guides this spec has, outermost first (no bleed or wrap line when there is none)."""
    rects = {"bleed": spec.bleed_rect, "wrap": spec.wrap_rect, "trim": spec.trim_rect, "safe": spec.safe_rect}
    return {
        name: rect
        for name, rect in rects.items()
        if not (name == "bleed" and spec.bleed_px == 0) and not (name == "wrap" and spec.wrap_px == 0)
    }


def legend_rect(canvas: Canvas) -> QRectF | None:
    """Where the guides' legend goes: above the print, below it, inside the safe area or in a corner of the view,
    whichever is first clear of every guide line (the top left corner when none is).

    None when the canvas's document has no print spec.
    """
    spec = canvas.doc.print_spec if canvas.doc is not None else None
    if spec is None:
        return None
    metrics = QFontMetricsF(canvas.font())
    rects = _guide_rects(spec)
    width = sum(SWATCH + 4 + metrics.horizontalAdvance(name) for name in rects) + 10 * (len(rects) - 1) + 8
    height = metrics.height() + 4
    boxes = [canvas.image_to_widget_rect(QRectF(r.x0, r.y0, r.width, r.height)) for r in rects.values()]
    outer = canvas.image_to_widget_rect(QRectF(0, 0, *spec.pixel_size))
    x = min(max(outer.left(), 2.0), max(canvas.width() - width - 2, 2.0))
    candidates = [
        QRectF(x, outer.top() - LEGEND_GAP - height, width, height),
        QRectF(x, outer.bottom() + LEGEND_GAP, width, height),
        QRectF(max(boxes[-1].left(), 0) + LEGEND_GAP, max(boxes[-1].top(), 0) + LEGEND_GAP, width, height),
        QRectF(4, 4, width, height),
        QRectF(4, canvas.height() - height - 4, width, height),
    ]
    view = QRectF(0, 0, canvas.width(), canvas.height()).adjusted(2, 2, -2, -2)
    for rect in candidates:
        if view.contains(rect) and not any(_crosses(rect, box) for box in boxes):
            return rect
    return candidates[3]


def _crosses(rect: QRectF, box: QRectF) -> bool:
    """Whether ``rect`` comes within ``LEGEND_GAP`` of the outline of ``box``."""
    near = box.adjusted(-LEGEND_GAP, -LEGEND_GAP, LEGEND_GAP, LEGEND_GAP)
    inside = box.adjusted(LEGEND_GAP, LEGEND_GAP, -LEGEND_GAP, -LEGEND_GAP)
    return rect.intersects(near) and not inside.contains(rect)


def paint_print_guides(painter: QPainter, canvas: Canvas) -> None:
    """Trim, safe area, wrap and bleed lines of the canvas's document's print spec, named in a legend off the
    lines."""
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
    rects = _guide_rects(spec)
    for name, rect in rects.items():
        painter.setPen(_pen(name))
        box = canvas.image_to_widget_rect(QRectF(rect.x0, rect.y0, rect.width, rect.height))
        painter.drawRect(box.adjusted(0.5, 0.5, -0.5, -0.5))
    legend = legend_rect(canvas)
    if legend is not None:
        painter.fillRect(legend, QColor(32, 32, 32, 210))
        metrics = QFontMetricsF(canvas.font())
        x, middle = legend.left() + 4, legend.center().y()
        for name in rects:
            painter.setPen(_pen(name))
            painter.drawLine(QPointF(x, middle), QPointF(x + SWATCH, middle))
            x += SWATCH + 4
            text = QRectF(x, legend.top(), metrics.horizontalAdvance(name) + 1, legend.height())
            painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
            x += metrics.horizontalAdvance(name) + 10
    painter.restore()


def _pen(name: str) -> QPen:
    colour, style = GUIDE_STYLES[name]
    pen = QPen(colour, 2, style)
    pen.setCosmetic(True)
    return pen
