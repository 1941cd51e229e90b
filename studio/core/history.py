"""The document's undoable commands: strokes, layer edits, plugin results, canvas resizes, selections.

Each command is pushed on ``doc.history`` (a :class:`studio.core.undo.History`), which runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from studio.core.document import Document, Layer, Region
    from studio.core.print_size import PrintSpec


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
class ReplaceLayers:
    """Layers replaced by one new layer at ``index`` (counted once they are gone): a merge down or a flatten."""

    text: str
    layer_ids: list[str]
    layer: Layer
    index: int
    _removed: list[tuple[Layer, int]] = field(default_factory=list)

    def redo(self, doc: Document) -> None:
        self._removed = doc.replace_layers(self.layer_ids, [(self.layer, self.index)])

    def undo(self, doc: Document) -> None:
        doc.replace_layers([self.layer.id], self._removed)


@dataclass
class SetLayerProperties:
    """Name, opacity or blend mode of a layer. Consecutive opacity edits (a slider drag) merge."""

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
    """The canvas got a new size or shape (fitted to a print, resized, cropped, turned): every layer's pixels, the
    print spec and the selection changed."""

    text: str
    width: int
    height: int
    pixels: dict[str, np.ndarray]
    print_spec: PrintSpec | None = None
    selection: np.ndarray | None = None
    _before: tuple[int, int, dict[str, np.ndarray], PrintSpec | None, np.ndarray | None] | None = None

    def redo(self, doc: Document) -> None:
        before = {la.id: la.pixels for la in doc.layers}
        self._before = (doc.width, doc.height, before, doc.print_spec, doc.selection)
        doc.print_spec = self.print_spec
        doc.resize_canvas(self.width, self.height, self.pixels)
        doc.set_selection(self.selection)

    def undo(self, doc: Document) -> None:
        assert self._before is not None
        width, height, pixels, spec, selection = self._before
        doc.print_spec = spec
        doc.resize_canvas(width, height, pixels)
        doc.set_selection(selection)


@dataclass
class SetSelection:
    """The selection changed (a shape or the magic wand, Select All, Deselect, Invert); None selects nothing."""

    text: str
    selection: np.ndarray | None
    _before: np.ndarray | None = None

    def redo(self, doc: Document) -> None:
        self._before = doc.selection
        doc.set_selection(self.selection)

    def undo(self, doc: Document) -> None:
        doc.set_selection(self._before)
