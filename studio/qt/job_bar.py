"""The job bar: what is running, its progress and ETA, and Cancel; plus the thread bridge."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from studio.core.jobs import Frame, JobEvent, JobState


class JobEventBridge(QObject):
    """Carries job events from worker threads to the GUI thread.

    ``post`` is called on a worker thread. Preview images are turned into
    display-ready QImages there (by ``prepare``), so the GUI thread only draws
    them; ``preview_ready`` then ``event`` are delivered, in order, on the
    thread this object lives in (queued connection).
    """

    event = Signal(object)
    preview_ready = Signal(int, object)

    def __init__(self, prepare: Callable[[np.ndarray], QImage] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._prepare = prepare
        self._closed = False

    def close(self) -> None:
        """Deliver nothing more: a job that ends after its window closed (and this object is deleted) is not
        heard."""
        self._closed = True

    def post(self, event: JobEvent) -> None:
        if self._closed:
            return
        frame = event.frame
        if self._prepare and event.state is JobState.PREVIEW and frame is not None and frame.image is not None:
            self.preview_ready.emit(event.job_id, self._prepare(frame.image))
        self.event.emit(event)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


class JobBar(QWidget):
    """Progress of the running job. Hidden while nothing runs."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(220)
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the job; the document stays as it was (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        for widget in (self.title, self.progress, self.eta, self.cancel_button):
            layout.addWidget(widget)
        self.hide()

    def start(self, title: str) -> None:
        self.title.setText(title)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.eta.setText("")
        self.show()

    def update_frame(self, frame: Frame) -> None:
        self.progress.setValue(round(frame.progress * 1000))
        self.progress.setFormat(frame.message or f"{frame.progress:.0%}")
        self.eta.setText(format_seconds(frame.eta_s))

    def stop(self) -> None:
        self.hide()
