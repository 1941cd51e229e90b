"""What a job reads, built from a plugin's declared inputs by one function for every host.

The panel, ``studio run``, batch job files and re-renders each collect what they
have (arrays from the document, files named on a command line or in a job file)
by input name and hand it to :func:`studio.core.run.build_inputs`, which loads,
converts and checks it with the functions here, the same way for all of them.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from studio.core.document import pixels_digest
from studio.core.errors import ReadableError
from studio.core.image import load_image, to_uint8

Provided = Mapping[str, "np.ndarray | str | os.PathLike[str] | None"]
"""What a host has, by input name: an array (in the input's kind) or a file to load; None = not given."""

InputKind = Literal["image", "mask", "labels"]
"""image: RGBA uint8; mask: float32 in 0..1 (1 = work here); labels: RGB uint8 whose colours are regions."""

DOCUMENT_INPUTS = ("image", "mask", "labels")
"""The inputs the document provides: its visible picture, its active mask and its active label map. An input of
any other name is an extra picture the artist chooses (a style picture, its label map, a second parent)."""


@dataclass(frozen=True)
class InputSpec:
    """One input a plugin reads, declared in its manifest.

    ``image``, ``mask`` and ``labels`` come from the document (in the GUI) or from
    ``--input``/``--mask``/``--labels`` (``studio run``) and the same keys of a batch
    step; any other ``name`` is an extra picture, chosen in the panel, given as
    ``--extra NAME=FILE`` or as a step key. Document inputs other than ``image``
    must have the picture's size; extras may have any size.
    """

    name: str
    kind: InputKind = "image"
    required: bool = False
    title: str = ""
    help: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    @property
    def from_document(self) -> bool:
        return self.name in DOCUMENT_INPUTS


IMAGE = InputSpec("image", "image", required=True, title="Picture", help="the document's visible layers")
"""The usual first input: the visible picture, required."""
MASK = InputSpec("mask", "mask", title="Mask", help="where the plugin works; everywhere when there is none")
"""An optional mask."""
LABELS = InputSpec("labels", "labels", title="Label map", help="regions painted in flat colours")
"""An optional label map."""


class InputError(ReadableError, ValueError):
    """An input is missing, unreadable or of the wrong size; the message names it and the fix."""


@dataclass(frozen=True)
class Inputs:
    """What a job receives, each array a copy the engine owns.

    ``image`` is RGBA uint8 (H, W, 4), ``mask`` float32 (H, W) in 0..1,
    ``labels`` RGB uint8 (H, W, 3) whose colours are regions; all three have the
    document's ``width`` x ``height``. ``extras`` holds the other declared
    inputs by name (a style picture, its label map, a second parent), in their
    own kind and size. ``files`` records which file each input came from.
    """

    width: int
    height: int
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)

    def extra(self, name: str) -> np.ndarray | None:
        """The extra input ``name``, or None when it was not given."""
        return self.extras.get(name)

    def resized(self, size: tuple[int, int]) -> Inputs:
        """These inputs at ``size`` (width, height): the picture resampled, mask smoothly, labels exactly."""
        if size == (self.width, self.height):
            return self
        return replace(
            self,
            width=size[0],
            height=size[1],
            image=None if self.image is None else resample(self.image, size),
            mask=None if self.mask is None else resample(self.mask, size, smooth=True),
            labels=None if self.labels is None else resample(self.labels, size, exact=True),
        )

    def digests(self) -> dict[str, str]:
        """A digest of every input given, by name, for a recipe (worked out once)."""
        return dict(self._digests)

    @cached_property
    def _digests(self) -> dict[str, str]:
        named = {"image": self.image, "mask": self.mask, "labels": self.labels, **self.extras}
        return {name: pixels_digest(array) for name, array in named.items() if array is not None}


def resample(array: np.ndarray, size: tuple[int, int], *, exact: bool = False, smooth: bool = False) -> np.ndarray:
    """``array`` resized to ``size`` (width, height), or ``array`` itself at that size: area when shrinking,
    Lanczos when enlarging (float values may overshoot), linear with ``smooth`` (masks: no ringing, so zero stays
    zero away from an edge); nearest neighbour with ``exact`` (labels keep colours)."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    shrinking = size[0] < array.shape[1]
    enlarge = cv2.INTER_LINEAR if smooth else cv2.INTER_LANCZOS4
    method = cv2.INTER_NEAREST if exact else cv2.INTER_AREA if shrinking else enlarge
    return cv2.resize(array, size, interpolation=method)


def read_input(spec: InputSpec, path: str | os.PathLike[str]) -> np.ndarray:
    """The file at ``path`` as input ``spec``: any picture Studio reads, converted to the input's kind."""
    pixels = to_uint8(load_image(Path(path)).pixels)
    if spec.kind == "mask":
        return mask_from_picture(pixels)
    return as_kind(pixels, spec.kind)


def mask_from_picture(rgba: np.ndarray) -> np.ndarray:
    """A mask from a picture file: its alpha where it has transparency, else its brightness; white = 1."""
    if (rgba[..., 3] < 255).any():
        return rgba[..., 3].astype(np.float32) / 255.0
    grey = rgba[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(grey / 255.0, 0.0, 1.0)


def as_kind(array: np.ndarray, kind: InputKind) -> np.ndarray:
    """An array a host holds as the input kind: RGBA uint8, float32 mask in 0..1, or RGB uint8 labels.

    A mask may come as uint8 (a mask layer's pixels, 0..255) or float in 0..1;
    pictures as RGB(A) uint8; label maps as RGB(A) uint8 or as a label layer's
    indices, uint8 (H, W), which :func:`label_colours` colours. A copy is returned.
    """
    if kind == "labels" and array.ndim == 2 and array.dtype == np.uint8:
        return label_colours(array)
    if kind == "mask":
        if array.ndim != 2:
            raise InputError(f"a mask must be one channel, not an array of shape {array.shape}")
        if array.dtype == np.uint8:
            return array.astype(np.float32) / 255.0
        return np.clip(array.astype(np.float32), 0.0, 1.0)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(f"a {kind} input must be RGB(A) uint8, not {array.dtype} of shape {array.shape}")
    if kind == "labels":
        return np.ascontiguousarray(array[..., :3])
    if array.shape[2] == 4:
        return array.copy()
    return np.concatenate([array, np.full((*array.shape[:2], 1), 255, np.uint8)], axis=2)


def label_colours(indices: np.ndarray) -> np.ndarray:
    """A label layer's indices (uint8, H x W) as RGB in the colours the canvas shows them: 0 is black, every other
    index a distinct colour."""
    return _PALETTE[indices]


def _palette() -> np.ndarray:
    # Hues spread by the golden angle, brightness alternating: 256 distinct colours that neighbours tell apart.
    hue = (np.arange(256) * 0.618033988749895) % 1.0
    value = np.where(np.arange(256) % 2 == 1, 0.95, 0.75)
    hsv = np.stack([hue, np.full(256, 0.7), value], axis=1)
    colours = np.array([colorsys.hsv_to_rgb(*row) for row in hsv]) * 255
    colours = np.rint(colours).astype(np.uint8)
    colours[0] = 0
    colours.setflags(write=False)
    return colours


_PALETTE = _palette()
