"""Render the README screenshots from the real main window.

Run on a display (for example Xvfb): ``DISPLAY=:99 .venv/bin/python scripts/screenshots.py docs``. Uses the
models installed in the user's store (dcgan_faces64 and multistyle26 for their screens) and the sample picture
Studio ships. Writes welcome.png, screenshot.png, running.png, gan-breeding.png, style-presets.png,
models-dialog.png, print-guides.png, layers-blend.png, batch-dialog.png and doodle-panel.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QScrollArea, QWidget

from studio.core.autosave import Autosaver
from studio.core.blank import blank_document
from studio.core.blend import BlendMode
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.params import make_params
from studio.core.print_size import PrintSpec
from studio.qt.app import make_application
from studio.qt.main_window import MainWindow
from studio.qt.welcome import SAMPLE_PICTURE

GALLERY_WRAP = PrintSpec(12, 12, ppi=40, bleed_in=0.125, wrap_in=1.5, name="gallery wrap")


def settle(seconds: float = 0.4) -> None:
    """Let Qt draw for ``seconds``, dropping widgets that are waiting to be deleted."""
    app = make_application()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        app.processEvents()
        time.sleep(0.01)


def wait_for_job(window: MainWindow) -> None:
    while window.job is not None:
        settle(0.02)
    settle()


def save(widget: QWidget, path: Path) -> None:
    settle(1.0)  # the canvas redraws a large document in slices, and the Navigator follows it
    widget.grab().save(str(path))
    print(f"wrote {path}")


def discard_documents(window: MainWindow) -> None:
    """Close every open document without asking to save it."""
    for opened in window.open_documents:
        opened.doc.history.set_clean()
    while window.open_documents:
        window.close_current()


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    make_application()
    store = ModelStore()
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, autosaver=Autosaver(Path(tmp) / "autosave"), store=store)
        window.resize(1500, 900)
        window.show()
        window.plugin_docks["generative"].raise_()

        window.open_sample()
        assert window.doc is not None
        window.save_project_to(Path(tmp) / "chelsea.studio")
        window.close_current()
        save(window, out_dir / "welcome.png")

        window.open_sample()
        window.set_document(blank_document(1200, 900), None)
        manifest = window.registry.get("generative")
        for values in ({"rule": "ridgelines", "seed": 4}, {"rule": "flow_field", "seed": 11, "palette": "sunset"}):
            window.panels["generative"].params_widget.set_values(values)
            window.run_plugin(manifest, make_params(manifest.params_class(), values))
            wait_for_job(window)
        window.layers_panel.set_blend_mode(window.doc.layers[-1].id, BlendMode.SCREEN)
        save(window.layers_dock, out_dir / "layers-blend.png")
        window.add_mask_layer()
        mask = window.doc.active_mask()
        mask.write(760, 620, np.full((200, 340), 255, mask.image.dtype))
        window.doc.notify_pixels(None)
        window.canvas.set_zoom(1.5)
        save(window, out_dir / "screenshot.png")

        photos = Path(tmp) / "photos"
        photos.mkdir()
        sample = Image.open(SAMPLE_PICTURE).convert("RGB")
        for index in range(10):
            sample.rotate(index * 36).resize((240, 160)).save(photos / f"photo{index:02}.png")
        batch = window.show_batch_dialog()
        batch.add_inputs([photos, SAMPLE_PICTURE])
        batch.output_edit.setText(str(Path(tmp) / "out"))
        batch.start()
        while batch.running and batch.overall.value() < 5:
            settle(0.01)
        save(batch, out_dir / "batch-dialog.png")
        batch.cancel()
        batch.wait(30)
        batch.close()

        running = {"rule": "flow_field", "seed": 5, "palette": "forest", "flow_particles": 6000, "flow_steps": 400}
        window.panels["generative"].params_widget.set_values(running)
        window.canvas.fit()
        window.run_plugin(manifest, make_params(manifest.params_class(), running))
        deadline = time.monotonic() + 3  # a moment into the run
        while window.job is not None and window.job_bar.progress.value() < 400 and time.monotonic() < deadline:
            settle(0.005)
        window.grab().save(str(out_dir / "running.png"))
        window.cancel_job()
        settle()

        window.open_sample()
        window.print_actions.fit(GALLERY_WRAP, "mirror")
        window.canvas.fit()
        save(window.canvas.parentWidget(), out_dir / "print-guides.png")

        dialog = window.models_dialog()
        dialog.show()
        dialog.resize(1200, 700)
        save(dialog, out_dir / "models-dialog.png")
        dialog.close()

        discard_documents(window)
        window.open_sample()
        window.plugin_docks["doodle"].raise_()
        doodle = window.panels["doodle"]
        style = Path(tmp) / "coffee.png"
        Image.fromarray(skimage.data.coffee()).resize((300, 200)).save(style)
        doodle.inputs_box.set_extra("style", str(style))
        doodle.params_widget.segment_style(3)
        doodle.params_widget.doodle_from_document()
        wait_for_job(window)
        save(window, out_dir / "doodle-panel.png")

        if store.status("multistyle26") is ModelStatus.INSTALLED:
            window.open_sample()
            window.plugin_docks["style_transfer"].raise_()
            panel = window.panels["style_transfer"]
            panel.params_widget.set_values({"mode": "fast", "fast_model": "presets", "presets": "3, 19"})
            panel.params_widget.set_values({"style_weights": "1, 2"})
            settle(2.0)
            save(window.plugin_docks["style_transfer"], out_dir / "style-presets.png")

        if store.status("dcgan_faces64") is ModelStatus.INSTALLED:
            window.plugin_docks["gan_breeding"].raise_()
            breeding = window.panels["gan_breeding"]
            breeding.params_widget.set_values({"generator": "dcgan_faces64", "seed": 11})
            breeding.params_widget.side.setValue(4)
            window.set_document(blank_document(512, 512), None)  # the lineage is the document's
            breeding.params_widget.breed_children()
            wait_for_job(window)
            breeding.params_widget.canvas_button.click()
            wait_for_job(window)
            for area in window.plugin_docks["gan_breeding"].findChildren(QScrollArea):
                area.verticalScrollBar().setValue(area.verticalScrollBar().maximum() // 4)
            save(window, out_dir / "gan-breeding.png")

        discard_documents(window)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
