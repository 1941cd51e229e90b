"""Soft proof: View › Soft Proof… and the proof the canvas shows, kept up to date off the GUI thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox, QDialog, QFormLayout, QLabel, QMessageBox, QWidget

from studio.core.colour import INTENTS, load_profile
from studio.core.document import Document
from studio.core.errors import describe_error
from studio.core.proof import proof_layers, proof_preview
from studio.qt.background import BackgroundTask
from studio.qt.canvas import Canvas, premultiply
from studio.qt.convert import numpy_to_qimage
from studio.qt.printing.widgets import ProfileChooser, dialog_buttons

PROOF_DELAY_MS = 400


class SoftProofDialog(QDialog):
    """View › Soft Proof…: choose the printer profile and the rendering intent."""

    def __init__(self, parent: QWidget | None = None, profile: str | None = None, intent: str = "relative") -> None:
        super().__init__(parent)
        self.setWindowTitle("Soft proof")
        form = QFormLayout(self)
        self.profile = ProfileChooser("CMYK", profile)
        self.intent = QComboBox()
        for name in INTENTS:
            self.intent.addItem(name.capitalize(), name)
        self.intent.setCurrentIndex(self.intent.findData(intent))
        form.addRow("Printer profile", self.profile)
        form.addRow("Rendering intent", self.intent)
        note = QLabel("Out-of-gamut areas are shown in magenta.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(dialog_buttons(self, "Proof"))

    def accept(self) -> None:
        if not self.profile.path():
            QMessageBox.warning(self, "Soft proof", "Choose a printer profile (.icc) first.")
            return
        super().accept()


class SoftProof(QObject):
    """Keeps the canvas's soft proof up to date with the document, computed off the GUI thread.

    An edit restarts a short timer (debounce); when it fires, the visible raster layers
    are handed to a worker thread, which flattens them, shrinks the result to preview
    size and proofs it through the printer profile. Only the numpy -> QImage step runs on
    the GUI thread. Every edit, document switch or profile change starts a new
    generation: a result of an older generation is dropped (it may have read pixels
    while they were being painted), and one run at a time is in flight, the newest
    request waiting for it. ``updated(share)`` tells the out-of-gamut share of each proof
    shown; ``failed(message)`` that the profile could not be used (the proof is off then).
    """

    updated = Signal(float)
    failed = Signal(str)

    def __init__(self, canvas: Canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.profile: str | None = None
        self.intent = "relative"
        self.out_of_gamut = 0.0
        self._doc: Document | None = None
        self._generation = 0
        self._requested = False
        self._task = BackgroundTask("studio-soft-proof", parent=self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROOF_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    @property
    def active(self) -> bool:
        return self.profile is not None

    @property
    def computing(self) -> bool:
        """True while a proof is being computed or waits to be."""
        return self._task.busy or self._requested or self._timer.isActive()

    def start(self, profile: str, intent: str) -> None:
        """Proof through ``profile``; ValueError when the file is not a readable ICC profile or the intent is wrong.

        The proof itself arrives a moment later (``updated``); a profile that cannot
        be used for proofing is reported through ``failed``.
        """
        if intent not in INTENTS:
            raise ValueError(f"rendering intent must be one of {', '.join(INTENTS)}, not {intent!r}")
        load_profile(profile)
        self.profile, self.intent = profile, intent
        self.follow(self.canvas.doc)
        self.refresh()

    def stop(self) -> None:
        self.profile = None
        self._generation += 1
        self._requested = False
        self._timer.stop()
        self.follow(None)
        self.canvas.proof_image = None
        self.canvas.update()

    def follow(self, doc: Document | None) -> None:
        if self._doc is not None:
            self._doc.pixels_changed.disconnect(self._changed)
        self._generation += 1
        self._doc = doc if self.active else None
        if self._doc is not None:
            self._doc.pixels_changed.connect(self._changed)

    def _changed(self, _region: object) -> None:
        self._generation += 1
        self._timer.start()

    def refresh(self) -> None:
        """Compute the proof of the document as it is now (after the running computation, if any)."""
        doc = self.canvas.doc
        if doc is None or self.profile is None:
            return
        if self._task.busy:
            self._requested = True
            return
        self._requested = False
        layers, width, height = proof_layers(doc), doc.width, doc.height
        generation, profile, intent = self._generation, self.profile, self.intent

        def compute() -> tuple[np.ndarray, float]:  # on the worker thread
            pixels, share = proof_preview(width, height, layers, profile, intent)
            return np.ascontiguousarray(premultiply(pixels)), share

        self._task.start(compute, lambda result, error: self._show(generation, result, error))

    def _show(self, generation: int, result: tuple[np.ndarray, float] | None, error: BaseException | None) -> None:
        if self._requested:
            self.refresh()
        if generation != self._generation or self.profile is None:
            return  # stale: the document, the profile or the pixels changed while it was computed
        if error is not None:
            self.stop()
            self.failed.emit(describe_error(error))
            return
        assert result is not None
        pixels, self.out_of_gamut = result
        image = numpy_to_qimage(pixels)
        image.reinterpretAsFormat(QImage.Format.Format_RGBA8888_Premultiplied)
        self.canvas.proof_image = image
        self.canvas.update()
        self.updated.emit(self.out_of_gamut)
