"""Parameter panels generated from a plugin's params dataclass, and the plugin panel around them."""

from __future__ import annotations

import enum
import math
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

os.environ.setdefault("QT_API", "pyside6")  # superqt goes through qtpy

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from studio.core.document import Document
from studio.core.params import (
    Param,
    ParamError,
    ParamField,
    applicable,
    check_choices,
    choice_groups,
    coerce,
    float_decimals,
    float_step,
    make_params,
    param_fields,
    split_list,
)
from studio.core.plugin import PluginManifest
from studio.qt.file_dialogs import PICTURES_FILTER, start_folder
from studio.qt.panel_host import PanelHost

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
FLOAT_RANGE = 1e9
ERROR_COLOR = "#e0443e"


class ColorButton(QPushButton):
    """A button showing a colour swatch and its ``#rrggbb``; clicking opens a QColorDialog."""

    color_changed = Signal(str)

    def __init__(self, color: str = "#000000", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = "#000000"
        self.setIconSize(QSize(28, 14))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.clicked.connect(self.choose_color)
        self.set_color(color)

    def color(self) -> str:
        """The colour as ``#rrggbb`` (lower case)."""
        return self._color

    def set_color(self, color: str) -> None:
        """Show ``color`` (anything QColor understands); emits ``color_changed`` when it differs."""
        qcolor = QColor(color)
        if not qcolor.isValid():
            raise ValueError(f"{color!r} is not a colour")
        name = qcolor.name(QColor.NameFormat.HexRgb).lower()
        swatch = QPixmap(self.iconSize())
        swatch.fill(qcolor)
        painter = QPainter(swatch)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(swatch.rect().adjusted(0, 0, -1, -1))
        painter.end()
        self.setIcon(QIcon(swatch))
        self.setText(name)
        if name != self._color:
            self._color = name
            self.color_changed.emit(name)

    def choose_color(self) -> None:
        """Open the colour dialog and take its choice unless cancelled."""
        chosen = QColorDialog.getColor(QColor(self._color), self, "Choose a colour")
        if chosen.isValid():
            self.set_color(chosen.name())


class _Editor:
    """Binds one parameter to its widget: ``get``/``set`` the raw value, ``connect`` a change callback."""

    def __init__(self, field: ParamField, widget: QWidget) -> None:
        self.field = field
        self.widget = widget  # the input widget (tooltip, focus)
        self.row: QWidget = widget  # what goes into the form (may wrap the input)

    def get(self) -> Any:
        raise NotImplementedError

    def set(self, value: Any) -> None:
        raise NotImplementedError

    def connect(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError


class _IntEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        meta = field.meta
        if meta.widget == "slider":
            low = math.ceil(meta.min) if meta.min is not None else min(0, field.default)
            high = math.floor(meta.max) if meta.max is not None else max(100, field.default)
            widget: QSpinBox | QLabeledSlider = QLabeledSlider(Qt.Orientation.Horizontal)
        else:
            low = math.ceil(meta.min) if meta.min is not None else INT_MIN
            high = math.floor(meta.max) if meta.max is not None else INT_MAX
            widget = QSpinBox()
            widget.setAlignment(Qt.AlignmentFlag.AlignRight)
        widget.setRange(max(low, INT_MIN), min(high, INT_MAX))
        widget.setSingleStep(max(1, round(meta.step or 1)))
        super().__init__(field, widget)
        self.spin = widget

    def get(self) -> int:
        return int(self.spin.value())

    def set(self, value: Any) -> None:
        self.spin.setValue(int(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(lambda _v: callback())


class _SeedEditor(_IntEditor):
    """An int editor with a "Random" button next to it."""

    def __init__(self, field: ParamField) -> None:
        super().__init__(field)
        self.random_button = QToolButton()
        self.random_button.setText("Random")
        self.random_button.setToolTip("Pick a random seed")
        self.random_button.clicked.connect(self.randomize)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.spin, 1)
        layout.addWidget(self.random_button)
        self.row = row

    def randomize(self) -> None:
        """Set a random seed within the editor's bounds (non-negative when allowed)."""
        low, high = self.spin.minimum(), self.spin.maximum()
        if high >= 0:
            low = max(low, 0)
        self.spin.setValue(random.randint(low, high))


class _FloatEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        meta = field.meta
        step = float_step(field)
        decimals = float_decimals(field)
        if meta.widget == "slider":
            low = meta.min if meta.min is not None else min(0.0, field.default)
            high = meta.max if meta.max is not None else max(1.0, field.default)
            widget: QDoubleSpinBox | QLabeledDoubleSlider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            widget.setDecimals(decimals)
        else:
            low = meta.min if meta.min is not None else -FLOAT_RANGE
            high = meta.max if meta.max is not None else FLOAT_RANGE
            widget = QDoubleSpinBox()
            widget.setAlignment(Qt.AlignmentFlag.AlignRight)
            widget.setDecimals(decimals)
        widget.setRange(float(low), float(high))
        widget.setSingleStep(step)
        super().__init__(field, widget)
        self.spin = widget

    def get(self) -> float:
        return float(self.spin.value())

    def set(self, value: Any) -> None:
        self.spin.setValue(float(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(lambda _v: callback())


class _BoolEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        super().__init__(field, QCheckBox())
        self.check: QCheckBox = self.widget  # type: ignore[assignment]

    def get(self) -> bool:
        return self.check.isChecked()

    def set(self, value: Any) -> None:
        self.check.setChecked(bool(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.check.toggled.connect(lambda _v: callback())


def _choice_text(choice: Any) -> str:
    """A choice as the panel lists it: ``fractal plant``, but names with digits (``Mixed_5b``, ``vgg16``) as written."""
    value = choice.value if isinstance(choice, enum.Enum) else choice
    if isinstance(value, str) and not any(c.isdigit() for c in value):
        return value.replace("_", " ")
    return str(value)


_HEADING = object()
"""The item of a group heading in a choice list (not a choice)."""


class _ChoiceEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        super().__init__(field, combo)
        self.combo = combo
        self._items: list[Any] = []  # per combo row: its choice, or _HEADING
        self.set_groups({"": field.choices})
        combo.currentIndexChanged.connect(self._skip_heading)

    def _skip_heading(self, index: int) -> None:
        """Arrow keys and the wheel stop on a heading's row: move on to the choice under it."""
        if 0 <= index < len(self._items) and self._items[index] is _HEADING:
            self.combo.setCurrentIndex(index + 1)

    def set_groups(self, groups: Mapping[str, tuple[Any, ...]]) -> None:
        """List the choices of ``groups`` under their headings; the current choice stays if it is still listed,
        else the default (or the first) is chosen. Emits no change signal."""
        groups = {heading: choices for heading, choices in groups.items() if choices}
        items = [item for heading, choices in groups.items() for item in ((_HEADING,) if heading else ()) + choices]
        if items == self._items:
            return
        current = self.get() if self._items else self.field.default
        model = self.combo.model()
        assert isinstance(model, QStandardItemModel)
        self.combo.blockSignals(True)
        try:
            self.combo.clear()
            for heading, choices in groups.items():
                if heading:
                    title = QStandardItem(heading)
                    title.setFlags(Qt.ItemFlag.ItemIsEnabled)  # readable, but not selectable
                    font = title.font()
                    font.setBold(True)
                    title.setFont(font)
                    model.appendRow(title)
                for choice in choices:
                    self.combo.addItem(_choice_text(choice))
            self._items = items
            chosen = next((c for c in (current, self.field.default) if c in items), None)
            first = next(i for i, item in enumerate(items) if item is not _HEADING)
            self.combo.setCurrentIndex(items.index(chosen) if chosen is not None else first)
        finally:
            self.combo.blockSignals(False)

    def choices(self) -> list[Any]:
        """The choices listed now (headings left out)."""
        return [item for item in self._items if item is not _HEADING]

    def get(self) -> Any:
        index = self.combo.currentIndex()
        item = self._items[index] if 0 <= index < len(self._items) else _HEADING
        return self.field.default if item is _HEADING else item

    def set(self, value: Any) -> None:
        self.combo.setCurrentIndex(self._items.index(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.combo.currentIndexChanged.connect(lambda _i: callback())


class _ColorEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        super().__init__(field, ColorButton(str(field.default)))
        self.button: ColorButton = self.widget  # type: ignore[assignment]

    def get(self) -> str:
        return self.button.color()

    def set(self, value: Any) -> None:
        self.button.set_color(str(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.button.color_changed.connect(lambda _c: callback())


class _TextEditor(_Editor):
    def __init__(self, field: ParamField) -> None:
        super().__init__(field, QLineEdit())
        self.line: QLineEdit = self.widget  # type: ignore[assignment]

    def get(self) -> str:
        return self.line.text()

    def set(self, value: Any) -> None:
        self.line.setText(str(value))

    def connect(self, callback: Callable[[], None]) -> None:
        self.line.textChanged.connect(lambda _t: callback())


class _PathEditor(_TextEditor):
    """A path (or comma-separated paths) typed in, or chosen with the "…" button's file dialog."""

    def __init__(self, field: ParamField) -> None:
        super().__init__(field)
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Choose " + ("files" if field.meta.widget == "files" else "a file"))
        self.browse.clicked.connect(self.choose)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.browse)
        self.row = row

    def choose(self) -> None:
        current = split_list(self.line.text())
        start = start_folder(self.row, os.path.dirname(current[0]) if current else "")
        pictures = PICTURES_FILTER
        if self.field.meta.widget == "files":
            paths, _ = QFileDialog.getOpenFileNames(self.row, self.field.label, start, pictures)
        else:
            path, _ = QFileDialog.getOpenFileName(self.row, self.field.label, start, pictures)
            paths = [path] if path else []
        if paths:
            self.line.setText(", ".join(paths))


def _make_editor(field: ParamField) -> _Editor:
    if field.choices:
        return _ChoiceEditor(field)
    if field.kind is bool:
        return _BoolEditor(field)
    if field.kind is int:
        return _SeedEditor(field) if field.meta.role == "seed" else _IntEditor(field)
    if field.kind is float:
        return _FloatEditor(field)
    if field.kind is str and field.meta.widget == "color":
        return _ColorEditor(field)
    if field.kind is str and field.meta.widget in ("file", "files"):
        return _PathEditor(field)
    if field.kind is str:
        return _TextEditor(field)
    raise TypeError(f"parameter {field.name!r}: no editor for {field.kind!r}")


class ParamsPanel(QWidget):
    """A form with one editor per parameter of ``params_class`` (see :mod:`studio.core.params`).

    A row shows while its parameter applies (:func:`~studio.core.params.applicable`), and a choice that
    depends on another parameter lists what goes with that one's value. ``changed`` fires once per user
    edit, and once per :meth:`set_values`/:meth:`reset` call that changed anything.
    """

    changed = Signal()

    def __init__(self, params_class: type, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params_class = params_class
        self.fields: list[ParamField] = param_fields(params_class)
        self._editors: dict[str, _Editor] = {}
        self._labels: dict[str, QLabel] = {}
        self._bulk = False
        self._dirty = False

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setVerticalSpacing(4)
        for field in self.fields:
            editor = _make_editor(field)
            editor.set(field.default)
            editor.connect(self._on_edit)
            label = QLabel(field.label)
            label.setBuddy(editor.widget)
            if field.meta.help:
                label.setToolTip(field.meta.help)
                editor.widget.setToolTip(field.meta.help)
            form.addRow(label, editor.row)
            self._editors[field.name] = editor
            self._labels[field.name] = label
        self.form = form
        self._sync()

    # Access to the widgets (for the main window and tests).

    def editor(self, name: str) -> QWidget:
        """The input widget of parameter ``name`` (QSpinBox, QComboBox, ColorButton, ...)."""
        return self._editors[name].widget

    def label(self, name: str) -> QLabel:
        """The form label of parameter ``name``."""
        return self._labels[name]

    def set_row_visible(self, name: str, visible: bool) -> None:
        """Show or hide the row of parameter ``name``."""
        self.form.setRowVisible(self._labels[name], visible)

    def row_shown(self, name: str) -> bool:
        """Whether the row of parameter ``name`` is shown (it is while the parameter applies)."""
        return self.form.isRowVisible(self._labels[name])

    def choices(self, name: str) -> list[Any]:
        """The choices listed for parameter ``name`` now (they may depend on another parameter)."""
        editor = self._editors[name]
        if not isinstance(editor, _ChoiceEditor):
            raise KeyError(f"{name} is not a choice")
        return editor.choices()

    def randomize_seed(self) -> None:
        """Pick a random seed, as the "Random" button does; ``KeyError`` without a seed parameter."""
        editor = next((e for e in self._editors.values() if isinstance(e, _SeedEditor)), None)
        if editor is None:
            raise KeyError("seed")
        editor.randomize()

    # Values

    def values(self) -> dict[str, Any]:
        """The raw values shown, by parameter name (enum fields give enum members)."""
        return {name: editor.get() for name, editor in self._editors.items()}

    def params(self) -> Any:
        """A params instance from the shown values; raises :class:`ParamError` if one is invalid."""
        return make_params(self.params_class, self.values())

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (a partial mapping is fine); invalid or unknown values raise :class:`ParamError`.

        Nothing is changed when any value is rejected.
        """
        unknown = sorted(set(values) - set(self._editors))
        if unknown:
            raise ParamError(f"unknown parameter {unknown[0]!r}; known parameters: {', '.join(self._editors)}")
        checked = {name: coerce(self._editors[name].field, value) for name, value in values.items()}
        check_choices(self.params_class, self.values() | checked, only=checked)
        self._bulk, self._dirty = True, False
        try:
            for field in self.fields:  # in order: a parameter's choices follow the earlier one they depend on
                if field.name in checked:
                    self._editors[field.name].set(checked[field.name])
                    self._sync()
        finally:
            self._bulk = False
        if self._dirty:
            self._dirty = False
            self.changed.emit()

    def set_params(self, params: Any) -> None:
        """Show the values of a params instance."""
        self.set_values({f.name: getattr(params, f.name) for f in self.fields})

    def reset(self) -> None:
        """Show the defaults."""
        self.set_values({f.name: f.default for f in self.fields})

    def _on_edit(self) -> None:
        if self._bulk:
            self._dirty = True
        else:
            self._sync()
            self.changed.emit()

    def _sync(self) -> None:
        """List the choices that go with the other values, and show the rows of the parameters that apply."""
        for editor in self._editors.values():
            if isinstance(editor, _ChoiceEditor) and editor.field.meta.choices_by is not None:
                editor.set_groups(choice_groups(editor.field, self.values()))
        live = applicable(self.params_class, self.values())
        for field in self.fields:
            if field.meta.applies_when:  # the other rows are the panel's to show or hide
                self.set_row_visible(field.name, field.name in live)


def _mute(label: QLabel, source: QPalette) -> None:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, source.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)


HOW_TO_PAINT = {
    "mask": "paint one with the Mask brush, or select with the Rectangle, Ellipse, Lasso or Magic wand",
    "labels": "add one (Layer › New Label Map) and paint it with the Brush, Fill, Rectangle or Lasso",
}


class InputsBox(QGroupBox):
    """What a run reads besides the parameters: the mask and label map in use, and the extra pictures to choose."""

    changed = Signal()

    def __init__(self, manifest: PluginManifest, parent: QWidget | None = None) -> None:
        super().__init__("Inputs", parent)
        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        self.uses: dict[str, QLabel] = {}
        self._required = {spec.name for spec in manifest.inputs if spec.required}
        self._extras: dict[str, _PathEditor] = {}
        for spec in manifest.inputs:
            if spec.name == "image":
                continue
            label = QLabel(spec.label)
            label.setToolTip(spec.help)
            if spec.from_document:
                self.uses[spec.name] = QLabel()
                self.uses[spec.name].setWordWrap(True)
                form.addRow(label, self.uses[spec.name])
                continue
            editor = _PathEditor(ParamField(spec.name, str, "", Param(spec.help, widget="file", label=spec.label)))
            editor.widget.setToolTip(spec.help)
            editor.line.setPlaceholderText("required" if spec.required else "optional")
            editor.connect(self.changed.emit)
            form.addRow(label, editor.row)
            self._extras[spec.name] = editor
        self.setVisible(bool(self.uses or self._extras))

    def extras(self) -> dict[str, str]:
        """The pictures chosen, by input name (empty ones left out)."""
        return {name: editor.get().strip() for name, editor in self._extras.items() if editor.get().strip()}

    def set_extra(self, name: str, path: str) -> None:
        self._extras[name].set(path)

    def show_document(self, doc: Document | None) -> None:
        """Show which mask (or the selection) and label map a run on ``doc`` would use (the visible one in use, or
        none)."""
        for name, label in self.uses.items():
            if doc is None:
                used = None
            elif name == "mask":
                used = None if (mask := doc.job_mask()) is None else mask[0]
            else:
                used = None if (labels := doc.active_labels()) is None else f"“{labels.name}”"
            if used is not None:
                label.setText(used)
            elif name in self._required:
                label.setText(f"none yet: {HOW_TO_PAINT[name]}")
            elif name == "mask":
                label.setText("none: the whole picture")
            else:
                label.setText("none")


class PluginPanel(QWidget):
    """A plugin's description, inputs, parameters, Run/Cancel/Reset buttons and error message.

    The parameters come from a generated :class:`ParamsPanel`, or from the plugin's
    own panel when ``manifest.panel`` names a :class:`ParamsPanel` subclass: it is
    made with ``Panel(host)`` (a :class:`~studio.qt.panel_host.PanelHost`).
    """

    run_requested = Signal(object)
    cancel_requested = Signal()
    params_changed = Signal()

    def __init__(self, manifest: PluginManifest, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manifest = manifest
        self.host = host
        self._running = False

        self.description = QLabel(manifest.description)
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.description.setVisible(bool(manifest.description))
        _mute(self.description, self.palette())

        panel_class = manifest.panel_factory()
        if panel_class is None:
            self.params_widget = ParamsPanel(manifest.params_class())
        elif isinstance(panel_class, type) and issubclass(panel_class, ParamsPanel):
            self.params_widget = panel_class(host)
        else:
            raise TypeError(f"{manifest.panel} is not a ParamsPanel subclass; a plugin's panel must be one")
        self.params_widget.changed.connect(self.params_changed)
        self.inputs_box = InputsBox(manifest)
        self.inputs_box.changed.connect(self.params_changed)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(8, 8, 8, 8)
        content_layout.setSpacing(8)
        content_layout.addWidget(self.description)
        content_layout.addWidget(self.inputs_box)
        content_layout.addWidget(self.params_widget)
        content_layout.addStretch(1)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(content)
        # As wide as the form needs: narrower, its fields would be cut off with no scroll bar to reach them.
        scroll_bar = self.scroll_area.verticalScrollBar().sizeHint().width()
        self.scroll_area.setMinimumWidth(content.minimumSizeHint().width() + scroll_bar)

        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Set every parameter back to its default")
        self.reset_button.setAutoDefault(False)
        self.reset_button.clicked.connect(self.reset)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("primary")
        self.run_button.setDefault(True)
        self.run_button.setToolTip(f"Run {manifest.title}")
        self.run_button.clicked.connect(self.request_run)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 0, 8, 0)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.run_button)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.error_label.setContentsMargins(8, 0, 8, 0)
        error_palette = self.error_label.palette()
        error_palette.setColor(QPalette.ColorRole.WindowText, QColor(ERROR_COLOR))
        self.error_label.setPalette(error_palette)
        self.error_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 8)
        layout.setSpacing(6)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setContentsMargins(8, 0, 8, 0)
        _mute(self.hint_label, self.palette())
        self.hint_label.hide()

        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.hint_label)
        layout.addLayout(buttons)
        layout.addWidget(self.error_label)
        self.params_widget.changed.connect(self._update_hint)
        self._update_hint()

    def params(self) -> Any:
        """The current params instance; raises ParamError if a value is invalid."""
        return self.params_widget.params()

    def extras(self) -> dict[str, str]:
        """The extra pictures chosen in the Inputs box, by input name."""
        return self.inputs_box.extras()

    def request_run(self) -> None:
        """Emit ``run_requested(params)``, or show why the parameters are invalid or what is still to choose."""
        try:
            params = self.params()
        except ParamError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        if self.show_incomplete(params) is None:
            self.run_requested.emit(params)

    def show_incomplete(self, params: object) -> str | None:
        """Show under the form what ``params`` still need (their ``incomplete()``, if they have one) and return it."""
        check = getattr(params, "incomplete", None)
        hint = check() if callable(check) else None
        self.hint_label.setText(hint or "")
        self.hint_label.setVisible(bool(hint))
        return hint

    def _update_hint(self) -> None:
        try:
            self.show_incomplete(self.params())
        except ParamError:
            self.show_incomplete(None)

    def hint_text(self) -> str:
        return self.hint_label.text() if self.hint_label.isVisibleTo(self) else ""

    def reset(self) -> None:
        """Set the parameters back to their defaults."""
        self.params_widget.reset()
        self.clear_error()

    def set_running(self, running: bool) -> None:
        """While running, Run is disabled and Cancel enabled; the reverse otherwise."""
        self._running = running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    @property
    def running(self) -> bool:
        return self._running

    def show_error(self, text: str) -> None:
        """Show ``text`` in red under the buttons (an empty text hides the label)."""
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def clear_error(self) -> None:
        self.show_error("")

    def error_text(self) -> str:
        return self.error_label.text()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            _mute(self.description, self.palette())
            _mute(self.hint_label, self.palette())
        super().changeEvent(event)
