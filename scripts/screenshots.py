"""Render the README screenshots from the real main window.

Run on a display (for example Xvfb): ``DISPLAY=:99 .venv/bin/python scripts/screenshots.py docs``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from studio.core.autosave import Autosaver
from studio.core.blank import blank_document
from studio.core.params import make_params
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow


def wait_for_job(window: MainWindow) -> None:
    app = make_application()
    while window.job is not None:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = make_application()
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, autosaver=Autosaver(Path(tmp) / "autosave"))
        window.resize(1500, 900)
        window.show()
        window.set_document(blank_document(1200, 900), None)
        manifest = window.registry.get("generative")
        window.plugin_docks["generative"].raise_()
        for values in ({"rule": "ridgelines", "seed": 4}, {"rule": "flow_field", "seed": 11, "palette": "sunset"}):
            panel = window.panels["generative"]
            panel.params_widget.set_values(values)
            window.run_plugin(manifest, make_params(manifest.params_class(), values))
            wait_for_job(window)
        window.doc.set_layer_properties(window.doc.layers[-1].id, opacity=0.85)
        window.add_mask_layer()
        window.doc.active_mask().pixels[620:820, 760:1100] = 255
        window.doc.notify_pixels(None)
        window.canvas.fit()
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        window.grab().save(str(out_dir / "screenshot.png"))
        running = {"rule": "lsystem", "seed": 3, "palette": "forest", "lsystem_preset": "fractal_plant"}
        window.panels["generative"].params_widget.set_values(running)
        window.run_plugin(manifest, make_params(manifest.params_class(), running))
        deadline = time.monotonic() + 30
        while window.job is not None and window.job_bar.progress.value() < 400 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        window.grab().save(str(out_dir / "running.png"))
        window.cancel_job()
        window.doc.history.set_clean()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
