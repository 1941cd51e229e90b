"""Run one blocking function at a time on a thread of its own; its outcome arrives on the GUI thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

Done = Callable[[Any, BaseException | None], None]
"""``done(result, error)``: called on the GUI thread; ``error`` is None when the work returned ``result``."""


class BackgroundTask(QObject):
    """One worker thread at a time for slow, blocking work (an export, a soft proof).

    ``start(work, done)`` runs ``work()`` on a new thread and returns at once;
    ``done(result, error)`` is then called on the thread this object lives in
    (the GUI thread), through a queued signal. The task stays ``busy`` until
    ``done`` ran, so a caller can refuse or defer new work. With
    ``daemon=False`` the interpreter waits for the thread at exit, so work that
    writes a file is never cut off halfway.
    """

    _finished = Signal(int)

    def __init__(self, name: str, *, daemon: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.daemon = daemon
        self._run_id = 0
        self._thread: threading.Thread | None = None
        self._done: Done | None = None
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._lock = threading.Lock()
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """True from ``start`` until its ``done`` has been called."""
        return self._done is not None

    def start(self, work: Callable[[], Any], done: Done) -> bool:
        """Run ``work()`` on a worker thread; False (and nothing started) while a run is still busy."""
        if self.busy:
            return False
        self._run_id += 1
        self._done = done
        self._outcome = None
        run_id = self._run_id
        self._thread = threading.Thread(target=self._work, args=(run_id, work), name=self.name, daemon=self.daemon)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running work ended and call its ``done`` now; False on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        self._deliver(self._run_id)
        return True

    def _work(self, run_id: int, work: Callable[[], Any]) -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (work(), None)
        except Exception as exc:  # handed to ``done`` on the GUI thread
            outcome = (None, exc)
        with self._lock:
            self._outcome = outcome
        with contextlib.suppress(RuntimeError):  # this object was destroyed meanwhile: nobody is left to tell
            self._finished.emit(run_id)

    def _deliver(self, run_id: int) -> None:
        with self._lock:
            if run_id != self._run_id or self._outcome is None or self._done is None:
                return  # already delivered by ``wait``
            (result, error), done = self._outcome, self._done
            self._outcome = None
            self._done = None
            self._thread = None
        done(result, error)
