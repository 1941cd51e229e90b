"""Issue 18 item 10: Studio starts on a welcome view (new document with sizes and print presets, open, recent files,
a sample picture) instead of a blank canvas, and returns to it when the last document is closed."""

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QFileDialog

from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.print_size import PRESETS
from studio.qt.main_window import MainWindow
from studio.qt.welcome import CUSTOM, SAMPLE_PICTURE

GENERATIVE = [EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP)]
SHOTS = Path("/tmp/helpers")


@pytest.fixture
def window(open_window) -> MainWindow:
    return open_window(discover_plugins(GENERATIVE), size=(1100, 720))


def shot(window: MainWindow, name: str) -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / f"{name}.png"))


def write_png(path: Path, size: tuple[int, int] = (30, 20)) -> Path:
    Image.new("RGB", size, (0, 128, 255)).save(path)
    return path


def showing_welcome(window: MainWindow) -> bool:
    return window.central.currentIndex() == 0 and window.welcome.isVisible()


def test_studio_starts_on_the_welcome_view_with_no_document(window):
    assert window.doc is None and window.canvas.doc is None and window.open_documents == []
    assert showing_welcome(window) and not window.canvas.isVisible()
    assert window.windowTitle() == "Studio"
    assert window.layers_panel.list.count() == 0
    assert window.welcome.no_recent.isVisible() and not window.welcome.recent.isVisible()
    panel = window.panels["generative"]
    panel.run_button.click()
    assert window.job is None and panel.error_text().startswith("Open a picture or make a new one first")
    shot(window, "welcome")


def test_create_a_new_document_of_a_size_typed_in(window):
    form = window.welcome.form
    form.width_spin.setValue(48)
    form.height_spin.setValue(32)
    assert form.preset.currentText() == CUSTOM, "a size typed in is a custom size"
    form.background.setCurrentText("Black")
    window.welcome.create_button.click()
    assert (window.doc.width, window.doc.height) == (48, 32) and window.doc.print_spec is None
    assert tuple(window.doc.layers[0].pixels[0, 0]) == (0, 0, 0, 255)
    assert not showing_welcome(window) and window.canvas.isVisible() and window.tab_bar.count() == 1


def test_a_screen_preset_sets_the_size(window):
    form = window.welcome.form
    form.preset.setCurrentText("Square 512 × 512")
    assert (form.width_spin.value(), form.height_spin.value()) == (512, 512)
    window.welcome.create_button.click()
    assert (window.doc.width, window.doc.height) == (512, 512)


def test_a_print_preset_makes_a_print_document(window):
    form = window.welcome.form
    titles = [form.preset.itemText(i) for i in range(form.preset.count())]
    assert "Print: A4 (210 x 297 mm)" in titles and "Print: Poster 18 x 24 in" in titles
    form.preset.setCurrentText("Print: Gallery-wrapped canvas 12 x 12 in (1.5 in wrap)")
    window.welcome.create_button.click()
    spec = window.doc.print_spec
    assert spec is not None and spec.name == "canvas_12x12"
    assert (window.doc.width, window.doc.height) == PRESETS["canvas_12x12"].pixel_size
    assert window.print_actions.guides_action.isChecked()


def test_file_new_offers_the_same_presets(window, monkeypatch):
    from studio.qt.welcome import NewDocumentDialog

    def choose(dialog: NewDocumentDialog) -> bool:
        dialog.form.preset.setCurrentText("Square 512 × 512")
        return True

    monkeypatch.setattr(NewDocumentDialog, "exec", choose)
    window.new_document_dialog()
    assert (window.doc.width, window.doc.height) == (512, 512)


def test_open_from_the_welcome_view(window, tmp_path, monkeypatch):
    path = write_png(tmp_path / "blue.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    window.welcome.open_button.click()
    assert window.doc is not None and window.doc.file_path == path
    assert window.recent_files()[0] == path.resolve()


def test_a_recent_file_opens_from_the_welcome_view(open_window, tmp_path):
    path = write_png(tmp_path / "recent.png", (24, 16))
    window = open_window(discover_plugins(GENERATIVE), settings={"recent": [str(path)]})
    recent = window.welcome.recent
    assert recent.isVisible() and recent.count() == 1 and recent.item(0).text() == "recent.png"
    recent.itemActivated.emit(recent.item(0))
    assert window.doc is not None and (window.doc.width, window.doc.height) == (24, 16)


def test_the_sample_picture_opens_and_its_license_is_recorded(window):
    credit = SAMPLE_PICTURE.with_suffix(".md").read_text()
    assert "CC0" in credit and "Stefan van der Walt" in credit
    assert "CC0" in window.welcome.sample_button.toolTip()
    window.welcome.sample_button.click()
    assert (window.doc.width, window.doc.height) == (451, 300)
    assert window.doc.file_path is None, "saving the sample asks where, it never writes into Studio's files"
    assert window.doc.history.is_clean


def test_closing_the_last_tab_shows_the_welcome_view_again(window, tmp_path):
    assert window.open_path(write_png(tmp_path / "one.png"))
    window.welcome.sample_button.click()
    assert window.tab_bar.count() == 2
    window.close_current()
    assert window.tab_bar.count() == 1 and not showing_welcome(window)
    window.tab_bar.tabCloseRequested.emit(0)
    assert showing_welcome(window) and window.doc is None and window.canvas.doc is None
    assert window.layers_panel.list.count() == 0 and window.size_label.text() == window.zoom_label.text() == ""
    assert window.windowTitle() == "Studio"
    recent = window.welcome.recent
    assert recent.isVisible() and recent.item(0).data(Qt.ItemDataRole.UserRole) == (tmp_path / "one.png").resolve()
    shot(window, "welcome-with-recent")


def test_the_window_with_every_plugin_fits_a_small_laptop_screen(open_window):
    window = open_window(discover_plugins(), size=(1000, 700))
    assert showing_welcome(window)
    minimum = window.minimumSizeHint()
    assert minimum.width() <= 1000 and minimum.height() <= 700, "the welcome view scrolls instead"
    assert window.width() == 1000
