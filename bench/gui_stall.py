"""How responsive the window stays while a plugin job runs.

A QTimer ticks every 10 ms on the GUI thread; every late tick is a stall of
the event loop. The script measures the loop idle, then while the generative
plugin renders (previews streaming onto the canvas), while a 16-bit
uncompressed TIFF of --export-size px is exported from the menu's path
(snapshotted on the GUI thread; flattened, encoded and written on a worker), and while
the soft proof follows --proof-edits edits (for that phase "previews/s" counts
proofs shown). It prints the median and worst stall and the preview frame
rate. Target: no stall over 50 ms while a job runs.

    .venv/bin/python bench/gui_stall.py [--size 2048] [--runs 3] [--export-size 4000] [--save-baseline]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import baseline
import numpy as np
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from studio.core.autosave import Autosaver
from studio.core.blank import blank_document
from studio.core.colour import find_profiles
from studio.core.export import ExportSettings
from studio.core.jobs import JobState
from studio.core.params import make_params
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow

TICK_MS = 10


class StallRecorder:
    """Records how late each 10 ms tick of a QTimer fires."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.stalls_ms: list[float] = []
        self._last = 0

    def start(self) -> None:
        self.stalls_ms.clear()
        self.clock.start()
        self._last = self.clock.elapsed()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.stalls_ms.append(max(now - self._last - TICK_MS, 0))
        self._last = now


@functools.cache
def _event_loop() -> QEventLoop:
    return QEventLoop()


def pump() -> None:
    """Handle the pending events once.

    Through a QEventLoop: PySide6 6.12's static ``QCoreApplication.processEvents``
    drops a reference to None on every call, which aborts Python 3.11 ("deallocating
    None") after a few tens of thousands of calls, i.e. within a minute of spinning.
    """
    _event_loop().processEvents()


def spin(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pump()
        time.sleep(0.001)


def measure(size: int, runs: int, rule: str, export_size: int, proof_edits: int) -> dict[str, dict[str, float]]:
    app = make_application()
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, autosaver=Autosaver(Path(tmp) / "autosave"))
        window.show()
        window.set_document(blank_document(size, size), None)
        recorder = StallRecorder()
        spin(app, 1.0)  # let the first paints settle before measuring
        recorder.start()
        spin(app, 1.0)
        recorder.stop()
        results = {"idle": summary(recorder.stalls_ms, 0, 1.0)}
        manifest = window.registry.get("generative")
        params = make_params(manifest.params_class(), {"rule": rule})
        previews = 0
        total_s = 0.0
        all_stalls: list[float] = []

        def count(event: object) -> None:
            nonlocal previews
            previews += event.state is JobState.PREVIEW  # type: ignore[attr-defined]

        window.jobs.bridge.event.connect(count)
        for _ in range(runs):
            recorder.start()
            t0 = time.monotonic()
            window.run_plugin(manifest, params)
            while window.job is not None:
                pump()
                time.sleep(0.001)
            total_s += time.monotonic() - t0
            recorder.stop()
            all_stalls += recorder.stalls_ms
            window.doc.history.undo()
        results["job"] = summary(all_stalls, previews, total_s)
        window.doc.history.set_clean()
        if export_size:
            results["export"] = measure_export(app, window, recorder, export_size, Path(tmp) / "export.tif")
        cmyk = find_profiles("CMYK")
        if proof_edits and cmyk:
            results["proof"] = measure_proof(app, window, recorder, size, str(cmyk[0]), proof_edits)
        window.close()
    return results


def settle(app: QApplication, window: MainWindow) -> None:
    """Let a new document's first paints and slice redraws finish."""
    spin(app, 0.5)
    while window.canvas._stale_from is not None:
        spin(app, 0.1)


def measure_export(
    app: QApplication, window: MainWindow, recorder: StallRecorder, size: int, path: Path
) -> dict[str, float]:
    """Stalls while a size x size 16-bit uncompressed TIFF is exported through the menu's (background) path."""
    window.set_document(blank_document(size, size), None)
    settle(app, window)
    recorder.start()
    t0 = time.monotonic()
    window.print_actions.start_export(path, ExportSettings("tiff", 16, "none", dpi=300.0), ask=False)
    while window.print_actions.exporting is not None:
        pump()
        time.sleep(0.001)
    seconds = time.monotonic() - t0
    recorder.stop()
    if not path.exists():
        raise RuntimeError(f"the export did not write {path}: {window.last_error}")
    return summary(recorder.stalls_ms, 0, seconds)


def measure_proof(
    app: QApplication, window: MainWindow, recorder: StallRecorder, size: int, profile: str, edits: int
) -> dict[str, float]:
    """Stalls while the soft proof of a size x size document follows ``edits`` edits, one a second."""
    window.set_document(blank_document(size, size), None)
    settle(app, window)
    proofs = 0

    def count(_share: float) -> None:
        nonlocal proofs
        proofs += 1

    window.print_actions.soft_proof.updated.connect(count)
    recorder.start()
    t0 = time.monotonic()
    window.print_actions.start_proof(profile, "relative")
    for i in range(edits):
        spin(app, 1.0)
        window.doc.layers[0].write(0, 0, np.full((size // 4, size, 4), (40 * i, 255, 0, 255), np.uint8))
        window.doc.notify_pixels(None)
    spin(app, 1.0)
    while window.print_actions.soft_proof.computing:
        spin(app, 0.05)
    seconds = time.monotonic() - t0
    recorder.stop()
    window.print_actions.stop_proof()
    window.doc.history.set_clean()
    return summary(recorder.stalls_ms, proofs, seconds)


def summary(stalls: list[float], previews: int, seconds: float) -> dict[str, float]:
    return {
        "median_stall_ms": statistics.median(stalls) if stalls else 0.0,
        "p99_stall_ms": statistics.quantiles(stalls, n=100)[98] if len(stalls) > 1 else 0.0,
        "worst_stall_ms": max(stalls, default=0.0),
        "ticks": len(stalls),
        "previews_per_s": previews / seconds if seconds else 0.0,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rule", default="flow_field")
    parser.add_argument("--export-size", type=int, default=4000, help="px per side of the exported TIFF (0: skip)")
    parser.add_argument("--proof-edits", type=int, default=3, help="edits the soft proof follows (0: skip)")
    parser.add_argument("--save-baseline", action="store_true")
    options = parser.parse_args()
    results = measure(options.size, options.runs, options.rule, options.export_size, options.proof_edits)
    previous = baseline.load("gui_stall")
    print(f"GUI event-loop stalls, {options.rule} at {options.size} px, {options.runs} runs (tick {TICK_MS} ms)")
    header = f"{'phase':<6} {'median ms':>10} {'p99 ms':>7} {'worst ms':>9} {'previews/s':>11} {'seconds':>8}"
    print(f"{header}   baseline worst ms")
    for phase, row in results.items():
        base = previous.get(phase, {}).get("worst_stall_ms")
        base_text = f"{base:.0f}" if base is not None else "-"
        print(
            f"{phase:<6} {row['median_stall_ms']:>10.1f} {row['p99_stall_ms']:>7.1f} {row['worst_stall_ms']:>9.0f} "
            f"{row['previews_per_s']:>11.1f} {row['seconds']:>8.2f}   {base_text}"
        )
    worst = results["job"]["worst_stall_ms"]
    print(f"target: no stall over 50 ms while a job runs -> {'met' if worst <= 50 else 'NOT met'} ({worst:.0f} ms)")
    if options.save_baseline:
        baseline.save("gui_stall", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
