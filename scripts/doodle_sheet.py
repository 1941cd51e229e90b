"""Make docs/doodle.png: real neural doodles (real vgg16, gram method, default settings) of three photos.

    .venv/bin/python scripts/doodle_sheet.py [--out docs/doodle.png] [--size 256] [--set key=value ...]

Each row: the style photo, its label map (``studio.core.labels.segment``), a doodle this script draws in the
map's colours, the result. The photos are scikit-image's ``chelsea`` (CC0), ``coffee`` (CC0) and ``astronaut``
(public domain); vgg16 must be installed (``studio models install vgg16``). Prints each doodle's time and the
sheet's size in bytes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data
from studio_plugins.doodle.engine import run
from studio_plugins.doodle.params import DoodleParams

from studio.core.image import to_uint8
from studio.core.inputs import Inputs, label_colours
from studio.core.jobs import RunContext, drive
from studio.core.labels import segment
from studio.core.models.store import ModelStore
from studio.core.params import make_params

PHOTOS: tuple[tuple[str, Callable[[], np.ndarray]], ...] = (
    ("chelsea", data.chelsea),
    ("coffee", data.coffee),
    ("astronaut", data.astronaut),
)
REGIONS = 3
GAP = 8


def square(pixels: np.ndarray, size: int) -> np.ndarray:
    """The photo's centre square at ``size`` x ``size``."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return cv2.resize(pixels[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)


def draw_doodle(palette: np.ndarray, size: int) -> np.ndarray:
    """A doodle in the map's colours: the first region as the ground, a disc of the second, a bar of the third."""
    doodle = np.empty((size, size, 3), np.uint8)
    doodle[:] = palette[0]
    colours = [tuple(int(c) for c in colour) for colour in palette]
    cv2.circle(doodle, (size * 2 // 3, size * 2 // 5), size // 4, colours[1 % len(colours)], -1)
    cv2.rectangle(doodle, (size // 8, size * 5 // 8), (size * 7 // 8, size * 7 // 8), colours[2 % len(colours)], -1)
    return doodle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/doodle.png"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a doodle parameter")
    args = parser.parse_args()
    values = dict(item.split("=", 1) for item in args.set)
    models = ModelStore()
    size = args.size
    rows = []
    for name, load in PHOTOS:
        style = square(load(), size)
        labels = label_colours(segment(style, REGIONS))
        palette = np.unique(labels.reshape(-1, 3), axis=0)
        doodle = draw_doodle(palette, size)
        params = make_params(DoodleParams, {"method": "gram", **values})
        ctx = RunContext(preview_interval_s=1e9, models=models, device="cpu")
        started = time.perf_counter()
        final = drive(
            run(params, Inputs(size, size, labels=doodle, extras={"style": style, "style_labels": labels}), ctx), ctx
        )
        print(f"{name}: {time.perf_counter() - started:.1f} s")
        rows.append([style, labels, doodle, to_uint8(final.image)])
    width = 4 * size + 5 * GAP
    sheet = np.full((len(rows) * size + (len(rows) + 1) * GAP, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            y, x = GAP + r * (size + GAP), GAP + c * (size + GAP)
            sheet[y : y + size, x : x + size] = picture[..., :3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours (max coverage) keep the sheet near 170 KB instead of 700 KB, with no visible change at this size.
    Image.fromarray(sheet).quantize(256, Image.Quantize.MAXCOVERAGE).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
