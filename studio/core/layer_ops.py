"""Merging layers: merge down and flatten, each one undo step (no Qt)."""

from __future__ import annotations

from studio.core.blend import BlendMode
from studio.core.document import Document, Layer, LayerKind
from studio.core.errors import ReadableError
from studio.core.history import ReplaceLayers

__all__ = ["MergeError", "flatten", "merge_down"]


class MergeError(ReadableError):
    """Layers cannot be merged as asked; the message says why and what to do."""


def merge_down(doc: Document, layer_id: str) -> ReplaceLayers:
    """The undo step that lays raster layer ``layer_id`` over the raster layer below it, with its opacity and
    blend mode, into one layer that keeps the lower layer's name, place, opacity and blend mode.

    The merged pixels are no longer what either recipe made, so the result has none. ``MergeError`` when there is
    no raster layer directly below, either layer is hidden, or :class:`~studio.core.document.LayerLockedError`
    when either is locked.
    """
    index = doc.index_of(layer_id)
    upper = doc.layers[index]
    lower = doc.layers[index - 1] if index > 0 else None
    if lower is None or upper.kind is not LayerKind.RASTER or lower.kind is not LayerKind.RASTER:
        raise MergeError(f"Layer {upper.name!r} has no image layer directly below it to merge into.")
    for layer in (upper, lower):
        if not layer.visible:
            raise MergeError(f"Layer {layer.name!r} is hidden: show it to merge it.")
        layer.ensure_unlocked("merge it")
    pair = Document(doc.width, doc.height)
    pair.layers = [lower.snapshot(), upper.snapshot()]
    pair.layers[0].opacity, pair.layers[0].blend_mode = 1.0, BlendMode.NORMAL
    merged = Layer(lower.name, LayerKind.RASTER, pair.composite(), True, lower.opacity, blend_mode=lower.blend_mode)
    return ReplaceLayers(f"Merge {upper.name} down", [lower.id, upper.id], merged, index - 1)


def flatten(doc: Document) -> ReplaceLayers:
    """The undo step that replaces every raster layer by one layer at the bottom holding the composite (what the
    canvas shows), named as the bottom one; hidden raster layers are dropped, masks and label maps stay above it.

    ``MergeError`` when there is no raster layer; ``LayerLockedError`` when one is locked.
    """
    rasters = [layer for layer in doc.layers if layer.kind is LayerKind.RASTER]
    if not rasters:
        raise MergeError("There is no image layer to flatten.")
    for layer in rasters:
        layer.ensure_unlocked("flatten the image")
    name = rasters[0].name
    flat = Layer(name, LayerKind.RASTER, doc.composite())
    return ReplaceLayers("Flatten image", [layer.id for layer in rasters], flat, 0)
