"""RunContext, drive() and the job queue."""

import threading
import time

import numpy as np
import pytest

from studio.core.cancel import Cancelled
from studio.core.jobs import (
    DeviceError,
    EngineError,
    JobQueue,
    JobState,
    RunContext,
    available_devices,
    drive,
    pick_device,
    progress_job,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_preview_throttle_and_eta():
    clock = FakeClock()
    ctx = RunContext(preview_interval_s=0.1, clock=clock)
    assert ctx.preview_due()
    clock.now = 0.05
    assert not ctx.preview_due()
    clock.now = 0.11
    assert ctx.preview_due()
    clock.now = 2.0
    assert ctx.eta(0.5) == pytest.approx(2.0)
    assert ctx.eta(0.0) is None
    frame = ctx.frame(0.25, message="step 1")
    assert frame.eta_s == pytest.approx(6.0) and frame.job_id == 0 and not frame.final


def test_device_is_cpu_without_gpu():
    assert pick_device() in ("cpu", "cuda", "mps")
    assert pick_device("cpu") == "cpu"
    assert RunContext(device="cpu").device == "cpu"


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has ``gpus(n)`` CUDA devices (0: none), whatever it really has."""
    import torch

    def pretend(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        available_devices.cache_clear()

    yield pretend
    available_devices.cache_clear()


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "tpu9", "gpu", ""])
def test_a_device_this_machine_lacks_is_refused_with_the_available_ones(gpus, name):
    gpus(0)
    with pytest.raises(DeviceError, match=rf"device '{name}' is not available on this machine; use one of: cpu"):
        pick_device(name)
    with pytest.raises(DeviceError, match="use one of: cpu"):
        assert RunContext(device=name).device
    assert pick_device(" CPU ") == "cpu"


def test_each_gpu_is_a_device_and_the_best_is_cuda(gpus):
    gpus(2)
    assert pick_device() == "cuda" and pick_device("CUDA:1") == "cuda:1"
    with pytest.raises(DeviceError, match=r"'cuda:2' .* use one of: cpu, (mps, )?cuda:0, cuda:1, cuda$"):
        pick_device("cuda:2")


def test_a_job_on_an_unknown_device_fails_and_the_queue_goes_on(gpus):
    gpus(0)
    jobs = JobQueue()
    events = []
    done = threading.Event()

    def listen(event):
        events.append(event)
        if event.state in (JobState.FAILED, JobState.FINISHED):
            done.set()

    jobs.submit(counting_engine, listen, device="tpu9")
    assert done.wait(10)
    assert events[-1].state == JobState.FAILED and "'tpu9' is not available" in events[-1].error
    done.clear()
    jobs.submit(counting_engine, listen, device="cpu")
    assert done.wait(10) and events[-1].state == JobState.FINISHED
    jobs.shutdown()


def counting_engine(ctx, steps=5, delay=0.0):
    for i in range(steps):
        ctx.check_cancelled()
        time.sleep(delay)
        yield ctx.frame(i / steps, np.full((2, 2, 4), i, np.uint8))
    yield ctx.frame(1.0, np.zeros((2, 2, 4), np.uint8), final=True)


def test_drive_returns_final_and_reports_previews():
    ctx = RunContext()
    seen = []
    final = drive(counting_engine(ctx), ctx, seen.append)
    assert final.final and len(seen) == 5
    assert [f.progress for f in seen] == sorted(f.progress for f in seen)


def test_drive_without_final_frame_is_an_engine_error():
    ctx = RunContext()
    with pytest.raises(EngineError, match="without producing"):
        drive(iter([ctx.frame(0.5)]), ctx)


def collect(queue, fn):
    events = []
    done = threading.Event()

    def listener(event):
        events.append(event)
        if event.state not in (JobState.PREVIEW, JobState.RUNNING):
            done.set()

    handle = queue.submit(fn, listener, device="cpu")
    return handle, events, done


def test_queue_runs_jobs_in_order_one_at_a_time():
    queue = JobQueue()
    running = []
    overlap = []

    def job(ctx, name):
        if running:
            overlap.append(name)
        running.append(name)
        try:
            yield from counting_engine(ctx, 3, 0.01)
        finally:
            running.remove(name)

    handles = [collect(queue, lambda ctx, n=n: job(ctx, n)) for n in "abc"]
    for _handle, events, done in handles:
        assert done.wait(5)
        assert events[-1].state is JobState.FINISHED
        assert sum(e.state is JobState.PREVIEW for e in events) == 3
    assert overlap == []
    assert [h.job_id for h, _, _ in handles] == sorted(h.job_id for h, _, _ in handles)
    queue.shutdown()


def test_cancel_stops_a_running_job_quickly_and_a_queued_one_never_starts():
    queue = JobQueue()
    started = []

    def slow(ctx):
        started.append(ctx.job_id)
        yield from counting_engine(ctx, 1000, 0.01)

    first, first_events, first_done = collect(queue, slow)
    second, second_events, second_done = collect(queue, slow)
    time.sleep(0.1)
    second.cancel()
    t0 = time.monotonic()
    first.cancel()
    assert first_done.wait(1.0) and time.monotonic() - t0 < 1.0
    assert first_events[-1].state is JobState.CANCELLED
    assert second_done.wait(1.0) and second_events[-1].state is JobState.CANCELLED
    assert started == [first.job_id]
    queue.shutdown()


def test_engine_exception_becomes_a_failed_event_and_the_queue_goes_on():
    queue = JobQueue()

    def broken(ctx):
        yield ctx.frame(0.1)
        raise ValueError("the style image is empty")

    _, events, done = collect(queue, broken)
    assert done.wait(5)
    assert events[-1].state is JobState.FAILED
    assert events[-1].error == "the style image is empty"
    _, events, done = collect(queue, counting_engine)
    assert done.wait(5) and events[-1].state is JobState.FINISHED
    queue.shutdown()


def test_cancelled_exception_type():
    ctx = RunContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        ctx.check_cancelled()


def test_progress_job_relays_progress_failure_and_cancel():
    def work(progress, cancelled):
        for i in range(3):
            progress(i / 3, f"step {i}")
        return "ok"

    ctx = RunContext()
    seen = []
    final = drive(progress_job(work, "all done")(ctx), ctx, seen.append)
    assert [f.message for f in seen] == ["step 0", "step 1", "step 2"]
    assert final.final and final.image is None and final.message == "all done"

    def broken(progress, cancelled):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        drive(progress_job(broken, "")(RunContext()), RunContext())

    started = threading.Event()

    def waits_for_cancel(progress, cancelled):
        started.set()
        while not cancelled():
            progress(0.5, "waiting")
            time.sleep(0.01)
        raise Cancelled()

    queue = JobQueue()
    handle, events, done = collect(queue, progress_job(waits_for_cancel, ""))
    assert started.wait(5)
    handle.cancel()
    assert done.wait(2) and events[-1].state is JobState.CANCELLED
    queue.shutdown()


def test_a_context_without_a_model_store_says_the_host_must_pass_one():
    with pytest.raises(RuntimeError, match="no model store"):
        _ = RunContext().models
