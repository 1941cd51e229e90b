"""Python's cyclic garbage collection on the GUI thread only.

A collection runs in whichever thread happens to allocate when a threshold is
crossed, often a job's worker. Qt objects found in a cycle there are handed to
PySide6 to delete on the GUI thread later, by which time Qt may have deleted them
itself (a closed window's children): a crash. With automatic collection off, a
timer on the GUI thread collects each generation whose threshold was crossed.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication

INTERVAL_MS = 500
FULL_CHECK_S = 10.0
"""The least time between two looks at whether the oldest generation grew enough for a full collection."""


class GuiThreadCollector(QObject):
    """Disables automatic collection while it lives and collects on its thread's timer instead."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.setObjectName("studio-gui-thread-collector")
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)
        self._long_lived = 0
        """How many objects the oldest generation held after the last full collection."""
        self._checked = -FULL_CHECK_S
        gc.disable()
        self.destroyed.connect(_enable)

    def collect(self) -> None:
        """Collect the oldest generation whose threshold was crossed (none if none was); the oldest only once it
        has grown by a quarter since it was last collected, as Python's own collector does. Nothing while a mouse
        button is held: a collection after a burst of objects (a job importing torch makes some 240,000) takes
        100 ms or more, and a stroke or a drag would stutter."""
        if QGuiApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        counts, thresholds = gc.get_count(), gc.get_threshold()
        crossed = [generation for generation in range(3) if counts[generation] > thresholds[generation]]
        if crossed and crossed[-1] == 2:
            # A full collection walks every object (some 260,000 with torch and Qt loaded: about 90 ms). Counting
            # the oldest generation costs a fraction of that, so it is done at most every FULL_CHECK_S.
            now = time.monotonic()
            grown = now - self._checked >= FULL_CHECK_S
            if grown:
                self._checked = now
                grown = len(gc.get_objects(generation=2)) > self._long_lived * 5 // 4
            if not grown:
                crossed[-1] = 1  # the younger generations, cheap to walk
        if crossed:
            gc.collect(crossed[-1])
            if crossed[-1] == 2:
                self._long_lived = len(gc.get_objects(generation=2))


def _enable(*_destroyed: object) -> None:
    gc.enable()


def collect_on_gui_thread() -> None:
    """Move garbage collection to the GUI thread for as long as the application lives (once per application)."""
    app = QCoreApplication.instance()
    if app is not None and app.findChild(GuiThreadCollector) is None:
        GuiThreadCollector(app)
