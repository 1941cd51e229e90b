"""Thumbnails of the preset styles: each preset painted on a small generated picture, rendered once per model
file and cached on disk in the user cache folder (keyed by the model file's sha256, so another file re-renders).

Qt-free: the panel's preset picker reads the cache on the GUI thread and renders on a worker thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import platformdirs
from PIL import Image
from studio_plugins.style_transfer.fast import PRESETS_MODEL

from studio.core.atomic import atomic_write
from studio.core.image import quantize
from studio.core.models.errors import ModelError
from studio.core.models.store import ModelStore
from studio.core.nets.onnx_styles import PRESET_COUNT, MultiStyle

THUMBNAIL_SIZE = 96
MODEL_FILE = "multistyle26.onnx"

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``<user cache dir>/studio/style-presets`` (honours ``XDG_CACHE_HOME`` on Linux)."""
    return Path(platformdirs.user_cache_dir("studio", appauthor=False)) / "style-presets"


def model_hash(store: ModelStore) -> str | None:
    """The sha256 of the installed preset network's file; None when it is not installed (or its record is bad)."""
    try:
        record = store.record(PRESETS_MODEL)
    except ModelError:
        return None
    return None if record is None else record.files.get(MODEL_FILE)


def sample_picture(size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """The picture every preset paints: a landscape (sky, sun, hills, a house), RGB uint8 of ``size`` x ``size``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    sky = np.stack([0.45 + 0.4 * y, 0.65 + 0.25 * y, np.full_like(y, 0.95)], axis=-1)
    image = sky
    sun = (x - 0.72) ** 2 + (y - 0.25) ** 2 < 0.012
    image[sun] = (1.0, 0.85, 0.3)
    far = y > 0.55 + 0.08 * np.sin(x * 7.0)
    image[far] = (0.35, 0.55, 0.35)
    near = y > 0.72 + 0.06 * np.sin(x * 4.0 + 2.0)
    image[near] = np.stack([0.3 + 0.3 * x, 0.6 - 0.1 * y, 0.2 + 0.0 * x], axis=-1)[near]
    wall = (x > 0.18) & (x < 0.4) & (y > 0.5) & (y < 0.72)
    image[wall] = (0.85, 0.8, 0.7)
    roof = (y > 0.38) & (y <= 0.5) & (np.abs(x - 0.29) < (y - 0.38) * 1.2)
    image[roof] = (0.7, 0.2, 0.15)
    door = (x > 0.26) & (x < 0.32) & (y > 0.6) & (y < 0.72)
    image[door] = (0.3, 0.2, 0.15)
    return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _paths(folder: Path) -> list[Path]:
    return [folder / f"{index:02d}.png" for index in range(PRESET_COUNT)]


def cached_thumbnails(digest: str, root: Path | None = None) -> list[np.ndarray] | None:
    """The cached thumbnails of the model file ``digest``, in preset order; None unless all are there and readable."""
    images = []
    for path in _paths((root or cache_root()) / digest):
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, ValueError):
            return None
    return images


def render_thumbnails(model: MultiStyle, size: int = THUMBNAIL_SIZE) -> list[np.ndarray]:
    """Every preset of ``model`` painted on :func:`sample_picture`, in preset order."""
    picture = sample_picture(size)
    blends = np.eye(PRESET_COUNT, dtype=np.float32)
    return [quantize(model.stylize(picture, blends[index]), 8) for index in range(PRESET_COUNT)]


def thumbnails(store: ModelStore, digest: str, root: Path | None = None) -> list[np.ndarray]:
    """The thumbnails of the installed preset network (file ``digest``): from the cache, else rendered and cached.

    Blocking (loads the network and paints 26 small pictures): run it off the GUI thread. A cache folder that
    cannot be written only costs a re-render next time.
    """
    cached = cached_thumbnails(digest, root)
    if cached is not None:
        return cached
    images = render_thumbnails(store.load(PRESETS_MODEL))
    folder = (root or cache_root()) / digest
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, image in zip(_paths(folder), images, strict=True):
            with atomic_write(path) as file:
                Image.fromarray(image).save(file, format="PNG")
    except OSError as exc:
        log.warning("the preset thumbnails could not be cached in %s: %s", folder, exc)
    return images
