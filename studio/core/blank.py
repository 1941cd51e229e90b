"""Blank documents: what File › New and New from Print Preset start from."""

from __future__ import annotations

from studio.core.document import Document, depth_dtype
from studio.core.tiles import TiledImage

BACKGROUNDS = {"White": (255, 255, 255, 255), "Black": (0, 0, 0, 255), "Transparent": (0, 0, 0, 0)}
"""The backgrounds a new document can start with, as 8-bit RGBA."""


def blank_document(width: int, height: int, background: str = "White", bit_depth: int = 8) -> Document:
    """A document of one raster layer of ``bit_depth`` bits filled with ``background`` (a key of BACKGROUNDS)."""
    dtype = depth_dtype(bit_depth)
    value = tuple(int(v) * (257 if bit_depth == 16 else 1) for v in BACKGROUNDS[background])
    return Document.from_pixels(TiledImage.filled(width, height, value, dtype))
