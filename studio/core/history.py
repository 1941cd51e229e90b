"""Undo/redo as a stack of commands covering strokes, layer edits and plugin results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from psygnal import Signal

if TYPE_CHECKING:
    from studio.core.document import Document, Layer, Region


class Command(Protocol):
    """A reversible change to a document."""

    text: str

    def redo(self, doc: Document) -> None: ...

    def undo(self, doc: Document) -> None: ...


@dataclass
class PixelEdit:
    """Pixels of one layer inside ``region`` changed from ``before`` to ``after``."""

    text: str
    layer_id: str
    region: Region
    before: np.ndarray
    after: np.ndarray

    def redo(self, doc: Document) -> None:
        self._put(doc, self.after)

    def undo(self, doc: Document) -> None:
        self._put(doc, self.before)

    def _put(self, doc: Document, patch: np.ndarray) -> None:
        x0, y0, x1, y1 = self.region
        doc.layer(self.layer_id).pixels[y0:y1, x0:x1] = patch
        doc.notify_pixels(self.region)


@dataclass
class AddLayer:
    """A new layer (a blank layer, an imported image or a plugin result)."""

    text: str
    layer: Layer
    index: int | None = None

    def redo(self, doc: Document) -> None:
        doc.insert_layer(self.layer, self.index)

    def undo(self, doc: Document) -> None:
        doc.remove_layer(self.layer.id)


@dataclass
class RemoveLayer:
    text: str
    layer_id: str
    _removed: tuple[Layer, int] | None = None

    def redo(self, doc: Document) -> None:
        self._removed = doc.remove_layer(self.layer_id)

    def undo(self, doc: Document) -> None:
        assert self._removed is not None
        layer, index = self._removed
        doc.insert_layer(layer, index)


@dataclass
class MoveLayer:
    text: str
    layer_id: str
    index: int
    _previous: int = -1

    def redo(self, doc: Document) -> None:
        self._previous = doc.index_of(self.layer_id)
        doc.move_layer(self.layer_id, self.index)

    def undo(self, doc: Document) -> None:
        doc.move_layer(self.layer_id, self._previous)


@dataclass
class SetLayerProperties:
    """Name, visibility or opacity of a layer. Consecutive opacity edits (a slider drag) merge."""

    text: str
    layer_id: str
    properties: dict[str, Any]
    _previous: dict[str, Any] = field(default_factory=dict)

    def redo(self, doc: Document) -> None:
        layer = doc.layer(self.layer_id)
        self._previous = {key: getattr(layer, key) for key in self.properties}
        doc.set_layer_properties(self.layer_id, **self.properties)

    def undo(self, doc: Document) -> None:
        doc.set_layer_properties(self.layer_id, **self._previous)

    def merge(self, newer: object) -> bool:
        """Absorb ``newer`` if it is another opacity edit of the same layer."""
        if (
            isinstance(newer, SetLayerProperties)
            and newer.layer_id == self.layer_id
            and newer.properties.keys() == self.properties.keys() == {"opacity"}
        ):
            self.properties = dict(newer.properties)
            return True
        return False


@dataclass
class ResizeCanvas:
    """The canvas got a new size (fitted to a print): every layer's pixels and the print spec changed."""

    text: str
    width: int
    height: int
    pixels: dict[str, np.ndarray]
    print_spec: Any = None
    _before: tuple[int, int, dict[str, np.ndarray], Any] | None = None

    def redo(self, doc: Document) -> None:
        self._before = (doc.width, doc.height, {la.id: la.pixels for la in doc.layers}, doc.print_spec)
        doc.print_spec = self.print_spec
        doc.resize_canvas(self.width, self.height, self.pixels)

    def undo(self, doc: Document) -> None:
        assert self._before is not None
        width, height, pixels, spec = self._before
        doc.print_spec = spec
        doc.resize_canvas(width, height, pixels)


class History:
    """The document's command stack. ``changed()`` fires after every push, undo or redo."""

    changed = Signal()

    def __init__(self, doc: Document, limit: int = 200) -> None:
        self._doc = doc
        self._commands: list[Command] = []
        self._index = 0
        self._clean_index: int | None = 0
        self.limit = limit

    def push(self, command: Command, *, applied: bool = False) -> None:
        """Add ``command`` and run it (unless ``applied``: it already changed the document)."""
        if not applied:
            command.redo(self._doc)
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        top = self._commands[-1] if self._commands else None
        merge = getattr(top, "merge", None)
        if merge is not None and self._index != self._clean_index and merge(command):
            self.changed.emit()
            return
        self._commands.append(command)
        self._index += 1
        if len(self._commands) > self.limit:
            self._commands.pop(0)
            self._index -= 1
            self._clean_index = None if self._clean_index in (None, 0) else self._clean_index - 1
        self.changed.emit()

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self._index -= 1
        self._commands[self._index].undo(self._doc)
        self.changed.emit()
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self._commands[self._index].redo(self._doc)
        self._index += 1
        self.changed.emit()
        return True

    def go_to(self, index: int) -> None:
        """Undo or redo until ``index`` commands are applied."""
        index = min(max(index, 0), len(self._commands))
        while self._index > index:
            self.undo()
        while self._index < index:
            self.redo()

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def index(self) -> int:
        """How many commands are applied."""
        return self._index

    def texts(self) -> list[str]:
        """Descriptions of every command, oldest first."""
        return [c.text for c in self._commands]

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        self._clean_index = self._index
        self.changed.emit()

    def mark_modified(self) -> None:
        """Mark the document as unsaved although no command changed it (a recovered autosave)."""
        self._clean_index = None
        self.changed.emit()

    @property
    def is_clean(self) -> bool:
        return self._clean_index == self._index
