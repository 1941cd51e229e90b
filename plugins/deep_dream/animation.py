"""Zoom animations: each frame is the last one zoomed and rotated about the centre, then dreamed again.

Frames are written as they are made (``frame_0001.png`` ...), and at the end
assembled into ``dream.gif`` and ``dream.webp``; every file is written
atomically, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio.core.atomic import atomic_write
from studio.core.image import save_image

GIF_NAME = "dream.gif"
WEBP_NAME = "dream.webp"


def animation_folder(text: str) -> Path:
    """The output folder of an animation, created if missing; a ValueError says what is wrong."""
    if not text.strip():
        raise ValueError("a zoom animation (frames > 1) needs a folder: set animation_output to a folder path")
    folder = Path(text.strip()).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"animation_output {folder} is a file, not a folder; choose a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the animation folder {folder}: {exc.strerror or exc}") from None
    return folder


def zoom_rotate(image: torch.Tensor, zoom: float, degrees: float) -> torch.Tensor:
    """``image`` (N, C, H, W) enlarged by ``zoom`` and rotated by ``degrees`` about its centre, same size.

    The rotation is in pixel space (circles stay circles on any aspect ratio);
    pixels that come from outside the picture are mirrored in.
    """
    if zoom == 1.0 and degrees == 0.0:
        return image.clone()
    height, width = image.shape[-2:]
    angle = math.radians(degrees)
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    # output pixel -> input pixel, in the normalised coordinates of grid_sample
    theta = torch.tensor(
        [[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0]], dtype=image.dtype, device=image.device
    ).expand(image.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection", align_corners=False).clamp_(0.0, 1.0)


class AnimationWriter:
    """Writes frames into a folder as numbered PNGs, then the animated GIF and WebP."""

    def __init__(self, folder: Path, fps: int) -> None:
        self.folder = folder
        self.fps = fps
        self.frames: list[Path] = []

    def add(self, picture: np.ndarray) -> Path:
        """Write the next frame (RGB(A) uint8) as ``frame_NNNN.png``."""
        path = self.folder / f"frame_{len(self.frames) + 1:04d}.png"
        save_image(picture, path)
        self.frames.append(path)
        return path

    def finish(self) -> list[Path]:
        """Write ``dream.gif`` and ``dream.webp`` from the frames; return every file written."""
        if not self.frames:
            raise ValueError("the animation has no frames")
        duration = round(1000 / self.fps)
        pictures = [Image.open(path).convert("RGB") for path in self.frames]
        written = list(self.frames)
        for name, options in (
            (GIF_NAME, {"format": "GIF", "optimize": False}),
            (WEBP_NAME, {"format": "WEBP", "quality": 90, "method": 4}),
        ):
            buffer = io.BytesIO()
            pictures[0].save(buffer, save_all=True, append_images=pictures[1:], duration=duration, loop=0, **options)
            with atomic_write(self.folder / name) as handle:
                handle.write(buffer.getvalue())
            written.append(self.folder / name)
        return written
