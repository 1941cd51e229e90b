"""Render the fast-mode style-transfer screenshots from the real main window.

Run on a display (for example Xvfb): ``DISPLAY=:99 .venv/bin/python scripts/style_screenshots.py OUT_DIR``.
Writes ``style-panel.png`` (a fast-mode result with the style panel) and ``style-sheet.png`` (the contact sheet
of the 26 presets). The picture is scikit-image's chelsea; the style is OpenCV's starry_night sample
(Debian ``opencv-doc``) when installed, else scikit-image's coffee.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings
from studio_plugins.style_transfer.panel import ContactSheetDialog

from studio.core.autosave import Autosaver
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow

STARRY_NIGHT = Path("/usr/share/doc/opencv-doc/examples/data/starry_night.jpg")


def settle(seconds: float = 0.5) -> None:
    app = make_application()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for_job(window: MainWindow) -> None:
    while window.job is not None:
        settle(0.02)
    settle()


def main(out_dir: Path) -> int:
    from skimage import data

    out_dir.mkdir(parents=True, exist_ok=True)
    make_application()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "chelsea.png"
        Image.fromarray(data.chelsea()).resize((902, 600), Image.Resampling.LANCZOS).save(photo)
        style = STARRY_NIGHT
        if not style.is_file():
            style = Path(tmp) / "coffee.png"
            Image.fromarray(data.coffee()).save(style)
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, autosaver=Autosaver(Path(tmp) / "autosave"))
        window.resize(1500, 900)
        window.show()
        window.open_path(photo)
        window.plugin_docks["style_transfer"].raise_()
        panel = window.panels["style_transfer"]
        values = {"mode": "fast", "fast_model": "arbitrary", "style": str(style), "processing_size": 900}
        panel.params_widget.set_values({**values, "strength": 0.85})
        panel.request_run()
        wait_for_job(window)
        window.canvas.fit()
        settle()
        window.grab().save(str(out_dir / "style-panel.png"))

        window.doc.history.undo()  # the sheet shows the photo, not the result on top of it
        window.doc.history.set_clean()
        dialog = ContactSheetDialog()
        dialog.tile.setValue(180)
        dialog.paint_size.setValue(600)
        panel.params_widget.set_values({"strength": 1.0, "processing_size": 0})
        panel.params_widget.request_contact_sheet(dialog)
        wait_for_job(window)
        window.canvas.fit()
        settle()
        window.grab().save(str(out_dir / "style-sheet.png"))
        window.doc.history.set_clean()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
