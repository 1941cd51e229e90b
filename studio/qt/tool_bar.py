"""Tool selection and brush options (size, hardness, opacity, colour, label)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import QColorDialog, QLabel, QSpinBox, QToolBar, QToolButton, QWidget
from superqt import QLabeledDoubleSlider

from studio.qt.canvas import Tool, ToolSettings

SELECTION_TIP = (
    "on a picture layer it becomes the selection (hold Shift to add, Alt to take away); "
    "on a mask or label map it fills the mask or the label (hold Alt to clear)"
)
TOOL_SPECS: tuple[tuple[Tool, str, str, str], ...] = (
    (Tool.BRUSH, "Brush", "B", ""),
    (Tool.ERASER, "Eraser", "E", ""),
    (Tool.MASK, "Mask brush", "M", ""),
    (Tool.RECTANGLE_MASK, "Rectangle", "R", f"drag a rectangle: {SELECTION_TIP}"),
    (Tool.ELLIPSE_MASK, "Ellipse", "J", f"drag an ellipse: {SELECTION_TIP}"),
    (Tool.LASSO_MASK, "Lasso", "L", f"draw a closed shape freehand: {SELECTION_TIP}"),
    (Tool.MAGIC_WAND, "Magic wand", "W", f"click a colour to take the touching pixels like it: {SELECTION_TIP}"),
    (Tool.FILL, "Fill", "G", ""),
    (Tool.PICKER, "Colour picker", "I", ""),
)
MAX_BRUSH = 1000


class ToolOptionsBar(QToolBar):
    """A tool bar that edits a :class:`ToolSettings` in place."""

    changed = Signal()

    def __init__(self, tools: ToolSettings, parent: QWidget | None = None) -> None:
        super().__init__("Tools", parent)
        self.setObjectName("tools")
        self.tools = tools
        self.tool_actions: dict[Tool, QAction] = {}
        group = QActionGroup(self)
        for tool, title, key, tip in TOOL_SPECS:
            action = QAction(title, self, checkable=True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{title} ({key})" + (f": {tip}" if tip else ""))
            action.triggered.connect(lambda _checked=False, t=tool: self.set_tool(t))
            group.addAction(action)
            self.addAction(action)
            self.tool_actions[tool] = action
        self.addSeparator()
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter ([ smaller, ] larger)")
        self.size_spin.valueChanged.connect(self._on_size)
        self.addWidget(QLabel(" Size "))
        self.addWidget(self.size_spin)
        self.hardness = self._slider("Hardness", "Edge hardness: 0 soft, 1 hard", self._on_hardness)
        self.opacity = self._slider("Opacity", "Brush opacity", self._on_opacity)
        self.color_button = QToolButton()
        self.color_button.setToolTip("Brush colour (pick one from the canvas with I)")
        self.color_button.clicked.connect(self._choose_color)
        self.addWidget(self.color_button)
        self.addWidget(QLabel(" Label "))
        self.label_spin = QSpinBox()
        self.label_spin.setRange(1, 255)
        self.label_spin.setToolTip("Label index painted on a label map")
        self.label_spin.valueChanged.connect(self._on_label)
        self.addWidget(self.label_spin)
        self.tolerance_spin = QSpinBox()
        self.tolerance_spin.setRange(0, 255)
        self.tolerance_spin.setToolTip("How far a colour may be from the clicked one for the magic wand to take it")
        self.tolerance_spin.valueChanged.connect(self._on_tolerance)
        self.wand_only = [self.addWidget(QLabel(" Tolerance ")), self.addWidget(self.tolerance_spin)]
        self.sync()

    def _slider(self, title: str, tip: str, slot: object) -> QLabeledDoubleSlider:
        self.addWidget(QLabel(f" {title} "))
        slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        slider.setRange(0.0, 1.0)
        slider.setDecimals(2)
        slider.setMaximumWidth(160)
        slider.setToolTip(tip)
        slider.valueChanged.connect(slot)
        self.addWidget(slider)
        return slider

    def sync(self) -> None:
        """Show the current settings."""
        t = self.tools
        self.tool_actions[t.tool].setChecked(True)
        for widget, value in (
            (self.size_spin, round(t.size)),
            (self.hardness, t.hardness),
            (self.opacity, t.opacity),
            (self.label_spin, t.label),
            (self.tolerance_spin, t.tolerance),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        for action in self.wand_only:
            action.setVisible(t.tool is Tool.MAGIC_WAND)
        swatch = QPixmap(18, 18)
        swatch.fill(QColor(*t.color))
        self.color_button.setIcon(QIcon(swatch))

    def set_tool(self, tool: Tool) -> None:
        self.tools.tool = tool
        self.sync()
        self.changed.emit()

    def set_color(self, color: tuple[int, int, int]) -> None:
        self.tools.color = color
        self.sync()
        self.changed.emit()

    def grow(self, factor: float) -> None:
        """Scale the brush size ([ and ] shortcuts), by at least one pixel."""
        size = round(self.tools.size * factor)
        if size == round(self.tools.size):
            size += 1 if factor > 1 else -1
        self.tools.size = float(min(max(size, 1), MAX_BRUSH))
        self.sync()
        self.changed.emit()

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(QColor(*self.tools.color), self, "Brush colour")
        if color.isValid():
            self.set_color((color.red(), color.green(), color.blue()))

    def _on_size(self, value: int) -> None:
        self.tools.size = float(value)
        self.changed.emit()

    def _on_hardness(self, value: float) -> None:
        self.tools.hardness = float(value)
        self.changed.emit()

    def _on_opacity(self, value: float) -> None:
        self.tools.opacity = float(value)
        self.changed.emit()

    def _on_label(self, value: int) -> None:
        self.tools.label = value
        self.changed.emit()

    def _on_tolerance(self, value: int) -> None:
        self.tools.tolerance = value
        self.changed.emit()
