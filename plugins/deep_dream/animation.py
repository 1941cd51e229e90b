"""Zoom animations: each frame is the last one zoomed and rotated about the centre, then dreamed again.

Frames are handed to the host as they are made (``frames/frame_0001.png`` ...),
and at the end assembled into ``dream.gif`` and ``dream.webp``; the host writes
them into its output folder (atomically, never outside it).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio.core.outputs import Output, looping_animations

ANIMATION_STEM = "dream"  # dream.gif and dream.webp


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


class Animation:
    """The frames of a zoom animation as named outputs: numbered PNGs as they are made, then the GIF and WebP.

    Each frame is kept PNG-compressed until :meth:`finish` assembles the animations.
    """

    def __init__(self, fps: int) -> None:
        self.fps = fps
        self.frames: list[bytes] = []

    def add(self, picture: np.ndarray) -> Output:
        """The next frame (RGB(A) uint8) as the output ``frames/frame_NNNN.png``."""
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        self.frames.append(buffer.getvalue())
        return Output(f"frames/frame_{len(self.frames):04d}.png", image=picture)

    def finish(self) -> list[Output]:
        """``dream.gif`` and ``dream.webp`` made from the frames."""
        if not self.frames:
            raise ValueError("the animation has no frames")
        pictures = [Image.open(io.BytesIO(frame)).convert("RGB") for frame in self.frames]
        return looping_animations(pictures, self.fps, ANIMATION_STEM)
