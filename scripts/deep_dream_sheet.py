"""Make docs/deep-dream.png: three real Deep Dreams (real weights, default settings) with the photo inset.

    .venv/bin/python scripts/deep_dream_sheet.py [--out docs/deep-dream.png] [--size 448] [--set key=value ...]

The photos are scikit-image's ``chelsea`` (CC0), ``coffee`` (CC0) and
``astronaut`` (public domain); the networks must be installed
(``studio models install inception_v3 vgg16``). Prints each dream's time
and the sheet's size in bytes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data
from studio_plugins.deep_dream.engine import run
from studio_plugins.deep_dream.params import DreamParams

from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.params import make_params

DREAMS = (
    ("chelsea", data.chelsea, {"network": "inception_v3", "layer": "Mixed_5d"}),
    ("coffee", data.coffee, {"network": "vgg16", "layer": "relu4_2"}),
    ("astronaut", data.astronaut, {"network": "inception_v3", "layer": "Mixed_6b"}),
)
GAP = 8


def square_photo(pixels: np.ndarray, size: int) -> Image.Image:
    """The photo scaled so its short side is ``size`` and cropped to the centre square."""
    photo = Image.fromarray(pixels).convert("RGBA")
    scale = size / min(photo.size)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
    left, top = (photo.width - size) // 2, (photo.height - size) // 2
    return photo.crop((left, top, left + size, top + size))


def with_inset(dream: Image.Image, photo: Image.Image) -> Image.Image:
    """``dream`` with the original photo, a quarter of its size and framed in white, at the bottom left."""
    size = dream.height
    inset = photo.convert("RGB").resize((size // 4, size // 4), Image.Resampling.LANCZOS)
    framed = dream.copy()
    framed.paste(Image.new("RGB", (inset.width + 4, inset.height + 4), "white"), (6, size - inset.height - 10))
    framed.paste(inset, (8, size - inset.height - 8))
    return framed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "deep-dream.png")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra parameters")
    options = parser.parse_args()
    extra = dict(item.split("=", 1) for item in options.set)
    models = ModelStore()
    tiles = []
    for name, load, values in DREAMS:
        photo = square_photo(load(), options.size)
        params = make_params(DreamParams, {**values, **extra})
        ctx = RunContext(models=models, device="cpu", preview_interval_s=1e9)
        start = time.perf_counter()
        final = drive(run(params, Inputs(options.size, options.size, np.asarray(photo)), ctx), ctx)
        print(f"{name}: {values | extra}, {time.perf_counter() - start:.0f} s")
        tiles.append(with_inset(Image.fromarray(final.image).convert("RGB"), photo))
    sheet = Image.new("RGB", (options.size * len(tiles) + GAP * (len(tiles) - 1), options.size), "white")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, (index * (options.size + GAP), 0))
    sheet.save(options.out, optimize=True)
    print(f"{options.out}: {options.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
