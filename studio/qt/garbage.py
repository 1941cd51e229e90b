"""Python's cyclic garbage collection on the GUI thread only.

A collection runs in whichever thread happens to allocate when a threshold is
crossed, often a job's worker. Qt objects found in a cycle there are handed to
PySide6 to delete on the GUI thread later, by which time Qt may have deleted them
itself (a closed window's children): a crash. With automatic collection off, a
timer on the GUI thread collects each generation whose threshold was crossed.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Disables automatic collection while it lives and collects on its thread's timer instead."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.setObjectName("studio-gui-thread-collector")
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)
        gc.disable()
        self.destroyed.connect(_enable)

    @staticmethod
    def collect() -> None:
        """Collect the oldest generation whose threshold was crossed (none if none was)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        crossed = [generation for generation in range(3) if counts[generation] > thresholds[generation]]
        if crossed:
            gc.collect(crossed[-1])


def _enable(*_destroyed: object) -> None:
    gc.enable()


def collect_on_gui_thread() -> None:
    """Move garbage collection to the GUI thread for as long as the application lives (once per application)."""
    app = QCoreApplication.instance()
    if app is not None and app.findChild(GuiThreadCollector) is None:
        GuiThreadCollector(app)
