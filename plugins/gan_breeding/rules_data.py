"""The style-based generator's training set: pictures Studio's own Generative rules plugin renders, no outside data.

Picture ``i`` of the training split is drawn with seed ``i``, picture ``j`` of the
held-out split (kept for measuring the trained generator, never trained on) with
seed ``HELDOUT_SEED + j``. A seed picks the rule (L-systems, Mondrian-like
compositions, ridgelines, flow fields), the palette and the rule's settings
(:func:`recipe`), all resolution independent, so a picture depends on its seed
only and a larger ``size`` shows the same artworks sharper. Each is rendered
:data:`RENDER_SCALE` times larger by the plugin's engine, run headless, and
reduced with area averaging. The folder::

    train/00000000.png ...      the training pictures
    heldout/00000000.png ...    the held-out pictures
    SOURCES.json                each picture's rule, seed and parameters; the license

Made by ``scripts/gan_data.py OUT [--count N] [--size 64]``
(``make gan-data``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from studio_plugins.generative.engine import run
from studio_plugins.generative.params import GenerativeParams, LSystemPreset, Palette, Rule

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.params import params_to_dict

SIZE = 64
COUNT = 8_000  # training pictures by default: 8,800 with the held-out ones take about six minutes to render
HELDOUT_SHARE = 0.1  # held-out pictures by default, as a share of the training ones
HELDOUT_SEED = 1_000_000_000  # the held-out pictures' seeds start here, far beyond any training seed
RENDER_SCALE = 4
RECIPE_STREAM = 0x6A_4E_DA_7A  # mixed into a seed for the recipe's random choices
TRAIN = "train"
HELDOUT = "heldout"
SOURCES = "SOURCES.json"
LICENSE = (
    "Studio's own (MIT): every picture was rendered by Studio's Generative rules plugin from the seed and "
    "parameters recorded here; no outside data"
)
RULES: tuple[Rule, ...] = typing.get_args(Rule)
PALETTES: tuple[Palette, ...] = tuple(name for name in typing.get_args(Palette) if name != "random")
PRESETS: tuple[LSystemPreset, ...] = typing.get_args(LSystemPreset)


def recipe(seed: int) -> GenerativeParams:
    """The Generative rules parameters of the picture of ``seed``: its rule, palette and settings.

    Line widths and counts are chosen to stay legible at 64 px; a "custom" palette
    gets random background and ink colours.
    """
    rng = np.random.default_rng([RECIPE_STREAM, seed])
    rule = RULES[rng.integers(len(RULES))]
    palette = PALETTES[rng.integers(len(PALETTES))]
    params = GenerativeParams(rule=rule, seed=seed, palette=palette)
    if palette == "custom":
        background, ink = (("#" + "".join(f"{v:02x}" for v in rng.integers(256, size=3))) for _ in range(2))
        params = replace(params, background=background, ink=ink)
    if rule == "lsystem":
        return replace(params, lsystem_preset=PRESETS[rng.integers(len(PRESETS))], jitter=float(rng.uniform(0, 0.6)),
                       line_width=float(rng.uniform(4, 14)))  # fmt: skip
    if rule == "mondrian":
        return replace(params, mondrian_splits=int(rng.integers(4, 17)), mondrian_fill=float(rng.uniform(0.2, 0.6)),
                       line_width=float(rng.uniform(12, 40)))  # fmt: skip
    if rule == "ridgelines":
        return replace(params, ridgelines_count=int(rng.integers(12, 41)), ridge_height=float(rng.uniform(3, 12)),
                       line_width=float(rng.uniform(8, 24)))  # fmt: skip
    return replace(
        params,
        flow_particles=int(rng.integers(150, 1501)),
        flow_steps=int(rng.integers(60, 201)),
        flow_scale=float(rng.uniform(1, 4)),
        flow_opacity=float(rng.uniform(0.3, 0.9)),
        line_width=float(rng.uniform(6, 20)),
    )


def render(params: GenerativeParams, size: int = SIZE) -> np.ndarray:
    """The picture of ``params`` (size, size, 3) uint8: drawn by the plugin's engine at RENDER_SCALE times the
    size, then area-averaged down."""
    side = size * RENDER_SCALE
    ctx = RunContext(preview_interval_s=math.inf)
    final = drive(run(params, Inputs(side, side), ctx), ctx)
    assert final.image is not None
    return cv2.resize(final.image[..., :3], (size, size), interpolation=cv2.INTER_AREA)


def write_rules_data(
    out: Path,
    count: int = COUNT,
    size: int = SIZE,
    heldout: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Render ``count`` training and ``heldout`` held-out pictures (default: a tenth of ``count``) into ``out``
    (see the module's docstring) and return what SOURCES.json records; ``progress(done, total)`` follows."""
    heldout = round(count * HELDOUT_SHARE) if heldout is None else heldout
    jobs = [(TRAIN, index, index) for index in range(count)]
    jobs += [(HELDOUT, index, HELDOUT_SEED + index) for index in range(heldout)]
    for split in (TRAIN, HELDOUT):
        (out / split).mkdir(parents=True, exist_ok=True)
    pictures = []
    for done, (split, index, seed) in enumerate(jobs):
        params = recipe(seed)
        name = f"{split}/{index:08d}.png"
        if not cv2.imwrite(str(out / name), render(params, size)[..., ::-1]):
            raise OSError(f"cannot write {out / name}")
        pictures.append({"file": name, "rule": params.rule, "seed": seed, "params": params_to_dict(params)})
        if progress is not None:
            progress(done + 1, len(jobs))
    sources = {
        "generated_by": "scripts/gan_data.py",
        "studio_version": __version__,
        "license": LICENSE,
        "size": size,
        "render_scale": RENDER_SCALE,
        "count": count,
        "heldout": heldout,
        "pictures": pictures,
    }
    with atomic_write(out / SOURCES) as handle:
        handle.write((json.dumps(sources, indent=1) + "\n").encode("utf-8"))
    return sources


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/gan_data.py OUT [--count N] [--heldout M] [--size 64]``."""
    parser = argparse.ArgumentParser(prog="scripts/gan_data.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("out", type=Path, help="the folder to write (train/, heldout/, SOURCES.json)")
    parser.add_argument("--count", type=int, default=COUNT, help=f"training pictures (default {COUNT})")
    parser.add_argument("--heldout", type=int, help="held-out pictures (default: a tenth of --count)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"side of the pictures in pixels (default {SIZE})")
    options = parser.parse_args(argv)
    if options.count < 1 or options.size < 1 or (options.heldout is not None and options.heldout < 0):
        parser.error("--count and --size must be at least 1, --heldout at least 0")
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            elapsed = time.monotonic() - started
            print(f"{done}/{total} pictures, {elapsed:.0f} s, {(total - done) * elapsed / done:.0f} s left", flush=True)

    try:
        sources = write_rules_data(options.out, options.count, options.size, options.heldout, report)
    except OSError as exc:
        print(f"cannot write the pictures: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {sources['count']} training and {sources['heldout']} held-out pictures to {options.out}")
    return 0
