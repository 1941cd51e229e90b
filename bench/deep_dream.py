"""Deep Dream: the plugin (shifted tiles) against a plain loop written the classic way, and memory against size.

Every run is a fresh child process. Its peak RSS is the kernel's VmHWM,
reset just before the dream starts (after torch is imported, the network
loaded and the input picture made), so the one-off peak of loading the
weights is not counted. "peak MB" is the whole process (torch, network,
input picture and the dream); "dream MB" is that peak minus the RSS just
before the dream: what the dream itself needs above the loaded model and
its input (the result array it returns is included). Both sides use the
same network, layer, octaves, iterations, step, jitter and Laplacian
smoothing; the plugin runs with its default tile size and precision ("auto":
bfloat16 where the processor computes it in hardware), and once more in
float32. Quality: the mean absolute pixel difference between the two plugin
results, and each result's objective (the mean squared activation of the
layer, measured in float32), which the dream makes larger.

    .venv/bin/python bench/deep_dream.py [--size 1024] [--repeat 1] [--memory-sizes 1024,2048,4096]
                                         [--memory-iterations 1] [--save-baseline]

The memory sweep runs the plugin with ``--memory-iterations`` steps per
octave (the peak does not depend on how many steps are taken).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import baseline
import numpy as np

NETWORK = "inception_v3"
LAYER = "Mixed_5b"
OCTAVES = 4
ITERATIONS = 10
STEP = 0.0025
JITTER = 32


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def reset_peak_rss() -> None:
    """Start the kernel's peak-RSS counter (VmHWM) afresh (Linux 4.0+: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss_mb() -> float:
    """VmHWM: the largest resident set since the last reset."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def picture(size: int) -> Any:
    import numpy as np
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).convert("RGBA").resize((size, size), Image.Resampling.BICUBIC))


def run_plugin(size: int, iterations: int, precision: str = "auto") -> Any:
    from studio_plugins.deep_dream.engine import run
    from studio_plugins.deep_dream.params import DreamParams

    from studio.core.inputs import Inputs
    from studio.core.jobs import RunContext, drive
    from studio.core.models.store import ModelStore
    from studio.core.params import make_params

    params = make_params(
        DreamParams,
        {
            "network": NETWORK,
            "layer": LAYER,
            "octaves": OCTAVES,
            "iterations": iterations,
            "step_size": STEP,
            "precision": precision,
        },
    )
    models = ModelStore()
    models.load(NETWORK, "cpu")
    image = picture(size)
    ctx = RunContext(models=models, device="cpu", preview_interval_s=1e9)
    return lambda: drive(run(params, Inputs(size, size, image), ctx), ctx).image[..., :3]


def run_classic(size: int, iterations: int) -> Any:
    """The notebook's loop: the whole picture through the network at every step, no tiles."""
    import numpy as np
    import torch

    from studio.core.models.store import ModelStore
    from studio.core.nets.features import feature_extractor, image_to_tensor, tensor_to_image
    from studio.core.tiling import laplacian_normalize, pyramid_sizes, resize

    extractor = feature_extractor(ModelStore(), NETWORK, [LAYER], "cpu")
    image = picture(size)

    def dream() -> Any:
        rng = np.random.default_rng(0)
        original = image_to_tensor(image)
        detail = None
        sizes = pyramid_sizes(size, size, factor=1.4, count=OCTAVES, min_side=32)
        for octave, octave_size in enumerate(sizes):
            base = resize(original, octave_size)
            x = base.clone() if detail is None else (base + resize(detail, octave_size)).clamp(0, 1)
            for _ in range(iterations):
                dx, dy = (int(v) for v in rng.integers(-JITTER, JITTER + 1, 2))
                rolled = torch.roll(x, (dy, dx), (-2, -1)).requires_grad_(True)
                (gradient,) = torch.autograd.grad(extractor(rolled)[LAYER].pow(2).sum(), rolled)
                gradient = torch.roll(laplacian_normalize(gradient, 4), (-dy, -dx), (-2, -1))
                x = (x + gradient * (STEP / gradient.abs().mean())).clamp(0, 1)
            if octave < len(sizes) - 1:
                detail = x - base
        return tensor_to_image(x)

    return dream


def child(mode: str, size: int, iterations: int, result: str) -> None:
    """One timed dream; ``mode`` is classic, plugin or plugin-float32; the picture goes to ``result`` (.npy)."""
    import numpy as np
    import torch

    torch.set_num_threads(2)
    dream = run_classic(size, iterations) if mode == "classic" else run_plugin(size, iterations, PRECISION[mode])
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    image = dream()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb(), "dream_mb": peak_rss_mb() - before}))
    np.save(result, image)


PRECISION = {"plugin": "auto", "plugin-float32": "float32"}


def measure(mode: str, size: int, iterations: int, repeat: int, result: Path) -> dict[str, float]:
    """Medians of ``repeat`` fresh-process runs; the last run's picture is left in ``result``."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(size), str(iterations), str(result)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def objective(images: list[Any]) -> list[float]:
    """The dream's objective of each (H, W, 3) uint8 picture: the mean squared activation of the layer, in float32."""
    import torch

    from studio.core.models.store import ModelStore
    from studio.core.nets.features import feature_extractor, image_to_tensor

    extractor = feature_extractor(ModelStore(), NETWORK, [LAYER], "cpu")
    with torch.no_grad():
        return [float(extractor(image_to_tensor(image))[LAYER].pow(2).mean()) for image in images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--memory-sizes", default="1024,2048,4096")
    parser.add_argument("--memory-iterations", type=int, default=1)
    parser.add_argument("--skip-comparison", action="store_true")
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "SIZE", "ITERATIONS", "RESULT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]), int(options.child[2]), options.child[3])
        return
    previous = baseline.load("deep_dream")
    results: dict[str, dict[str, float]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        pictures: dict[str, Any] = {}
        if not options.skip_comparison:
            for mode in ("classic", "plugin", "plugin-float32"):
                key = f"{mode} {options.size}px {OCTAVES}x{ITERATIONS}"
                results[key] = measure(mode, options.size, ITERATIONS, options.repeat, Path(folder, f"{mode}.npy"))
                pictures[key] = np.load(Path(folder, f"{mode}.npy"))
                rows.append(key)
            for key, value in zip(pictures, objective(list(pictures.values())), strict=True):
                results[key]["objective"] = value
        for size in (int(s) for s in options.memory_sizes.split(",") if s):
            key = f"plugin {size}px {OCTAVES}x{options.memory_iterations} (memory)"
            result = Path(folder, "memory.npy")
            results[key] = measure("plugin", size, options.memory_iterations, options.repeat, result)
            rows.append(key)
    print(f"{NETWORK} {LAYER}, CPU, medians of {options.repeat} run(s), one child process per run")
    print(f"{'run':<36} {'seconds':>8} {'peak MB':>8} {'dream MB':>9} {'objective':>10} {'baseline peak MB':>17}")
    for key in rows:
        r = results[key]
        old = previous.get(key, {}).get("peak_mb")
        old_text = f"{old:.0f}" if old is not None else "-"
        value = f"{r['objective']:.4f}" if "objective" in r else "-"
        print(f"{key:<36} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['dream_mb']:>9.0f} {value:>10} {old_text:>17}")
    if pictures:
        from studio.core.image import to_uint8

        fast, exact = (f"{mode} {options.size}px {OCTAVES}x{ITERATIONS}" for mode in ("plugin", "plugin-float32"))
        # The plugin's results are 16-bit: compared on the 0..255 scale the message names.
        difference = np.abs(to_uint8(pictures[fast]).astype(np.int16) - to_uint8(pictures[exact]).astype(np.int16))
        print(
            f"plugin (auto precision) against float32: mean |pixel difference| {difference.mean():.2f} of 255, "
            f"objective {results[fast]['objective'] / results[exact]['objective']:.3f}x float32's"
        )
    memory = [results[k] for k in rows if k.endswith("(memory)")]
    if len(memory) > 1:
        for measure_key, name in (("peak_mb", "peak MB"), ("dream_mb", "dream MB")):
            values = [r[measure_key] for r in memory]
            print(f"{name}, largest over smallest size: {max(values) / min(values):.2f}x (target: within 1.25x)")
    if options.save_baseline:
        baseline.save("deep_dream", results)


if __name__ == "__main__":
    main()
