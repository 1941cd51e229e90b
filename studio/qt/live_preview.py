"""Live preview: while a plugin's panel is edited, its result is re-rendered onto the canvas.

A plugin opts in through its params class: ``params.live_preview()`` returns the
parameters of a quick preview, or None when these settings have none (for example
a slow mode). Edits are debounced; each preview runs on the job queue like any job,
a new edit cancels the one still rendering (its frames are dropped), and the
picture only shows on the canvas: nothing enters the document or its history
until the artist clicks Run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Protocol

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QImage

from studio.core.document import Document
from studio.core.jobs import Frame, JobEvent, JobFn, JobHandle, JobState, RunContext
from studio.core.params import ParamError
from studio.core.plugin import PluginManifest
from studio.core.run import deferred_inputs, deferred_job
from studio.qt.canvas import Canvas
from studio.qt.job_controller import JobController
from studio.qt.params_panel import PluginPanel

DEBOUNCE_MS = 300


class PreviewHost(Protocol):
    """What :class:`LivePreview` needs of the window it previews in (the main window is one)."""

    @property
    def doc(self) -> Document | None:
        """The open document, if any: previews are rendered from it."""
        ...

    @property
    def job(self) -> object | None:
        """The job the window is running, if any: no preview starts meanwhile, nor replaces its previews."""
        ...

    @property
    def panels(self) -> Mapping[str, PluginPanel]:
        """The plugin panels by plugin id: their parameters, and where a preview's error shows."""
        ...

    @property
    def canvas(self) -> Canvas:
        """Where the preview picture shows."""
        ...

    @property
    def jobs(self) -> JobController:
        """Where preview jobs run, beside the window's other jobs."""
        ...


def preview_job(job: JobFn) -> JobFn:
    """``job`` with its result delivered as a preview frame (so it is made display-ready off the GUI thread)."""

    def run(ctx: RunContext) -> Iterator[Frame]:
        for frame in job(ctx):
            if frame.final:
                yield dataclasses.replace(frame, final=False)
                yield ctx.frame(1.0, final=True, message="preview ready")
                return
            yield frame

    return run


class LivePreview(QObject):
    """Debounced, cancellable previews for the main window's plugin panels."""

    def __init__(self, host: PreviewHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.handle: JobHandle | None = None
        self.manifest: PluginManifest | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.start)
        self.showing = False
        self.in_use: tuple[str | None, str | None, int | None] = (None, None, None)
        """The ids of the mask and label map the latest preview was rendered with, and of the selection when it
        stood for the mask."""

    def schedule(self, manifest: PluginManifest) -> None:
        """Re-render ``manifest``'s preview once its panel has not changed for DEBOUNCE_MS."""
        self.manifest = manifest
        self.timer.start()

    def start(self) -> JobHandle | None:
        """Render the pending preview now; one still rendering is cancelled (the last picture stays meanwhile)."""
        host, manifest = self.host, self.manifest
        if manifest is None or host.doc is None or host.job is not None:
            return None
        panel = host.panels[manifest.id]
        try:
            params = panel.params()
        except ParamError:
            return None
        if panel.show_incomplete(params) is not None:
            self.stop()
            return None
        offer = getattr(params, "live_preview", None)
        preview = offer() if callable(offer) else None
        if preview is None:
            self.stop()
            return None
        self.cancel()
        panel.clear_error()
        inputs = deferred_inputs(host.doc, manifest)
        self.in_use = self._in_use()
        job = preview_job(deferred_job(manifest, preview, inputs))
        self.handle = host.jobs.submit(job, self.handle_event, device=manifest.device, on_preview=self.show)
        return self.handle

    def refresh(self) -> None:
        """The active layer changed: a preview showing (or on its way) re-renders if the mask or label map a run
        would use changed with it."""
        if self.manifest is not None and self._live() and self._in_use() != self.in_use:
            self.schedule(self.manifest)

    def document_edited(self) -> None:
        """The document changed: a preview re-renders if the mask or label map in use changed (one was hidden or
        shown, or the selection standing for the mask changed), else it is taken off the canvas, as it no longer
        matches the document."""
        if self.manifest is not None and self._live() and self._in_use() != self.in_use:
            self.schedule(self.manifest)
        else:
            self.stop()

    def _live(self) -> bool:
        return self.showing or self.handle is not None or self.timer.isActive()

    def _in_use(self) -> tuple[str | None, str | None, int | None]:
        doc = self.host.doc
        if doc is None:
            return (None, None, None)
        mask, labels = doc.active_mask(), doc.active_labels()
        # A new selection is a new array (commands never change one in place), so its identity tells a change.
        selection = id(doc.selection) if mask is None and doc.selection is not None else None
        return (mask.id if mask is not None else None, labels.id if labels is not None else None, selection)

    def cancel(self) -> None:
        """Cancel the preview still rendering, keeping the picture on the canvas."""
        self.timer.stop()
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def stop(self) -> None:
        """Cancel any preview and take it off the canvas (the document shows again)."""
        self.cancel()
        if self.showing and self.host.job is None:
            self.host.canvas.set_preview(None)
        self.showing = False

    @property
    def running(self) -> bool:
        return self.handle is not None

    def show(self, job_id: int, image: QImage) -> None:
        """Show a preview picture of the current preview job (unless the window's own job is showing)."""
        if self.handle is not None and job_id == self.handle.job_id and self.host.job is None:
            self.host.canvas.set_preview(image)
            self.showing = True

    def handle_event(self, event: JobEvent) -> None:
        """Take an event of a preview job; only the current one's failure is shown (in its panel)."""
        if self.handle is None or event.job_id != self.handle.job_id or event.state is JobState.PREVIEW:
            return
        self.handle = None
        if event.state is JobState.FAILED and self.manifest is not None:
            self.host.panels[self.manifest.id].show_error(event.error)
