"""Print and export in the real main window: print documents, fitting, guides, soft proof, export dialog."""

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox
from test_main_window import write_image
from test_printing import cmyk_profile

from studio.core.colour import srgb_profile_bytes
from studio.core.document import Document
from studio.core.export import ExportSettings
from studio.core.image import load_image
from studio.core.plugin import discover_plugins
from studio.core.print_size import PrintSpec
from studio.qt.printing import actions, guides, soft_proof
from studio.qt.printing.export_dialog import ExportDialog
from studio.qt.printing.size_dialogs import FitToPrintDialog, NewPrintDocumentDialog

pytestmark = pytest.mark.gui

TINY = PrintSpec(3, 2, ppi=20, bleed_in=0.1, wrap_in=0.5)  # trim 60 x 40, margin 12 -> 84 x 64


@pytest.fixture
def window(open_window, tmp_path):
    main = open_window(discover_plugins([]), size=(1000, 760))
    main.print_actions.presets_file = tmp_path / "export-presets.json"
    return main


def grab(window):
    window.canvas.repaint()
    return window.canvas.grab().toImage()


def colour_at(image, x, y):
    c = image.pixelColor(round(x), round(y))
    return c.red(), c.green(), c.blue()


def test_new_document_from_a_print_preset_shows_the_pixel_size_live(window, qtbot):
    dialog = NewPrintDocumentDialog(window)
    qtbot.addWidget(dialog)
    editor = dialog.editor
    editor.preset.setCurrentIndex(editor.preset.findData("canvas_24x24"))
    assert "8250 × 8250 px" in editor.pixel_label.text()  # 7200 + 2 x (450 wrap + 75 bleed)
    editor.ppi.setCurrentText("10")
    assert "276 × 276 px" in editor.pixel_label.text()  # 240 + 2 x (15 + 3)
    spec = editor.spec()
    assert spec.name == "canvas_24x24" and spec.ppi == 10

    editor.unit.setCurrentText("cm")
    assert editor.width_spin.value() == pytest.approx(60.96)  # 24 in shown in cm
    editor.width_spin.setValue(10)
    editor.height_spin.setValue(5)
    editor.wrap_spin.setValue(0)
    editor.bleed_spin.setValue(0.5)
    assert editor.preset.currentData() == "custom"
    custom = editor.spec()
    assert custom.pixel_size == (39 + 4, 20 + 4)  # 10 cm at 10 ppi = 39.4 px; bleed 0.5 cm = 2 px
    assert "43 × 24 px" in editor.pixel_label.text()

    doc = window.print_actions.new_document(custom)
    assert window.doc is doc and (doc.width, doc.height) == (43, 24) and doc.print_spec == custom
    assert window.print_actions.guides_action.isChecked()
    assert window.size_label.text() == "43 × 24"


def test_fit_to_print_is_undoable_and_the_canvas_follows(window, qtbot, tmp_path):
    window.open_path(write_image(tmp_path / "photo.png", (90, 30), (200, 30, 30)))
    dialog = FitToPrintDialog(window, TINY)
    qtbot.addWidget(dialog)
    dialog.mode.setCurrentIndex(dialog.mode.findData("fill"))
    assert dialog.fill_button.isEnabled()
    assert dialog.editor.spec() == TINY
    window.print_actions.fit(dialog.editor.spec(), dialog.mode.currentData(), (0, 0, 255, 255))
    doc = window.doc
    assert (doc.width, doc.height) == (84, 64) and doc.print_spec == TINY
    assert tuple(doc.layers[0].pixels[0, 0]) == (0, 0, 255, 255)  # extended with the fill
    assert tuple(doc.layers[0].pixels[32, 42, :3]) == (200, 30, 30)  # the picture in the middle
    assert window.size_label.text() == "84 × 64"
    image = grab(window)
    centre = window.canvas.image_to_widget_rect(QRectF(42, 32, 1, 1)).center()
    assert colour_at(image, centre.x(), centre.y()) == (200, 30, 30)

    window.undo()
    assert (doc.width, doc.height) == (90, 30) and doc.print_spec is None
    assert window.size_label.text() == "90 × 30"
    image = grab(window)
    centre = window.canvas.image_to_widget_rect(QRectF(45, 15, 1, 1)).center()
    assert colour_at(image, centre.x(), centre.y()) == (200, 30, 30)
    window.redo()
    assert (doc.width, doc.height) == (84, 64)


def test_print_guides_are_drawn_and_toggled(window, tmp_path):
    window.print_actions.new_document(TINY)
    window.canvas.fit()
    action = window.print_actions.guides_action
    trim = TINY.trim_rect
    box = window.canvas.image_to_widget_rect(QRectF(trim.x0, trim.y0, trim.width, trim.height))
    y = box.center().y()
    xs = [box.left() + dx for dx in (-1, 0, 1, 2)]  # across the trim line
    assert action.isChecked()
    image = grab(window)
    assert (0, 200, 255) in [colour_at(image, x, y) for x in xs]  # the cyan trim line
    assert colour_at(image, box.left() - 20, y) != (255, 255, 255)  # the wrap is shaded
    action.setChecked(False)
    image = grab(window)
    assert {colour_at(image, x, y) for x in [*xs, box.left() - 20]} == {(255, 255, 255)}  # the document only
    action.setChecked(True)
    assert (0, 200, 255) in [colour_at(grab(window), x, y) for x in xs]


def test_soft_proof_highlights_out_of_gamut_areas(window, tmp_path, qtbot):
    profile = str(cmyk_profile())
    window.open_path(write_image(tmp_path / "green.png", (60, 40), (0, 255, 0)))
    centre = window.canvas.image_to_widget_rect(QRectF(30, 20, 1, 1)).center()
    assert colour_at(grab(window), centre.x(), centre.y()) == (0, 255, 0)
    assert window.print_actions.start_proof(profile, "relative")
    assert window.print_actions.proof_action.isChecked()
    qtbot.waitUntil(lambda: window.canvas.proof_image is not None, timeout=5000)
    assert window.print_actions.soft_proof.out_of_gamut == 1.0  # pure green cannot be printed in SWOP
    r, _g, b = colour_at(grab(window), centre.x(), centre.y())
    assert r > 150 and b > 150  # highlighted in magenta
    assert "out of gamut" in window.statusBar().currentMessage()
    window.print_actions.stop_proof()
    assert window.canvas.proof_image is None
    assert colour_at(grab(window), centre.x(), centre.y()) == (0, 255, 0)


def test_soft_proof_of_printable_colours_is_not_highlighted_and_follows_edits(window, tmp_path, qtbot):
    profile = str(cmyk_profile())
    window.open_path(write_image(tmp_path / "grey.png", (60, 40), (128, 128, 128)))
    assert window.print_actions.start_proof(profile, "perceptual")
    qtbot.waitUntil(lambda: window.canvas.proof_image is not None, timeout=5000)
    assert window.print_actions.soft_proof.out_of_gamut == 0.0
    centre = window.canvas.image_to_widget_rect(QRectF(30, 20, 1, 1)).center()
    r, g, b = colour_at(grab(window), centre.x(), centre.y())
    assert abs(r - g) < 12 and abs(g - b) < 12  # a printable grey stays grey, not magenta
    layer = window.doc.layers[0]
    layer.write(0, 0, np.full((layer.height, layer.width, 4), (0, 0, 255, 255), np.uint8))
    window.doc.notify_pixels(None)
    qtbot.waitUntil(lambda: window.print_actions.soft_proof.out_of_gamut == 1.0, timeout=5000)
    r, g, b = colour_at(grab(window), centre.x(), centre.y())
    assert r > 150 and b > 150 and g < 100  # the new blue is out of gamut: magenta


def test_soft_proof_of_a_16_bit_document(window, qtbot, monkeypatch):
    errors = []
    monkeypatch.setattr(window, "show_error", lambda title, text: errors.append(text))
    blue = np.empty((40, 60, 4), np.uint16)
    blue[...] = (0, 0, 65535, 65535)
    window.set_document(Document.from_pixels(blue), None)
    assert window.print_actions.start_proof(str(cmyk_profile()), "perceptual")
    qtbot.waitUntil(lambda: window.canvas.proof_image is not None or bool(errors), timeout=5000)
    assert errors == [] and window.print_actions.soft_proof.out_of_gamut == 1.0  # proofed as its 8-bit preview


def test_soft_proof_is_computed_off_the_gui_thread_and_stale_proofs_are_dropped(window, tmp_path, qtbot, monkeypatch):
    profile = str(cmyk_profile())
    window.open_path(write_image(tmp_path / "grey.png", (60, 40), (128, 128, 128)))
    release = threading.Event()
    threads = []
    real = soft_proof.proof_preview

    def slow_proof(*args):
        threads.append(threading.current_thread())
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(soft_proof, "proof_preview", slow_proof)
    proof = window.print_actions.soft_proof
    shown = []
    proof.updated.connect(shown.append)
    assert window.print_actions.start_proof(profile, "perceptual")
    assert window.canvas.proof_image is None  # started, not yet computed
    qtbot.waitUntil(lambda: len(threads) == 1)
    assert threads[0] is not threading.main_thread()
    assert count_ticks(qtbot, 150) >= 5  # the event loop runs while the proof is computed

    window.doc.layers[0].write(0, 0, np.full((40, 60, 4), (0, 0, 255, 255), np.uint8))  # an edit while proofed
    window.doc.notify_pixels(None)
    qtbot.wait(50)
    assert proof.computing and window.canvas.proof_image is None
    release.set()
    qtbot.waitUntil(lambda: bool(shown) and not proof.computing, timeout=5000)
    assert shown == [1.0]  # the proof begun before the edit ended after it: dropped, never shown
    assert len(threads) == 2 and window.canvas.proof_image is not None


def count_ticks(qtbot, ms):
    """Run the event loop for ``ms``; how many times a 10 ms QTimer fired meanwhile (about ms / 10 when idle)."""
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    qtbot.wait(ms)
    timer.stop()
    return len(ticks)


def test_a_bad_printer_profile_is_reported(window, tmp_path, monkeypatch):
    bogus = tmp_path / "bogus.icc"
    bogus.write_bytes(b"nonsense")
    errors = []
    monkeypatch.setattr(window, "show_error", lambda title, text: errors.append(text))
    assert not window.print_actions.start_proof(str(bogus))
    assert "bogus.icc" in errors[0] and window.canvas.proof_image is None


def test_export_dialog_settings_presets_and_file_name(window, qtbot, tmp_path, monkeypatch):
    presets = tmp_path / "presets.json"
    dialog = ExportDialog(window, ExportSettings("png"), tmp_path / "art.png", presets)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("tiff"))
    assert dialog.path() == tmp_path / "art.tif"  # the suffix follows the format
    dialog.bit_depth.setCurrentIndex(dialog.bit_depth.findData(16))
    dialog.compression.setCurrentIndex(dialog.compression.findData("none"))
    dialog.dpi.setValue(150)
    dialog.icc.setCurrentIndex(dialog.icc.findData("adobe_rgb"))
    assert dialog.settings() == ExportSettings("tiff", 16, "none", dpi=150.0, icc="adobe_rgb")
    assert "TIFF 16-bit uncompressed, 150 dpi" in dialog.summary.text()

    dialog.preset.setCurrentIndex(dialog.preset.findData("jpeg_web"))
    assert dialog.settings() == ExportSettings("jpeg", quality=85, subsampling="4:2:0", dpi=72.0)
    assert not dialog.bit_depth.isEnabled() and dialog.quality.isEnabled()
    assert dialog.path() == tmp_path / "art.jpg"
    dialog.quality.setValue(70)
    assert dialog.preset.currentData() is None  # edited: no longer the preset

    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("Lab proofs", True))
    dialog.save_preset_button.click()
    assert dialog.preset.currentData() == "Lab proofs"
    again = ExportDialog(window, None, None, presets)
    qtbot.addWidget(again)
    assert again.preset.findData("Lab proofs") >= 0


def test_cmyk_choice_in_the_dialog(window, qtbot, tmp_path):
    profile = str(cmyk_profile())
    dialog = ExportDialog(window, ExportSettings("tiff", 16), tmp_path / "x.tif", tmp_path / "p.json")
    qtbot.addWidget(dialog)
    dialog.cmyk.setChecked(True)
    dialog.cmyk_profile.set_path(profile)
    dialog.intent.setCurrentIndex(dialog.intent.findData("relative"))
    assert dialog.settings() == ExportSettings("tiff", 8, cmyk_profile=profile, intent="relative")
    assert not dialog.icc.isEnabled() and not dialog.bit_depth.isEnabled()
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert dialog.settings().cmyk_profile is None and not dialog.cmyk.isEnabled()


def test_export_from_the_window_stores_settings_and_asks_before_overwriting(window, tmp_path, monkeypatch, qtbot):
    window.open_path(write_image(tmp_path / "photo.png", (64, 48), (10, 200, 100)))
    window.doc.print_spec = TINY
    settings = window.print_actions.default_settings()
    assert settings == ExportSettings("tiff", 16, dpi=20.0)  # a print document exports 16-bit TIFF at its ppi
    out = tmp_path / "print.tif"

    monkeypatch.setattr(ExportDialog, "exec", lambda self: (self.path_edit.setText(str(out)), 1)[1], raising=True)
    window.export_dialog()
    assert window.print_actions.exporting == out  # the menu's export runs in the background
    qtbot.waitUntil(lambda: window.print_actions.exporting is None, timeout=5000)
    loaded = load_image(out)
    assert loaded.bit_depth == 16 and loaded.dpi == (20.0, 20.0) and loaded.pixels.shape == (48, 64, 4)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].bitspersample == 16
    assert window.doc.export_settings == settings
    before = out.read_bytes()

    window.doc.layers[0].write(0, 0, np.full((48, 64, 4), (255, 0, 0, 255), np.uint8))
    window.doc.notify_pixels(None)
    answers = []

    def answer(choice):
        def ask(*args, **kwargs):
            answers.append(args[2])
            return choice

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert window.print_actions.export(out, settings) is None
    assert out.read_bytes() == before and "already exists" in answers[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert window.print_actions.export(out, settings) == out
    with Image.open(out) as im:
        assert im.getpixel((0, 0))[:3] == (255, 0, 0)


def test_export_failure_is_shown_and_leaves_nothing(window, tmp_path, monkeypatch, qtbot):
    window.print_actions.new_document(TINY)  # Studio starts with no document (the welcome view)
    errors = []
    monkeypatch.setattr(window, "show_error", lambda title, text: errors.append(text))
    assert window.print_actions.export(tmp_path / "missing" / "a.png", ExportSettings("png")) is None
    assert "does not exist" in errors[0]
    assert window.print_actions.start_export(tmp_path / "missing" / "b.png", ExportSettings("png"))
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=5000)
    assert "b.png" in errors[1] and "does not exist" in errors[1]
    assert "b.png was not exported" in window.statusBar().currentMessage()
    assert window.doc.export_settings is None  # only a successful export is remembered
    assert not (tmp_path / "missing").exists()


def test_print_settings_survive_saving_the_project(window, tmp_path):
    window.print_actions.new_document(TINY)
    window.doc.export_settings = ExportSettings("png", 16, dpi=20.0)
    path = tmp_path / "print.studio"
    assert window.save_project_to(path)
    assert window.open_path(path)
    assert window.doc.print_spec == TINY and window.doc.export_settings == ExportSettings("png", 16, dpi=20.0)
    assert Path(path).exists()
    assert np.all(window.doc.layers[0].pixels[..., :3] == 255)


@pytest.fixture
def gated_export(monkeypatch):
    """Export that waits for ``release`` before flattening and writing, so a test can act while the file is being
    written."""
    release = threading.Event()
    threads = []
    real = actions.export_document

    def export_document(*args, **kwargs):
        threads.append(threading.current_thread())
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "export_document", export_document)
    return release, threads


def test_export_runs_in_the_background_with_the_pixels_it_started_with(window, tmp_path, qtbot, gated_export):
    release, threads = gated_export
    pixels = np.random.default_rng(3).integers(0, 256, (300, 400, 3), np.uint8)
    source = tmp_path / "art.png"
    Image.fromarray(pixels).save(source)
    window.open_path(source)
    doc = window.doc
    out = tmp_path / "art.tif"
    settings = ExportSettings("tiff", 16, "none", dpi=240.0)
    actions = window.print_actions

    assert actions.start_export(out, settings)
    qtbot.waitUntil(lambda: len(threads) == 1)
    assert threads[0] is not threading.main_thread()
    assert count_ticks(qtbot, 150) >= 5  # the window keeps running while the file is written
    assert actions.exporting == out and not out.exists()
    assert actions.export_bar.isVisible() and actions.export_bar.title.text().startswith("Exporting art.tif (")

    doc.layers[0].write(0, 0, np.full((50, 400, 4), (255, 0, 0, 255), np.uint8))  # the artist keeps working
    doc.notify_pixels(None)
    assert not actions.start_export(tmp_path / "other.tif", settings)  # one export at a time
    assert "art.tif is still being exported" in window.statusBar().currentMessage()

    release.set()
    qtbot.waitUntil(lambda: actions.exporting is None, timeout=10000)
    assert not actions.export_bar.isVisible()
    assert window.statusBar().currentMessage().startswith(f"Exported {out}")
    loaded = load_image(out)
    assert loaded.bit_depth == 16 and loaded.dpi == (240.0, 240.0)
    np.testing.assert_array_equal(loaded.pixels[..., :3], pixels.astype(np.uint16) * 257)  # not the red edit
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.NONE
        assert page.tags["InterColorProfile"].value == srgb_profile_bytes()
    assert tuple(doc.layers[0].pixels[0, 0]) == (255, 0, 0, 255) and not doc.history.can_undo  # doc untouched
    assert doc.export_settings == settings
    assert not (tmp_path / "other.tif").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_an_export_cancelled_from_its_bar_writes_nothing(window, tmp_path, qtbot, gated_export, monkeypatch):
    release, threads = gated_export
    window.open_path(write_image(tmp_path / "photo.png", (64, 600), (10, 200, 100)))
    out = tmp_path / "print.tif"
    monkeypatch.setattr(window, "show_error", lambda *a: pytest.fail(f"an error was shown: {a}"))
    actions = window.print_actions
    assert actions.start_export(out, ExportSettings("tiff", 16))
    qtbot.waitUntil(lambda: len(threads) == 1)
    assert actions.export_bar.cancel_button.isVisibleTo(window)
    actions.export_bar.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: actions.exporting is None, timeout=10000)
    assert window.statusBar().currentMessage() == "Export of print.tif cancelled: nothing was written"
    assert not actions.export_bar.isVisible()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file
    assert actions.start_export(out, ExportSettings("tiff", 16))  # the next export runs
    assert actions.wait_for_export(10) and load_image(out).pixels.shape == (600, 64, 4)


def test_closing_the_window_waits_for_a_running_export(window, tmp_path, qtbot, gated_export, monkeypatch):
    release, threads = gated_export
    window.open_path(write_image(tmp_path / "photo.png", (64, 48), (10, 200, 100)))
    out = tmp_path / "print.png"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("closing asked a question"))
    assert window.print_actions.start_export(out, ExportSettings("png", 16))
    qtbot.waitUntil(lambda: len(threads) == 1)
    assert not window.close()  # not yet: the file is being written
    assert window.isVisible() and "Studio closes when it is written" in window.statusBar().currentMessage()
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10000)
    assert load_image(out).pixels.shape == (48, 64, 4)


def test_guide_labels_are_kept_off_the_guide_lines(window):
    spec = PrintSpec(8, 6, ppi=20, bleed_in=0.25, wrap_in=0.75)  # lines a few pixels apart at fit zoom
    window.resize(1000, 800)  # room above the fitted print for the legend, below the document tabs
    window.print_actions.new_document(spec)
    window.canvas.fit()
    action = window.print_actions.guides_action
    with_guides = grab(window)
    action.setChecked(False)
    without = grab(window)
    action.setChecked(True)
    colours = {(c.red(), c.green(), c.blue()) for c, _style in guides.GUIDE_STYLES.values()}
    near_lines = set()  # within 3 px of a guide line
    for rect in (spec.bleed_rect, spec.wrap_rect, spec.trim_rect, spec.safe_rect):
        box = window.canvas.image_to_widget_rect(QRectF(rect.x0, rect.y0, rect.width, rect.height)).toRect()
        for x in range(box.left() - 3, box.right() + 4):
            near_lines |= {(x, y0 + d) for y0 in (box.top(), box.bottom()) for d in range(-3, 4)}
        for y in range(box.top() - 3, box.bottom() + 4):
            near_lines |= {(x0 + d, y) for x0 in (box.left(), box.right()) for d in range(-3, 4)}
    stray = []
    for x, y in sorted(near_lines):
        pixel, under = colour_at(with_guides, x, y), colour_at(without, x, y)
        shaded = np.round(np.array(under) * 195 / 255)  # under the shade of the margin
        if pixel != under and pixel not in colours and np.abs(np.subtract(pixel, shaded)).max() > 2:
            stray.append((x, y, pixel))
    assert not stray, f"label text over the guide lines at {stray[:5]}"
    legend = guides.legend_rect(window.canvas)
    assert legend is not None and legend.bottom() < window.canvas.image_to_widget_rect(QRectF(0, 0, 1, 1)).top()


def test_a_reopened_print_project_shows_its_guides(open_window, window, tmp_path):
    window.print_actions.new_document(TINY)
    path = tmp_path / "print.studio"
    assert window.save_project_to(path)
    fresh = open_window(discover_plugins([]), size=(1000, 760))  # Studio started anew
    assert not fresh.print_actions.guides_action.isChecked()
    assert fresh.open_path(path)
    assert fresh.print_actions.guides_action.isChecked() and fresh.canvas.guides_painter is not None
    fresh.canvas.fit()
    trim = TINY.trim_rect
    box = fresh.canvas.image_to_widget_rect(QRectF(trim.x0, trim.y0, trim.width, trim.height))
    assert (0, 200, 255) in [colour_at(grab(fresh), box.left() + dx, box.center().y()) for dx in (-1, 0, 1, 2)]

    fresh.print_actions.guides_action.setChecked(False)  # hidden on this document: they stay hidden on it
    fresh.open_path(write_image(tmp_path / "photo.png", (20, 10), (9, 9, 9)))
    assert not fresh.print_actions.guides_action.isChecked()  # a picture with no print size shows none
    fresh.open_path(path)
    assert not fresh.print_actions.guides_action.isChecked()  # still open: its tab, as the artist left it
    assert fresh.close_document(fresh.doc)
    fresh.open_path(path)
    assert fresh.print_actions.guides_action.isChecked()  # reopened: a new document, guides shown again


def run_modal(qtbot, trigger, inspect):
    """Trigger a menu action that opens a modal dialog; ``inspect(dialog)`` runs while it is open, then it closes."""
    seen = []

    def look():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, look)
            return
        seen.append(dialog)
        try:
            inspect(dialog)
        finally:
            dialog.reject()

    QTimer.singleShot(0, look)
    trigger()
    assert seen, "the dialog did not open"


def test_a_print_below_150_ppi_is_warned_about(window, qtbot, tmp_path):
    def new_document(dialog):
        editor = dialog.editor
        assert not editor.warning_label.isVisible()  # 300 ppi
        editor.ppi.setCurrentText("100")
        assert editor.warning_label.isVisible() and "100 ppi" in editor.warning_label.text()
        assert "150 ppi" in editor.warning_label.text()
        editor.ppi.setCurrentText("150")
        assert not editor.warning_label.isVisible()

    run_modal(qtbot, menu_action(window, "New from &Print Preset…").trigger, new_document)

    window.open_path(write_image(tmp_path / "photo.png", (600, 400), (200, 30, 30)))

    def fit(dialog):
        editor = dialog.editor
        editor.preset.setCurrentIndex(editor.preset.findData("canvas_12x12"))
        editor.ppi.setCurrentText("300")  # 3600 px of face from 400 px: 33 ppi
        text = editor.warning_label.text()
        assert editor.warning_label.isVisible() and "600 × 400 px" in text and "150 ppi" in text
        dialog.mode.setCurrentIndex(dialog.mode.findData("fill"))
        assert "600 × 400 px" in editor.warning_label.text()
        editor.unit.setCurrentText("in")
        editor.width_spin.setValue(3)
        editor.height_spin.setValue(2)
        editor.wrap_spin.setValue(0)
        editor.bleed_spin.setValue(0)
        editor.ppi.setCurrentText("200")  # 600 x 400 px fill 3 x 2 in at exactly 200 ppi
        assert not editor.warning_label.isVisible()

    run_modal(qtbot, menu_action(window, "&Fit to Print Preset…").trigger, fit)


def menu_action(window, text):
    return next(action for action in window.findChildren(QAction) if action.text() == text)


def test_file_dialogs_start_in_the_documents_folder(open_window, window, qtbot, tmp_path, monkeypatch):
    from studio.qt.batch_dialog import BatchDialog

    (tmp_path / "art").mkdir()
    (tmp_path / "elsewhere").mkdir()
    window.open_path(write_image(tmp_path / "art" / "photo.png", (40, 30)))
    other = open_window(discover_plugins([]))  # a second window opens a file later: the most recent one
    other.open_path(write_image(tmp_path / "elsewhere" / "other.png", (20, 20)))
    started = []
    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(lambda *a, _n=name, **k: record_call(started, _n, a)))

    menu_action(window, "&Open…").trigger()
    menu_action(window, "Save Project &As…").trigger()
    menu_action(window, "&Batch Render…").trigger()
    batch = window.findChildren(BatchDialog)[-1]
    for button in (batch.add_files_button, batch.add_folder_button, batch.output_browse):
        button.click()
    batch.close()

    def export(dialog):
        assert Path(dialog.path_edit.text()).parent == tmp_path / "art"
        dialog.icc_other.click()

    run_modal(qtbot, menu_action(window, "&Export Image…").trigger, export)
    folders = [path if path.suffix == "" else path.parent for path in started]
    assert len(folders) == 6 and set(folders) == {tmp_path / "art"}, started


def record_call(started, name, args):
    started.append(Path(args[2]))
    return ([], "") if name == "getOpenFileNames" else "" if name == "getExistingDirectory" else ("", "")


def test_a_new_print_document_can_hold_16_bits(window, monkeypatch):
    def choose(dialog: NewPrintDocumentDialog) -> bool:
        dialog.editor.preset.setCurrentIndex(dialog.editor.preset.findData("a4"))
        dialog.editor.ppi.setCurrentText("10")
        dialog.depth.setCurrentIndex(dialog.depth.findData(16))
        return True

    monkeypatch.setattr(NewPrintDocumentDialog, "exec", choose)
    window.print_actions.new_document_dialog()
    assert window.doc.print_spec.name == "a4"
    assert window.doc.bit_depth == 16 and window.doc.layers[0].bit_depth == 16
