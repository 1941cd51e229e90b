"""Neural doodle: time, first preview and peak memory of both methods by size; the patch matching's cost by count.

The doodle: skimage's astronaut (public domain) is the style painting, its label map is ``segment``'s four
regions (as the README's doodle sheet makes them) and the doodle is that map mirrored left to right at the
output size, so every region moves. Real vgg16 from the model store (``make models``), the plugin's defaults
but ``--iterations`` (spread over the automatic scales as in a real render) and ``--set``.

- renders: each method at each output size (long side), one fresh child process per run, median of
  --repeat runs. "first preview" is from the start of the job (model load included) to its first preview
  picture; "s/it full" is the last scale's wall time (its style statistics included) over its iterations;
  "peak MB" is the child's peak RSS (torch and the network included; "GPU MB" is torch's peak allocation on
  a CUDA --device); "tiled" counts the scales optimised in tiles of "tile" px (the largest ones). Compared with
  the saved baseline.
- patches: the patch method's matching at vgg16 relu3_1 (256 channels and the four label channels, the
  plugin's patch size and semantic weight) of an output feature map of --patch-side squared against a growing
  number of style patches (random features): ``nearest_patches`` (chunked convolutions) against the plain way,
  one matrix product of every output patch with every style patch (only where its score matrix fits in
  --naive-limit-mb), and ``PatchLoss``'s forward and backward. "MB" is the call's peak RSS above what was
  resident before it (tens of MB are noise: the allocator reuses what it holds); "agree" is the share of output
  patches both ways match to the same style patch.

    .venv/bin/python bench/doodle.py [--methods gram,patch] [--sizes 512,1024,2048] [--iterations 20]
        [--patches 1024,4096,16384,65536] [--patch-side 64] [--naive-limit-mb 2048] [--repeat 1] [--patch-repeat 3]
        [--device cpu] [--set KEY=VALUE ...] [--quick] [--save-baseline]

--quick is a smoke check: by default 128 and 192 px with 6 iterations and 128 px tiles (so the largest scales
are tiled), 256 and 1024 style patches against a 32 x 32 output; its figures are not a baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import baseline
import numpy as np
import torch
import torch.nn.functional as F
from deep_dream import peak_rss_mb, reset_peak_rss, rss_mb
from studio_plugins.doodle.engine import STYLE_PATCH_BUDGET, PatchLoss, nearest_patches, run
from studio_plugins.doodle.params import DoodleParams

from studio.core.inputs import Inputs, label_colours, resample
from studio.core.jobs import Frame, RunContext, drive
from studio.core.labels import one_hot, segment
from studio.core.models.store import ModelStore
from studio.core.params import make_params

REGIONS = 4
LAYER = "relu3_1"
CHANNELS = 256  # vgg16's relu3_1
QUICK = {"sizes": "128,192", "iterations": 6, "patches": "256,1024", "patch_side": 32}
QUICK_TILE = 128  # px: the quick renders' largest scale is tiled


def doodle_inputs(size: int) -> Inputs:
    """The astronaut and its label map as the style, the map mirrored at ``size`` x ``size`` px as the doodle."""
    import skimage.data

    style = skimage.data.astronaut()
    labels = label_colours(segment(style, REGIONS))
    doodle = resample(np.ascontiguousarray(labels[:, ::-1]), (size, size), exact=True)
    return Inputs(size, size, labels=doodle, extras={"style": style, "style_labels": labels})


def child(method: str, size: int, iterations: int, device: str, values: dict[str, str]) -> dict[str, float]:
    """One render in this (child) process: its times, scales and peak memory."""
    inputs = doodle_inputs(size)
    params = make_params(DoodleParams, {**values, "method": method, "iterations": iterations})
    ctx = RunContext(preview_interval_s=0.0, models=ModelStore(), device=device)
    previews: list[tuple[float, tuple[int, ...]]] = []  # (time, picture shape): the shape tells the scale

    def on_frame(frame: Frame) -> None:
        if frame.image is not None:
            previews.append((time.perf_counter(), frame.image.shape[:2]))

    start = time.perf_counter()
    final = drive(run(params, inputs, ctx), ctx, on_frame)
    end = time.perf_counter()
    assert final.image is not None
    last_scale_start = max((t for t, shape in previews if shape != final.image.shape[:2]), default=start)
    scales = final.info["scales"]
    row = {
        "seconds": end - start,
        "first_preview_s": previews[0][0] - start,
        "full_s_per_iteration": (end - last_scale_start) / scales[-1]["iterations"],
        "peak_mb": peak_rss_mb(),
        "scales": len(scales),
        "tiled_scales": sum(s["tiled"] for s in scales),
        "tile": final.info["tile"],
    }
    if device.startswith("cuda"):
        row["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 1e6
    return row


def render(method: str, size: int, iterations: int, device: str, sets: list[str], repeat: int) -> dict[str, float]:
    """Medians of ``repeat`` renders, each in a fresh child process."""
    command = [sys.executable, __file__, "--child", method, str(size), "--iterations", str(iterations)]
    command += ["--device", device, *(f"--set={item}" for item in sets)]
    runs = []
    for _ in range(repeat):
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def quadrants(side: int) -> torch.Tensor:
    """Four square regions as one-hot masks (1, 4, side, side)."""
    y, x = np.mgrid[0:side, 0:side]
    return torch.from_numpy(one_hot((y >= side // 2) * 2 + (x >= side // 2), REGIONS))[None]


def naive_nearest(features: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The plain matching: every output patch against every style patch in one (L, N) matrix product."""
    patches = F.unfold(features, kernels.shape[-1])[0].T  # (L, C * k * k), in the kernels' order
    return (patches @ kernels.flatten(1).T).argmax(dim=1)


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median seconds of ``repeat`` calls, the largest RSS any call added (MB) and the last call's result."""
    seconds, added, result = [], [], None
    for _ in range(repeat):
        result = None  # frees the previous call's memory before this one is measured
        before = rss_mb()
        reset_peak_rss()
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
        added.append(peak_rss_mb() - before)
    return statistics.median(seconds), max(added), result


def patch_costs(count: int, side: int, naive_limit_mb: float, repeat: int) -> dict[str, float]:
    """The matching and the patch loss of a ``side`` x ``side`` output feature map against ``count`` style patches."""
    defaults = make_params(DoodleParams, {})
    generator = torch.Generator().manual_seed(count)
    style_side = math.isqrt(count) + defaults.patch_size - 1
    style = torch.rand((1, CHANNELS, style_side, style_side), generator=generator)
    every = count * (CHANNELS + REGIONS) * defaults.patch_size**2  # a budget that keeps every style patch
    loss = PatchLoss([({LAYER: style}, quadrants(style_side))], defaults.patch_size, defaults.semantic_weight, every)
    patches = loss.layers[LAYER]
    output = torch.rand((1, CHANNELS, side, side), generator=generator)
    masks = quadrants(side)
    augmented = torch.cat([output, masks * patches.scale], dim=1)
    positions = (side - defaults.patch_size + 1) ** 2
    row: dict[str, float] = {"style_patches": patches.kernels.shape[0], "output_patches": positions}
    row["nearest_s"], row["nearest_mb"], nearest = timed(lambda: nearest_patches(augmented, patches.kernels), repeat)
    if positions * row["style_patches"] * 4 / 1e6 <= naive_limit_mb:
        row["naive_s"], row["naive_mb"], naive = timed(lambda: naive_nearest(augmented, patches.kernels), repeat)
        row["agree"] = float((naive == nearest).float().mean())
    variable = output.clone().requires_grad_(True)
    row["loss_s"], row["loss_mb"], _ = timed(
        lambda: torch.autograd.grad(loss({LAYER: variable}, masks), variable), repeat
    )
    return row


def number(value: float | None, digits: int, width: int) -> str:
    """``value`` right-aligned in ``width`` with ``digits`` decimals, or a dash when there is none."""
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def print_renders(rows: dict[str, dict[str, float]], previous: dict[str, dict[str, float]]) -> None:
    print(
        f"{'render':<16} {'scales':>6} {'tiled':>5} {'tile':>5} {'first preview s':>15} {'s/it full':>9} "
        f"{'total s':>8} {'peak MB':>8} {'GPU MB':>7}   baseline total s / peak MB"
    )
    for key, row in rows.items():
        base = previous.get(key)
        base_text = f"{base['seconds']:.1f} / {base['peak_mb']:.0f}" if base else "-"
        print(
            f"{key:<16} {row['scales']:>6.0f} {row['tiled_scales']:>5.0f} {row['tile']:>5.0f} "
            f"{row['first_preview_s']:>15.2f} {row['full_s_per_iteration']:>9.2f} {row['seconds']:>8.1f} "
            f"{row['peak_mb']:>8.0f} {number(row.get('gpu_peak_mb'), 0, 7)}   {base_text}"
        )


def print_patches(rows: dict[str, dict[str, float]], previous: dict[str, dict[str, float]]) -> None:
    print(
        f"{'style patches':>13} {'chunked s':>9} {'naive s':>8} {'loss s':>7} {'chunked MB':>10} {'naive MB':>9} "
        f"{'loss MB':>8} {'agree':>6}   baseline chunked s / naive s"
    )
    for key, row in rows.items():
        base = previous.get(key)
        base_text = f"{base['nearest_s']:.3f} / {number(base.get('naive_s'), 3, 0)}" if base else "-"
        print(
            f"{key:>13} {row['nearest_s']:>9.3f} {number(row.get('naive_s'), 3, 8)} {row['loss_s']:>7.3f} "
            f"{row['nearest_mb']:>10.0f} {number(row.get('naive_mb'), 0, 9)} {row['loss_mb']:>8.0f} "
            f"{number(row.get('agree'), 3, 6)}   {base_text}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="gram,patch")
    parser.add_argument("--sizes", default="512,1024,2048", help="output long sides, px (empty: no renders)")
    parser.add_argument("--iterations", type=int, default=20, help="iterations of each render, over all scales")
    parser.add_argument("--patches", default="1024,4096,16384,65536", help="style patch counts (empty: none)")
    parser.add_argument("--patch-side", type=int, default=64, help="side of the output feature map matched")
    parser.add_argument("--naive-limit-mb", type=float, default=2048, help="largest naive score matrix tried")
    parser.add_argument("--repeat", type=int, default=1, help="renders per row")
    parser.add_argument("--patch-repeat", type=int, default=3, help="calls per patch timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a doodle parameter")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke check")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--save-baseline", action="store_true")
    options = baseline.parse(parser, QUICK)
    if options.child:
        values = dict(item.split("=", 1) for item in options.set)
        print(json.dumps(child(options.child[0], int(options.child[1]), options.iterations, options.device, values)))
        return 0
    if options.quick:
        options.set.insert(0, f"tile_size={QUICK_TILE}")
    torch.set_grad_enabled(True)
    renders: dict[str, dict[str, float]] = {}
    for size in [int(s) for s in options.sizes.split(",") if s.strip()]:
        for method in [m.strip() for m in options.methods.split(",") if m.strip()]:
            key = f"{method} {size}px"
            print(f"render {key} ...", end=" ", flush=True)
            renders[key] = render(method, size, options.iterations, options.device, options.set, options.repeat)
            print(f"{renders[key]['seconds']:.1f} s", flush=True)
    patches: dict[str, dict[str, float]] = {}
    for count in [int(c) for c in options.patches.split(",") if c.strip()]:
        print(f"patches {count} ...", end=" ", flush=True)
        row = patch_costs(count, options.patch_side, options.naive_limit_mb, options.patch_repeat)
        patches[f"{row['style_patches']:.0f}"] = row
        print(f"{row['nearest_s']:.3f} s", flush=True)

    previous = baseline.load("doodle")
    if renders:
        print(
            f"\nNeural doodle, real vgg16 on {options.device} ({torch.get_num_threads()} threads), "
            f"{options.iterations} iterations over all scales, median of {options.repeat} run(s) "
            f"(a child process each), set: {', '.join(options.set) or 'nothing'}"
        )
        print_renders(renders, previous.get("renders", {}))
    if patches:
        side, positions = options.patch_side, next(iter(patches.values()))["output_patches"]
        values = (CHANNELS + REGIONS) * make_params(DoodleParams, {}).patch_size ** 2
        print(
            f"\nPatch matching at {LAYER}: {CHANNELS} + {REGIONS} channels, output features {side}x{side} "
            f"({positions:.0f} patches), median of {options.patch_repeat} calls; a render keeps at most about "
            f"{STYLE_PATCH_BUDGET // values} style patches at this layer"
        )
        print_patches(patches, previous.get("patches", {}))
    if options.save_baseline:
        baseline.save("doodle", {"renders": renders, "patches": patches})
    return 0


if __name__ == "__main__":
    sys.exit(main())
