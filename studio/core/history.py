"""The document's undoable commands: strokes, layer edits, plugin results, canvas resizes, selections.

Each command is pushed on ``doc.history`` (a :class:`studio.core.undo.History`), which runs it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.core.tiles import Region, TiledImage, TileKey, clip_region

if TYPE_CHECKING:
    from studio.core.document import Document, Layer
    from studio.core.print_size import PrintSpec


@dataclass
class PixelEdit:
    """Pixels of one layer inside ``region`` changed.

    Each changed tile is kept as the compressed XOR of its pixels before and after (``changes``): zero wherever the
    edit did not reach, so an edit holds about as many bytes as it changed pixels, and the same bytes turn the tile
    either way (undo and redo).
    """

    text: str
    layer_id: str
    region: Region
    changes: dict[TileKey, bytes]

    @classmethod
    def between(
        cls, text: str, layer_id: str, region: Region, before: TiledImage, after: TiledImage, keys: list[TileKey]
    ) -> PixelEdit:
        """The edit from ``before`` to ``after`` (two versions of one layer's pixels) in tiles ``keys``."""
        changes = {}
        for key in keys:
            piece = before.tile_region(key)
            delta = np.bitwise_xor(before.view(piece), after.view(piece))
            if delta.any():
                changes[key] = zlib.compress(delta, 1)
        return cls(text, layer_id, region, changes)

    @classmethod
    def since(cls, text: str, layer: Layer, before: TiledImage, region: Region) -> PixelEdit:
        """The edit already made to ``layer`` inside ``region`` since ``before`` (a snapshot of its pixels)."""
        return cls.between(text, layer.id, region, before, layer.image, layer.image.changed_keys(before, region))

    @classmethod
    def writing(cls, text: str, layer: Layer, x: int, y: int, patch: np.ndarray) -> PixelEdit:
        """The edit, not yet made, that puts ``patch`` (the layer's dtype) at (x, y) in ``layer``."""
        if patch.dtype != layer.image.dtype:
            raise ValueError(f"layer {layer.name!r} holds {layer.image.dtype} pixels, not {patch.dtype}")
        after = layer.image.snapshot()
        after.write(x, y, patch)
        region = clip_region((x, y, x + patch.shape[1], y + patch.shape[0]), layer.width, layer.height)
        return cls.between(text, layer.id, region, layer.image, after, after.changed_keys(layer.image, region))

    @property
    def nbytes(self) -> int:
        """The bytes this edit holds."""
        return sum(len(packed) for packed in self.changes.values())

    def redo(self, doc: Document) -> None:
        self._flip(doc)

    def undo(self, doc: Document) -> None:
        self._flip(doc)

    def _flip(self, doc: Document) -> None:
        image = doc.layer(self.layer_id).image
        for key, packed in self.changes.items():
            current = image.view(image.tile_region(key))
            flipped = current ^ np.frombuffer(zlib.decompress(packed), image.dtype).reshape(current.shape)
            image.put_tiles([key], {key: flipped} if flipped.any() else {})
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
    pixels: dict[str, np.ndarray | TiledImage]
    print_spec: PrintSpec | None = None
    selection: np.ndarray | None = None
    _before: tuple[int, int, dict[str, TiledImage], PrintSpec | None, np.ndarray | None] | None = None

    def redo(self, doc: Document) -> None:
        before = {la.id: la.image for la in doc.layers}
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
