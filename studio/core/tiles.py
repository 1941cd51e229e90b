"""Pixels stored as tiles that are shared copy-on-write (no Qt).

A layer's pixels are a :class:`TiledImage`: a grid of ``TILE_SIZE`` square numpy tiles. A snapshot (for an
export, a job's input, an autosave, the undo history) shares every tile with the image it was taken from and costs
next to nothing: shared tiles are made read-only, and the image that writes next copies only the tiles it writes.
A tile that was never written is not stored at all and reads as zeros (transparent, unselected).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["TILE_SIZE", "Region", "TileKey", "TiledImage", "clip_region"]

TILE_SIZE = 256
"""The side of a tile in pixels (the last row and column of tiles are cut to the image)."""

Region = tuple[int, int, int, int]
"""A pixel rectangle ``(x0, y0, x1, y1)``, end-exclusive."""

TileKey = tuple[int, int]
"""A tile's place in the grid: ``(row, column)``."""

_REVISIONS = itertools.count()


@functools.cache
def _zeros(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    blank = np.zeros(shape, dtype)
    blank.flags.writeable = False
    return blank


def clip_region(region: Region, width: int, height: int) -> Region:
    """``region`` cut to a ``width`` x ``height`` image (empty regions keep x0 <= x1, y0 <= y1)."""
    x0, y0, x1, y1 = region
    x0, y0 = min(max(x0, 0), width), min(max(y0, 0), height)
    return x0, y0, min(max(x1, x0), width), min(max(y1, y0), height)


class TiledImage:
    """A ``width`` x ``height`` image with ``channels`` values per pixel (0 for a single plane, read as (H, W))
    of ``dtype``, kept as tiles shared copy-on-write with its snapshots.

    Only the thread that owns the image (the GUI thread for a document's layers) writes it; a snapshot is never
    written and can be read from any thread.
    """

    __slots__ = ("_tiles", "channels", "dtype", "height", "revision", "width")

    def __init__(
        self,
        width: int,
        height: int,
        channels: int,
        dtype: np.dtype[Any] | type[np.generic],
        tiles: Mapping[TileKey, np.ndarray] | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"an image needs a positive size, not {width}x{height}")
        self.width = width
        self.height = height
        self.channels = channels
        self.dtype = np.dtype(dtype)
        self._tiles: dict[TileKey, np.ndarray] = dict(tiles or {})
        self.revision = next(_REVISIONS)
        """A number no other image or version of this one has: it changes with every write."""

    @classmethod
    def from_array(cls, pixels: np.ndarray) -> TiledImage:
        """The image holding a copy of ``pixels`` ((H, W) or (H, W, C)); all-zero tiles are not stored."""
        if pixels.ndim not in (2, 3):
            raise ValueError(f"pixels must be (H, W) or (H, W, C), not of shape {pixels.shape}")
        image = cls(pixels.shape[1], pixels.shape[0], pixels.shape[2] if pixels.ndim == 3 else 0, pixels.dtype)
        for key in image.tile_keys():
            x0, y0, x1, y1 = image.tile_region(key)
            tile = pixels[y0:y1, x0:x1]
            if tile.any():
                image._tiles[key] = tile.copy()
        return image

    @classmethod
    def filled(
        cls, width: int, height: int, value: tuple[int, ...] | int, dtype: np.dtype[Any] | type[np.generic]
    ) -> TiledImage:
        """An image with every pixel ``value`` (a tuple per channel, or one number for a single plane); its tiles of
        one shape are one shared array, so a blank page of any size costs a few tiles."""
        channels = len(value) if isinstance(value, tuple) else 0
        image = cls(width, height, channels, dtype)
        if not np.any(value):
            return image
        shared: dict[tuple[int, ...], np.ndarray] = {}
        for key in image.tile_keys():
            x0, y0, x1, y1 = image.tile_region(key)
            shape = image._piece_shape(x1 - x0, y1 - y0)
            if shape not in shared:
                shared[shape] = np.full(shape, value, dtype)
                shared[shape].flags.writeable = False
            image._tiles[key] = shared[shape]
        return image

    # Geometry

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the whole image as an array: (H, W) or (H, W, C)."""
        return (self.height, self.width, self.channels) if self.channels else (self.height, self.width)

    @property
    def nbytes(self) -> int:
        """The bytes the stored tiles take (tiles shared with a snapshot counted too)."""
        return sum(tile.nbytes for tile in self._tiles.values())

    def tile_keys(self, region: Region | None = None) -> list[TileKey]:
        """The tiles that ``region`` (default: the whole image) touches, row by row."""
        x0, y0, x1, y1 = clip_region(region or (0, 0, self.width, self.height), self.width, self.height)
        if x0 >= x1 or y0 >= y1:
            return []
        return [
            (row, column)
            for row in range(y0 // TILE_SIZE, (y1 - 1) // TILE_SIZE + 1)
            for column in range(x0 // TILE_SIZE, (x1 - 1) // TILE_SIZE + 1)
        ]

    def tile_region(self, key: TileKey) -> Region:
        """The pixels tile ``key`` covers."""
        row, column = key
        x0, y0 = column * TILE_SIZE, row * TILE_SIZE
        return x0, y0, min(x0 + TILE_SIZE, self.width), min(y0 + TILE_SIZE, self.height)

    def pieces(self, region: Region) -> Iterator[tuple[Region, TileKey]]:
        """Each part of ``region`` (clipped to the image) that lies in one tile, with that tile's key."""
        region = clip_region(region, self.width, self.height)
        for key in self.tile_keys(region):
            tx0, ty0, tx1, ty1 = self.tile_region(key)
            yield (max(tx0, region[0]), max(ty0, region[1]), min(tx1, region[2]), min(ty1, region[3])), key

    # Reading

    def view(self, region: Region) -> np.ndarray:
        """The pixels of ``region``, which must lie in one tile, as a read-only view (no copy)."""
        x0, y0, x1, y1 = region
        (key,) = self.tile_keys(region)
        tile = self._tiles.get(key)
        if tile is None:
            return _zeros(self._piece_shape(x1 - x0, y1 - y0), self.dtype)
        tx0, ty0 = key[1] * TILE_SIZE, key[0] * TILE_SIZE
        piece = tile[y0 - ty0 : y1 - ty0, x0 - tx0 : x1 - tx0]
        piece.flags.writeable = False
        return piece

    def read(self, region: Region | None = None) -> np.ndarray:
        """A new array holding the pixels of ``region`` (default: all), clipped to the image."""
        x0, y0, x1, y1 = clip_region(region or (0, 0, self.width, self.height), self.width, self.height)
        out = np.zeros(self._piece_shape(x1 - x0, y1 - y0), self.dtype)
        for (px0, py0, px1, py1), key in self.pieces((x0, y0, x1, y1)):
            if key in self._tiles:
                out[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0] = self.view((px0, py0, px1, py1))
        return out

    def stored(self, key: TileKey) -> bool:
        """Whether tile ``key`` holds pixels (a tile never written reads as zeros)."""
        return key in self._tiles

    def sample(self, step: int) -> np.ndarray:
        """Every ``step``-th pixel of every ``step``-th row (``pixels[::step, ::step]``), as a new array."""
        out = np.zeros(self._piece_shape(-(-self.width // step), -(-self.height // step)), self.dtype)
        for key, tile in self._tiles.items():
            x0, y0, _x1, _y1 = self.tile_region(key)
            first_x, first_y = -x0 % step, -y0 % step
            part = tile[first_y::step, first_x::step]
            row, column = (y0 + first_y) // step, (x0 + first_x) // step
            out[row : row + part.shape[0], column : column + part.shape[1]] = part
        return out

    def any(self, region: Region | None = None) -> bool:
        """Whether any pixel in ``region`` (default: all) is not zero."""
        return any(
            key in self._tiles and self.view(piece).any()
            for piece, key in self.pieces(region or (0, 0, self.width, self.height))
        )

    # Writing

    def write(self, x: int, y: int, patch: np.ndarray) -> None:
        """Put ``patch`` with its top-left corner at (x, y); what falls outside the image is dropped."""
        if patch.shape[2:] != self.shape[2:]:
            raise ValueError(f"a patch of shape {patch.shape} does not fit an image of shape {self.shape}")
        height, width = patch.shape[:2]
        self.revision = next(_REVISIONS)
        for (px0, py0, px1, py1), key in self.pieces((x, y, x + width, y + height)):
            tile = self._writable(key)
            tx0, ty0 = key[1] * TILE_SIZE, key[0] * TILE_SIZE
            tile[py0 - ty0 : py1 - ty0, px0 - tx0 : px1 - tx0] = patch[py0 - y : py1 - y, px0 - x : px1 - x]

    def _writable(self, key: TileKey) -> np.ndarray:
        tile = self._tiles.get(key)
        if tile is None:
            x0, y0, x1, y1 = self.tile_region(key)
            tile = np.zeros(self._piece_shape(x1 - x0, y1 - y0), self.dtype)
        elif not tile.flags.writeable:
            tile = tile.copy()
        else:
            return tile
        self._tiles[key] = tile
        return tile

    # Sharing

    def snapshot(self) -> TiledImage:
        """A copy that shares every tile: O(tiles), no pixels copied. Neither image's writes reach the other."""
        return TiledImage(self.width, self.height, self.channels, self.dtype, self.tiles())

    def tiles(self, keys: list[TileKey] | None = None) -> dict[TileKey, np.ndarray]:
        """The stored tiles among ``keys`` (default: all), made read-only so they can be shared."""
        chosen = self._tiles if keys is None else {key: self._tiles[key] for key in keys if key in self._tiles}
        for tile in chosen.values():
            tile.flags.writeable = False
        return dict(chosen)

    def put_tiles(self, keys: list[TileKey], tiles: Mapping[TileKey, np.ndarray]) -> None:
        """Make tiles ``keys`` those of ``tiles`` (shared, read-only); a key missing from ``tiles`` becomes zeros."""
        self.revision = next(_REVISIONS)
        for key in keys:
            tile = tiles.get(key)
            if tile is None:
                self._tiles.pop(key, None)
            else:
                tile.flags.writeable = False
                self._tiles[key] = tile

    def changed_keys(self, other: TiledImage, region: Region | None = None) -> list[TileKey]:
        """The tiles in ``region`` that are not the very same tile in ``other`` (a snapshot of this image): what
        was written since that snapshot was taken."""
        return [key for key in self.tile_keys(region) if self._tiles.get(key) is not other._tiles.get(key)]

    def _piece_shape(self, width: int, height: int) -> tuple[int, ...]:
        return (height, width, self.channels) if self.channels else (height, width)
