"""Multi-scale schedules and seam-free tiling: how optimisation plugins reach print sizes.

Two ideas, shared by style transfer and Deep Dream:

- a *pyramid*: the image is worked on at a small size first and enlarged in
  steps (for example by 1.4 or 2) to the target size, each scale starting
  from the last, so most iterations happen at low resolution;
- *shifted tiles*: beyond what fits in memory, each step works on tiles whose
  grid moves by a random offset between steps, so no tile border stays in one
  place long enough to leave a seam; each tile is computed with a margin of
  context around it and only its centre is kept. :func:`tiled_map` assembles
  a whole-image result; :class:`TorusGrid` with :func:`take_wrapped` and
  :func:`put_wrapped` lets a caller update the image tile by tile in place,
  with equal-size patches that wrap around the edges (nothing full-size is
  allocated per step).

Everything here works on torch tensors (N, C, H, W) on any device.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Box = tuple[int, int, int, int]
"""A pixel rectangle ``(x0, y0, x1, y1)``, end-exclusive."""

BYTES_PER_PIXEL = {"vgg16": 2600, "vgg16_hed": 2600, "vgg19": 3300, "alexnet": 500, "efficientnet_lite0": 2600}
"""Peak memory of one forward and backward pass per input pixel (measured on the CPU, up to the default layers)."""

AUTO_TILE_CAP_BYTES = 4 << 30  # on the CPU, larger tiles are no faster; this keeps a 4096 px render under 8 GiB
MIN_TILE = 128
MAX_MARGIN = 64  # context around each tile, in pixels of the current scale


def pyramid_sizes(
    width: int, height: int, *, factor: float = 1.4, count: int | None = None, min_side: int = 64
) -> list[tuple[int, int]]:
    """The (width, height) of each scale, coarse to fine, ending exactly at ``(width, height)``.

    Consecutive scales differ by ``factor``; with ``count`` given there are
    exactly that many scales (fewer if the short side would drop below
    ``min_side``), otherwise as many as fit above ``min_side``.
    """
    if width < 1 or height < 1:
        raise ValueError(f"an image of {width}x{height} has no pixels")
    if factor <= 1.0:
        raise ValueError(f"the scale factor must be above 1, not {factor}")
    short = min(width, height)
    fitting = 1 + max(0, math.floor(math.log(max(short, 1) / min_side, factor) + 1e-9)) if short > min_side else 1
    scales = fitting if count is None else max(1, min(count, fitting))
    sizes = []
    for level in range(scales - 1, -1, -1):
        shrink = factor**level
        sizes.append((max(1, round(width / shrink)), max(1, round(height / shrink))))
    return sizes


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (N, C, H, W) resized to ``size`` (width, height): bicubic up, antialiased area-like down."""
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    shrinking = height < image.shape[-2] or width < image.shape[-1]
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False, antialias=shrinking)


def split_iterations(total: int, scales: int, *, ratio: float) -> list[int]:
    """Spread ``total`` iterations over ``scales`` coarse-to-fine: each finer scale gets ``ratio`` (below 1) times
    the previous one's share, and every scale gets at least one.

    With ``ratio = 1 / factor**2`` (``factor`` the size ratio of the scales) every scale costs about the same.
    """
    if scales < 1 or total < scales:
        return [max(1, total // max(scales, 1))] * max(scales, 1)
    shares = np.array([ratio**level for level in range(scales)])
    counts = np.maximum(1, np.floor(shares / shares.sum() * total)).astype(int)
    counts[0] += total - counts.sum()
    return [int(c) for c in counts]


@dataclass(frozen=True)
class TileGrid:
    """Tiles of at most ``tile`` pixels a side covering a ``width`` x ``height`` image, grid shifted by ``offset``.

    With an offset, the first row and column of tiles are cut short, so each
    border moves with the offset while every pixel is still in exactly one tile.
    """

    width: int
    height: int
    tile: int
    offset: tuple[int, int] = (0, 0)

    def __iter__(self) -> Iterator[Box]:
        ox, oy = (self.offset[0] % self.tile, self.offset[1] % self.tile)
        xs = _cuts(self.width, self.tile, ox)
        ys = _cuts(self.height, self.tile, oy)
        for y0, y1 in itertools.pairwise(ys):
            for x0, x1 in itertools.pairwise(xs):
                yield (x0, y0, x1, y1)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _cuts(length: int, tile: int, offset: int) -> list[int]:
    cuts = [0]
    position = offset if offset > 0 else tile
    while position < length:
        cuts.append(position)
        position += tile
    cuts.append(length)
    return cuts


def needs_tiling(width: int, height: int, tile: int) -> bool:
    """True when an image is larger than one tile in either direction."""
    return width > tile or height > tile


def random_offset(rng: np.random.Generator, tile: int) -> tuple[int, int]:
    """A new grid offset for the next step."""
    x, y = rng.integers(0, tile, size=2)
    return int(x), int(y)


def expand(box: Box, margin: int, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` on every side, clamped to the image."""
    x0, y0, x1, y1 = box
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


def tiled_map(
    image: torch.Tensor,
    fn: Callable[[torch.Tensor, Box], torch.Tensor],
    grid: TileGrid,
    margin: int,
    check: Callable[[], None] = lambda: None,
    shift: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Apply ``fn`` to every tile of ``image`` (with ``margin`` pixels of context) and assemble the centres.

    ``fn(patch, box)`` receives the padded patch and the padded box in image
    coordinates and returns a tensor of the patch's spatial size (a gradient,
    say). ``check`` runs between tiles (pass ``ctx.check_cancelled``). Only one
    tile's computation is alive at a time, so memory does not grow with the image.

    With ``shift`` (dx, dy) the tiles are cut from the image rolled by that many
    pixels (wrapping around, as ``torch.roll``) and the result is rolled back:
    the same as ``roll(tiled_map(roll(image, shift)), -shift)`` without the two
    full-size copies. Boxes passed to ``fn`` are then in rolled coordinates.
    """
    height, width = image.shape[-2:]
    dx, dy = shift[0] % width, shift[1] % height
    rows = (torch.arange(height, device=image.device) - dy) % height if dx or dy else None
    cols = (torch.arange(width, device=image.device) - dx) % width if dx or dy else None
    out: torch.Tensor | None = None
    for box in grid:
        check()
        padded = expand(box, margin, width, height)
        px0, py0, px1, py1 = padded
        if rows is None or cols is None:
            patch = image[..., py0:py1, px0:px1]
        else:
            patch = image.index_select(-2, rows[py0:py1]).index_select(-1, cols[px0:px1])
        result = fn(patch, padded)
        if out is None:
            out = torch.zeros((*result.shape[:-2], height, width), dtype=result.dtype, device=result.device)
        x0, y0, x1, y1 = box
        centre = result[..., y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        if rows is None or cols is None:
            out[..., y0:y1, x0:x1] = centre
        else:
            out[..., rows[y0:y1, None], cols[None, x0:x1]] = centre
    assert out is not None
    return out


@dataclass(frozen=True)
class TorusTile:
    """One tile of a :class:`TorusGrid`: a centre that is updated and the patch of context around it.

    Coordinates wrap around the image edges (the image is treated as a torus,
    as when it is rolled): the centre starts at column ``x``, row ``y`` and is
    ``width`` x ``height``; the patch starts at ``patch_x``, ``patch_y`` and is
    the grid's ``patch_size``; the centre sits at ``centre_offset`` inside it.
    """

    x: int
    y: int
    width: int
    height: int
    patch_x: int
    patch_y: int
    centre_offset: tuple[int, int]


@dataclass(frozen=True)
class TorusGrid:
    """Equal patches of at most ``tile`` pixels a side covering a ``width`` x ``height`` image seen as a torus.

    Along an axis that fits in one tile the patch is the whole axis (no
    margin: the wrap-around is its context, as in a rolled image); along a
    longer axis the image is cut into centres of nearly equal size, each
    with ``margin`` pixels of context on both sides, so every patch has the
    same size (fixed-size work keeps memory flat). ``offset`` moves the
    centres (and the wrap-around) by that many pixels.
    """

    width: int
    height: int
    tile: int
    margin: int
    offset: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"an image of {self.width}x{self.height} has no pixels")
        if self.tile <= 2 * self.margin:
            raise ValueError(f"a tile of {self.tile} px leaves no centre inside a margin of {self.margin} px")

    @property
    def patch_size(self) -> tuple[int, int]:
        """(width, height) of every patch."""
        return _torus_axis(self.width, self.tile, self.margin, 0)[0], _torus_axis(
            self.height, self.tile, self.margin, 0
        )[0]

    def __iter__(self) -> Iterator[TorusTile]:
        _, columns = _torus_axis(self.width, self.tile, self.margin, self.offset[0])
        _, rows = _torus_axis(self.height, self.tile, self.margin, self.offset[1])
        for y, height, patch_y in rows:
            for x, width, patch_x in columns:
                yield TorusTile(
                    x, y, width, height, patch_x, patch_y, ((x - patch_x) % self.width, (y - patch_y) % self.height)
                )

    def __len__(self) -> int:
        return len(_torus_axis(self.width, self.tile, self.margin, 0)[1]) * len(
            _torus_axis(self.height, self.tile, self.margin, 0)[1]
        )


def _torus_axis(length: int, tile: int, margin: int, offset: int) -> tuple[int, list[tuple[int, int, int]]]:
    """The patch length and, per tile, (centre start, centre length, patch start) along one wrapped axis."""
    if length <= tile:
        start = offset % length
        return length, [(start, length, start)]
    count = math.ceil(length / (tile - 2 * margin))
    cuts = [round(i * length / count) for i in range(count + 1)]
    sizes = [b - a for a, b in itertools.pairwise(cuts)]
    patch = max(sizes) + 2 * margin
    spans = []
    for cut, size in zip(cuts, sizes, strict=False):
        start = (cut + offset) % length
        spans.append((start, size, (start - margin - (patch - 2 * margin - size) // 2) % length))
    return patch, spans


def _wrapped_spans(start: int, length: int, size: int) -> list[tuple[int, int, int]]:
    """``length`` positions from ``start`` on a circle of ``size``, as (from, to, offset in the run) slices."""
    spans = []
    done = 0
    position = start % size
    while done < length:
        take = min(length - done, size - position)
        spans.append((position, position + take, done))
        done += take
        position = 0
    return spans


def take_wrapped(image: torch.Tensor, x: int, y: int, width: int, height: int) -> torch.Tensor:
    """The ``width`` x ``height`` block of ``image`` (..., H, W) starting at (``x``, ``y``), wrapping at the edges.

    A block that does not cross an edge is a view; one that does is a copy.
    """
    rows = _wrapped_spans(y, height, image.shape[-2])
    columns = _wrapped_spans(x, width, image.shape[-1])
    if len(rows) == 1 and len(columns) == 1:
        (y0, y1, _), (x0, x1, _) = rows[0], columns[0]
        return image[..., y0:y1, x0:x1]
    return torch.cat(
        [torch.cat([image[..., y0:y1, x0:x1] for x0, x1, _ in columns], dim=-1) for y0, y1, _ in rows], dim=-2
    )


def put_wrapped(image: torch.Tensor, x: int, y: int, block: torch.Tensor) -> None:
    """Write ``block`` (..., h, w) into ``image`` at (``x``, ``y``), wrapping at the edges (the inverse of take)."""
    height, width = block.shape[-2:]
    for y0, y1, by in _wrapped_spans(y, height, image.shape[-2]):
        for x0, x1, bx in _wrapped_spans(x, width, image.shape[-1]):
            image[..., y0:y1, x0:x1] = block[..., by : by + y1 - y0, bx : bx + x1 - x0]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Give memory the C allocator holds in free fragments back to the system (glibc only; else nothing).

    Call it between tiles: tile-sized buffers that are allocated and freed
    over and over otherwise leave the heap fragmented, and the process's
    memory creeps up with every step.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur with reflected borders (identity for sigma <= 0)."""
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, image.shape[-1] - 1, image.shape[-2] - 1)
    if radius < 1:
        return image
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = F.pad(image, (radius, radius, 0, 0), mode="reflect")
    image = F.conv2d(padded, horizontal, groups=channels)
    padded = F.pad(image, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, vertical, groups=channels)


def laplacian_normalize(gradient: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Equalise a gradient across spatial frequencies (Laplacian pyramid, each band divided by its std).

    The classic Deep Dream trick for clean results: the high frequencies that
    dominate a raw gradient no longer drown the coarse structure.
    """
    bands = []
    current = gradient
    for _ in range(levels - 1):
        if min(current.shape[-2:]) < 4:
            break
        low = F.avg_pool2d(current, 2, ceil_mode=True)
        up = F.interpolate(low, size=current.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(current - up)
        current = low
    bands.append(current)
    out = bands[-1] / bands[-1].std().clamp_min(1e-8)
    for band in reversed(bands[:-1]):
        out = F.interpolate(out, size=band.shape[-2:], mode="bilinear", align_corners=False)
        out = out + band / band.std().clamp_min(1e-8)
    return out / len(bands)


def margin_for(tile: int) -> int:
    """Pixels of context each tile is computed with."""
    return max(8, min(MAX_MARGIN, tile // 2))


def auto_tile_size(network: str, device: str) -> int:
    """The largest tile one forward and backward pass of ``network`` fits in, given the device's free memory."""
    if device.startswith("cuda") and torch.cuda.is_available():
        budget = torch.cuda.mem_get_info(torch.device(device))[0] * 0.6
    else:
        budget = min(_available_ram() * 0.4, AUTO_TILE_CAP_BYTES)
    side = math.isqrt(int(budget / BYTES_PER_PIXEL.get(network, 3000)))
    side -= 2 * margin_for(side)
    return max(MIN_TILE, side // 64 * 64)


def _available_ram() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float(8 << 30)
