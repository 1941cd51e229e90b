"""The pictures the inpainting network trains on: a folder of photographs decoded into memory, cut into crops.

A folder with ``train/`` and ``validation/`` subfolders (what
``packaging/training_photos.py`` writes) is used as it is split; any other folder
is split by a hash of each file's name, so a picture stays on its side of the
split whatever else the folder holds. Every picture is decoded once, with
Studio's own reader, and kept as uint8 RGB no larger than the crops need.
A crop shows a random square of a picture at a random scale, sometimes mirrored:
the same generator state gives the same crops.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from studio.core.colour import composite_over
from studio.core.image import SUPPORTED_SUFFIXES, ImageError, load_image, to_uint8
from studio.core.training import TrainingError

log = logging.getLogger(__name__)

TRAIN = "train"
VALIDATION = "validation"
VALIDATION_SHARE = 0.1  # of a folder without subfolders; at least one picture
SCALES = (0.5, 1.0)  # a crop shows its picture at this scale of the decoded size (drawn log-uniformly)
KEPT_CROPS = 2  # a decoded picture's short side is at most this many of the largest crop windows
BACKGROUND = (255, 255, 255)  # what transparent pixels are flattened onto


@dataclass(frozen=True)
class Photos:
    """The decoded pictures of ``folder``: RGB uint8 arrays (H, W, 3), each at least ``crop`` on its short side."""

    folder: Path
    crop: int
    train: tuple[np.ndarray, ...]
    validation: tuple[np.ndarray, ...]

    def crops(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random training crops (count, crop, crop, 3) uint8, drawn with ``rng``."""
        return np.stack([self._crop(self.train[rng.integers(len(self.train))], rng) for _ in range(count)])

    def validation_crops(self, count: int, seed: int = 0) -> np.ndarray:
        """``count`` crops of the validation pictures in turn (count, crop, crop, 3) uint8, the same for a seed."""
        rng = np.random.default_rng(seed)
        return np.stack([self._crop(self.validation[index % len(self.validation)], rng) for index in range(count)])

    def _crop(self, picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A square of ``picture`` seen at a random scale of :data:`SCALES`, resized to the crop, mirrored half the
        time."""
        height, width = picture.shape[:2]
        scale = math.exp(rng.uniform(math.log(SCALES[0]), math.log(SCALES[1])))
        side = min(round(self.crop / scale), height, width)
        top = rng.integers(height - side + 1)
        left = rng.integers(width - side + 1)
        window = picture[top : top + side, left : left + side]
        if side != self.crop:
            window = cv2.resize(window, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
        return window[:, ::-1] if rng.random() < 0.5 else window


def load_photos(folder: Path, crop: int) -> Photos:
    """Decode the pictures of ``folder`` for crops of ``crop`` pixels (see the module's docstring).

    Files Studio cannot read, and pictures smaller than a crop, are skipped with a
    logged note; a folder left with no picture to train on, or none to validate
    on, is a :class:`TrainingError` naming it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"{folder} is not a folder: give the folder of photographs to train on")
    if (folder / TRAIN).is_dir() and (folder / VALIDATION).is_dir():
        train = _decode_all(folder / TRAIN, crop)
        validation = _decode_all(folder / VALIDATION, crop)
    else:
        decoded = _decode_all(folder, crop)
        split = {name: _in_validation(name) for name in decoded}
        if decoded and not any(split.values()):
            split[min(decoded, key=_name_hash)] = True
        validation = {name: picture for name, picture in decoded.items() if split[name]}
        train = {name: picture for name, picture in decoded.items() if not split[name]}
        if len(decoded) == 1:
            log.warning("%s holds a single usable picture: it is used for training and validation alike", folder)
            train = validation
    for part, pictures in (("train on", train), ("validate on", validation)):
        if not pictures:
            raise TrainingError(
                f"{folder} holds no picture to {part}: it needs photographs ({', '.join(SUPPORTED_SUFFIXES)}) at "
                f"least {crop} pixels on their short side"
            )
    log.info("%s: %d pictures to train on, %d to validate on", folder, len(train), len(validation))
    return Photos(folder, crop, tuple(train.values()), tuple(validation.values()))


def _decode_all(folder: Path, crop: int) -> dict[str, np.ndarray]:
    """The usable pictures directly in ``folder`` by file name, in name order."""
    limit = KEPT_CROPS * round(crop / SCALES[0])
    pictures = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file()):
        try:
            picture = _decode(path, limit)
        except ImageError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        if min(picture.shape[:2]) < crop:
            log.warning("skipping %s: it is smaller than a %d px crop", path, crop)
            continue
        pictures[path.name] = picture
    return pictures


def _decode(path: Path, limit: int) -> np.ndarray:
    """``path`` as RGB uint8, transparency flattened onto white, shrunk so its short side is at most ``limit``."""
    rgba = to_uint8(load_image(path).pixels)
    rgb = composite_over(rgba, BACKGROUND) if (rgba[..., 3] < 255).any() else rgba[..., :3]
    height, width = rgb.shape[:2]
    shrink = limit / min(height, width)
    if shrink < 1.0:
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def _in_validation(name: str) -> bool:
    """Whether the file ``name`` belongs to the validation pictures of a folder without subfolders."""
    return _name_hash(name) < VALIDATION_SHARE * 2**64
