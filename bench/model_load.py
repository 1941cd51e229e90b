"""Model catalog timings: loading each installed model from the cache, and a first install per source.

Loads use a new store each time (no LRU), so each one reads, hashes and
converts the cached safetensors file; torch and torchvision are imported
before the clock starts, as they are in a running Studio. Installs go into a temporary cache,
so the user's cache is not touched. Target: vgg16 loads in under 1 s.

    .venv/bin/python bench/model_load.py [--repeat 5] [--install] [--save-baseline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import baseline

from studio.core.models.sources import describe
from studio.core.models.spec import UserFile
from studio.core.models.store import ModelStatus, ModelStore


def load_times(repeat: int) -> dict[str, float]:
    """Median seconds to load each installed model from the user's cache."""
    import torchvision  # noqa: F401  (imports torch too: a running Studio has both)

    catalog_store = ModelStore()
    installed = [m for m in catalog_store.specs if catalog_store.status(m) is ModelStatus.INSTALLED]
    results = {}
    for model_id in installed:
        times = []
        for _ in range(repeat):
            store = ModelStore()
            start = time.perf_counter()
            store.load(model_id, "cpu")
            times.append(time.perf_counter() - start)
        results[model_id] = statistics.median(times)
    return results


def install_times() -> dict[str, float]:
    """Seconds for a first install of each default model from its first source that works, into an empty cache."""
    results = {}
    for model_id, spec in ModelStore().specs.items():
        if not spec.default:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            store = ModelStore(Path(tmp))
            start = time.perf_counter()
            record = store.install(model_id)
            results[f"{model_id} ({record.source})"] = time.perf_counter() - start
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--install", action="store_true", help="also time a first install of each default model")
    parser.add_argument("--save-baseline", action="store_true")
    options = parser.parse_args()
    previous = baseline.load("model_load")
    results: dict[str, dict[str, float]] = {"load_s": load_times(options.repeat)}
    if options.install:
        results["install_s"] = install_times()
    print(f"{'model':<70} {'seconds':>8} {'baseline':>9}")
    for kind, rows in results.items():
        print(f"-- {kind} (median of {options.repeat})" if kind == "load_s" else f"-- {kind}")
        for name, seconds in rows.items():
            base = previous.get(kind, {}).get(name)
            print(f"{name:<70} {seconds:>8.2f} {'-' if base is None else f'{base:.2f}':>9}")
    vgg16 = results["load_s"].get("vgg16")
    if vgg16 is not None:
        print(f"target: vgg16 loads in under 1 s -> {'met' if vgg16 < 1 else 'NOT met'} ({vgg16:.2f} s)")
    sources = {
        m: [describe(s) for s in spec.sources if not isinstance(s, UserFile)] for m, spec in ModelStore().specs.items()
    }
    print("sources tried in order:", json.dumps(sources, indent=1))
    if options.save_baseline:
        baseline.save("model_load", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
