"""Print-size documents (issue 19): GUI stalls, undo memory, stroke latency and export memory.

For each of --sizes (default 5400x7200, an 18 x 24 in poster at 300 ppi, and 8250x8250, a 24 in canvas):

1. stalls: in the real main window (offscreen), on a 3-layer document of photo-like content (a gradient with
   grain under two translucent layers), how long the GUI thread's call takes and how late a 10 ms timer ticks
   (worst and median, over the whole operation) when a 16-bit TIFF export, an inpainting job (telea, no
   weights; a small mask) and an autosave start. Target: no stall over 50 ms.
2. undo: the memory (tracemalloc, which numpy reports to) that the undo history holds after --strokes brush
   strokes on a 1-layer document, each ~1500 px long in another place, and the peak during one stroke.
   Target: proportional to the painted area, under 5% of the baseline.
3. stroke: on a 10-layer document in the window, the time of the press (the stroke's first dab) and of each
   ~20 px segment, the canvas's redraw included. Target: under 16 ms per segment.
4. export: how much an export of the 3-layer document (``export_document``, as the window exports) raises the peak
   resident memory (VmHWM) of a fresh process, as an 8-bit and as a 16-bit uncompressed TIFF. Target: a 16-bit
   export no higher than the baseline's 8-bit one.

    .venv/bin/python bench/print_docs.py [--sizes 5400x7200 8250x8250] [--strokes 50] [--quick] [--save-baseline]

--quick is a smoke check (1024x768, 4 strokes); not a baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import baseline
import numpy as np
from gui_stall import StallRecorder, pump, settle, spin, summary
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from studio.core.autosave import Autosaver
from studio.core.document import Document, Layer, LayerKind
from studio.core.export import ExportSettings, export_document
from studio.core.paint import Brush, Stroke
from studio.core.params import make_params
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow

QUICK = {"sizes": ["1024x768"], "strokes": 4}
BRUSH = Brush(size=40)
STALL_MS = 50.0
SEGMENT_MS = 16.0
UNDO_SHARE = 0.05


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """An opaque RGBA picture: smooth gradients with grain (no flat areas a shortcut could skip)."""
    x = np.linspace(0, 119, width).astype(np.uint8)[None, :]
    y = np.linspace(0, 119, height).astype(np.uint8)[:, None]
    grain = np.random.default_rng(seed).integers(0, 16, (height, width), dtype=np.uint8)
    pixels = np.empty((height, width, 4), np.uint8)
    pixels[..., 0] = x + y + grain
    pixels[..., 1] = 119 - x + y + grain
    pixels[..., 2] = 200 - y + grain
    pixels[..., 3] = 255
    return pixels


def glaze(width: int, height: int, index: int) -> np.ndarray:
    """A translucent colour layer whose opacity ramps across the picture (compositing must blend everywhere)."""
    pixels = np.empty((height, width, 4), np.uint8)
    pixels[..., :3] = ((60 * index) % 256, 180, (255 - 40 * index) % 256)
    pixels[..., 3] = np.linspace(30, 160, width).astype(np.uint8)[None, :] if index % 2 else 90
    return pixels


def document(width: int, height: int, layers: int) -> Document:
    """A photo layer under ``layers - 1`` translucent ones."""
    doc = Document(width, height, f"{width}x{height}")
    doc.insert_layer(Layer("Photo", LayerKind.RASTER, photo(width, height, 0)))
    for i in range(1, layers):
        doc.insert_layer(Layer(f"Glaze {i}", LayerKind.RASTER, glaze(width, height, i)))
    return doc


def curve(x0: float, y0: float, span: float, points: int) -> Iterator[tuple[float, float]]:
    """``points`` points of a wave ``span`` px long from (x0, y0)."""
    for i in range(points):
        t = i / max(points - 1, 1)
        yield x0 + span * t, y0 + span / 5 * math.sin(3 * math.pi * t)


def paint(doc: Document, layer: Layer, points: Iterator[tuple[float, float]], after: Callable[[], None]) -> list[float]:
    """One stroke as the canvas paints it; the seconds of the press and of each later point (each followed
    by ``after``, e.g. the redraw)."""
    times = []
    stroke: Stroke | None = None
    for x, y in points:
        start = time.perf_counter()
        if stroke is None:
            stroke = Stroke(doc, layer, BRUSH)
        stroke.add_point(x, y)
        after()
        times.append(time.perf_counter() - start)
    assert stroke is not None
    edit = stroke.finish()
    if edit is not None:
        doc.history.push(edit, applied=True)
    return times


def export(doc: Document, path: Path, settings: ExportSettings) -> Path:
    """Export ``doc`` the way the window's export does (from a snapshot, band by band)."""
    return export_document(doc.snapshot(), path, settings, overwrite=True)


def stalls(app: QApplication, window: MainWindow, width: int, height: int, folder: Path) -> dict[str, float]:
    """The GUI thread's call and the stalls while an export, an inpainting job and an autosave start and run."""
    doc = document(width, height, 3)
    window.set_document(doc, None)
    settle(app, window)
    recorder = StallRecorder()
    results: dict[str, float] = {}

    def timed(name: str, start: Callable[[], object], busy: Callable[[], bool]) -> None:
        recorder.start()
        t0 = time.perf_counter()
        start()
        call_s = time.perf_counter() - t0
        while busy():
            pump()
            time.sleep(0.001)
        spin(app, 0.2)  # ticks that a synchronous call delayed fire now
        recorder.stop()
        row = summary(recorder.stalls_ms, 0, time.perf_counter() - t0)
        results.update(
            {
                f"{name}_call_ms": call_s * 1000,
                f"{name}_worst_stall_ms": row["worst_stall_ms"],
                f"{name}_median_stall_ms": row["median_stall_ms"],
            }
        )
        settle(app, window)

    settings = ExportSettings("tiff", 16, "none", dpi=300.0)
    actions = window.print_actions
    path = folder / f"{width}x{height}.tif"
    timed("export", lambda: actions.start_export(path, settings, ask=False), lambda: actions.exporting is not None)
    if not path.exists():
        raise RuntimeError(f"the export was not written: {window.last_error}")

    hole = np.zeros((height, width), np.uint8)
    hole[height // 2 : height // 2 + 64, width // 2 : width // 2 + 64] = 255
    mask = Layer("Hole", LayerKind.MASK, hole)
    doc.insert_layer(mask)
    settle(app, window)
    manifest = window.registry.get("inpainting")
    params = make_params(manifest.params_class(), {"method": "telea"})
    timed("job", lambda: window.run_plugin(manifest, params), lambda: window.job is not None)
    if not doc.history.undo():
        raise RuntimeError(f"the inpainting job added no layer: {window.last_error}")
    doc.remove_layer(mask.id)

    paint(doc, doc.layers[-1], curve(width / 4, height / 4, width / 4, 12), lambda: None)
    timed("autosave", window.autosave, lambda: window.autosaving)
    close(window, doc)
    return results


def close(window: MainWindow, doc: Document) -> None:
    """Close ``doc``'s tab without saving (so that later autosaves and memory leave it out)."""
    doc.history.set_clean()
    window.close_document(doc)


def strokes(app: QApplication, window: MainWindow, width: int, height: int, count: int) -> dict[str, float]:
    """Press and segment times of ``count`` strokes on the top layer of a 10-layer document in the window."""
    doc = document(width, height, 10)
    window.set_document(doc, None)
    settle(app, window)
    span = min(1200.0, width * 0.8)
    press, segments = [], []
    for i in range(count):
        points = curve(width * 0.1, height * (i + 1) / (count + 1), span, round(span / 20))
        first, *rest = paint(doc, doc.layers[-1], points, pump)
        press.append(first)
        segments += rest
    close(window, doc)
    return {
        "press_ms": statistics.median(press) * 1000,
        "segment_median_ms": statistics.median(segments) * 1000,
        "segment_worst_ms": max(segments) * 1000,
    }


def undo_memory(width: int, height: int, count: int) -> dict[str, float]:
    """MB the history holds after ``count`` strokes on a 1-layer document, and the most one stroke needs."""
    span = min(1500.0, width * 0.8)
    # Traced from before the document is made, so that pixels a stroke frees count as freed.
    tracemalloc.start()
    try:
        doc = document(width, height, 1)
        layer = doc.layers[0]
        before = tracemalloc.get_traced_memory()[0]
        peak = 0
        for i in range(count):
            x0 = (i * 397) % max(width - span, 1)
            y0 = height * (i + 0.5) / count
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            paint(doc, layer, curve(x0, y0, span, 12), lambda: None)
            peak = max(peak, tracemalloc.get_traced_memory()[1] - start)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return {"undo_mb": held / 1e6, "stroke_peak_mb": peak / 1e6}


def export_child(width: int, height: int, bits: int) -> dict[str, float]:
    """In this (fresh) process: how much exporting the 3-layer document raised the peak resident memory."""
    doc = document(width, height, 3)
    with tempfile.TemporaryDirectory() as folder:
        Path("/proc/self/clear_refs").write_text("5")  # the peak so far (making the document) is forgotten
        before_kb = peak_rss_kb()
        export(doc, Path(folder) / "print.tif", ExportSettings("tiff", bits, "none", dpi=300.0))
        after_kb = peak_rss_kb()
    return {f"export{bits}_mb": (after_kb - before_kb) / 1024}


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB. Not getrusage's ru_maxrss: on Linux a child keeps its
    parent's (the window's gigabytes) through fork and exec, so an export would seem to add nothing."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def export_memory(width: int, height: int) -> dict[str, float]:
    """The peak memory an 8-bit and a 16-bit export add, each in a fresh process."""
    results: dict[str, float] = {}
    for bits in (8, 16):
        out = subprocess.run(
            [sys.executable, __file__, "--export-child", f"{width}x{height}", str(bits)],
            check=True,
            capture_output=True,
            text=True,
        )
        results |= json.loads(out.stdout.strip().splitlines()[-1])
    return results


def measure(sizes: list[str], count: int) -> dict[str, dict[str, float]]:
    """Every figure at every size, keyed by size (``WxH``)."""
    app = make_application()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, autosaver=Autosaver(folder / "autosave"))
        window.show()
        spin(app, 0.5)
        for size in sizes:
            width, height = parse_size(size)
            row = stalls(app, window, width, height, folder)
            row |= strokes(app, window, width, height, min(count, 3))
            row |= undo_memory(width, height, count)
            results[size] = row | export_memory(width, height)
        window.close()
    return results


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def targets(previous: dict[str, float]) -> dict[str, str]:
    """The issue's target of each metric that has one (some relative to the baseline's figures)."""
    found = {f"{op}_worst_stall_ms": f"< {STALL_MS:.0f}" for op in ("export", "job", "autosave")}
    found |= {"segment_median_ms": f"< {SEGMENT_MS:.0f}", "segment_worst_ms": f"< {SEGMENT_MS:.0f}"}
    undo = previous.get("undo_mb")
    found["undo_mb"] = f"< {undo * UNDO_SHARE:.1f}" if undo else f"< {UNDO_SHARE:.0%} of baseline"
    export8 = previous.get("export8_mb")
    found["export16_mb"] = f"<= {export8:.0f}" if export8 else "<= baseline export8_mb"
    return found


def print_table(size: str, row: dict[str, float], previous: dict[str, float], count: int) -> None:
    print(f"\n{size} px ({count} strokes for undo)")
    print(f"{'metric':<24} {'value':>10}  {'target':<22} baseline")
    goals = targets(previous)
    for metric, value in row.items():
        base = previous.get(metric)
        base_text = f"{base:.1f}" if base is not None else "-"
        print(f"{metric:<24} {value:>10.1f}  {goals.get(metric, ''):<22} {base_text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["5400x7200", "8250x8250"], help="document sizes, WxH px")
    parser.add_argument("--strokes", type=int, default=50, help="strokes whose undo memory is measured")
    parser.add_argument("--export-child", nargs=2, metavar=("WxH", "BITS"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a smoke check (see above)")
    parser.add_argument("--save-baseline", action="store_true")
    options = baseline.parse(parser, QUICK)
    if options.export_child:
        size, bits = options.export_child
        print(json.dumps(export_child(*parse_size(size), int(bits))))
        return 0
    results = measure(options.sizes, options.strokes)
    previous = baseline.load("print_docs")
    for size, row in results.items():
        print_table(size, row, previous.get(size, {}), options.strokes)
    if options.save_baseline:
        baseline.save("print_docs", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
