"""Irregular hole masks for training and validating the inpainting network, drawn on the fly.

A mask is a bool array (H, W), True in the hole to fill (white in a mask file).
Three kinds of shape are mixed: free-form brush strokes, blobs (ellipses,
polygons, thresholded smooth noise) and the thin scratches and lines artists
paint over wires and cracks. Sizes are given for a 256 px picture and scale
with the mask's smaller side, so the masks look alike from 64 to 512 px.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

RATIO_BINS: tuple[tuple[float, float], ...] = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.6))
REFERENCE_SIDE = 256  # the side the shape sizes below are given for
STROKE_WIDTH = (10.0, 40.0)  # brush strokes, px at 256
STROKE_SEGMENTS = (4, 12)
STROKE_SEGMENT_LENGTH = (10.0, 60.0)  # px at 256
SCRATCH_WIDTH = (1.0, 4.0)  # px at 256
SCRATCH_LENGTH = (0.4, 1.2)  # fractions of the smaller side
BLOB_RADIUS = (0.04, 0.2)  # fractions of the smaller side
NOISE_AREA = (0.03, 0.15)  # the share of the picture one noise blob covers
MAX_SHAPES = 200  # after this many shapes the hole grows by dilation instead, so a mask always completes


def brush_stroke(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """One free-form brush stroke in a (height, width) mask: a random walk of wide segments with round joints."""
    height, width = size
    scale = min(size) / REFERENCE_SIDE
    canvas = np.zeros(size, np.uint8)
    thickness = max(2, round(rng.uniform(*STROKE_WIDTH) * scale))
    point = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    angle = rng.uniform(0.0, 2.0 * math.pi)
    for _ in range(rng.integers(STROKE_SEGMENTS[0], STROKE_SEGMENTS[1] + 1)):
        angle += rng.normal(0.0, 0.9)
        length = rng.uniform(*STROKE_SEGMENT_LENGTH) * scale
        end = np.clip(point + length * np.array([math.cos(angle), math.sin(angle)]), 0, [width - 1, height - 1])
        cv2.line(canvas, _pixel(point), _pixel(end), 255, thickness, cv2.LINE_8)
        cv2.circle(canvas, _pixel(end), thickness // 2, 255, -1, cv2.LINE_8)
        point = end
    return canvas > 0


def blob(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """One blob in a (height, width) mask: a filled ellipse, a star-shaped polygon or thresholded smooth noise."""
    height, width = size
    side = min(size)
    canvas = np.zeros(size, np.uint8)
    centre = (rng.uniform(0, width), rng.uniform(0, height))
    kind = rng.integers(3)
    if kind == 0:
        axes = rng.uniform(*BLOB_RADIUS, size=2) * side
        cv2.ellipse(canvas, _pixel(centre), _pixel(axes), rng.uniform(0.0, 180.0), 0.0, 360.0, 255, -1, cv2.LINE_8)
        return canvas > 0
    if kind == 1:
        corners = rng.integers(5, 13)
        angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, corners))
        radii = rng.uniform(*BLOB_RADIUS) * side * rng.uniform(0.5, 1.0, corners)
        points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, cv2.LINE_8)
        return canvas > 0
    noise = rng.random((rng.integers(3, 9), rng.integers(3, 9))).astype(np.float32)
    smooth = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return smooth > np.quantile(smooth, 1.0 - rng.uniform(*NOISE_AREA))


def scratch(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """One scratch in a (height, width) mask: a long thin line or curve, 1-4 px wide at 256 px."""
    height, width = size
    side = min(size)
    canvas = np.zeros(size, np.uint8)
    thickness = max(1, round(rng.uniform(*SCRATCH_WIDTH) * side / REFERENCE_SIDE))
    start = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    angle = rng.uniform(0.0, 2.0 * math.pi)
    length = rng.uniform(*SCRATCH_LENGTH) * side
    direction = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-direction[1], direction[0]])
    bend = rng.normal(0.0, 0.25 * length, 2) if rng.random() < 0.6 else np.zeros(2)
    controls = [start + length * t * direction + b * across for t, b in ((1 / 3, bend[0]), (2 / 3, bend[1]))]
    end = start + length * direction
    t = np.linspace(0.0, 1.0, 64)[:, None]
    curve = (  # a cubic Bezier curve; straight when it does not bend
        (1 - t) ** 3 * start + 3 * (1 - t) ** 2 * t * controls[0] + 3 * (1 - t) * t**2 * controls[1] + t**3 * end
    )
    cv2.polylines(canvas, [np.round(curve).astype(np.int32)], False, 255, thickness, cv2.LINE_8)
    return canvas > 0


SHAPES: tuple[tuple[Callable[[np.random.Generator, tuple[int, int]], np.ndarray], float], ...] = (
    (brush_stroke, 0.5),
    (blob, 0.3),
    (scratch, 0.2),
)


def random_mask(rng: np.random.Generator, size: tuple[int, int], ratio: tuple[float, float]) -> np.ndarray:
    """A (height, width) hole mask whose share of hole pixels lies in ``ratio`` (low, high).

    Shapes of every kind are added until a share drawn from the range is reached; the
    shape that overshoots it is eroded, then cut to the pixels nearest one of its own.
    """
    low, high = ratio
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"a hole ratio range is 0 <= low <= high <= 1, not {ratio}")
    area = size[0] * size[1]
    fewest, most = math.ceil(low * area), math.floor(high * area)
    if fewest > most:
        raise ValueError(f"no {size[1]}x{size[0]} mask has a hole ratio between {low} and {high}")
    target = min(max(round(rng.uniform(low, high) * area), fewest), most)
    shapes, weights = zip(*SHAPES, strict=True)
    hole = np.zeros(size, bool)
    count = 0
    drawn = 0
    while count < target:
        if drawn < MAX_SHAPES:
            shape = shapes[rng.choice(len(shapes), p=weights)](rng, size)
        else:
            shape = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        drawn += 1
        added = shape & ~hole
        if count + np.count_nonzero(added) > target:
            added = _trim(rng, added, target - count)
        hole |= added
        count += np.count_nonzero(added)
    return hole


def _trim(rng: np.random.Generator, pixels: np.ndarray, keep: int) -> np.ndarray:
    """``keep`` of ``pixels`` (a bool mask holding more): eroded while enough remain, then those nearest one of them."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    current = pixels.astype(np.uint8)
    while True:
        thinner = cv2.erode(current, kernel)
        if np.count_nonzero(thinner) < keep:
            break
        current = thinner
    ys, xs = np.nonzero(current)
    if len(ys) > keep:
        seed = rng.integers(len(ys))
        distance = (ys - ys[seed]) ** 2 + (xs - xs[seed]) ** 2
        nearest = np.argpartition(distance, keep - 1)[:keep]
        ys, xs = ys[nearest], xs[nearest]
    trimmed = np.zeros(pixels.shape, bool)
    trimmed[ys, xs] = True
    return trimmed


def validation_masks(size: tuple[int, int], per_bin: int, seed: int = 0) -> dict[tuple[float, float], list[np.ndarray]]:
    """``per_bin`` hole masks of ``size`` (height, width) for every range of :data:`RATIO_BINS`, the same for a seed.

    Each bin draws from its own generator, so its masks do not change with ``per_bin`` of the others.
    """
    masks: dict[tuple[float, float], list[np.ndarray]] = {}
    for index, bin_ in enumerate(RATIO_BINS):
        rng = np.random.default_rng((seed, index))
        masks[bin_] = [random_mask(rng, size, bin_) for _ in range(per_bin)]
    return masks


def valid_mask(hole: np.ndarray) -> np.ndarray:
    """The network's mask of a hole mask: float32 (H, W), 1 at valid pixels and 0 in the hole."""
    return 1.0 - np.asarray(hole, dtype=np.float32)


def _pixel(point: np.ndarray | tuple[float, float]) -> tuple[int, int]:
    """An (x, y) point (or a pair of lengths) as the int pair OpenCV draws with."""
    return round(float(point[0])), round(float(point[1]))
