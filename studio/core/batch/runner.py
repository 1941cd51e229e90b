"""Running a job: skip verified items, render the rest inline, in a process pool or on Ray."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import glob
import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import threading
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.batch.errors import BatchError
from studio.core.batch.jobfile import BatchItem, Job, outputs_folder, pending_path
from studio.core.batch.manifest import Manifest, _now
from studio.core.batch.render import file_sha256
from studio.core.batch.workers import (
    _init_pool_worker,
    _item_device,
    _pool_task,
    _ray_task,
    _render,
    _Result,
    _WorkerState,
)
from studio.core.errors import describe_error
from studio.core.jobs import pick_device
from studio.core.models.store import ModelStore
from studio.core.outputs import Output, OutputError, OutputFolder
from studio.core.plugin import PluginRegistry, discover_plugins
from studio.core.ray_session import RayClusterError, ray_session

Engine = Literal["local", "ray"]
EventKind = Literal["planned", "started", "progress", "done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchEvent:
    """Progress of a batch: an item started/progressed/finished, or the plan (``planned``)."""

    kind: EventKind
    item: BatchItem | None = None
    fraction: float = 0.0
    message: str = ""
    to_render: int = 0


@dataclass
class BatchSummary:
    """How a run ended: items done, skipped (already done and verified), failed (with messages)."""

    total: int
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def lines(self, job: Job) -> list[str]:
        """A human summary, the failures with their messages."""
        by_index = {item.index: item for item in job.items}
        head = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
        if self.interrupted:
            unfinished = self.total - len(self.done) - len(self.skipped) - len(self.failed)
            head += f", {unfinished} not run (interrupted; run the job again to finish it)"
        result = [f"{head} in {self.seconds:.1f} s"]
        for index, message in sorted(self.failed.items()):
            result.append(f"  failed #{index} {by_index[index].output_name}: {message}")
        return result


def run_job(
    job: Job,
    *,
    engine: Engine = "local",
    address: str | None = None,
    workers: int | None = None,
    force: bool = False,
    on_event: Callable[[BatchEvent], None] | None = None,
    cancel: threading.Event | None = None,
    registry: PluginRegistry | None = None,
    models_root: Path | None = None,
) -> BatchSummary:
    """Render the items of ``job`` that are not done and verified; return the summary.

    ``engine="local"`` renders in this process when a GPU is used (or
    ``workers == 1``), else in a pool of ``workers`` processes (one per core by
    default); ``engine="ray"`` submits one Ray task per item (to ``address``, or
    a local Ray cluster). The manifest is written after every item. Ctrl+C or
    ``cancel`` stops the run; what was finished stays recorded. Each worker
    process builds its own model store on ``models_root`` (the user cache of
    the machine it runs on when None).
    """
    started = time.perf_counter()
    emit = on_event or (lambda _event: None)
    cancel = cancel or threading.Event()
    registry = registry or discover_plugins()
    job.output_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(job.manifest_path, job.path)
    hashes = _FileHashes()
    summary = BatchSummary(len(job.items))
    todo = []
    foreign = []
    for item in job.items:
        entry = manifest.items.get(item.output_name)
        inputs = hashes.of(item)
        if not force and entry is not None and _verified(entry, item, inputs):
            summary.skipped.append(item.index)
            continue
        if entry is None and item.output.exists() and not force:
            foreign.append(item.output_name)
        todo.append(item)
    if foreign:
        raise BatchError(
            f"{len(foreign)} output(s) already exist and were not made by this job, for example {foreign[0]!r} in "
            f"{job.output_dir}; move them away, change `output`, or run with --force to overwrite them"
        )
    for item in todo:
        _remove_partial_files(item.output)
        item.output.parent.mkdir(parents=True, exist_ok=True)
        manifest.items[item.output_name] = _entry(item, hashes.of(item), status="pending")
    manifest.save()
    emit(BatchEvent("planned", to_render=len(todo)))
    for index in summary.skipped:
        emit(BatchEvent("skipped", job.items[index - 1]))

    def record(item: BatchItem, result: _Result) -> None:
        if result.cancelled:
            return
        entry = _entry(item, hashes.of(item), status="failed" if result.error else "done")
        entry.update(sha256=result.sha256, outputs=result.outputs, seconds=round(result.seconds, 3), error=result.error)
        manifest.items[item.output_name] = entry
        manifest.save()
        if result.error:
            summary.failed[item.index] = result.error
            emit(BatchEvent("failed", item, message=result.error))
        else:
            summary.done.append(item.index)
            emit(BatchEvent("done", item, 1.0))

    try:
        if engine == "ray":
            _run_ray(todo, address, registry, models_root, record, emit, cancel)
        elif engine == "local":
            if workers is None:
                workers = 1 if _uses_gpu(todo, registry) else (os.cpu_count() or 1)
            if workers <= 1 or len(todo) <= 1:
                _run_inline(todo, registry, models_root, record, emit, cancel)
            else:
                _run_pool(todo, min(workers, len(todo)), registry, models_root, record, emit, cancel)
        else:
            raise ValueError(f"unknown engine {engine!r}; use local or ray")
    except KeyboardInterrupt:
        cancel.set()
    summary.interrupted = cancel.is_set() and len(summary.done) + len(summary.failed) < len(todo)
    summary.seconds = time.perf_counter() - started
    return summary


def _entry(item: BatchItem, inputs: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "index": item.index,
        "status": status,
        "output": item.output_name,
        "sha256": None,
        "outputs": {},
        "inputs": inputs,
        "recipe": _plain_json(item.recipe()),
        "studio_version": __version__,
        "finished": _now() if status != "pending" else None,
    }


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _verified(entry: Mapping[str, Any], item: BatchItem, inputs: dict[str, Any]) -> bool:
    """True when the manifest says the item is done with the same recipe and inputs and the file still matches."""
    if entry.get("status") != "done" or entry.get("recipe") != _plain_json(item.recipe()):
        return False
    if entry.get("inputs") != inputs or not item.output.is_file():
        return False
    folder = outputs_folder(item.output)
    recorded = entry.get("outputs") or {}
    if not all((folder / name).is_file() and file_sha256(folder / name) == sha for name, sha in recorded.items()):
        return False
    return file_sha256(item.output) == entry.get("sha256")


class _FileHashes:
    """sha256 of each input file, computed once per run."""

    def __init__(self) -> None:
        self._cache: dict[Path, str] = {}

    def of(self, item: BatchItem) -> dict[str, Any]:
        result = {}
        for path in item.files():
            if path not in self._cache:
                try:
                    self._cache[path] = file_sha256(path)
                except OSError as exc:
                    self._cache[path] = f"unreadable: {exc.strerror or exc}"
            result[str(path)] = self._cache[path]
        return result


def _remove_partial_files(output: Path) -> None:
    """Delete what an interrupted render of ``output`` left behind.

    That is atomic_write's ``.NAME.*.part``, and a pool worker's pending output and outputs folder.
    """
    pending = pending_path(output)
    for path in (output, pending):
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
            with contextlib.suppress(OSError):
                leftover.unlink()
    with contextlib.suppress(OSError):
        pending.unlink()
    shutil.rmtree(outputs_folder(pending), ignore_errors=True)


def _put_in_place(item: BatchItem, result: _Result) -> _Result:
    """Move a pool worker's output and outputs folder from their pending names to the item's (a cancelled item's go).

    Only the driver does this, as it records the item, so no output appears that the manifest does not list.
    """
    pending = pending_path(item.output)
    try:
        if result.cancelled:
            _remove_partial_files(item.output)
            return result
        if outputs_folder(pending).is_dir():
            shutil.rmtree(outputs_folder(item.output), ignore_errors=True)
            os.replace(outputs_folder(pending), outputs_folder(item.output))
        if result.sha256 is not None:
            os.replace(pending, item.output)
    except OSError as exc:
        _remove_partial_files(item.output)
        error = f"cannot put {item.output_name} in place: {describe_error(exc)}"
        return dataclasses.replace(result, sha256=None, outputs={}, error=error)
    return result


def _uses_gpu(items: Sequence[BatchItem], registry: PluginRegistry) -> bool:
    if all(_item_device(item, registry) == "cpu" for item in items):
        return False
    return pick_device() != "cpu"


Record = Callable[[BatchItem, _Result], None]
Emit = Callable[[BatchEvent], None]


def _run_inline(
    items: Sequence[BatchItem],
    registry: PluginRegistry,
    models_root: Path | None,
    record: Record,
    emit: Emit,
    cancel: threading.Event,
) -> None:
    state = _WorkerState(registry, ModelStore(models_root, registry.model_catalog()))
    for item in items:
        if cancel.is_set():
            return
        emit(BatchEvent("started", item))

        def progress(fraction: float, item: BatchItem = item) -> None:
            emit(BatchEvent("progress", item, fraction))

        record(item, _render(item, item.output, state, progress, cancel.is_set, _item_device(item, registry)))


def _run_pool(
    items: Sequence[BatchItem],
    workers: int,
    registry: PluginRegistry,
    models_root: Path | None,
    record: Record,
    emit: Emit,
    cancel: threading.Event,
) -> None:
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()
    stop = context.Event()
    by_index = {item.index: item for item in items}
    started: set[int] = set()
    with concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_pool_worker,
        initargs=(progress, stop, registry.plugins, models_root, os.getpid()),
    ) as pool:
        pending = {pool.submit(_pool_task, item): item for item in items}
        try:
            while pending:
                finished, _ = concurrent.futures.wait(
                    pending, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED
                )
                _drain(progress, by_index, started, emit)
                for future in finished:
                    item = pending.pop(future)
                    if not future.cancelled():
                        record(item, _put_in_place(item, _future_result(future, item)))
                if cancel.is_set() and not stop.is_set():
                    stop.set()
                    for future in pending:
                        future.cancel()
        except KeyboardInterrupt:
            cancel.set()
            stop.set()
            for future in pending:
                future.cancel()
            raise
        finally:
            if cancel.is_set():
                pool.shutdown(wait=True, cancel_futures=True)


def _future_result(future: concurrent.futures.Future[_Result], item: BatchItem) -> _Result:
    try:
        return future.result()
    except Exception as exc:  # a worker that died (killed, out of memory) fails its item only
        return _Result(item.index, 0.0, error=f"the worker process failed: {describe_error(exc)}")


def _drain(progress: Any, by_index: dict[int, BatchItem], started: set[int], emit: Emit) -> None:
    while True:
        try:
            index, fraction = progress.get_nowait()
        except queue.Empty:
            return
        item = by_index[index]
        if index not in started:
            started.add(index)
            emit(BatchEvent("started", item))
        emit(BatchEvent("progress", item, fraction))


def _run_ray(
    items: Sequence[BatchItem],
    address: str | None,
    registry: PluginRegistry,
    models_root: Path | None,
    record: Record,
    emit: Emit,
    cancel: threading.Event,
) -> None:
    import ray
    from ray.util.queue import Queue

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(ray_session(address))
        except RayClusterError as exc:
            raise BatchError(str(exc)) from exc
        gpus = ray.cluster_resources().get("GPU", 0) > 0 and any(_item_device(i, registry) is None for i in items)
        task = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=0)(_ray_task)
        plugins = ray.put(registry.plugins)
        progress = Queue(actor_options={"num_cpus": 0})
        by_index = {item.index: item for item in items}
        started: set[int] = set()
        shared: dict[Path, Any] = {}

        def data_of(path: Path) -> Any:
            if path not in shared:
                shared[path] = ray.put(path.read_bytes())
            return shared[path]

        pending = {}
        for item in items:
            try:
                refs = [data_of(path) for path in item.files()]
            except OSError as exc:
                record(item, _Result(item.index, 0.0, error=f"cannot read {exc.filename}: {exc.strerror}"))
                continue
            pending[task.remote(plugins, models_root, progress, item, *refs)] = item
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                _drain(progress, by_index, started, emit)
                for ref in ready:
                    item = pending.pop(ref)
                    record(item, _write_ray_result(item, ref, ray))
                if cancel.is_set():
                    for ref in pending:
                        ray.cancel(ref)
                    return
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref)
            raise


def _write_ray_result(item: BatchItem, ref: Any, ray: types.ModuleType) -> _Result:
    try:
        result: _Result = ray.get(ref)
    except Exception as exc:  # a task that crashed or a node that was lost fails its item only
        return _Result(item.index, 0.0, error=f"the Ray task failed: {describe_error(exc)}")
    if result.data is None:
        return result
    try:
        with atomic_write(item.output) as handle:
            handle.write(result.data)
        folder = OutputFolder(outputs_folder(item.output))
        for name, data in result.output_data.items():
            folder.write(Output(name, data=data))
    except (OSError, OutputError) as exc:
        return dataclasses.replace(result, data=None, output_data={}, sha256=None, error=describe_error(exc))
    if hashlib.sha256(result.data).hexdigest() != file_sha256(item.output):
        error = f"{item.output} does not read back as written"
        return dataclasses.replace(result, data=None, output_data={}, error=error)
    outputs = {written.name: written.sha256 for written in folder.written}
    return dataclasses.replace(result, data=None, output_data={}, outputs=outputs, sha256=file_sha256(item.output))
