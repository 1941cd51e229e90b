"""The job controller: every job the window starts runs through it.

Plugin jobs, live previews, re-renders, exports and batch renders all go to
one :class:`~studio.core.jobs.JobQueue`, which runs one job at a time per lane
(a device, or a named lane such as ``export``), so nothing started from the
GUI can bypass it. Each job's events come back to whoever submitted it, on the
GUI thread; previews arrive as display-ready QImages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtGui import QImage

from studio.core.cancel import CancelCheck, Cancelled, Progress
from studio.core.jobs import JobEvent, JobFn, JobHandle, JobQueue, JobState, progress_job
from studio.core.models.store import ModelStore
from studio.core.outputs import OutputSink
from studio.qt.job_bar import JobEventBridge

T = TypeVar("T")
EventHandler = Callable[[JobEvent], None]
PreviewHandler = Callable[[int, QImage], None]
"""``on_preview(job_id, image)``."""
Done = Callable[[Any, BaseException | None], None]
"""``done(result, error)`` of a task: ``error`` is None when the work returned ``result``; Cancelled when cancelled."""


@dataclass
class _Watch:
    on_event: EventHandler
    on_preview: PreviewHandler | None


class JobController(QObject):
    """Submits jobs to the window's queue and routes their events back on the GUI thread."""

    def __init__(
        self,
        store: ModelStore,
        prepare: Callable[[np.ndarray], QImage] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.queue = JobQueue(models=store)
        self.bridge = JobEventBridge(prepare, self)
        self.bridge.preview_ready.connect(self._route_preview)
        self.bridge.event.connect(self._route_event)
        self._watches: dict[int, _Watch] = {}
        self._handles: dict[int, JobHandle] = {}

    def submit(
        self,
        job: JobFn,
        on_event: EventHandler,
        *,
        device: str | None = None,
        lane: str | None = None,
        on_preview: PreviewHandler | None = None,
        outputs: OutputSink | None = None,
    ) -> JobHandle:
        """Queue ``job``; ``on_event`` gets each of its events and ``on_preview`` its preview pictures.

        ``device`` None picks the best available device; ``lane`` (default: the device)
        is the queue the job waits in; ``outputs`` is its sink for named outputs.
        """
        handle = self.queue.submit(job, self.bridge.post, device, lane=lane, outputs=outputs)
        self._watches[handle.job_id] = _Watch(on_event, on_preview)
        self._handles[handle.job_id] = handle
        return handle

    def run_task(
        self,
        title: str,
        work: Callable[[Progress, CancelCheck], T],
        done: Done,
        *,
        device: str | None = None,
        lane: str | None = None,
        on_event: EventHandler | None = None,
    ) -> JobHandle:
        """Run a blocking ``work(progress, cancelled)`` (an export, a batch) as a job.

        ``done(result, error)`` is called on the GUI thread when it ended, with the
        exception it raised (Cancelled when the job was cancelled); ``on_event``
        also gets its progress events.
        """
        outcome: dict[str, Any] = {}

        def capture(progress: Progress, cancelled: CancelCheck) -> None:
            try:
                outcome["result"] = work(progress, cancelled)
            except BaseException as exc:
                outcome["error"] = exc
                raise

        def finished(event: JobEvent) -> None:
            if on_event is not None:
                on_event(event)
            if event.state is JobState.FINISHED:
                done(outcome.get("result"), None)
            elif event.state is JobState.FAILED:
                done(None, outcome.get("error") or RuntimeError(event.error))
            elif event.state is JobState.CANCELLED:
                done(None, Cancelled())

        return self.submit(progress_job(capture, f"{title}: done"), finished, device=device, lane=lane)

    def running(self) -> list[JobHandle]:
        """The jobs submitted and not yet ended."""
        return [handle for handle in self._handles.values() if not handle.done]

    def wait(self, handle: JobHandle, timeout: float | None = None) -> bool:
        """Block until ``handle`` ended and its events were delivered here; False on timeout."""
        if not handle.wait(timeout):
            return False
        QCoreApplication.sendPostedEvents(self)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job and stop the queue's threads, waiting at most ``timeout`` seconds; the events of jobs
        still running then are dropped."""
        for handle in self.running():
            handle.cancel()
        self.queue.shutdown(timeout)
        self.bridge.close()

    def _route_preview(self, job_id: int, image: QImage) -> None:
        watch = self._watches.get(job_id)
        if watch is not None and watch.on_preview is not None:
            watch.on_preview(job_id, image)

    def _route_event(self, event: JobEvent) -> None:
        watch = self._watches.get(event.job_id)
        if event.state is not JobState.PREVIEW:
            self._watches.pop(event.job_id, None)
            self._handles.pop(event.job_id, None)
        if watch is not None:
            watch.on_event(event)
