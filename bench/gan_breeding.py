"""GAN breeding: how fast breeding answers, per generator and weight layout.

The generators: every catalog generator installed in the user's model store (``studio models install
dcgan_faces64``), and rules_gan64, or until it is released an untrained network of its shape (``training.toml``),
labelled untrained (its speed is the trained one's: same shape, same operations). Each is timed with its
convolution weights contiguous (float32, as the store loads them) and channels-last (as ``from_store`` turns them
on the CPU), at the default truncation 0.7.

- children 16: 16 children bred from seed 0's picture (mutation 0.3) and rendered at the generator's size, in
  one batch, as the breeding panel's grid does; median of --repeat after a warm-up (target: under 0.3 s).
- walk 120: a 120-frame walk between seeds 0 and 1, rendered in the engine's batches; median of --walk-repeat.
- gene slider: one slider step, ``apply_genes`` on seed 0's styles (the first of the panel's six genes moved) and
  the render of that one picture; median of --repeat.
- pixel diff: the most a channel of the children grid differs from the contiguous layout's (0-255).

The layouts take turns call by call, so the load of other processes (a training run) hits both alike.

    .venv/bin/python bench/gan_breeding.py [--repeat 7] [--walk-repeat 3] [--device cpu] [--threads N]
        [--quick] [--save-baseline]

With another process busy on a core (a training run), one thread can be much faster than two: the threads of
a parallel convolution wait for the one that shares its core.

--quick is a smoke check (2 repeats, 1 walk); not a baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import baseline
import numpy as np
import torch
from studio_plugins.gan_breeding.breeding import apply_genes, children, gene_directions, walk
from studio_plugins.gan_breeding.engine import RENDER_BATCH
from studio_plugins.gan_breeding.generators import Generator, from_store
from studio_plugins.gan_breeding.models import IMPORTED_ID, MODEL_ID, weights_bytes
from studio_plugins.gan_breeding.params import BreedParams
from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator

from studio.core.models.store import ModelStatus, ModelStore
from studio.core.plugin import discover_plugins

TRAINING_TOML = Path(__file__).resolve().parent.parent / "plugins" / "gan_breeding" / "training.toml"
CHILDREN = 16
WALK_FRAMES = 120
MUTATION = 0.3
GENES, GENE_SAMPLES = 6, 512  # the breeding panel's
TARGET_S = 0.3  # the children grid
UNTRAINED = f"{MODEL_ID}_untrained"
LAYOUTS = {"contiguous": torch.contiguous_format, "channels-last": torch.channels_last}
QUICK = {"repeat": 2, "walk_repeat": 1}


Task = Callable[[], np.ndarray]


def tasks(generator: Generator) -> dict[str, Task]:
    """A children grid, a walk and a gene slider step of ``generator``, each returning its last pictures."""
    truncation = BreedParams.truncation
    parent, end = (generator.styles(generator.sample_latents(np.random.default_rng(seed), 1))[0] for seed in (0, 1))
    scale = generator.spread

    def grid() -> np.ndarray:
        bred = children(parent, np.random.default_rng(0), CHILDREN, MUTATION, space=generator.space, scale=scale)
        return generator.render(bred, 0, truncation)

    def walk_frames() -> np.ndarray:
        path = walk(parent, end, WALK_FRAMES, space=generator.space)
        return np.concatenate([generator.render(path[first : first + RENDER_BATCH], 0, truncation)
                               for first in range(0, WALK_FRAMES, RENDER_BATCH)])  # fmt: skip

    genes = gene_directions(generator, GENE_SAMPLES, min(GENES, generator.w_dim))
    amounts = np.zeros(len(genes.directions), np.float32)
    amounts[0] = genes.spreads[0]

    def slider() -> np.ndarray:
        return generator.render(apply_genes(parent, genes.directions, amounts)[None], 0, truncation)

    return {"children_s": grid, "walk_s": walk_frames, "gene_s": slider}


def measure(layouts: dict[str, Generator], repeat: int, walk_repeat: int) -> dict[str, dict[str, float]]:
    """Median seconds of each task per layout, after a warm-up, the layouts taking turns call by call (so the
    load of other processes hits them alike); and the most any pixel of the children grid differs from the
    first layout's."""
    timed = {layout: tasks(generator) for layout, generator in layouts.items()}
    results: dict[str, dict[str, float]] = {layout: {"side": g.size[0]} for layout, g in layouts.items()}
    for name, count in (("children_s", repeat), ("walk_s", walk_repeat), ("gene_s", repeat)):
        seconds: dict[str, list[float]] = {layout: [] for layout in layouts}
        last = {layout: timed[layout][name]() for layout in layouts}
        for _ in range(count):
            for layout in layouts:
                start = time.perf_counter()
                timed[layout][name]()
                seconds[layout].append(time.perf_counter() - start)
        for layout in layouts:
            results[layout][name] = statistics.median(seconds[layout])
            if name == "children_s":
                first = last[next(iter(layouts))].astype(np.int16)
                results[layout]["pixel_diff"] = float(np.abs(last[layout].astype(np.int16) - first).max())
    return results


@contextmanager
def generators() -> Iterator[list[tuple[str, Callable[[], ModelStore], str]]]:
    """(label, a function opening a store that holds it, model id) of the installed catalog generators and the
    rules_gan64 stand-in."""
    registry = discover_plugins()
    catalog = registry.model_catalog()
    store = ModelStore(specs=catalog)
    found = [(model_id, lambda: ModelStore(specs=catalog), model_id) for model_id in registry.get("gan_breeding").models
             if model_id != IMPORTED_ID and store.status(model_id) == ModelStatus.INSTALLED]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        if not any(model_id == MODEL_ID for *_, model_id in found):
            own = ModelStore(Path(folder) / "models", catalog)
            shape = tomllib.loads(TRAINING_TOML.read_text())
            config = GeneratorConfig(**{field.name: shape[field.name] for field in dataclasses.fields(GeneratorConfig)})
            torch.manual_seed(0)
            spec = dataclasses.replace(store.specs[MODEL_ID], id=UNTRAINED, title="untrained", base=MODEL_ID)
            own.register_trained(spec, weights_bytes(StyleGenerator(config)))
            found.append((f"{MODEL_ID} (untrained)", lambda: ModelStore(own.root, catalog), UNTRAINED))
        yield found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="timed children grids and slider steps")
    parser.add_argument("--walk-repeat", type=int, default=3, help="timed walks")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--quick", action="store_true", help="a smoke check (see above)")
    parser.add_argument("--save-baseline", action="store_true")
    options = baseline.parse(parser, QUICK)
    if options.threads:
        torch.set_num_threads(options.threads)
    previous = baseline.load("gan_breeding")
    results: dict[str, dict[str, float]] = {}
    with generators() as found:
        for label, open_store, model_id in found:
            print(f"{label} ...", flush=True)
            layouts = {}
            for layout, memory_format in LAYOUTS.items():
                own = open_store()  # its own copy of the network
                layouts[layout] = from_store(own, model_id, options.device)
                own.load(model_id, options.device).to(memory_format=memory_format)
            for layout, row in measure(layouts, options.repeat, options.walk_repeat).items():
                results[f"{label} {layout}"] = row
    print(f"\nGAN breeding on {options.device} ({torch.get_num_threads()} threads), medians of {options.repeat} "
          f"(walks {options.walk_repeat}) after a warm-up, truncation {BreedParams.truncation}")  # fmt: skip
    print(f"{'generator':<40} {'px':>4} {'children 16 s':>13} {'walk 120 s':>10} {'gene step s':>11} "
          f"{'pixel diff':>10}  {'target':<8} baseline children s")  # fmt: skip
    for key, row in results.items():
        base = previous.get(key)
        verdict = "met" if row["children_s"] < TARGET_S else "NOT met"
        base_text = f"{base['children_s']:.3f}" if base else "-"
        print(f"{key:<40} {row['side']:>4.0f} {row['children_s']:>13.3f} {row['walk_s']:>10.2f} "
              f"{row['gene_s']:>11.4f} {row['pixel_diff']:>10.0f}  {verdict:<8} {base_text}")  # fmt: skip
    print(f"target: a grid of {CHILDREN} children under {TARGET_S} s")
    if options.save_baseline:
        baseline.save("gan_breeding", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
