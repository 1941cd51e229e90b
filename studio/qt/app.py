"""Starting the GUI: the application object, crash autosave and recovery."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

os.environ.setdefault("QT_API", "pyside6")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from studio import __version__
from studio.core.autosave import Autosaver
from studio.core.jobs import pick_device
from studio.core.models.store import ModelStore
from studio.core.project import ProjectError, load_project
from studio.qt.main_window import MainWindow

log = logging.getLogger(__name__)

CRASH_AUTOSAVE_WAIT_S = 10.0
"""How long the crash autosave waits for an autosave being written in the background."""


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication, created once, high-DPI aware."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    # Engines run Python on worker threads; a short GIL switch interval lets the GUI thread
    # get the interpreter back within a millisecond instead of five.
    sys.setswitchinterval(0.001)
    os.environ.setdefault("RESOURCE_NAME", "studio")  # X11 window class, matching studio.desktop
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("Studio")
    app.setOrganizationName("Studio")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("studio")
    return app


def offer_recovery(window: MainWindow, autosaver: Autosaver) -> None:
    """Offer to reopen what a crashed session left behind, each recovered document in a tab of its own."""
    for recovery in autosaver.recoverable():
        answer = QMessageBox.question(
            window,
            "Recover unsaved work?",
            f"Studio closed unexpectedly while {recovery.name or 'a document'} had unsaved changes "
            f"(autosaved {recovery.saved_at}). Recover it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            autosaver.remove(recovery)
            continue
        try:
            doc = load_project(recovery.project)
        except ProjectError as exc:
            window.show_error("Cannot recover", str(exc))
            continue
        doc.name = recovery.name or doc.name
        doc.history.mark_modified()
        window.set_document(doc, None)
        autosaver.remove(recovery)


def install_crash_handler(window: MainWindow) -> None:
    """On an unhandled exception: autosave the document, log, and tell the user."""

    def handler(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.error("unhandled exception", exc_info=(kind, value, tb))
        window.wait_for_autosave(CRASH_AUTOSAVE_WAIT_S)  # an autosave of older snapshots must not land after these
        for opened in window.open_documents:
            try:
                window.autosaver.save(opened.doc, opened.project_path)
            except OSError:
                log.exception("crash autosave failed")
        text = "".join(traceback.format_exception_only(kind, value)).strip()
        window.show_error(
            "Unexpected error", f"{text}\n\nYour documents were autosaved and will be offered on restart."
        )

    sys.excepthook = handler


def run_app(files: Sequence[Path] = ()) -> int:
    """Open the main window with ``files`` and run until it closes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = make_application()
    autosaver = Autosaver()
    window = MainWindow(autosaver=autosaver, store=ModelStore())
    if any(m.accelerated for m in window.registry.plugins.values()):
        # Importing torch takes seconds: do it now, off the GUI thread, not on the first Run.
        threading.Thread(target=pick_device, name="studio-torch-warm-up", daemon=True).start()
    install_crash_handler(window)
    window.show()
    if files:
        window.open_path(files[0])
        for extra in files[1:]:
            window.import_layer(extra)
    else:
        offer_recovery(window, autosaver)
    return app.exec()
