"""Opening Studio's real main window in a test: its settings, autosave folder and (unless given) model store all
live under the test's tmp_path, and closing it at teardown never stops at the unsaved-changes question."""

from collections.abc import Mapping

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction

from studio.core.autosave import Autosaver
from studio.core.models.store import ModelStore
from studio.core.plugin import PluginRegistry
from studio.qt.main_window import MainWindow


def discard_changes(window: MainWindow) -> None:
    """Closing at teardown must not stop at the unsaved-changes question."""
    window.cancel_job()
    for opened in window.open_documents:
        opened.doc.history.set_clean()


@pytest.fixture
def open_window(qtbot, tmp_path):
    """``open_window(registry, store=None, size=None, settings=None)``: the main window with these plugins, shown
    and exposed. ``store`` defaults to an empty one in tmp_path/models, ``size`` (width, height) to Qt's own, and
    ``settings`` are values written to tmp_path/settings.ini before the window reads it. Every window of one test
    shares that settings file."""

    def open_(
        registry: PluginRegistry,
        store: ModelStore | None = None,
        size: tuple[int, int] | None = None,
        settings: Mapping[str, object] | None = None,
    ) -> MainWindow:
        qsettings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        for key, value in (settings or {}).items():
            qsettings.setValue(key, value)
        store = store if store is not None else ModelStore(tmp_path / "models")
        window = MainWindow(registry, qsettings, Autosaver(tmp_path / "autosave"), store)
        qtbot.addWidget(window, before_close_func=discard_changes)
        if size:
            window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        return window

    return open_


@pytest.fixture
def menu_action():
    """``menu_action(window, "Image", "Crop to Selection")``: that entry of the window's menu bar (``&`` ignored)."""

    def find(window: MainWindow, menu: str, entry: str) -> QAction:
        bar = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu)
        return next(a for a in bar.actions() if a.text().replace("&", "") == entry)

    return find
