"""Make the README's GAN breeding pictures from a style-based generator: children, a mixing grid and a walk.

    .venv/bin/python scripts/gan_sheet.py [--model rules_gan64 | --checkpoint RUN_DIR] [--out docs] [--seed 7]

- ``gan-children.png``: the breeding engine's 5 x 5 children grid (mutation 0.3) around the seed's picture.
- ``gan-mixing.png``: the StyleGAN mixing grid of five samples (seeds from --seed on): the top row and the left
  column show them; each other cell takes its coarse styles from its row's picture and its middle and fine styles
  from its column's, as the breeding panel's mixing grid does.
- ``gan-walk.gif``: the breeding engine's looping walk (ease-in-out, 16 frames between stops) through four
  samples, as the panel's walk through favourites makes it.

Every picture is rendered at the panel's truncation (0.7) with the seed as noise seed, enlarged for the page.
``--checkpoint`` shows a training run's moving average before its release (its last checkpoint, in a temporary
store). Prints each file's size.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from studio_plugins.gan_breeding.breeding import mix_levels
from studio_plugins.gan_breeding.engine import GAP_GREY, contact_sheet, run, seed_styles, styles_to_text
from studio_plugins.gan_breeding.generators import from_store
from studio_plugins.gan_breeding.models import MODEL_ID, checkpoint_weights
from studio_plugins.gan_breeding.params import BreedParams

from studio.core.inputs import Inputs, resample
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.params import make_params
from studio.core.plugin import discover_plugins

MIXING_SOURCES = 5
WALK_STOPS = 4
WALK_STEPS = 16
CELL = 128  # pixels of a mixing-grid cell on the page
CHILDREN_SIDE = 640
WALK_SIDE = 160


def mixing_grid(store: ModelStore, model_id: str, seed: int) -> np.ndarray:
    """The mixing grid of ``MIXING_SOURCES`` samples with the sources along the top and the left (a blank corner)."""
    generator = from_store(store, model_id)
    truncation = BreedParams.truncation
    sources = [seed_styles(generator, np.random.default_rng(seed + index)) for index in range(MIXING_SOURCES)]
    levels = generator.levels
    if levels is None:
        raise SystemExit(f"{model_id} has no style levels to mix")
    rows = [sources[0], *sources]  # the corner cell is blanked below
    cells = [
        column if row_index == 0 else row if column_index == 0 else
        mix_levels({"coarse": row, "middle": column, "fine": column}, levels)
        for row_index, row in enumerate(rows)
        for column_index, column in enumerate(rows)
    ]  # fmt: skip
    pictures = generator.render(np.stack(cells), seed, truncation)
    pictures[0] = GAP_GREY
    return contact_sheet([resample(picture, (CELL, CELL)) for picture in pictures], MIXING_SOURCES + 1)


def engine_outputs(store: ModelStore, values: dict[str, object]) -> tuple[np.ndarray, dict[str, bytes]]:
    """The breeding engine's final picture (RGB) and its file outputs, for these parameter values."""
    params = make_params(BreedParams, values)
    ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
    side = int(values["size"])  # type: ignore[call-overload]
    final = drive(run(params, Inputs(side, side), ctx), ctx)
    assert final.image is not None
    return final.image[..., :3], {output.name: output.data for output in final.outputs if output.data is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=MODEL_ID, help="an installed style-based generator")
    parser.add_argument("--checkpoint", type=Path, help="a gan_breeding training run instead of --model")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        catalog = discover_plugins().model_catalog()
        store, model_id = ModelStore(specs=catalog), args.model
        if args.checkpoint is not None:
            store = ModelStore(Path(folder), catalog)
            base = store.specs[MODEL_ID]
            model_id = f"{MODEL_ID}-{args.checkpoint.name}"
            spec = dataclasses.replace(base, id=model_id, title=str(args.checkpoint), base=MODEL_ID)
            store.register_trained(spec, checkpoint_weights(args.checkpoint))
        generator = from_store(store, model_id)
        common = {"generator": model_id, "seed": args.seed}
        grid, _ = engine_outputs(store, {**common, "mode": "children", "children": 5, "size": CHILDREN_SIDE})
        stops = [seed_styles(generator, np.random.default_rng(args.seed + index)) for index in range(1, WALK_STOPS)]
        _, files = engine_outputs(store, {**common, "mode": "walk", "walk_loop": True, "walk_steps": WALK_STEPS,
                                          "easing": "ease-in-out", "walk_styles": styles_to_text(np.stack(stops)),
                                          "size": WALK_SIDE})  # fmt: skip
        made = {
            "gan-children.png": _png(grid),
            "gan-mixing.png": _png(mixing_grid(store, model_id, args.seed)),
            "gan-walk.gif": files["walk/walk.gif"],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in made.items():
        (args.out / name).write_bytes(data)
        print(f"{args.out / name}: {len(data):,} bytes")


def _png(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
