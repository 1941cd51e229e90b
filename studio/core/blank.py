"""Blank documents: what File › New and New from Print Preset start from."""

from __future__ import annotations

from studio.core.document import Document, LayerKind, blank_pixels


def blank_document(width: int, height: int, background: str = "White") -> Document:
    """A document of one raster layer filled with ``background`` ("White", "Black" or "Transparent")."""
    pixels = blank_pixels(LayerKind.RASTER, width, height)
    if background != "Transparent":
        pixels[...] = (255, 255, 255, 255) if background == "White" else (0, 0, 0, 255)
    return Document.from_pixels(pixels)
