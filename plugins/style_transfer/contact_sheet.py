"""A contact sheet: the picture rendered in many styles side by side, labelled, to choose one.

Qt-free, so the GUI, the command line and batch jobs build the same sheet: the GUI runs
:func:`render_sheet` on its job queue and opens the result as a new document.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from studio_plugins.style_transfer.fast import run as fast_run
from studio_plugins.style_transfer.params import StyleParams

from studio.core.image import SUPPORTED_SUFFIXES, to_uint8
from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext, drive
from studio.core.nets.onnx_styles import PRESET_COUNT, preset_label
from studio.core.outputs import Output

PAD = 8
LABEL_HEIGHT = 22
BACKGROUND = (250, 250, 248)
TEXT = (30, 30, 30)


@dataclass(frozen=True)
class SheetStyle:
    """One tile of the sheet: its label and the fast-mode parameters that paint it."""

    label: str
    params: StyleParams


def preset_styles(base: StyleParams) -> list[SheetStyle]:
    """The 26 presets, each with ``base``'s strength, colour preservation and processing size."""
    return [
        SheetStyle(
            preset_label(index),
            dataclasses.replace(base, mode="fast", fast_model="presets", presets=str(index), style_weights=""),
        )
        for index in range(PRESET_COUNT)
    ]


def folder_styles(base: StyleParams, folder: str | Path) -> list[SheetStyle]:
    """Every picture in ``folder`` (sorted by name) as an arbitrary style; ValueError naming the folder if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the style folder {folder} does not exist; choose a folder of pictures")
    pictures = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not pictures:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise ValueError(f"the style folder {folder} holds no pictures ({kinds}); choose another folder")
    return [
        SheetStyle(
            p.stem, dataclasses.replace(base, mode="fast", fast_model="arbitrary", style=str(p), style_weights="")
        )
        for p in pictures
    ]


def grid(count: int, columns: int = 0) -> tuple[int, int]:
    """(columns, rows) for ``count`` tiles; ``columns`` 0 = about as many columns as rows, a little wider."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one tile")
    columns = columns if columns > 0 else math.ceil(math.sqrt(count * 1.3))
    columns = min(columns, count)
    return columns, math.ceil(count / columns)


def sheet_size(tile_size: tuple[int, int], count: int, columns: int = 0) -> tuple[int, int]:
    """(width, height) of a sheet of ``count`` tiles of ``tile_size`` (width, height), with labels and margins."""
    cols, rows = grid(count, columns)
    width, height = tile_size
    return cols * (width + PAD) + PAD, rows * (height + LABEL_HEIGHT + PAD) + PAD


def build_sheet(tiles: Sequence[tuple[str, np.ndarray]], columns: int = 0) -> np.ndarray:
    """The labelled grid of ``tiles`` ((label, RGB uint8) of one size), as RGB uint8."""
    height, width = tiles[0][1].shape[:2]
    cols, _ = grid(len(tiles), columns)
    sheet = Image.new("RGB", sheet_size((width, height), len(tiles), columns), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=LABEL_HEIGHT - 8)
    for index, (label, image) in enumerate(tiles):
        if image.shape[:2] != (height, width):
            raise ValueError(f"tile {label!r} is {image.shape[1]}x{image.shape[0]}, the others {width}x{height}")
        row, col = divmod(index, cols)
        x, y = PAD + col * (width + PAD), PAD + row * (height + LABEL_HEIGHT + PAD)
        shown = label if draw.textlength(label, font=font) <= width else _shortened(draw, label, font, width)
        draw.text((x + 2, y + 3), shown, fill=TEXT, font=font)
        sheet.paste(Image.fromarray(np.ascontiguousarray(image[:, :, :3])), (x, y + LABEL_HEIGHT))
    return np.asarray(sheet).copy()


def _shortened(draw: ImageDraw.ImageDraw, label: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    while label and draw.textlength(label + "…", font=font) > width:
        label = label[:-1]
    return label + "…"


def _fitted(image: np.ndarray, long_side: int) -> np.ndarray:
    """``image`` shrunk so its long side is at most ``long_side`` (never enlarged)."""
    height, width = image.shape[:2]
    scale = min(1.0, long_side / max(width, height))
    return resample(image, (max(1, round(width * scale)), max(1, round(height * scale))))


def render_sheet(
    content: np.ndarray,
    styles: Sequence[SheetStyle],
    ctx: RunContext,
    *,
    tile: int = 256,
    paint_size: int = 0,
    columns: int = 0,
    include_original: bool = True,
) -> Iterator[Frame]:
    """``content`` (RGB(A) uint8) in each style, laid out in a labelled grid of ``tile`` px (long side) tiles.

    Each style paints the picture at ``paint_size`` px on the long side (0 = the tile size; strokes have a fixed
    size in the network's pixels, so painting at the document's size shows what a full render looks like), then
    the result is shrunk to the tile. A frame per tile reports progress; the final frame holds the sheet.
    """
    if not styles:
        raise ValueError("a contact sheet needs at least one style")
    picture = np.ascontiguousarray(content[:, :, :3])
    work = _fitted(picture, max(paint_size, tile))
    inputs = Inputs(work.shape[1], work.shape[0], np.dstack([work, np.full(work.shape[:2], 255, np.uint8)]))
    small = _fitted(picture, tile)
    size = (small.shape[1], small.shape[0])
    tiles: list[tuple[str, np.ndarray]] = [("Original", small)] if include_original else []
    for done, style in enumerate(styles, 1):
        ctx.check_cancelled()
        final = drive(fast_run(style.params, inputs, ctx), ctx)
        tiles.append((style.label, to_uint8(resample(final.image[:, :, :3], size))))
        yield ctx.frame(done / (len(styles) + 1), message=f"{style.label} ({done}/{len(styles)})")
    ctx.check_cancelled()
    ctx.emit(Output("Contact sheet", kind="document", image=build_sheet(tiles, columns)))
    yield ctx.frame(1.0, final=True, info={"styles": [s.label for s in styles]})
