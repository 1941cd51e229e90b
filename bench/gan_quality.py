"""GAN breeding: how close rules_gan64's pictures come to rules pictures it never saw, and how varied they are,
against an untrained generator of its shape and a DCGAN trained with the same budget.

- KID x1000 (kernel inception distance, Bińkowski et al. 2018): the catalog's inception_v3, its Mixed_7c block
  averaged over space (2048 numbers) for each picture enlarged to 299 px; the unbiased squared MMD with the kernel
  (x·y / 2048 + 1)³ between --count pictures of a source and the held-out pictures (``DATA/heldout``, which
  training never reads), mean and spread over --subsets random subsets of --subset-size. Lower is closer; the
  training pictures themselves show the floor (what the held-out split's own sampling allows). This network's
  features are about ten times smaller than those of the TensorFlow Inception KID was defined on (norms of 2 to 5
  against 20 to 30), and at that size the cubic kernel is nearly linear and compares only the sets' mean features;
  so every feature is multiplied by one factor, the one that gives the held-out pictures a mean x·x / 2048 of 1
  (:func:`kernel_scale`). KID values are therefore not comparable with published ones, only within this table.
- SWD x1000: the sliced Wasserstein distance between 7 x 7 patches of the Laplacian pyramids of a source's
  pictures and of the held-out pictures (the quality number training prints, after Karras et al. 2018), lower is
  closer: a second view that compares local structure (edges, lines, flat fields) at each scale instead of a
  classifier's features.
- Diversity: the mean LPIPS (the catalog's lpips_vgg16) of --pairs random pairs of a source's pictures; a
  generator that always makes the same picture scores 0; the held-out pictures' own figure is the reference.
- Precision and recall (improved precision and recall, Kynkäänniemi et al. 2019) in the same Inception features:
  precision is the share of a source's pictures that lie inside the held-out pictures' manifold (the union of the
  balls around each held-out picture reaching its --neighbours-th nearest held-out neighbour), recall the share of
  held-out pictures inside the source's manifold. Precision asks whether the pictures look like rules pictures,
  recall whether every kind of rules picture is made; KID mixes both into one distance.
- Rules drawn: for each picture of a source, the rule (Mondrian, flow field, L-system, ridgelines) that drew the
  held-out picture nearest to it in the same Inception features (the held-out row: the rules that drew them,
  from DATA/SOURCES.json), as shares; a generator that leaves out a kind of picture shows it here.
- Sources: the training pictures (and the same pictures blurred by a Gaussian of 1 px, a change an artist barely
  sees, to show how far such a change moves each number), rules_gan64 trained (installed, or --checkpoint RUN_DIR:
  the moving average of the run's last checkpoint), an untrained network of its shape (seed 0), and the DCGAN
  baseline. Generated pictures are untruncated (truncation 1, as KID is usually measured); rules_gan64 also at the
  breeding panel's truncation, and, when it has noise, with its noise inputs off (every layer's noise strength 0):
  the same styles without the per-pixel noise, which shows how much of its distance the texture the noise makes
  costs.
- The DCGAN baseline: the PyTorch tutorial's generator (``studio.core.nets.dcgan``: nz 100, ngf 64) and the DCGAN
  paper's discriminator, Adam 2e-4 (0.5, 0.999), the non-saturating logistic loss, trained on the same pictures
  with training.toml's batch and steps (as many pictures shown as rules_gan64 saw) in bfloat16 where the
  processor has it. This script trains it in --dcgan-dir with a checkpoint every 10 minutes and resumes it when
  run again; --dcgan-steps N trains (or resumes) a baseline of N steps in --dcgan-dir's sibling ``NAME-N-steps``
  instead, to match a generator released before the recipe's last step (--quick's in a temporary folder). It
  samples with batch statistics, as the tutorial does.

    .venv/bin/python bench/gan_quality.py [--checkpoint RUN_DIR] [--data data/gan-rules] [--count 800]
        [--subsets 50] [--subset-size 400] [--pairs 500] [--dcgan-dir data/runs/dcgan-baseline]
        [--dcgan-steps N] [--device cpu] [--quick] [--save-baseline]
    .venv/bin/python bench/gan_quality.py --train-baseline-only   # the baseline alone, e.g. beside the GAN's run

The held-out pictures: ``scripts/gan_data.py data/gan-rules`` renders them (with the training pictures).
--quick is a smoke check (a 20-step baseline, 64 pictures); not a baseline.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import statistics
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import baseline
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.gan_breeding.generators import from_store
from studio_plugins.gan_breeding.models import MODEL_ID, checkpoint_weights, weights_bytes
from studio_plugins.gan_breeding.params import BreedParams
from studio_plugins.gan_breeding.rules_data import SOURCES
from studio_plugins.gan_breeding.stylegan import (
    GeneratorConfig,
    StyleGenerator,
    discriminator_loss,
    generator_loss,
    silence_noise,
)
from studio_plugins.gan_breeding.train import load_pictures, sliced_wasserstein, to_signed, training_batch
from torch import nn
from tqdm import tqdm

from studio.core.image import quantize
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.dcgan import DCGANGenerator, generator64, tutorial_init
from studio.core.nets.features import autocast, feature_extractor, use_bfloat16
from studio.core.plugin import discover_plugins
from studio.core.training import TrainContext, restore_training_state, training_state

TRAINING_TOML = Path(__file__).resolve().parent.parent / "plugins" / "gan_breeding" / "training.toml"
HELDOUT = "heldout"
INCEPTION_SIDE = 299
INCEPTION_LAYER = "Mixed_7c"
SEED = 0
DCGAN_LR, DCGAN_BETAS = 2e-4, (0.5, 0.999)
DCGAN_CHECKPOINT_S = 600.0
QUICK = {"count": 64, "subsets": 5, "subset_size": 32, "pairs": 32, "dcgan_steps": 20}

Pictures = np.ndarray  # (N, H, W, 3) uint8


class DCGANDiscriminator(nn.Module):
    """The DCGAN paper's discriminator for 64 px pictures: four strided 4 x 4 convolutions (batch norm after all
    but the first, LeakyReLU 0.2), then a 4 x 4 convolution to one logit per picture."""

    def __init__(self, ndf: int = 64) -> None:
        super().__init__()
        widths = (ndf, ndf * 2, ndf * 4, ndf * 8)
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for channels_in, channels_out in itertools.pairwise(widths):
            layers += [nn.Conv2d(channels_in, channels_out, 4, 2, 1, bias=False), nn.BatchNorm2d(channels_out),
                       nn.LeakyReLU(0.2, inplace=True)]  # fmt: skip
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)
        tutorial_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N,) of pictures (N, 3, 64, 64) in -1..1."""
        return self.main(images).flatten().float()


def train_dcgan(pictures: Pictures, steps: int, batch: int, run_dir: Path, device: str) -> DCGANGenerator:
    """The DCGAN baseline after ``steps`` steps of ``batch`` pictures, trained (or resumed) in ``run_dir``."""
    ctx = TrainContext(run_dir, checkpoint_interval_s=DCGAN_CHECKPOINT_S, device=device)
    torch.manual_seed(SEED)
    generator, discriminator = generator64().to(device), DCGANDiscriminator().to(device)
    g_optimizer = torch.optim.Adam(generator.parameters(), DCGAN_LR, betas=DCGAN_BETAS)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), DCGAN_LR, betas=DCGAN_BETAS)
    nets = {"G": generator, "D": discriminator}
    optimizers = {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}
    state, step = ctx.resume_state(), 0
    if state is not None:
        restore_training_state(state, nets, optimizers)
        step = state.step
    bfloat16 = use_bfloat16("auto", device)
    with tqdm(total=steps, initial=min(step, steps), desc="DCGAN baseline", unit="step") as bar:
        while step < steps:
            rng = np.random.default_rng((SEED, step))
            real = to_signed(training_batch(pictures, batch, rng), device)
            latents = torch.from_numpy(rng.standard_normal((batch, generator.nz), dtype=np.float32)).to(device)
            with autocast(real, bfloat16):
                fake = generator(latents)
                d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            with autocast(real, bfloat16):
                g_loss = generator_loss(discriminator(fake))
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            step += 1
            bar.update()
            bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
            if ctx.checkpoint_due() or step == steps:
                tensors, optimizers_rest = training_state(nets, optimizers)
                ctx.save_checkpoint(tensors, {"step": step} | optimizers_rest)
    return generator


@torch.no_grad()
def dcgan_pictures(generator: DCGANGenerator, count: int, batch: int, seed: int) -> Pictures:
    """``count`` pictures of the DCGAN baseline, rendered ``batch`` at a time with batch statistics."""
    generator.train()
    draw = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    chunks = [generator(torch.randn(min(batch, count - first), generator.nz, generator=draw).to(device))
              for first in range(0, count, batch)]  # fmt: skip
    return quantize(((torch.cat(chunks).float() + 1.0) / 2.0).permute(0, 2, 3, 1).cpu().numpy())


def style_pictures(store: ModelStore, model_id: str, count: int, truncation: float, device: str) -> Pictures:
    """``count`` pictures of the style-based generator ``model_id`` from latents of seed 1, ``truncation`` applied,
    each with noise maps of its own (as pictures of different seeds have in the breeding panel)."""
    generator = from_store(store, model_id, device)
    latents = generator.sample_latents(np.random.default_rng(1), count)
    torch.manual_seed(1)
    return np.concatenate([generator.render(generator.styles(latents[first : first + 64]), None, truncation)
                           for first in range(0, count, 64)])  # fmt: skip


@torch.no_grad()
def inception_features(pictures: Pictures, extract: Callable[[torch.Tensor], torch.Tensor], device: str) -> np.ndarray:
    """The (N, 2048) Inception features of ``pictures``, 50 at a time, float64."""
    rows = []
    for first in range(0, len(pictures), 50):
        images = (to_signed(pictures[first : first + 50], device) + 1.0) / 2.0
        images = F.interpolate(images, size=(INCEPTION_SIDE, INCEPTION_SIDE), mode="bilinear", align_corners=False)
        rows.append(extract(images).mean(dim=(2, 3)).double().cpu().numpy())
    return np.concatenate(rows)


def kernel_scale(reference: np.ndarray) -> float:
    """The factor that gives ``reference`` features (N, D) a mean x·x / D of 1, the size KID's kernel is made for."""
    return float(np.sqrt(reference.shape[1] / np.mean(np.sum(reference**2, axis=1))))


def kid(a: np.ndarray, b: np.ndarray, subsets: int, size: int, rng: np.random.Generator) -> tuple[float, float]:
    """The KID x1000 of features ``a`` and ``b`` (N, D): mean and standard deviation over ``subsets`` of ``size``."""
    size = min(size, len(a), len(b))
    dims = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        within_x, within_y = (x @ x.T / dims + 1.0) ** 3, (y @ y.T / dims + 1.0) ** 3
        across = (x @ y.T / dims + 1.0) ** 3
        pairs = size * (size - 1)
        values.append((within_x.sum() - np.trace(within_x)) / pairs + (within_y.sum() - np.trace(within_y)) / pairs
                      - 2.0 * across.mean())  # fmt: skip
    return 1000.0 * statistics.fmean(values), 1000.0 * statistics.pstdev(values)


def heldout_rules(data: Path) -> list[str]:
    """The rule that drew each held-out picture, in :func:`load_pictures`' order (SOURCES.json's records)."""
    records = json.loads((data / SOURCES).read_text())["pictures"]
    return [rule for _, rule in sorted((r["file"], r["rule"]) for r in records if r["file"].startswith(f"{HELDOUT}/"))]


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The (N, M) Euclidean distances between the rows of ``a`` (N, D) and ``b`` (M, D)."""
    squared = np.sum(a**2, axis=1)[:, None] + np.sum(b**2, axis=1)[None] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def nearest_rules(features: np.ndarray, reference: np.ndarray, rules: list[str]) -> dict[str, float]:
    """The share of ``features`` rows (N, D) whose nearest ``reference`` row was drawn by each of ``rules``."""
    counts = Counter(rules[index] for index in _distances(features, reference).argmin(axis=1))
    return {rule: counts[rule] / len(features) for rule in sorted(set(rules))}


def precision_recall(features: np.ndarray, reference: np.ndarray, neighbours: int) -> tuple[float, float]:
    """Improved precision and recall of ``features`` (N, D) against ``reference`` (M, D): the share of ``features``
    rows inside the reference's manifold, and the share of reference rows inside that of ``features``; a set's
    manifold is the union of the balls around each row reaching its ``neighbours``-th nearest other row."""

    def radii(rows: np.ndarray) -> np.ndarray:
        return np.sort(_distances(rows, rows), axis=1)[:, neighbours]  # column 0: the row itself

    across = _distances(features, reference)
    precision = (across <= radii(reference)[None]).any(axis=1).mean()
    recall = (across <= radii(features)[:, None]).any(axis=0).mean()
    return float(precision), float(recall)


def blurred(pictures: Pictures, sigma: float) -> Pictures:
    """``pictures`` each blurred by a Gaussian of ``sigma`` px."""
    return np.stack([cv2.GaussianBlur(picture, (0, 0), sigma) for picture in pictures])


@torch.no_grad()
def diversity(pictures: Pictures, pairs: int, lpips: nn.Module, rng: np.random.Generator, device: str) -> float:
    """The mean LPIPS of ``pairs`` random pairs of different pictures."""
    first = rng.integers(len(pictures), size=pairs)
    second = (first + rng.integers(1, len(pictures), size=pairs)) % len(pictures)
    distances = []
    for start in range(0, pairs, 50):
        a, b = ((to_signed(pictures[i[start : start + 50]], device) + 1.0) / 2.0 for i in (first, second))
        distances.append(lpips(a, b).cpu())
    return float(torch.cat(distances).mean())


def style_stores(folder: Path, store: ModelStore, checkpoint: Path | None) -> dict[str, tuple[ModelStore, str]]:
    """The store and model id of each style-based source: the untrained network and --checkpoint's generator in a
    store in ``folder``, or the installed rules_gan64 in ``store``."""
    own = ModelStore(folder / "models", store.specs)
    base = store.specs[MODEL_ID]
    shape = tomllib.loads(TRAINING_TOML.read_text())
    config = GeneratorConfig(**{field.name: shape[field.name] for field in dataclasses.fields(GeneratorConfig)})
    torch.manual_seed(SEED)
    untrained = dataclasses.replace(base, id=f"{MODEL_ID}_untrained", title="untrained", base=MODEL_ID)
    own.register_trained(untrained, weights_bytes(StyleGenerator(config)))
    labels = {f"{MODEL_ID} untrained": (own, untrained.id)}
    if checkpoint is not None:
        run = dataclasses.replace(base, id=f"{MODEL_ID}_run", title=str(checkpoint), base=MODEL_ID)
        own.register_trained(run, checkpoint_weights(checkpoint))
        labels[f"{MODEL_ID} ({checkpoint.name})"] = (own, run.id)
    elif store.status(MODEL_ID) == ModelStatus.INSTALLED:
        labels[MODEL_ID] = (store, MODEL_ID)
    else:
        sys.exit(f"{MODEL_ID} is not installed: give --checkpoint RUN_DIR (a training run) instead")
    trained_label, (trained_store, trained_id) = list(labels.items())[-1]
    quiet = copy.deepcopy(trained_store.load(trained_id))
    if any(layer.noise_strength.item() for layer in quiet.layers):
        silence_noise(quiet)
        noise_off = dataclasses.replace(base, id=f"{MODEL_ID}_noise_off", title="noise off", base=MODEL_ID)
        own.register_trained(noise_off, weights_bytes(quiet))
        labels[f"{trained_label} noise off"] = (own, noise_off.id)
    return labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a gan_breeding training run instead of the installed model")
    parser.add_argument("--data", type=Path, default=Path("data/gan-rules"), help="training pictures and heldout/")
    parser.add_argument("--count", type=int, default=800, help="pictures per source")
    parser.add_argument("--subsets", type=int, default=50)
    parser.add_argument("--subset-size", type=int, default=400)
    parser.add_argument("--pairs", type=int, default=500, help="picture pairs for diversity")
    parser.add_argument("--neighbours", type=int, default=3, help="k of precision and recall's k-nearest balls")
    parser.add_argument("--dcgan-dir", type=Path, default=Path("data/runs/dcgan-baseline"))
    parser.add_argument("--dcgan-steps", type=int, help="baseline steps (default: training.toml's steps)")
    parser.add_argument(
        "--train-baseline-only", action="store_true", help="train (or resume) the baseline in --dcgan-dir and stop"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="a smoke check (see above)")
    parser.add_argument("--save-baseline", action="store_true")
    options = baseline.parse(parser, QUICK)
    recipe = tomllib.loads(TRAINING_TOML.read_text())
    steps = options.dcgan_steps or recipe["steps"]
    dcgan_dir = options.dcgan_dir
    if steps != recipe["steps"]:
        dcgan_dir = dcgan_dir.with_name(f"{dcgan_dir.name}-{steps}-steps")
    training = load_pictures(options.data, recipe["resolution"])
    if options.train_baseline_only:
        train_dcgan(training, steps, recipe["batch"], dcgan_dir, options.device)
        return 0
    heldout = load_pictures(options.data / HELDOUT, recipe["resolution"])
    rules = heldout_rules(options.data)
    if len(rules) != len(heldout):
        sys.exit(f"{options.data / SOURCES} does not list the {len(heldout)} pictures of {options.data / HELDOUT}")
    rng = np.random.default_rng(SEED)
    shown = training[rng.permutation(len(training))[: options.count]]
    sources: dict[str, Pictures] = {"training pictures": shown, "training pictures, blurred 1 px": blurred(shown, 1.0)}
    store = ModelStore(specs=discover_plugins().model_catalog())
    with tempfile.TemporaryDirectory() as folder:
        if options.quick:
            dcgan_dir = Path(folder) / "dcgan"
        started = time.perf_counter()
        dcgan = train_dcgan(training, steps, recipe["batch"], dcgan_dir, options.device)
        print(f"DCGAN baseline: {steps} steps of {recipe['batch']} in {dcgan_dir} "
              f"({time.perf_counter() - started:.0f} s this run)")  # fmt: skip
        dcgan_label = f"DCGAN {steps} steps"
        for label, (own, model_id) in style_stores(Path(folder), store, options.checkpoint).items():
            sources[f"{label}, truncation 1"] = style_pictures(own, model_id, options.count, 1.0, options.device)
            if "untrained" not in label and "noise off" not in label:
                truncated = style_pictures(own, model_id, options.count, BreedParams.truncation, options.device)
                sources[f"{label}, truncation {BreedParams.truncation}"] = truncated
    sources[dcgan_label] = dcgan_pictures(dcgan, options.count, 64, seed=1)
    print("features ...", flush=True)
    extractor = feature_extractor(store, "inception_v3", [INCEPTION_LAYER], options.device)
    features = {label: inception_features(pictures, lambda x: extractor(x)[INCEPTION_LAYER], options.device)
                for label, pictures in {"held-out": heldout, **sources}.items()}  # fmt: skip
    scale = kernel_scale(features["held-out"])
    features = {label: rows * scale for label, rows in features.items()}
    lpips = store.load("lpips_vgg16", options.device)
    heldout_signed = to_signed(heldout, "cpu")
    results: dict[str, dict[str, Any]] = {}
    for label, pictures in {"held-out pictures": heldout, **sources}.items():
        row: dict[str, Any] = {"diversity": diversity(pictures, options.pairs, lpips, np.random.default_rng(2),
                                                      options.device)}  # fmt: skip
        if label == "held-out pictures":
            row["rules"] = {rule: count / len(rules) for rule, count in sorted(Counter(rules).items())}
        else:
            row["kid"], row["kid_spread"] = kid(features[label], features["held-out"], options.subsets,
                                                options.subset_size, np.random.default_rng(3))  # fmt: skip
            row["swd"] = sliced_wasserstein(heldout_signed, to_signed(pictures, "cpu"))
            row["precision"], row["recall"] = precision_recall(features[label], features["held-out"],
                                                               options.neighbours)  # fmt: skip
            row["rules"] = nearest_rules(features[label], features["held-out"], rules)
        results[label] = row

    previous = baseline.load("gan_quality")
    print(f"\nGAN quality: {options.count} pictures per source against {len(heldout)} held-out rules pictures "
          f"({options.data / HELDOUT}); KID x1000 over {options.subsets} subsets of {options.subset_size}, diversity "
          f"over {options.pairs} pairs")  # fmt: skip
    print(f"{'source':<48} {'KID x1000':>10} {'spread':>7} {'SWD x1000':>9} {'precision':>9} {'recall':>6} "
          f"{'diversity':>9}   baseline KID")  # fmt: skip
    for label, row in results.items():
        base = previous.get(label, {}).get("kid")
        measured = (f"{row['kid']:>10.2f} {row['kid_spread']:>7.2f} {row['swd']:>9.2f} {row['precision']:>9.2f} "
                    f"{row['recall']:>6.2f}" if "kid" in row
                    else f"{'-':>10} {'-':>7} {'-':>9} {'-':>9} {'-':>6}")  # fmt: skip
        print(f"{label:<48} {measured} {row['diversity']:>9.3f}   {'-' if base is None else f'{base:.2f}'}")
    names = sorted(set(rules))
    print(f"\nRules drawn: the share of each source's pictures whose nearest held-out picture (Inception features) "
          f"each rule drew\n{'source':<48} " + " ".join(f"{name:>11}" for name in names))  # fmt: skip
    for label, row in results.items():
        print(f"{label:<48} " + " ".join(f"{row['rules'][name]:>11.1%}" for name in names))
    trained = [row for label, row in results.items() if label.startswith(MODEL_ID) and "untrained" not in label
               and "noise off" not in label and label.endswith("truncation 1")]  # fmt: skip
    rivals = [row for label, row in results.items() if "untrained" in label or label.startswith("DCGAN")]
    if trained:
        ours = trained[0]
        verdict = "met" if ours["kid"] < min(row["kid"] for row in rivals) else "NOT met"
        print(f"target: {MODEL_ID} closer to the held-out pictures (lower KID) than the untrained network and the "
              f"DCGAN baseline -> {verdict}")  # fmt: skip
        beaten = all(ours[key] > row[key] for row in rivals for key in ("precision", "recall"))
        print(f"also: {MODEL_ID}'s precision and recall above both of theirs -> {'yes' if beaten else 'no'}")
    if options.save_baseline:
        baseline.save("gan_quality", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
