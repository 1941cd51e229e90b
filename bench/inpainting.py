"""Inpainting: fill quality per hole size against OpenCV, inference time, training speed and a sheet of real fills.

Every fill goes through the plugin's engine with its defaults but feather 0, its inputs made as a host makes
them, so the bench measures what an artist gets. The network is --model from the model store (pconv_inpaint by
default), --weights FILE.safetensors, or --checkpoint RUN_DIR (the last checkpoint of a ``studio train inpainting``
run).

- quality: the validation photographs (``make training-photos``; --photos), centre squares at 256 px, each with
  --per-bin masks of every hole-size bin of its own (``validation_masks`` with seed i for photo i, so the scores
  average over as many mask shapes as fills), filled by the network, Telea and Navier-Stokes. Mean LPIPS
  (``lpips_vgg16``: ``studio models install lpips_vgg16``), PSNR and SSIM of the whole picture per bin; "net
  best" says whether the network's LPIPS is below both OpenCV methods' (target: in every bin from 10% up), and
  "margin" by how much it is below the better of them, with the standard error of that paired difference.
- inference: median of --repeat fills (the engine's run, its picture as it hands it over), after one warm-up,
  of a 512 px photo with a 10-20% hole; and of a 6000 x 4000 photo (a validation photo enlarged) with three
  40 px holes against the three crops the engine cuts around them, filled one at a time as small pictures
  (target: the large photo costs no more than its crops).
  "MB" is the most RSS a call added.
- training: images/s of --train-steps steps of the real trainer (training.toml, the real vgg16) on the --photos
  pictures in float32 and in bfloat16, the first step left out as warm-up.
- --sheet [FILE.png]: rows of (hole in white, mask, Telea, network, original), a photo per bin from 10% up.

    .venv/bin/python bench/inpainting.py [--photos data/photos/validation] [--model ID | --weights FILE |
        --checkpoint RUN_DIR] [--per-bin 2] [--limit N] [--repeat 3] [--no-large] [--train-steps 6]
        [--device cpu] [--sheet [FILE.png]] [--quick] [--save-baseline]

--quick is a smoke check (3 photos, 1 mask per bin, 1 repeat, no 6000 px run, 2 training steps); not a baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import baseline
import cv2
import numpy as np
import safetensors.torch
import torch
from doodle import number, timed
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from studio_plugins.inpainting.engine import MIN_CONTEXT, crop_boxes, run
from studio_plugins.inpainting.masks import RATIO_BINS, validation_masks
from studio_plugins.inpainting.models import CHECKPOINT_NET, MODEL_ID, SPECS, config_of
from studio_plugins.inpainting.params import InpaintParams
from studio_plugins.inpainting.train import TrainParams, train

from studio.core.image import SUPPORTED_SUFFIXES, load_image, to_uint8
from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext, drive
from studio.core.models.spec import UserFile
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.features import image_to_tensor
from studio.core.nets.lpips import LPIPS
from studio.core.params import make_params
from studio.core.plugin import discover_plugins
from studio.core.training import TrainContext, checkpoint_network

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "data" / "photos" / "validation"
SHEET = ROOT / "docs" / "inpainting.png"
TRAINING_TOML = ROOT / "plugins" / "inpainting" / "training.toml"
SIDE = 256  # px of the quality squares
MASK_SEED = 0
OPENCV = ("telea", "navier_stokes")
METHODS = ("network", *OPENCV)
TARGET_FROM = 0.1  # the network should beat OpenCV on LPIPS in every bin from this hole ratio up
TIMED_SIDE = 512
LARGE = (6000, 4000)  # width, height
LARGE_HOLES = ((900, 700), (3100, 2100), (5300, 3400))  # centres of the large photo's holes
HOLE_DIAMETER = 40
SHEET_COLUMNS = ("hole (white)", "mask", "Telea", "network", "original")
QUICK = {"per_bin": 1, "limit": 3, "repeat": 1, "large": False, "train_steps": 2}

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]  # RGB uint8 (H, W, 3), hole bool (H, W) -> RGB uint8


def bin_label(bin_: tuple[float, float]) -> str:
    return f"{bin_[0]:.0%}-{bin_[1]:.0%}"


def picture_paths(folder: Path) -> list[Path]:
    """The picture files in ``folder``, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())


def load_photos(folder: Path, limit: int | None) -> list[np.ndarray]:
    """The pictures in ``folder`` (RGB uint8), at most ``limit``."""
    return [to_uint8(load_image(path).pixels)[..., :3] for path in picture_paths(folder)[:limit]]


def square(rgb: np.ndarray, side: int) -> np.ndarray:
    """The centre square of ``rgb`` resized to ``side`` px."""
    height, width = rgb.shape[:2]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    return np.ascontiguousarray(resample(rgb[top : top + short, left : left + short], (side, side)))


def engine_fill(method: str, store: ModelStore, model: str, device: str, eight_bit: bool = True) -> Fill:
    """A fill by the plugin's engine: ``method`` with the plugin's defaults but feather 0; without ``eight_bit`` the
    engine's picture as it hands it over (RGBA, 16-bit from the network), as the timings take it."""
    params = make_params(InpaintParams, {"method": method, "model": model, "feather": 0})

    def fill(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        height, width = hole.shape
        rgba = np.dstack([rgb, np.full((height, width), 255, np.uint8)])
        ctx = RunContext(preview_interval_s=1e9, models=store, device=device)
        final = drive(run(params, Inputs(width, height, rgba, hole.astype(np.float32)), ctx), ctx)
        # The network's fill is 16-bit; the scores compare 8-bit pictures.
        return to_uint8(final.image[..., :3]) if eight_bit else final.image

    return fill


Masks = Mapping[tuple[float, float], Sequence[np.ndarray]]  # hole masks by hole-size bin


def photo_masks(count: int, per_bin: int, side: int = SIDE) -> list[Masks]:
    """Each of ``count`` photos' own ``per_bin`` masks of every bin: photo i's are the validation masks of seed i."""
    return [validation_masks((side, side), per_bin, MASK_SEED + index) for index in range(count)]


def quality(
    photos: Sequence[np.ndarray], masks: Sequence[Masks], methods: Mapping[str, Fill], lpips: LPIPS, device: str
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean LPIPS, PSNR and SSIM of every method's fills of every photo with its masks, by method and bin label;
    the network's row also holds its paired LPIPS margin below the better OpenCV method and its standard error."""
    bins = masks[0]
    scores = {name: {bin_label(b): {"lpips": [], "psnr": [], "ssim": []} for b in bins} for name in methods}
    for rgb, own_masks in zip(photos, masks, strict=True):
        original = image_to_tensor(rgb, device)
        for bin_, holes in own_masks.items():
            for hole in holes:
                fills = {name: fill(rgb, hole) for name, fill in methods.items()}
                filled = torch.cat([image_to_tensor(picture, device) for picture in fills.values()])
                with torch.no_grad():  # one pass for every method's fill
                    distances = lpips(original.expand_as(filled), filled).tolist()
                for (name, picture), distance in zip(fills.items(), distances, strict=True):
                    row = scores[name][bin_label(bin_)]
                    row["lpips"].append(distance)
                    row["psnr"].append(psnr(rgb, picture))
                    row["ssim"].append(float(structural_similarity(rgb, picture, channel_axis=2, data_range=255)))
    means = {
        name: {
            label: {metric: statistics.fmean(values) for metric, values in row.items()} for label, row in by_bin.items()
        }
        for name, by_bin in scores.items()
    }
    if "network" in scores:
        for label, row in means["network"].items():
            rival = min(OPENCV, key=lambda method: means[method][label]["lpips"])
            gaps = np.subtract(scores[rival][label]["lpips"], scores["network"][label]["lpips"])
            row["margin"] = float(gaps.mean())
            row["margin_se"] = float(gaps.std(ddof=1) / math.sqrt(len(gaps))) if len(gaps) > 1 else math.nan
    return means


def psnr(original: np.ndarray, filled: np.ndarray) -> float:
    """PSNR in dB of uint8 pictures; infinite for an exact fill (where skimage warns of a division by zero)."""
    return (
        math.inf
        if np.array_equal(original, filled)
        else float(peak_signal_noise_ratio(original, filled, data_range=255))
    )


def network_wins(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, bool]:
    """Per bin label: whether the network's LPIPS is below every OpenCV method's."""
    return {
        label: all(row["lpips"] < results[method][label]["lpips"] for method in OPENCV)
        for label, row in results["network"].items()
    }


def print_quality(
    results: Mapping[str, Mapping[str, Mapping[str, float]]], previous: Mapping[str, Mapping[str, Mapping[str, float]]]
) -> None:
    names = list(results)
    wins = network_wins(results) if "network" in results else {}
    print(f"{'hole':<8} " + " | ".join(f"{name[:13]:>13} LPIPS  PSNR   SSIM" for name in names), end="")
    print("   net best   margin (se)    baseline net LPIPS" if wins else "")
    for label in results[names[0]]:
        cells = [
            f"{r[label]['lpips']:>19.4f} {r[label]['psnr']:>5.1f} {r[label]['ssim']:>6.3f}" for r in results.values()
        ]
        row = f"{label:<8} " + " | ".join(cells)
        if wins:
            before = previous.get("network", {}).get(label, {}).get("lpips")
            net = results["network"][label]
            margin = f"{net['margin']:+.4f} ({net['margin_se']:.4f})"
            row += f"   {'yes' if wins[label] else 'NO':>8}   {margin:>16}   {number(before, 4, 18)}"
        print(row)


def large_photo(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rgb``'s centre 3:2 part enlarged to 6000 x 4000 px, and three round holes of 40 px."""
    height, width = rgb.shape[:2]
    crop_width = min(width, height * 3 // 2)
    crop_height = crop_width * 2 // 3
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    picture = np.ascontiguousarray(resample(rgb[top : top + crop_height, left : left + crop_width], LARGE))
    hole = np.zeros(LARGE[::-1], np.uint8)
    for centre in LARGE_HOLES:
        cv2.circle(hole, centre, HOLE_DIAMETER // 2, 1, -1)
    return picture, hole > 0


def inference(photo: np.ndarray, fills: Mapping[str, Fill], repeat: int, large: bool) -> dict[str, dict[str, float]]:
    """Median seconds and the RSS added (MB) of each fill of a 512 px photo and, with ``large``, of the
    6000 x 4000 photo against its three crops filled one at a time."""
    picture = square(photo, TIMED_SIDE)
    hole = validation_masks((TIMED_SIDE, TIMED_SIDE), 1, MASK_SEED)[RATIO_BINS[1]][0]
    rows: dict[str, dict[str, float]] = {}
    for name, fill in fills.items():
        fill(picture, hole)  # warm-up: loads the network
        seconds, added, _ = timed(lambda fill=fill: fill(picture, hole), repeat)
        rows[f"{name} {TIMED_SIDE}px {bin_label(RATIO_BINS[1])}"] = {"seconds": seconds, "mb": added}
    if not large:
        return rows
    big, big_hole = large_photo(photo)
    params = make_params(InpaintParams, {})
    boxes, _ = crop_boxes(big_hole, params.context, MIN_CONTEXT + params.feather)
    crops = [(big[y0:y1, x0:x1], big_hole[y0:y1, x0:x1]) for x0, y0, x1, y1 in boxes]
    for name, fill in fills.items():
        seconds, added, _ = timed(lambda fill=fill: fill(big, big_hole), repeat)
        large_key, crops_key = large_keys(name)
        rows[large_key] = {"seconds": seconds, "mb": added}
        seconds, added, _ = timed(lambda fill=fill: [fill(crop, hole) for crop, hole in crops], repeat)
        rows[crops_key] = {"seconds": seconds, "mb": added}
    return rows


def large_keys(name: str) -> tuple[str, str]:
    """The inference rows of ``name`` on the large photo and on its crops alone."""
    return f"{name} {LARGE[0]}x{LARGE[1]}", f"{name} its {len(LARGE_HOLES)} crops alone"


def print_inference(rows: Mapping[str, Mapping[str, float]], previous: Mapping[str, Mapping[str, float]]) -> None:
    print(f"{'fill':<32} {'seconds':>8} {'MB':>6}   baseline seconds")
    for key, row in rows.items():
        before = previous.get(key, {}).get("seconds")
        print(f"{key:<32} {row['seconds']:>8.3f} {row['mb']:>6.0f}   {number(before, 3, 16)}")
    for name in METHODS:
        large, crops = (rows.get(key) for key in large_keys(name))
        if large and crops:
            ratio = large["seconds"] / crops["seconds"]
            print(f"target: {name} on the {LARGE[0]}x{LARGE[1]} photo costs no more than its crops alone -> "
                  f"{'met' if ratio <= 1 else 'NOT met'} ({ratio:.1f}x)")  # fmt: skip


def training_folder(photos: Path, folder: Path) -> Path:
    """A folder the trainer reads, in ``folder``: the pictures of ``photos`` to train on, the first to validate on.

    The trainer would split a folder of validation photographs entirely into validation (the split follows the
    file names); how fast it trains does not depend on which pictures it crops.
    """
    paths = picture_paths(photos)
    for part, chosen in (("train", paths), ("validation", paths[:1])):
        (folder / part).mkdir()
        for path in chosen:
            (folder / part / path.name).symlink_to(path.resolve())
    return folder


def training_speed(photos: Path, store: ModelStore, steps: int, device: str) -> dict[str, dict[str, float]]:
    """Images/s of ``steps`` steps of the real trainer (training.toml) on ``photos`` in float32 and bfloat16, step 1
    left out."""
    config = tomllib.loads(TRAINING_TOML.read_text())
    rows = {}
    for precision in ("float32", "bfloat16"):
        values = {**config, "steps": steps, "precision": precision, "validate_every": 10_000_000}
        params = make_params(TrainParams, values)
        ends: list[float] = []  # when each step's frame arrived

        def on_frame(frame: Frame, ends: list[float] = ends) -> None:
            if frame.image is None and "step" in frame.info:
                ends.append(time.perf_counter())

        with tempfile.TemporaryDirectory() as folder:
            data = training_folder(photos, Path(folder))
            ctx = TrainContext(data / "run", preview_interval_s=0.0, checkpoint_interval_s=math.inf, models=store,
                               device=device)  # fmt: skip
            drive(train(params, data, ctx), ctx, on_frame)
        seconds = (ends[-1] - ends[0]) / (len(ends) - 1)
        rows[precision] = {"images_per_s": params.batch / seconds, "s_per_step": seconds, "steps": len(ends) - 1}
    return rows


def print_training(rows: Mapping[str, Mapping[str, float]], previous: Mapping[str, Mapping[str, float]]) -> None:
    print(f"{'precision':<10} {'images/s':>9} {'s/step':>7} {'steps':>6}   baseline images/s")
    for key, row in rows.items():
        before = previous.get(key, {}).get("images_per_s")
        print(
            f"{key:<10} {row['images_per_s']:>9.1f} {row['s_per_step']:>7.2f} {row['steps']:>6.0f}   "
            f"{number(before, 1, 17)}"
        )


def write_sheet(photos: Sequence[np.ndarray], masks: Sequence[Masks], telea: Fill, network: Fill, path: Path) -> None:
    """Rows of (hole in white, mask, Telea, network, original), photo i with its first mask of bin i + 1."""
    rows = []
    for rgb, own_masks, bin_ in zip(photos, masks, RATIO_BINS[1:], strict=False):
        hole = own_masks[bin_][0]
        shown = rgb.copy()
        shown[hole] = 255
        mask = np.repeat(np.where(hole, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
        row = np.concatenate([shown, mask, telea(rgb, hole), network(rgb, hole), rgb], axis=1)
        _label(row, bin_label(bin_), (6, row.shape[0] - 8))
        rows.append(row)
    side = rows[0].shape[0]
    header = np.full((28, side * len(SHEET_COLUMNS), 3), 255, np.uint8)
    for index, title in enumerate(SHEET_COLUMNS):
        cv2.putText(header, title, (index * side + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([header, *rows]), cv2.COLOR_RGB2BGR))
    print(f"sheet written to {path}")


def _label(picture: np.ndarray, text: str, origin: tuple[int, int]) -> None:
    """``text`` in white with a black outline, readable on any picture."""
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(picture, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, thickness, cv2.LINE_AA)


def network_store(options: argparse.Namespace, store: ModelStore, folder: Path) -> tuple[ModelStore, str, str]:
    """The store the network fills from, its model id and a description of its weights: ``store`` and --model, else
    a store in ``folder`` holding --weights or the network of --checkpoint's last checkpoint as pconv_inpaint."""
    if options.weights is None and options.checkpoint is None:
        if store.status(options.model) != ModelStatus.INSTALLED:
            sys.exit(f"{options.model} is not installed: give --weights FILE or --checkpoint RUN_DIR instead")
        return store, options.model, options.model
    if options.checkpoint is not None:
        try:
            tensors, step = checkpoint_network(options.checkpoint, CHECKPOINT_NET)
        except ValueError as exc:
            sys.exit(str(exc))
        weights = folder / f"{MODEL_ID}.safetensors"
        safetensors.torch.save_file(tensors, weights)
        described = f"{options.checkpoint} at step {step}"
    else:
        weights, described = options.weights, str(options.weights)
        tensors = safetensors.torch.load_file(weights)
    config = config_of(tensors)
    spec = dataclasses.replace(SPECS[0], sources=(UserFile(f"{MODEL_ID}.safetensors", "inpainting weights"),))
    own = ModelStore(folder / "models", specs={MODEL_ID: spec})
    own.import_file(MODEL_ID, weights)
    return own, MODEL_ID, f"{described} ({config.levels} levels, width {config.width})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="folder of validation photographs")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--model", default=MODEL_ID, help="the network's id in the model store")
    weights.add_argument("--weights", type=Path, help="the network's .safetensors file")
    weights.add_argument("--checkpoint", type=Path, help="a training run's folder: its last checkpoint's network")
    parser.add_argument("--per-bin", type=int, default=2, help="masks per hole-size bin per photo")
    parser.add_argument("--limit", type=int, help="photos used (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed fills per row")
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True, help="the 6000 px run")
    parser.add_argument("--train-steps", type=int, default=6, help="training steps per precision (0: none)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sheet", type=Path, nargs="?", const=SHEET, help=f"write a sheet of fills ({SHEET})")
    parser.add_argument("--quick", action="store_true", help="a smoke check (see above)")
    parser.add_argument("--save-baseline", action="store_true")
    options = baseline.parse(parser, QUICK)
    if options.train_steps == 1:
        parser.error("--train-steps: the first step is a warm-up, so give 2 or more (or 0)")
    store = ModelStore(specs=discover_plugins().model_catalog())
    if store.status("lpips_vgg16") != ModelStatus.INSTALLED:
        sys.exit("the quality table needs LPIPS: run `studio models install lpips_vgg16`")
    originals = load_photos(options.photos, options.limit)
    if not originals:
        sys.exit(f"{options.photos} holds no photographs: run `make training-photos` or give --photos DIR")
    photos = [square(rgb, SIDE) for rgb in originals]
    masks = photo_masks(len(photos), options.per_bin)
    previous = baseline.load("inpainting")
    with tempfile.TemporaryDirectory() as folder:
        net_store, model, described = network_store(options, store, Path(folder))
        fills = {name: engine_fill(name, net_store, model, options.device) for name in METHODS}
        lpips = store.load("lpips_vgg16", options.device)
        print(f"quality: {len(photos)} photos ...", flush=True)
        results = {"quality": quality(photos, masks, fills, lpips, options.device)}
        print(
            f"\nInpainting quality on {len(photos)} photos at {SIDE} px, {options.per_bin} mask(s) of its own per "
            f"bin and photo (seeds {MASK_SEED}..{MASK_SEED + len(photos) - 1}), feather 0; network: {described}"
        )
        print_quality(results["quality"], previous.get("quality", {}))
        wins = network_wins(results["quality"])
        verdict = "met" if all(wins[bin_label(b)] for b in RATIO_BINS if b[0] >= TARGET_FROM) else "NOT met"
        print(f"target: the network's LPIPS below Telea's and Navier-Stokes' in every bin from "
              f"{TARGET_FROM:.0%} up -> {verdict}")  # fmt: skip

        print("\ninference ...", flush=True)
        timed_fills = {
            name: engine_fill(name, net_store, model, options.device, eight_bit=False) for name in ("network", "telea")
        }
        largest = max(originals, key=lambda rgb: rgb.shape[0] * rgb.shape[1])
        results["inference"] = inference(largest, timed_fills, options.repeat, options.large)
        print(f"\nInference on {options.device} ({torch.get_num_threads()} threads), median of {options.repeat} "
              f"fill(s) after a warm-up; network: {described}")  # fmt: skip
        print_inference(results["inference"], previous.get("inference", {}))
        if options.sheet is not None:
            write_sheet(photos, masks, fills["telea"], fills["network"], options.sheet)
    if options.train_steps:
        print("\ntraining ...", flush=True)
        results["training"] = training_speed(options.photos, store, options.train_steps, options.device)
        print(f"\nTraining speed on {options.device} ({torch.get_num_threads()} threads), {TRAINING_TOML.name} "
              f"with {options.train_steps} steps, the first left out")  # fmt: skip
        print_training(results["training"], previous.get("training", {}))
    if options.save_baseline:
        baseline.save("inpainting", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
