"""How responsive the window stays while a plugin job runs.

A QTimer ticks every 10 ms on the GUI thread; every late tick is a stall of
the event loop. The script measures the loop idle, then while the generative
plugin renders (previews streaming onto the canvas), and prints the median
and worst stall and the preview frame rate. Target: no stall over 50 ms.

    .venv/bin/python bench/gui_stall.py [--size 2048] [--runs 3] [--save-baseline]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import baseline
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from studio.core.autosave import Autosaver
from studio.core.jobs import JobState
from studio.core.params import make_params
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow, blank_document

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


def spin(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)


def measure(size: int, runs: int, rule: str) -> dict[str, dict[str, float]]:
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

        window.bridge.event.connect(count)
        for _ in range(runs):
            recorder.start()
            t0 = time.monotonic()
            window.run_plugin(manifest, params)
            while window.job is not None:
                app.processEvents()
                time.sleep(0.001)
            total_s += time.monotonic() - t0
            recorder.stop()
            all_stalls += recorder.stalls_ms
            window.doc.history.undo()
        results["job"] = summary(all_stalls, previews, total_s)
        window.doc.history.set_clean()
        window.close()
    return results


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
    parser.add_argument("--save-baseline", action="store_true")
    options = parser.parse_args()
    results = measure(options.size, options.runs, options.rule)
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
