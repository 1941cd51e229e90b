"""Jobs: the run context engines receive, the frames they yield, and a queue.

An engine is a generator ``run(params, inputs, ctx) -> Iterator[Frame]``. The
same generator drives the GUI (through :class:`JobQueue` on a worker thread),
the command line and batch renders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from studio.core.cancel import CancelCheck, Cancelled, Progress
from studio.core.errors import ReadableError, describe_error
from studio.core.inputs import Inputs
from studio.core.models.usage import JobModels
from studio.core.outputs import Output, OutputSink
from studio.core.params import ParamError

if TYPE_CHECKING:
    from studio.core.models.store import ModelStore

log = logging.getLogger(__name__)

PREVIEW_INTERVAL_S = 0.1


class EngineError(ReadableError, RuntimeError):
    """An engine broke its contract (for example it never yielded a final frame)."""


@dataclass(frozen=True)
class Frame:
    """One message from a running engine: progress and, optionally, a picture.

    ``image`` is an owned CPU array, RGBA or RGB uint8 (H, W, 4|3). A frame
    with ``final=True`` carries the result (its ``image`` may be None when the
    job's result is its ``outputs`` only); ``info`` lands in the layer recipe.
    On the final frame, :func:`drive` fills ``outputs`` with what the engine
    emitted and no sink consumed, and ``info["models"]`` with the models the job
    loaded.
    """

    job_id: int
    progress: float
    image: np.ndarray | None = None
    final: bool = False
    message: str = ""
    eta_s: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[Output, ...] = ()
    prepared: Any = None
    """The final ``image`` made ready for the host on the worker thread (the result layer's pixels, see
    :func:`studio.core.run.deferred_job`), so the GUI thread does not; None when no host did."""


class DeviceError(ReadableError, ValueError):
    """A device was asked for that this machine does not have; the message lists the ones it has."""


def pick_device(preferred: str | None = None) -> str:
    """Return ``preferred`` (checked) or the best available device: CUDA, then MPS, then CPU.

    ``preferred`` must be one of :func:`available_devices` (case and spaces do
    not matter), else :class:`DeviceError`. Checking a device other than "cpu",
    or choosing one, imports torch the first time, which takes seconds: the GUI
    never calls it on its own thread (see :class:`JobQueue`).
    """
    if preferred is None:
        return available_devices()[-1]
    name = preferred.strip().lower()
    if name == "cpu":
        return name
    available = available_devices()
    if name not in available:
        raise DeviceError(f"device {preferred!r} is not available on this machine; use one of: {', '.join(available)}")
    return name


@functools.cache
def available_devices() -> tuple[str, ...]:
    """The devices this machine can compute on, the best last: "cpu", "mps", "cuda" with "cuda:N" per GPU."""
    try:
        import torch
    except ImportError:
        return ("cpu",)
    found = ["cpu"]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    if torch.cuda.is_available():
        found += [f"cuda:{index}" for index in range(torch.cuda.device_count())] + ["cuda"]
    return tuple(found)


class RunContext:
    """Progress, ETA, preview throttling, cooperative cancel and device for one job."""

    def __init__(
        self,
        job_id: int = 0,
        *,
        device: str | None = None,
        preview_interval_s: float = PREVIEW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        models: ModelStore | None = None,
        outputs: OutputSink | None = None,
    ) -> None:
        self.job_id = job_id
        self._models = JobModels(models) if models is not None else None
        self._sink = outputs
        self._kept: list[Output] = []
        self.preview_interval_s = preview_interval_s
        self._device = device
        self._device_checked = False
        self._clock = clock
        self._cancel = threading.Event()
        self._started = clock()
        self._last_preview = -math.inf

    @property
    def device(self) -> str:
        """The device the engine should compute on (chosen, or checked, on first use; else :class:`DeviceError`)."""
        if not self._device_checked:
            self._device = pick_device(self._device)
            self._device_checked = True
        assert self._device is not None
        return self._device

    @property
    def models(self) -> JobModels:
        """Where engines load networks: ``ctx.models.load("vgg16", ctx.device)`` (verified, cached, recorded).

        The store is the one the host passed in (``RunContext(models=...)``); a
        context made without one raises RuntimeError here.
        """
        if self._models is None:
            raise RuntimeError(
                "this job has no model store: the host must create RunContext(models=ModelStore(...)) "
                "(or JobQueue(models=...)) to run an engine that loads networks"
            )
        return self._models

    @property
    def models_used(self) -> list[dict[str, str]]:
        """``{"id", "sha256"}`` of every model the job loaded, for its recipe."""
        return self._models.used if self._models is not None else []

    def emit(self, output: Output) -> None:
        """Hand a named output (a layer, a new document, a file) to the host as soon as it exists.

        The host's sink writes or shows it; what the sink does not take is kept and
        arrives with the final frame.
        """
        if self._sink is None or not self._sink(output):
            self._kept.append(output)

    def take_outputs(self) -> tuple[Output, ...]:
        """The outputs kept so far (see :meth:`emit`), handed over once."""
        kept, self._kept = tuple(self._kept), []
        return kept

    def cancel(self) -> None:
        """Ask the engine to stop at its next :meth:`check_cancelled`."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled()

    def preview_due(self) -> bool:
        """True at most once per ``preview_interval_s``; the first call is always due."""
        now = self._clock()
        if now - self._last_preview >= self.preview_interval_s:
            self._last_preview = now
            return True
        return False

    def elapsed(self) -> float:
        return self._clock() - self._started

    def eta(self, progress: float) -> float | None:
        """Seconds left, extrapolated linearly from the time spent so far."""
        if progress <= 0.0:
            return None
        if progress >= 1.0:
            return 0.0
        return self.elapsed() * (1.0 - progress) / progress

    def frame(
        self,
        progress: float,
        image: np.ndarray | None = None,
        *,
        final: bool = False,
        message: str = "",
        info: Mapping[str, Any] | None = None,
    ) -> Frame:
        """Build a :class:`Frame` for this job with its ETA filled in."""
        progress = 1.0 if final else min(max(progress, 0.0), 1.0)
        return Frame(
            job_id=self.job_id,
            progress=progress,
            image=image,
            final=final,
            message=message,
            eta_s=self.eta(progress),
            info=dict(info or {}),
        )


class Engine(Protocol):
    """A plugin's engine: a generator of frames, the last one final."""

    def __call__(self, params: Any, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]: ...


def closed_after(frames: Iterator[Frame]) -> contextlib.AbstractContextManager[object]:
    """A context that closes ``frames`` (an engine's generator) when it ends, so the engine's ``finally`` blocks run
    at once, whether it finished, failed or was cancelled."""
    return contextlib.closing(frames) if hasattr(frames, "close") else contextlib.nullcontext()


def drive(frames: Iterator[Frame], ctx: RunContext, on_frame: Callable[[Frame], None] | None = None) -> Frame:
    """Run an engine's generator to the end and return its final frame.

    Raises :class:`Cancelled` if the job was cancelled (also between frames)
    and :class:`EngineError` if the engine ended without a final frame. The
    generator is closed in every case, so an engine's ``finally`` blocks run.
    """
    with closed_after(frames):
        for frame in frames:
            ctx.check_cancelled()
            if frame.final:
                info = {**frame.info, "models": ctx.models_used} if ctx.models_used else frame.info
                return dataclasses.replace(frame, info=info, outputs=frame.outputs + ctx.take_outputs())
            if on_frame is not None:
                on_frame(frame)
        ctx.check_cancelled()
        raise EngineError("the engine stopped without producing a result")


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PREVIEW = "preview"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class JobEvent:
    """One message of a job's stream: preview | finished | cancelled | failed."""

    job_id: int
    state: JobState
    frame: Frame | None = None
    error: str = ""


Listener = Callable[[JobEvent], None]
JobFn = Callable[[RunContext], Iterator[Frame]]


def progress_job(work: Callable[[Progress, CancelCheck], Any], done_message: str) -> JobFn:
    """A job (frame generator) around a blocking function that reports progress by callback.

    ``work(progress, cancelled)`` runs on a helper thread; its progress becomes
    frames, its exception the job's failure, and ``cancelled()`` turns true when
    the job is cancelled. The final frame carries no image.
    """

    def job(ctx: RunContext) -> Iterator[Frame]:
        updates: queue.Queue[tuple[float, str] | None] = queue.Queue()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                work(lambda fraction, message: updates.put((fraction, message)), lambda: ctx.cancelled)
            except BaseException as exc:  # handed to the job's thread below
                failure.append(exc)
            finally:
                updates.put(None)

        thread = threading.Thread(target=run, name=f"studio-job-{ctx.job_id}-work", daemon=True)
        thread.start()
        while (update := updates.get()) is not None:
            yield ctx.frame(update[0], message=update[1])
        thread.join()
        if failure:
            raise failure[0]
        yield ctx.frame(1.0, final=True, message=done_message)

    return job


class JobHandle:
    """A submitted job: cancel it or wait for it."""

    def __init__(self, job_id: int, ctx: RunContext, fn: JobFn, listener: Listener, lane: str | None = None) -> None:
        self.job_id = job_id
        self.ctx = ctx
        self.fn = fn
        self.listener = listener
        self.lane = lane
        self.state = JobState.QUEUED
        self._done = threading.Event()

    def cancel(self) -> None:
        self.ctx.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ended; False on timeout."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish(self, event: JobEvent) -> None:
        self.state = event.state
        try:
            self.listener(event)
        finally:
            self._done.set()


HandleT = TypeVar("HandleT", bound=JobHandle)


class JobQueue:
    """Runs submitted jobs one at a time per device, each device on its own thread.

    ``submit`` returns at once: a dispatcher thread picks the device (which
    may import torch) and hands the job to that device's worker. Listeners are
    called on worker threads; a GUI forwards events to its own thread (the Qt
    bridge does this with a queued signal).
    """

    def __init__(self, preview_interval_s: float = PREVIEW_INTERVAL_S, models: ModelStore | None = None) -> None:
        self.preview_interval_s = preview_interval_s
        self.models = models
        self._lock = threading.Lock()
        self._next_id = 1
        self._incoming: queue.Queue[JobHandle | None] = queue.Queue()
        self._queues: dict[str, queue.Queue[JobHandle | None]] = {}
        self._threads: list[threading.Thread] = [self._start(self._dispatch, "studio-jobs-dispatch")]

    @staticmethod
    def _start(target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def submit(
        self,
        fn: JobFn,
        listener: Listener,
        device: str | None = None,
        *,
        lane: str | None = None,
        outputs: OutputSink | None = None,
    ) -> JobHandle:
        """Queue ``fn(ctx)`` (a frame generator) on ``device`` (the best available if None).

        Jobs of one ``lane`` run one at a time; the lane is the device unless named
        (an export runs in its own lane beside the plugins). ``outputs`` is the
        job's sink for named outputs (see :meth:`RunContext.emit`).
        """

        def handle(job_id: int) -> JobHandle:
            ctx = RunContext(
                job_id, device=device, preview_interval_s=self.preview_interval_s, models=self.models, outputs=outputs
            )
            return JobHandle(job_id, ctx, fn, listener, lane)

        return self._enqueue(handle)

    def _enqueue(self, make_handle: Callable[[int], HandleT]) -> HandleT:
        """Allocate the next job id, make the job's handle (and its context) with it and queue the job."""
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
        handle = make_handle(job_id)
        self._incoming.put(handle)
        return handle

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the threads after the jobs already queued, waiting at most ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        self._incoming.put(None)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _dispatch(self) -> None:
        while (handle := self._incoming.get()) is not None:
            try:
                lane = handle.lane or handle.ctx.device
            except DeviceError as exc:
                handle._finish(JobEvent(handle.job_id, JobState.FAILED, error=str(exc)))
                continue
            with self._lock:
                if lane not in self._queues:
                    self._queues[lane] = queue.Queue()
                    self._threads.append(self._start(self._work, f"studio-jobs-{lane}", self._queues[lane]))
                self._queues[lane].put(handle)
        with self._lock:
            for jobs in self._queues.values():
                jobs.put(None)

    def _work(self, jobs: queue.Queue[JobHandle | None]) -> None:
        while (handle := jobs.get()) is not None:
            self._run(handle)

    @staticmethod
    def _run(handle: JobHandle) -> None:
        ctx = handle.ctx
        if ctx.cancelled:
            handle._finish(JobEvent(handle.job_id, JobState.CANCELLED))
            return
        handle.state = JobState.RUNNING

        def preview(frame: Frame) -> None:
            handle.listener(JobEvent(handle.job_id, JobState.PREVIEW, frame))

        try:
            final = drive(handle.fn(ctx), ctx, preview)
        except Cancelled:
            handle._finish(JobEvent(handle.job_id, JobState.CANCELLED))
        except (ReadableError, ParamError) as exc:  # the message says what to do: no traceback in the log
            log.info("job %d stopped: %s", handle.job_id, exc)
            handle._finish(JobEvent(handle.job_id, JobState.FAILED, error=describe_error(exc)))
        except Exception as exc:  # an engine error must never kill the worker thread
            log.exception("job %d failed", handle.job_id)
            handle._finish(JobEvent(handle.job_id, JobState.FAILED, error=describe_error(exc)))
        else:
            handle._finish(JobEvent(handle.job_id, JobState.FINISHED, final))
