"""Export time and peak memory for a 24 x 24 in, 300 ppi, 16-bit TIFF.

Each run is a fresh child process: it builds the document's flattened pixels (8-bit RGBA,
what batch renders and ``studio run`` export), then times ``export_image`` to a 16-bit TIFF (the
window exports a document band by band instead: bench/print_docs.py measures that). Peak
memory is the child's maximum resident set size (getrusage); "export MB" is how much the
export added on top of the pixels it was given.

    .venv/bin/python bench/export_print.py [--preset canvas_24x24] [--runs 3] [--save-baseline]
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

import baseline

ROOT = Path(__file__).resolve().parent.parent


def child(preset: str, compression: str) -> dict[str, float]:
    """One export in this process; returns seconds, file size and memory figures."""
    import numpy as np

    from studio.core.export import ExportSettings, export_image
    from studio.core.print_size import get_preset

    spec = get_preset(preset, ppi=300)
    width, height = spec.pixel_size
    # A smooth picture with grain, so LZW has realistic work to do (neither flat nor pure noise).
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    pixels = np.empty((height, width, 4), np.uint8)
    grain = np.random.default_rng(0).integers(0, 6, (height, width), dtype=np.uint8)
    pixels[..., 0] = (x * 0.7 + y * 0.3).astype(np.uint8)
    pixels[..., 1] = (y * 0.8).astype(np.uint8) + grain
    pixels[..., 2] = (255 - x * 0.5).astype(np.uint8)
    pixels[..., 3] = 255
    del grain, x, y
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settings = ExportSettings("tiff", 16, compression, dpi=300.0)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as folder:
        start = time.perf_counter()
        path = export_image(pixels, Path(folder) / "print.tif", settings)
        seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "width": width,
        "height": height,
        "seconds": seconds,
        "file_mb": size_mb,
        "pixels_mb": pixels.nbytes / 1e6,
        "peak_rss_mb": peak_kb / 1024,
        "export_mb": (peak_kb - before_kb) / 1024,
    }


def measure(preset: str, compression: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", preset, compression],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    result["runs"] = runs
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="canvas_24x24")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "COMPRESSION"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(*options.child)))
        return 0
    previous = baseline.load("export_print")
    results = {}
    print(f"16-bit TIFF export of {options.preset} at 300 ppi, median of {options.runs} runs (fresh process each)")
    header = f"{'compression':<12} {'pixels':>11} {'seconds':>8} {'file MB':>8} {'peak RSS MB':>12} {'export MB':>10}"
    print(f"{header}   baseline s / peak MB")
    for compression in ("lzw", "none"):
        row = measure(options.preset, compression, options.runs)
        results[compression] = row
        base = previous.get(compression)
        base_text = f"{base['seconds']:.2f} / {base['peak_rss_mb']:.0f}" if base else "-"
        print(
            f"{compression:<12} {row['width']:>5.0f}x{row['height']:<5.0f} {row['seconds']:>8.2f} "
            f"{row['file_mb']:>8.0f} {row['peak_rss_mb']:>12.0f} {row['export_mb']:>10.0f}   {base_text}"
        )
    if options.save_baseline:
        baseline.save("export_print", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
