"""Worker processes: the per-process worker state, local pool workers and Ray tasks."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.batch.jobfile import BatchItem, outputs_folder, pending_path
from studio.core.batch.render import StepOutputs, export_item, file_sha256, render_item
from studio.core.cancel import Cancelled
from studio.core.errors import describe_error
from studio.core.jobs import RunContext
from studio.core.models.store import ModelStore
from studio.core.params import split_list
from studio.core.plugin import PluginManifest, PluginRegistry


@dataclass(frozen=True)
class _Result:
    """What a worker reports for one item.

    ``outputs`` maps the names of the item's other outputs (in its outputs folder) to their sha256.
    ``data`` and ``output_data`` carry the files when the driver writes them (Ray).
    """

    index: int
    seconds: float
    sha256: str | None = None
    error: str | None = None
    data: bytes | None = None
    cancelled: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    output_data: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _WorkerState:
    """What a worker process keeps between items: the plugins and the model store (models load once)."""

    registry: PluginRegistry
    models: ModelStore
    progress: Any = None
    cancel: Any = None


_WORKER: _WorkerState | None = None


def _worker_state(plugins: Mapping[str, PluginManifest], models_root: Path | None) -> _WorkerState:
    """This process's worker state, made on first use with the driver's plugins.

    Its model store is on ``models_root`` (this machine's user cache when None).
    """
    global _WORKER  # noqa: PLW0603 - one state per worker process
    if _WORKER is None:
        registry = PluginRegistry(dict(plugins))
        _WORKER = _WorkerState(registry, ModelStore(models_root, registry.model_catalog()))
    return _WORKER


def _render(
    item: BatchItem,
    target: Path,
    state: _WorkerState,
    on_progress: Callable[[float], None] | None,
    cancelled: Callable[[], bool],
    device: str | None,
) -> _Result:
    started = time.perf_counter()
    outputs = StepOutputs(outputs_folder(target))
    ctx = RunContext(item.index, device=device, preview_interval_s=0.25, models=state.models, outputs=outputs)

    def progress(fraction: float) -> None:
        if cancelled():
            ctx.cancel()
        if on_progress is not None:
            on_progress(fraction)

    def written() -> dict[str, str]:
        return {w.name: w.sha256 for w in outputs.written}

    try:
        pixels = render_item(item, state.registry, ctx, progress, outputs)
        export_item(pixels, target, item.export_settings)
        return _Result(item.index, time.perf_counter() - started, sha256=file_sha256(target), outputs=written())
    except Cancelled:
        return _Result(item.index, time.perf_counter() - started, cancelled=True, outputs=written())
    except Exception as exc:  # one failing item is reported; the others go on
        return _Result(item.index, time.perf_counter() - started, error=describe_error(exc), outputs=written())


def _item_device(item: BatchItem, registry: PluginRegistry) -> str | None:
    accelerated = any(registry.plugins[s.plugin].accelerated for s in item.steps if s.plugin in registry.plugins)
    return None if accelerated else "cpu"


# --------------------------------------------------------------------------- local pool workers


_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _init_pool_worker(
    progress: Any, cancel: Any, plugins: Mapping[str, PluginManifest], models_root: Path | None, driver: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl+C stops
    _die_with(driver)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one process per core: no thread oversubscription
    state = _worker_state(plugins, models_root)
    state.progress, state.cancel = progress, cancel


def _die_with(driver: int) -> None:
    """End this process when its parent ``driver`` dies: at once on Linux (the kernel's SIGKILL), else within 0.5 s.

    On Linux the signal comes when the thread that started the pool ends, so
    the pool lives inside that thread's call (it does: ``_run_pool``).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != driver:  # the driver died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(driver,), name="studio-watch-driver", daemon=True).start()


def _watch_parent(driver: int) -> None:
    """Exit this process once its parent is no longer ``driver`` (the portable fallback of PR_SET_PDEATHSIG)."""
    while os.getppid() == driver:
        time.sleep(0.5)
    os._exit(1)


def _pool_task(item: BatchItem) -> _Result:
    assert _WORKER is not None, "the pool initializer sets up the worker"
    state = _WORKER
    report = _progress_reporter(state.progress, item.index)
    target = pending_path(item.output)
    return _render(item, target, state, report, state.cancel.is_set, _item_device(item, state.registry))


def _progress_reporter(progress: Any, index: int) -> Callable[[float], None]:
    """Put ``(index, 0.0)`` on the ``progress`` queue now, and a function that puts later fractions, 5 a second."""
    progress.put((index, 0.0))
    last = time.monotonic()

    def report(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 0.2:
            last = now
            progress.put((index, fraction))

    return report


# --------------------------------------------------------------------------- Ray tasks


def _ray_task(
    plugins: Mapping[str, PluginManifest], models_root: Path | None, progress: Any, item: BatchItem, *data: bytes
) -> _Result:
    """Render one item on a Ray worker from the file contents the driver sent; return the encoded output.

    ``progress`` is a Ray queue that gets ``(index, fraction)`` as the item renders.
    """
    state = _worker_state(plugins, models_root)
    report = _progress_reporter(progress, item.index)
    with tempfile.TemporaryDirectory(prefix="studio-batch-") as tmp:
        folder = Path(tmp)
        files = iter(data)
        source = None
        if item.input is not None:
            source = folder / "input" / item.input.name
            source.parent.mkdir()
            source.write_bytes(next(files))
        steps = []
        for number, call in enumerate(item.steps):
            params = dict(call.params)
            for key in call.files:
                local_paths = []
                for position, original in enumerate(split_list(params[key])):
                    local = folder / f"step{number}-{key}-{position}" / Path(original).name
                    local.parent.mkdir()
                    local.write_bytes(next(files))
                    local_paths.append(str(local))
                params[key] = ", ".join(local_paths)
            steps.append(dataclasses.replace(call, params=params))
        local_item = dataclasses.replace(item, input=source, steps=tuple(steps))
        target = folder / item.output.name
        result = _render(local_item, target, state, report, lambda: False, _item_device(item, state.registry))
        if result.error is None and not result.cancelled:
            folder = outputs_folder(target)
            output_data = {name: (folder / name).read_bytes() for name in result.outputs}
            result = dataclasses.replace(result, data=target.read_bytes(), output_data=output_data)
        return result
