"""Named outputs of a job beyond its one result image: layers, new documents and files.

An engine hands each output to ``ctx.emit(Output(...))`` as soon as it exists (an
animation frame, a GIF at the end, a grid of children). The host decides where
it goes: the GUI adds ``layer`` outputs as layers, opens ``document`` outputs as
new documents and writes ``file`` outputs into an output folder; the command line
and batch write every output into their output folder. Nothing is ever written
outside that folder: an output's name is a relative path checked by
:func:`safe_name`.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from PIL import Image

from studio.core.atomic import MAX_NAME_BYTES, atomic_write
from studio.core.errors import ReadableError
from studio.core.image import save_image
from studio.core.models.download import sha256_file

OutputKind = Literal["layer", "document", "file"]
OutputSink = Callable[["Output"], bool]
"""``sink(output)``: a host's handler; True when it consumed the output, False to keep it with the result."""

_NAME_PART = re.compile(r"[\w][\w .,+()\-]*")
MAX_NAME = 200


class OutputError(ReadableError, ValueError):
    """An output has an unsafe name or no content; the message names it."""


@dataclass(frozen=True)
class Output:
    """One named output: an ``image`` (RGB(A) uint8, written as PNG) or ``data`` (a file's bytes).

    ``name`` is a relative path such as ``"frames/frame_0001.png"``, ``"dream.gif"``
    or ``"child 3"`` (an image without a suffix is saved as ``.png``).
    """

    name: str
    kind: OutputKind = "file"
    image: np.ndarray | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        safe_name(self.name)
        if (self.image is None) == (self.data is None):
            raise OutputError(f"output {self.name!r} must hold either an image or file data")
        if self.data is not None and self.kind != "file":
            raise OutputError(f"output {self.name!r} holds file data, so its kind must be 'file'")

    @property
    def filename(self) -> str:
        """The relative path the output is written to."""
        if self.image is not None and PurePosixPath(self.name).suffix.lower() != ".png":
            return f"{self.name}.png"
        return self.name


def safe_name(name: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder; :class:`OutputError` otherwise."""
    path = PurePosixPath(name)
    parts = path.parts
    if (
        not name
        or len(name) > MAX_NAME
        or "\\" in name
        or str(path) != name
        or path.is_absolute()
        or not parts
        or any(part in (".", "..") or not _NAME_PART.fullmatch(part) for part in parts)
    ):
        raise OutputError(
            f"output name {name!r} is not a plain relative path (letters, digits, spaces, - _ . , + ( ) "
            "and / between folders; no '..')"
        )
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        raise OutputError(
            f"output name {name!r} has a file or folder name longer than {MAX_NAME_BYTES} bytes; shorten it"
        )
    return path


@dataclass(frozen=True)
class WrittenFile:
    """An output written to disk: its file name relative to the folder, its path and its sha256."""

    name: str
    path: Path
    sha256: str


class OutputFolder:
    """Writes outputs into one folder, atomically and never outside it, and lists what it wrote.

    ``kinds`` are the kinds it consumes (as an :data:`OutputSink`); the others are
    left to the host.
    """

    def __init__(self, folder: Path, kinds: tuple[OutputKind, ...] = ("layer", "document", "file")) -> None:
        self.folder = Path(folder)
        self.kinds = kinds
        self.written: list[WrittenFile] = []

    def __call__(self, output: Output) -> bool:
        if output.kind not in self.kinds:
            return False
        self.write(output)
        return True

    def write(self, output: Output) -> WrittenFile:
        """Write ``output`` (replacing an earlier file of the same name) and record it."""
        target = self.folder.joinpath(*safe_name(output.filename).parts)
        root = self.folder.resolve()
        if not target.resolve().is_relative_to(root):  # a symlinked subfolder pointing elsewhere
            raise OutputError(f"output {output.name!r} would be written outside {self.folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if output.image is not None:
            save_image(output.image, target)
            digest = sha256_file(target)
        else:
            assert output.data is not None
            with atomic_write(target) as handle:
                handle.write(output.data)
            digest = hashlib.sha256(output.data).hexdigest()
        written = WrittenFile(output.filename, target, digest)
        self.written = [w for w in self.written if w.path != target] + [written]
        return written


AnimationFormat = Literal["gif", "webp", "mp4"]
MP4_FOURCC = "mp4v"  # MPEG-4 Part 2: the codec OpenCV's wheels can always write (H.264 needs an outside encoder)


def looping_animations(
    pictures: Sequence[Image.Image], fps: float, stem: str, formats: Sequence[AnimationFormat] = ("gif", "webp")
) -> list[Output]:
    """``stem.gif``, ``stem.webp`` and (when asked) ``stem.mp4``: ``pictures`` (RGB, one size) as animations at
    ``fps`` frames a second; the GIF and WebP loop."""
    if not pictures:
        raise ValueError("an animation needs at least one frame")
    duration = round(1000 / fps)
    options: dict[str, dict[str, object]] = {
        "gif": {"format": "GIF", "optimize": False},
        "webp": {"format": "WEBP", "quality": 90, "method": 4},
    }
    outputs = []
    for suffix in formats:
        if suffix == "mp4":
            data = _mp4(pictures, fps)
        else:
            buffer = io.BytesIO()
            pictures[0].save(
                buffer, save_all=True, append_images=list(pictures[1:]), duration=duration, loop=0, **options[suffix]
            )
            data = buffer.getvalue()
        outputs.append(Output(f"{stem}.{suffix}", data=data))
    return outputs


def _mp4(pictures: Sequence[Image.Image], fps: float) -> bytes:
    """The bytes of an MP4 video of ``pictures`` at ``fps``, encoded by OpenCV into a temporary file; an odd
    side loses its last pixel (the codec needs even sides)."""
    import cv2

    width, height = (side - side % 2 for side in pictures[0].size)
    if min(width, height) < 2:
        raise OutputError(f"an MP4 video needs frames of at least 2 x 2 pixels, not {pictures[0].size}")
    with tempfile.TemporaryDirectory(prefix="studio-mp4-") as folder:
        path = Path(folder) / "video.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*MP4_FOURCC), float(fps), (width, height))
        try:
            if not writer.isOpened():
                raise OutputError(
                    f"this OpenCV cannot write MP4 video ({MP4_FOURCC}); reinstall opencv-python-headless or use "
                    "the GIF or WebP"
                )
            for picture in pictures:
                rgb = np.asarray(picture.convert("RGB"))[:height, :width]
                writer.write(np.ascontiguousarray(rgb[..., ::-1]))
        finally:
            writer.release()
        return path.read_bytes()
