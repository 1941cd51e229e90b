"""Inpainting: the masked holes of a picture filled with what belongs there.

Each separate hole is filled in a crop around it: the hole's bounding box grown
by ``context`` times its size (boxes that overlap are merged), so a scratch on
a large print costs what a small picture costs. The network fills a crop in one
pass when it is no larger than ``working_size`` and its holes are no deeper than
the holes it was trained on (:data:`TRAINED_DEPTH`); otherwise coarse to fine:
the whole crop shrunk until both hold, then, at full size in tiles, the band of
the hole within that depth of the known pixels again, the deeper interior taken
from the coarse fill (a thin scratch across a large crop has no interior and
skips the coarse pass). Where a crop meets the picture's edge it is extended by
its own mirror image (:data:`BORDER_MIRROR` pixels) before the network fills it:
its partial convolutions renormalise windows that hang over the edge, and a hole
in a corner came out with stray coloured pixels there; mirrored, the corner is
inside the picture the network sees. The fill replaces the hole; a ``feather``
band around it blends the network's picture into the original. OpenCV's Telea
and Navier-Stokes fills are offered in the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.inpainting.net import PConvUNet
from studio_plugins.inpainting.params import InpaintParams

from studio.core.document import to_dtype
from studio.core.image import quantize, to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.nets.features import autocast, use_bfloat16
from studio.core.tiling import Box, TileGrid, margin_for, tiled_map

MIN_CONTEXT = 16  # pixels of context around the smallest hole
TRAINED_DEPTH = 24.0
"""Pixels from a hole's deepest point to the nearest known pixel that the shipped network fills well: 9 in 10 of
its training holes (``training.toml``: 128 px crops, every size bin) are no deeper. Deeper holes hold shapes it
never learnt to fill (on the validation photos their fills smear and repeat blocks), so they are filled shrunk."""
BORDER_MIRROR = 32  # pixels of mirror image added where a crop meets the picture's edge
OPENCV_FLAGS = {"telea": cv2.INPAINT_TELEA, "navier_stokes": cv2.INPAINT_NS}


class InpaintError(ValueError):
    """The mask cannot be filled as it is; the message says what to change."""


def holes(mask: np.ndarray | None) -> np.ndarray:
    """The pixels to fill (bool, H, W): everywhere the mask is above 0; an :class:`InpaintError` for a missing,
    empty or all-covering mask."""
    if mask is None:
        raise InpaintError("inpainting needs a mask: paint over what should go (white in a mask file)")
    hole = mask > 0
    if not hole.any():
        raise InpaintError("the mask is empty: paint over what should go (white in a mask file, --mask on the CLI)")
    if hole.all():
        raise InpaintError(
            "the mask covers the whole picture, so nothing is left to fill from; leave the surroundings unmasked"
        )
    return hole


def crop_boxes(hole: np.ndarray, context: float, least: int = MIN_CONTEXT) -> tuple[list[Box], int]:
    """A box (x0, y0, x1, y1) around each separate hole with ``context`` times its size around it (at least
    ``least`` px), clamped to the picture, and the number of holes; boxes that overlap are merged, so every hole
    lies in one box."""
    height, width = hole.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(hole.view(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, _area in stats[1:count]:
        margin = max(least, math.ceil(context * max(w, h)))
        box = (max(0, x - margin), max(0, y - margin), min(width, x + w + margin), min(height, y + h + margin))
        boxes.append(tuple(int(v) for v in box))
    return _merge(boxes), count - 1


def _merge(boxes: list[Box]) -> list[Box]:
    """``boxes`` with every overlapping pair replaced by their union, until none overlap."""
    merged = sorted(boxes)
    changed = True
    while changed:
        changed = False
        result: list[Box] = []
        for box in merged:
            for index, other in enumerate(result):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    result[index] = (
                        min(box[0], other[0]),
                        min(box[1], other[1]),
                        max(box[2], other[2]),
                        max(box[3], other[3]),
                    )
                    changed = True
                    break
            else:
                result.append(box)
        merged = sorted(result)
    return merged


@dataclass(frozen=True)
class Filler:
    """The network and how it runs: fills an RGB crop (float32 0..1, H, W, 3) where ``hole`` is True."""

    net: PConvUNet
    device: str
    bfloat16: bool
    working_size: int

    @torch.no_grad()
    def _pass(self, picture: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The network's picture (1, 3, h, w) for ``picture`` (1, 3, h, w) with ``valid`` (1, 1, h, w), padded to
        the network's multiple (the padding is hole)."""
        multiple = self.net.config.multiple
        height, width = picture.shape[-2:]
        pad = (0, -width % multiple, 0, -height % multiple)
        picture, valid = F.pad(picture * valid, pad), F.pad(valid, pad)
        with autocast(picture, self.bfloat16):
            output = self.net(picture, valid)
        return output.float()[..., :height, :width].clamp(0.0, 1.0)

    def fill(
        self, crop: np.ndarray, hole: np.ndarray, mirror: tuple[int, int, int, int] = (0, 0, 0, 0)
    ) -> tuple[np.ndarray, bool]:
        """The network's picture of the crop (float32 0..1) and whether it was filled coarse to fine; the crop is
        first extended by ``mirror`` (top, bottom, left, right) pixels of its own mirror image."""
        if not any(mirror):
            return self._fill(crop, hole)
        top, bottom, left, right = mirror
        height, width = hole.shape
        extended = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        extended_hole = cv2.copyMakeBorder(hole.view(np.uint8), top, bottom, left, right, cv2.BORDER_REFLECT_101)
        filled, deep = self._fill(extended, extended_hole.view(bool))
        return filled[top : top + height, left : left + width], deep

    def _fill(self, crop: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, bool]:
        picture = torch.from_numpy(crop).permute(2, 0, 1)[None].to(self.device)
        valid = torch.from_numpy((~hole).astype(np.float32))[None, None].to(self.device)
        height, width = hole.shape
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
        deepest = float(depth.max())
        if max(height, width) <= self.working_size and deepest <= TRAINED_DEPTH:
            return self._pass(picture, valid)[0].permute(1, 2, 0).cpu().numpy(), False
        interior = depth > TRAINED_DEPTH
        deep = bool(interior.any())
        coarse = picture
        if deep:
            scale = min(self.working_size / max(height, width), TRAINED_DEPTH / deepest)
            small = (max(1, round(width * scale)), max(1, round(height * scale)))
            small_picture = F.interpolate(picture, size=small[::-1], mode="area")
            small_valid = (F.interpolate(valid, size=small[::-1], mode="area") > 0.999).float()
            coarse = F.interpolate(self._pass(small_picture, small_valid), size=(height, width), mode="bilinear")
        inside = torch.from_numpy(interior)[None, None].to(self.device)
        known = torch.where(inside, 1.0, valid)
        stacked = torch.cat([torch.where(valid > 0, picture, coarse), known], dim=1)
        margin = min(margin_for(self.working_size), self.working_size // 4)
        grid = TileGrid(width, height, self.working_size - 2 * margin)
        output = tiled_map(stacked, lambda tile, _box: self._pass(tile[:, :3], tile[:, 3:]), grid, margin)
        fine = torch.where(inside, coarse, output)
        return fine[0].permute(1, 2, 0).cpu().numpy(), deep


def mirror_widths(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixels (top, bottom, left, right) by which a crop ``box`` of a picture of ``shape`` (height, width) is
    mirrored before the network fills it: :data:`BORDER_MIRROR` on each side where it meets the picture's edge."""
    x0, y0, x1, y1 = box
    height, width = shape
    across, down = min(BORDER_MIRROR, x1 - x0 - 1), min(BORDER_MIRROR, y1 - y0 - 1)
    return (down * (y0 == 0), down * (y1 == height), across * (x0 == 0), across * (x1 == width))


def feathered(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, feather: int) -> np.ndarray:
    """``filled`` in the hole, ``original`` farther than ``feather`` px from it, and a linear blend between."""
    if feather <= 0:
        weight = hole.astype(np.float32)
    else:
        distance = cv2.distanceTransform(np.where(hole, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
        weight = np.clip(1.0 - distance / (feather + 1), 0.0, 1.0)
    return original * (1.0 - weight[..., None]) + filled * weight[..., None]


def run(params: InpaintParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Fill the mask's holes, crop by crop; a preview after each crop, the last frame is the filled picture."""
    started = time.perf_counter()
    if inputs.image is None:
        raise InpaintError("inpainting needs a picture")
    hole = holes(inputs.mask)
    feather = params.feather if params.method == "network" else 0
    boxes, count = crop_boxes(hole, params.context, MIN_CONTEXT + feather)
    filler = None
    if params.method == "network":
        net = ctx.models.load(params.model, ctx.device)
        filler = Filler(net, ctx.device, use_bfloat16(params.precision, ctx.device), params.working_size)
    # The network's fill keeps 16 bits; OpenCV's inpainting is 8-bit by nature.
    bit_depth = 8 if filler is None else 16
    result = inputs.image.copy() if filler is None else to_dtype(inputs.image, np.dtype(np.uint16))
    total = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
    done, coarse_to_fine = 0, 0
    for index, (x0, y0, x1, y1) in enumerate(boxes, 1):
        ctx.check_cancelled()
        crop8, crop_hole = np.ascontiguousarray(inputs.image[y0:y1, x0:x1, :3]), hole[y0:y1, x0:x1]
        crop = crop8.astype(np.float32) / 255.0
        if filler is None:
            flag = OPENCV_FLAGS[params.method]
            filled = cv2.inpaint(crop8, crop_hole.astype(np.uint8), params.radius, flag).astype(np.float32) / 255.0
        else:
            filled, refined = filler.fill(crop, crop_hole, mirror_widths((x0, y0, x1, y1), hole.shape))
            coarse_to_fine += refined
        result[y0:y1, x0:x1, :3] = quantize(feathered(crop, filled, crop_hole, feather), bit_depth)
        done += (x1 - x0) * (y1 - y0)
        # An 8-bit copy of a print-size picture for a preview costs more than filling a few small holes: a preview
        # only once the job has run a preview interval, and none before the final frame.
        if index < len(boxes) and ctx.elapsed() >= ctx.preview_interval_s and ctx.preview_due():
            message = f"filled {index} of {len(boxes)} crops"
            yield ctx.frame(0.99 * done / total, to_uint8(result), message=message)
    info = {
        "method": params.method,
        "model": params.model if filler is not None else None,
        "holes": count,
        "hole_ratio": round(float(hole.mean()), 5),
        "crops": [list(box) for box in boxes],
        "coarse_to_fine": coarse_to_fine,
        "precision": "bfloat16" if filler is not None and filler.bfloat16 else "float32",
        "seconds": time.perf_counter() - started,
    }
    message = f"filled {info['holes']} holes in {len(boxes)} crops ({params.method})"
    yield ctx.frame(1.0, result, final=True, message=message, info=info)
