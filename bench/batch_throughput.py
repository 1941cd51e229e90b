"""Batch throughput: items per minute with the local engine and with Ray, and the overhead per item.

24 items of the generative plugin (flow field, 512 px, PNG) are rendered three
ways: a plain in-process loop (render + export, no manifest: the baseline),
``run_job`` with the local engine (a process pool, one process per core), and
``run_job`` with Ray on a local cluster started by this script (its start is
timed separately). Overhead per item = (engine time - plain loop time) / items;
with more than one worker it is negative when parallelism wins. Each figure is
the median of ``--runs`` runs (fresh output folders each time).

    .venv/bin/python bench/batch_throughput.py [--items 24] [--size 512] [--runs 3] [--save-baseline]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import baseline

from studio.core.batch import export_item, load_job, render_item, run_job
from studio.core.jobs import RunContext
from studio.core.plugin import discover_plugins


def write_job(folder: Path, items: int, size: int) -> Path:
    path = folder / "bench.toml"
    path.write_text(
        f'size = [{size}, {size}]\noutput_dir = "out"\noutput = "flow-{{step1.seed}}.png"\n'
        f'[[steps]]\nplugin = "generative"\nrule = "flow_field"\nseed = {list(range(1, items + 1))}\n'
    )
    return path


def plain_loop(job_path: Path, registry: object) -> float:
    job = load_job(job_path, registry)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for item in job.items:
        pixels = render_item(item, registry, RunContext(item.index, device="cpu", preview_interval_s=0.25))
        export_item(pixels, item.output, item.export_settings)
    return time.perf_counter() - start


def engine_run(job_path: Path, registry: object, engine: str) -> float:
    job = load_job(job_path, registry)
    start = time.perf_counter()
    summary = run_job(job, engine=engine, registry=registry)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    if summary.failed or len(summary.done) != len(job.items):
        raise RuntimeError(f"{engine}: {summary.lines(job)}")
    return elapsed


def measure(items: int, size: int, runs: int) -> dict[str, dict[str, float]]:
    import ray

    registry = discover_plugins()
    times: dict[str, list[float]] = {"plain loop": [], "local": [], "ray": []}
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    try:
        for _ in range(runs):
            for name, values in times.items():
                with tempfile.TemporaryDirectory() as tmp:
                    path = write_job(Path(tmp), items, size)
                    if name == "plain loop":
                        values.append(plain_loop(path, registry))
                    else:
                        values.append(engine_run(path, registry, name))
    finally:
        ray.shutdown()
    plain = statistics.median(times["plain loop"])
    results: dict[str, dict[str, float]] = {}
    for name, values in times.items():
        seconds = statistics.median(values)
        results[name] = {
            "seconds": seconds,
            "items_per_minute": items / seconds * 60,
            "overhead_ms_per_item": (seconds - plain) / items * 1000,
        }
    results["ray"]["cluster_start_s"] = ray_start
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save-baseline", action="store_true")
    options = parser.parse_args()
    results = measure(options.items, options.size, options.runs)
    previous = baseline.load("batch_throughput")
    print(
        f"Batch throughput: {options.items} generative flow-field items at {options.size} px, "
        f"median of {options.runs} runs, {os.cpu_count()} CPU cores"
    )
    print(f"{'engine':<11} {'seconds':>8} {'items/min':>10} {'overhead ms/item':>17}   baseline items/min")
    for name, row in results.items():
        base = previous.get(name, {}).get("items_per_minute")
        base_text = f"{base:.0f}" if base is not None else "-"
        print(
            f"{name:<11} {row['seconds']:>8.2f} {row['items_per_minute']:>10.0f} "
            f"{row['overhead_ms_per_item']:>17.0f}   {base_text}"
        )
    print(f"Ray local cluster start (not in the ray row): {results['ray']['cluster_start_s']:.1f} s")
    if options.save_baseline:
        baseline.save("batch_throughput", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
