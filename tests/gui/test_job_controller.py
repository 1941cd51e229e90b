"""The job controller's shutdown: a job that outlives its window is not heard from."""

import gc
import threading

from studio.core.jobs import JobState
from studio.core.models.store import ModelStore
from studio.qt.job_controller import JobController


def test_a_job_ending_after_shutdown_and_deletion_reports_nowhere(qtbot, tmp_path, monkeypatch):
    failures: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    controller = JobController(ModelStore(tmp_path / "models"))
    heard: list[JobState] = []
    release = threading.Event()
    started = threading.Event()

    def job(ctx):
        started.set()
        release.wait(10)
        yield ctx.frame(1.0, final=True)

    handle = controller.submit(job, lambda event: heard.append(event.state))
    assert started.wait(10)
    controller.shutdown(timeout=0.05)  # the job is still running: it ignores the cancel until released
    controller.deleteLater()
    qtbot.wait(10)
    del controller
    gc.collect()
    release.set()
    assert handle.wait(10)
    assert failures == [], "the worker thread raised on reporting to the deleted controller"
    assert heard == []
