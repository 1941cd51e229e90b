"""Long jobs that train a network: checkpoints, resume, pause, and a trained model in the store at the end.

A plugin's trainer is a generator like its engine, ``train(params, data, ctx)``,
run with a :class:`TrainContext`. It restores ``ctx.resume_state()`` when there
is one, saves ``ctx.save_checkpoint(tensors, meta)`` whenever
``ctx.checkpoint_due()``, stops early when ``ctx.time_up()``, yields frames
(those with an image are kept as samples, ``samples/step-NNNNNN.png`` in the run
folder) and ends with a final frame that emits the weights as
``Output("model.safetensors", data=...)`` and names the model it trained in
``info={"model": {"base": "<catalog id>"}}``. The host then registers the result
in the store as ``<base>-<run name>`` (:func:`train_plugin`). A run that ended
because its time was up (``--hours``) keeps its model and can be resumed: it
trains on from its last checkpoint and replaces that model when it ends again.

A run lives in its own folder::

    run.json                          plugin, params, data folder; the model id once it ended, and whether
                                      it ended because its time was up
    checkpoint.json                   the last checkpoint: its file and sha256 (written last)
    checkpoint-<step>.safetensors     its tensors
    samples/step-NNNNNN.png           sample previews
    ray/                              Ray Train's own records (``--engine ray``)

A model worth shipping is released into its plugin's ``assets/`` by the plugin's
release command (:func:`release_main`), from a finished run's weights or a run's
last checkpoint.

The same trainer runs on this machine (:func:`train_plugin`, or the GUI's lane,
:class:`TrainingQueue`) or inside Ray Train (:func:`train_on_ray`). Nothing here
imports torch, safetensors or ray until it is used.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import platformdirs

from studio.core.atomic import atomic_write
from studio.core.errors import ReadableError, describe_error
from studio.core.jobs import (
    PREVIEW_INTERVAL_S,
    EngineError,
    Frame,
    JobFn,
    JobHandle,
    JobQueue,
    Listener,
    RunContext,
    closed_after,
    drive,
)
from studio.core.models.spec import ModelSpec
from studio.core.outputs import Output, OutputFolder
from studio.core.params import make_params, params_to_dict, role_field
from studio.core.ray_session import RayClusterError, ray_session

if TYPE_CHECKING:
    import torch

    from studio.core.models.store import ModelStore

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"
RUN = "run.json"
SAMPLES = "samples"
MODEL_OUTPUT = "model.safetensors"
CHECKPOINT_INTERVAL_S = 300.0


class Trainer(Protocol):
    """A plugin's trainer: a generator of frames like an engine, run as a long job (see the module's docstring)."""

    def __call__(self, params: Any, data: Path, ctx: TrainContext) -> Iterator[Frame]: ...


class Trainable(Protocol):
    """What training reads of a plugin's manifest (a :class:`~studio.core.plugin.PluginManifest` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def accelerated(self) -> bool: ...

    @property
    def device(self) -> str | None: ...

    def trainer_function(self) -> Trainer: ...

    def train_params_class(self) -> type: ...


class TrainingError(ReadableError, RuntimeError):
    """A run cannot start, resume or finish; the message names the file or folder and what to do."""


# -- checkpoints ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state: the trainer's tensors and its JSON meta (``meta["step"]`` at least)."""

    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    trained_s: float
    path: Path


def _resume_hint(run_dir: Path) -> str:
    return (
        f"start the run again (without --resume, or in another --run-dir), or resume an earlier run with "
        f"--resume --run-dir DIR; {run_dir} is left as it is"
    )


class TrainContext(RunContext):
    """A :class:`RunContext` for a long job: its run folder, checkpoints, a time limit and pause.

    ``check_cancelled()`` blocks while the job is paused (:meth:`pause`) and
    raises :class:`Cancelled` once it is cancelled, paused or not. Time spent
    paused counts neither towards ``hours`` nor the checkpoint interval. On a
    Ray worker of rank > 0 (``rank``) checkpoints and samples are not written:
    rank 0 writes them for all.
    """

    def __init__(
        self,
        run_dir: Path,
        job_id: int = 0,
        *,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
        hours: float | None = None,
        rank: int = 0,
        device: str | None = None,
        preview_interval_s: float = PREVIEW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        models: ModelStore | None = None,
    ) -> None:
        super().__init__(job_id, device=device, preview_interval_s=preview_interval_s, clock=clock, models=models)
        self.run_dir = Path(run_dir)
        self.checkpoint_interval_s = checkpoint_interval_s
        self.hours = hours
        self.rank = rank
        self._state = threading.Condition()
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._last_checkpoint = 0.0
        self._saved_step: int | None = None
        self._trained_before = 0.0
        self._first_progress: tuple[float, float] | None = None

    # -- pause and cancel ---------------------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold the job at its next :meth:`check_cancelled` (the device is free for other jobs meanwhile)."""
        with self._state:
            if self._paused_since is None:
                self._paused_since = self._clock()

    def resume_running(self) -> None:
        """Let a paused job go on."""
        with self._state:
            if self._paused_since is not None:
                self._paused_total += self._clock() - self._paused_since
                self._paused_since = None
            self._state.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def cancel(self) -> None:
        """Stop the job at its next :meth:`check_cancelled`, also while paused; the last checkpoint stays."""
        super().cancel()
        with self._state:
            self._state.notify_all()

    def check_cancelled(self) -> None:
        """Wait while paused; raise :class:`Cancelled` if the job was cancelled."""
        with self._state:
            while self._paused_since is not None and not self.cancelled:
                self._state.wait()
        super().check_cancelled()

    # -- time -----------------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds this session has run, pauses left out."""
        with self._state:
            paused = self._paused_total
            if self._paused_since is not None:
                paused += self._clock() - self._paused_since
        return self._clock() - self._started - paused

    @property
    def trained_s(self) -> float:
        """Seconds of training behind the model: the resumed checkpoint's, plus this session's."""
        return self._trained_before + self.elapsed()

    def time_up(self) -> bool:
        """True once this session has run ``hours`` (never without ``hours``): the trainer should finish now."""
        return self.hours is not None and self.elapsed() >= self.hours * 3600.0

    def checkpoint_due(self) -> bool:
        """True once ``checkpoint_interval_s`` of running passed since the start or the last checkpoint."""
        return self.elapsed() - self._last_checkpoint >= self.checkpoint_interval_s

    def eta(self, progress: float) -> float | None:
        """Seconds left, from the progress made since this session's first frame (a resumed run starts late)."""
        if progress >= 1.0:
            return 0.0
        now = self.elapsed()
        if self._first_progress is None:
            self._first_progress = (progress, now)
            return None
        start, then = self._first_progress
        if progress <= start or now <= then:
            return None
        return (now - then) * (1.0 - progress) / (progress - start)

    # -- checkpoints ----------------------------------------------------------------------------------------------

    def save_checkpoint(self, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> Path:
        """Save a checkpoint atomically and return its file; ``meta`` is JSON and holds the ``step``.

        The tensors are written first (``checkpoint-<step>.safetensors``), then
        ``checkpoint.json`` naming them with their sha256: that write is the commit,
        so a crash at any moment leaves the previous checkpoint usable. Older tensor
        files are removed afterwards. A step already saved is not written again.
        """
        step = meta.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"a checkpoint's meta needs its step (an int >= 0), not {step!r}")
        name = f"checkpoint-{step:08d}.safetensors"
        path = self.run_dir / name
        if self.rank != 0 or step == self._saved_step:
            self._last_checkpoint = self.elapsed()
            return path
        import safetensors.torch

        data = safetensors.torch.save({key: value.detach().cpu().contiguous() for key, value in tensors.items()})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            handle.write(data)
        record = {
            "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "step": step,
            "meta": dict(meta),
            "trained_s": round(self.trained_s, 3),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        text = json.dumps(record, indent=2) + "\n"
        with atomic_write(self.run_dir / CHECKPOINT) as handle:
            handle.write(text.encode("utf-8"))
        for old in self.run_dir.glob("checkpoint-*.safetensors"):
            if old.name != name:
                old.unlink(missing_ok=True)
        self._saved_step = step
        self._last_checkpoint = self.elapsed()
        return path

    def resume_state(self) -> Checkpoint | None:
        """The last checkpoint, verified, or None when the run has none yet.

        A damaged or missing file is a :class:`TrainingError` naming it and what to do.
        """
        state = load_checkpoint(self.run_dir)
        if state is not None:
            self._trained_before = state.trained_s
            self._saved_step = state.step
        return state


@dataclass(frozen=True)
class _Index:
    file: str
    sha256: str
    step: int
    meta: dict[str, Any]
    trained_s: float


def _read_index(run_dir: Path) -> _Index | None:
    index = run_dir / CHECKPOINT
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
        found = _Index(str(record["file"]), str(record["sha256"]), int(record["step"]), dict(record["meta"]),
                       float(record.get("trained_s", 0.0)))  # fmt: skip
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise TrainingError(f"the checkpoint index {index} is damaged ({describe_error(exc)}); "
                            f"{_resume_hint(run_dir)}") from None  # fmt: skip
    if Path(found.file).name != found.file or not found.file.startswith("checkpoint-") or "\0" in found.file:
        raise TrainingError(f"{index} names {found.file!r}, not a checkpoint file; {_resume_hint(run_dir)}")
    return found


def saved_step(run_dir: Path) -> int | None:
    """The step of the last checkpoint in ``run_dir`` (from its index, not verified), or None if there is none."""
    index = _read_index(Path(run_dir))
    return None if index is None else index.step


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The checkpoint ``checkpoint.json`` in ``run_dir`` names, its sha256 verified; None if there is none."""
    run_dir = Path(run_dir)
    index = _read_index(run_dir)
    if index is None:
        return None
    path = run_dir / index.file
    expected = index.sha256
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
        raise TrainingError(f"the checkpoint {path} {problem}; {_resume_hint(run_dir)}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise TrainingError(
            f"the checkpoint {path} is damaged: its sha256 is {actual}, {CHECKPOINT} expects {expected}; "
            f"{_resume_hint(run_dir)}"
        )
    import safetensors.torch

    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # the hash matched: a file written damaged
        raise TrainingError(f"the checkpoint {path} cannot be read ({exc}); {_resume_hint(run_dir)}") from exc
    return Checkpoint(index.step, tensors, index.meta, index.trained_s, path)


def optimizer_state(optimizer: torch.optim.Optimizer, prefix: str = "optimizer.") -> tuple[dict[str, Any], Any]:
    """An optimizer's state as checkpoint tensors (``<prefix><param>.<key>``) and its JSON-able rest.

    Put the tensors in ``save_checkpoint``'s tensors and the rest in its meta;
    :func:`load_optimizer_state` restores both.
    """
    state = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param, values in state["state"].items():
        for key, value in values.items():
            if hasattr(value, "detach"):
                tensors[f"{prefix}{param}.{key}"] = value
            else:
                plain.setdefault(str(param), {})[key] = value
    return tensors, {"groups": state["param_groups"], "plain": plain}


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, Any], rest: Any, prefix: str = "optimizer."
) -> None:
    """Restore what :func:`optimizer_state` saved into ``optimizer`` (made for the same parameters)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            param, _, key = name[len(prefix) :].partition(".")
            state.setdefault(int(param), {})[key] = value
    for param, values in rest["plain"].items():
        state.setdefault(int(param), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": rest["groups"]})


# -- releasing a trained model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """What a release put in a plugin's ``assets/``: the file, its sha256 and size to pin in the plugin's model
    spec, and the network's shape."""

    path: Path
    sha256: str
    size_mb: float
    config: Any


def float16_weights(net: torch.nn.Module, metadata: Mapping[str, str]) -> bytes:
    """``net``'s state dict as safetensors bytes, parameters in float16 and buffers as they are, with ``metadata``."""
    import safetensors.torch

    parameters = {name for name, _ in net.named_parameters()}
    tensors = {
        name: (value.half() if name in parameters else value).detach().cpu().contiguous()
        for name, value in net.state_dict().items()
    }
    return safetensors.torch.save(tensors, metadata=dict(metadata))


def prefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors named ``<prefix>...``, the prefix removed: one network's state dict among a checkpoint's."""
    return {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}


def training_state(
    nets: Mapping[str, torch.nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Checkpoint tensors of networks and optimizers, each under ``<name>.``, and the optimizers' JSON-able rest
    by name, for the checkpoint's meta: what :func:`restore_training_state` puts back."""
    tensors: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for name, net in nets.items():
        tensors |= {f"{name}.{key}": value for key, value in net.state_dict().items()}
    for name, optimizer in optimizers.items():
        saved, rest[name] = optimizer_state(optimizer, f"{name}.")
        tensors |= saved
    return tensors, rest


def restore_training_state(
    state: Checkpoint, nets: Mapping[str, torch.nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]
) -> None:
    """Load what :func:`training_state` saved in ``state`` into the same networks and optimizers."""
    for name, net in nets.items():
        net.load_state_dict(prefixed(state.tensors, f"{name}."))
    for name, optimizer in optimizers.items():
        load_optimizer_state(optimizer, state.tensors, state.meta[name], f"{name}.")


def checkpoint_network(run_dir: Path, name: str) -> tuple[dict[str, torch.Tensor], int]:
    """The state dict of the network :func:`training_state` saved as ``name`` in ``run_dir``'s last checkpoint,
    and the checkpoint's step; a ValueError when the run has no checkpoint yet."""
    checkpoint = load_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"{run_dir} has no checkpoint yet; wait for the first one (--checkpoint-every)")
    return prefixed(checkpoint.tensors, f"{name}."), checkpoint.step


def release_weights(
    weights: Path, target: Path, check: Callable[[dict[str, torch.Tensor], dict[str, str]], Any]
) -> Release:
    """Copy a trained model's weights file to ``target`` (in a plugin's ``assets/``).

    ``check(tensors, metadata)`` returns the network's shape, or raises ValueError
    when the file is not weights of the plugin's network.
    """
    import safetensors
    import safetensors.torch

    data = Path(weights).read_bytes()
    with safetensors.safe_open(str(weights), "pt") as handle:
        metadata = handle.metadata() or {}
    config = check(safetensors.torch.load(data), metadata)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as handle:
        handle.write(data)
    return Release(target, hashlib.sha256(data).hexdigest(), round(len(data) / 1e6, 1), config)


def release_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    pin_in: str,
    release: Callable[[Path, argparse.Namespace], Release],
    checkpoint_weights: Callable[[Path], bytes],
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """A plugin's release command, ``PROG release WEIGHTS`` or ``PROG release --checkpoint RUN_DIR``.

    ``release(weights, options)`` copies a weights file into the plugin's assets;
    a run's last checkpoint is first written as ``checkpoint-model.safetensors`` in
    the run folder by ``checkpoint_weights(run_dir)``. Prints the sha256 and size to
    pin in ``pin_in`` (the plugin's models module). ``options`` adds the plugin's
    own options to the release command.
    """
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    command = sub.add_parser("release", help="copy a trained model into assets/ and print what to pin")
    given = command.add_mutually_exclusive_group(required=True)
    given.add_argument("weights", type=Path, nargs="?", help="the trained model's .safetensors file")
    given.add_argument("--checkpoint", type=Path, metavar="RUN_DIR", help="release a run's last checkpoint")
    if options is not None:
        options(command)
    parsed = parser.parse_args(argv)
    source = parsed.weights or parsed.checkpoint
    try:
        if parsed.checkpoint is not None:
            data = checkpoint_weights(parsed.checkpoint)
            parsed.weights = parsed.checkpoint / "checkpoint-model.safetensors"
            with atomic_write(parsed.weights) as handle:
                handle.write(data)
        done = release(parsed.weights, parsed)
    except (OSError, ValueError) as exc:
        print(f"cannot release {source}: {describe_error(exc)}", file=sys.stderr)
        return 1
    print(f"copied {parsed.weights} ({done.config}) to {done.path}; pin it in {pin_in}:")
    print(f'WEIGHTS_SHA256 = "{done.sha256}"')
    print(f"WEIGHTS_SIZE_MB = {done.size_mb}")
    return 0


# -- runs -------------------------------------------------------------------------------------------------------


def default_runs_root() -> Path:
    """``<user data dir>/studio/training``: where runs go unless ``--run-dir`` says otherwise."""
    return Path(platformdirs.user_data_dir("studio", appauthor=False)) / "training"


@dataclass(frozen=True)
class TrainingRun:
    """One run of a plugin's trainer, as ``run.json`` in its folder records it."""

    plugin: str
    run_dir: Path
    data: Path
    params: dict[str, Any]
    created: str
    model_id: str | None = None
    time_up: bool = False  # it ended because its time limit ran out, before its last step

    @property
    def name(self) -> str:
        return self.run_dir.name

    def trained_model_id(self, base: str) -> str:
        """The id its model gets in the store when trained from catalog model ``base``."""
        return f"{base}-{self.name}"

    @property
    def owns_model(self) -> bool:
        """Whether ``model_id`` was registered by this folder (a copied folder names its original's model)."""
        return self.model_id is not None and self.model_id.endswith(self.trained_model_id(""))

    @property
    def resumable(self) -> bool:
        """Whether the run can train on: it has no model yet, or it stopped when its time was up."""
        return self.model_id is None or self.time_up

    def save(self) -> None:
        """Write ``run.json`` atomically."""
        record = {
            "plugin": self.plugin,
            "data": str(self.data),
            "params": self.params,
            "created": self.created,
            "model_id": self.model_id,
            "time_up": self.time_up,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.run_dir / RUN) as handle:
            handle.write((json.dumps(record, indent=2) + "\n").encode("utf-8"))

    def moved_data(self, data: Path) -> TrainingRun:
        """This run reading its pictures from ``data`` from now on (saved)."""
        run = dataclasses.replace(self, data=Path(data).resolve())
        run.save()
        return run

    def make_params(self, manifest: Trainable) -> Any:
        """The run's params as the plugin's train params dataclass."""
        return make_params(manifest.train_params_class(), self.params)


def new_run(manifest: Trainable, params: Any, data: Path, run_dir: Path | None = None) -> TrainingRun:
    """Create a run folder (``<runs root>/<plugin>/<date-time>`` unless given) and its ``run.json``.

    A folder that holds a run already is a :class:`TrainingError`: resume it or choose another.
    """
    now = datetime.now(UTC)
    if run_dir is None:
        folder = default_runs_root() / manifest.id
        run_dir = folder / now.strftime("%Y%m%d-%H%M%S")
        for count in range(2, 1000):
            if not run_dir.exists():
                break
            run_dir = folder / f"{now.strftime('%Y%m%d-%H%M%S')}-{count}"
    if (run_dir / RUN).exists():
        raise TrainingError(f"{run_dir} holds a run already: continue it with --resume, or choose another --run-dir")
    run = TrainingRun(manifest.id, Path(run_dir), Path(data).resolve(), params_to_dict(params),
                      now.isoformat(timespec="seconds"))  # fmt: skip
    run.save()
    return run


def open_run(run_dir: Path) -> TrainingRun:
    """The run recorded in ``run_dir``; a missing or damaged ``run.json`` is a :class:`TrainingError`."""
    path = Path(run_dir) / RUN
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return TrainingRun(
            plugin=str(record["plugin"]),
            run_dir=Path(run_dir),
            data=Path(record["data"]),
            params=dict(record["params"]),
            created=str(record["created"]),
            model_id=None if record.get("model_id") is None else str(record["model_id"]),
            time_up=record.get("time_up") is True,
        )
    except FileNotFoundError:
        raise TrainingError(f"{run_dir} holds no training run (no {RUN}); start one without --resume") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path} is damaged ({describe_error(exc)}); start the run again") from None


def latest_run(plugin_id: str, root: Path | None = None) -> Path | None:
    """The most recently created run folder of ``plugin_id`` under ``root`` (the default runs root), or None.

    Folders whose ``run.json`` cannot be read are passed over.
    """
    runs = []
    for path in ((root or default_runs_root()) / plugin_id).glob(f"*/{RUN}"):
        try:
            runs.append(open_run(path.parent))
        except TrainingError as exc:
            log.warning("%s", exc)
    latest = max(runs, key=lambda run: (run.created, run.name), default=None)
    return None if latest is None else latest.run_dir


# -- running a trainer -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedModel:
    """What a finished run put in the store."""

    model_id: str
    spec: ModelSpec
    steps: int
    trained_s: float


def trainer_frames(manifest: Trainable, params: Any, data: Path, ctx: TrainContext) -> Iterator[Frame]:
    """The trainer's frames (the ones with an image also written as samples); returns its final frame.

    The final frame is not yielded but returned (``final = yield from ...``),
    with the outputs the trainer emitted and ``info["trained_s"]``.
    """
    samples = OutputFolder(ctx.run_dir)
    count = 0
    frames = manifest.trainer_function()(params, Path(data), ctx)
    with closed_after(frames):
        for frame in frames:
            ctx.check_cancelled()
            if frame.final:
                info = {**frame.info, "trained_s": round(ctx.trained_s, 3), "time_up": ctx.time_up()}
                return dataclasses.replace(frame, info=info, outputs=frame.outputs + ctx.take_outputs())
            if frame.image is not None and ctx.rank == 0:
                count += 1
                step = int(frame.info.get("step", count))
                samples.write(Output(f"{SAMPLES}/step-{step:06d}.png", image=frame.image))
            yield frame
    ctx.check_cancelled()
    raise EngineError(f"the trainer of {manifest.title} stopped without producing a model")


def training_job(manifest: Trainable, run: TrainingRun) -> JobFn:
    """A job (frame generator) that runs ``run`` to the end and registers its model in ``ctx``'s store.

    ``ctx`` must be a :class:`TrainContext` on ``run.run_dir``. The final frame
    carries ``info["trained_model"]``, the new model's id.
    """

    def job(ctx: RunContext) -> Iterator[Frame]:
        if not isinstance(ctx, TrainContext):
            raise TypeError(f"a training job runs with a TrainContext, not a {type(ctx).__name__}")
        final = yield from trainer_frames(manifest, run.make_params(manifest), run.data, ctx)
        trained = register_trained_model(manifest, run, final, ctx.models.store)
        yield dataclasses.replace(final, info={**final.info, "trained_model": trained.model_id})

    return job


def train_plugin(
    manifest: Trainable, run: TrainingRun, ctx: TrainContext, on_frame: Callable[[Frame], None] | None = None
) -> TrainedModel:
    """Run ``run`` with ``ctx`` (made on ``run.run_dir`` with a store) and register the model it trained.

    Raises :class:`Cancelled` (the last checkpoint stays), the trainer's errors,
    or :class:`TrainingError` when its result is not a usable model.
    """
    final = drive(training_job(manifest, run)(ctx), ctx, on_frame)
    model_id = str(final.info["trained_model"])
    spec = ctx.models.store.spec(model_id)
    return TrainedModel(model_id, spec, int(final.info.get("step", 0)), float(final.info["trained_s"]))


def register_trained_model(manifest: Trainable, run: TrainingRun, final: Frame, store: ModelStore) -> TrainedModel:
    """Put the model of a trainer's final frame in ``store`` as ``<base>-<run name>`` (replacing the one of an
    earlier session of the run), and record in the run that it ended, and whether its time was up."""
    weights = next((o.data for o in final.outputs if o.name == MODEL_OUTPUT and o.data is not None), None)
    model = final.info.get("model")
    if weights is None or not isinstance(model, Mapping) or "base" not in model:
        raise TrainingError(
            f"the trainer of {manifest.title} ended without its model: its final frame must emit "
            f'Output("{MODEL_OUTPUT}", data=...) and carry info={{"model": {{"base": MODEL_ID}}}}'
        )
    base = store.spec(str(model["base"]))
    steps = int(final.info.get("step", 0))
    trained_s = float(final.info.get("trained_s", 0.0))
    params = run.make_params(manifest)
    seed = role_field(type(params), "seed")
    seed_text = f", seed {getattr(params, seed.name)}" if seed is not None else ""
    time_up = bool(final.info.get("time_up", False))
    ended = "stopped when its time was up" if time_up else "finished"
    spec = dataclasses.replace(
        base,
        id=run.trained_model_id(base.id),
        title=str(model.get("title") or f"{base.title}, trained {run.name}"),
        description=str(model.get("description") or base.description),
        provenance=(
            f"Trained by `studio train {manifest.id}` from {base.id} on {run.data}: {steps} steps{seed_text}, "
            f"{_duration(trained_s)} of training, {ended} {datetime.now(UTC).isoformat(timespec='seconds')}; "
            f"run folder {run.run_dir}."
        ),
        base=base.id,
    )
    store.register_trained(spec, weights)
    dataclasses.replace(run, model_id=spec.id, time_up=time_up).save()
    return TrainedModel(spec.id, store.spec(spec.id), steps, trained_s)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


# -- Ray Train ------------------------------------------------------------------------------------------------------


def train_on_ray(
    manifest: Trainable,
    run: TrainingRun,
    store: ModelStore,
    *,
    address: str | None = None,
    workers: int = 1,
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    hours: float | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> TrainedModel:
    """Run ``run`` inside Ray Train (a ``TorchTrainer``) and register its model in ``store`` here.

    Ray is started locally unless it is already initialised or ``address``
    names a cluster. Each of ``workers`` runs the trainer with a
    :class:`TrainContext` of its rank (on a GPU when the cluster has one per
    worker and the plugin is accelerated); ``torch.distributed`` is set up by
    Ray, so a trainer can wrap its network with DDP. Rank 0 writes checkpoints
    and samples and sends its frames here (``on_frame`` is called on a helper
    thread). The run folder and the data folder must be the same paths on
    every node: on one machine they are; on a real cluster put them on shared
    storage (NFS or similar) mounted alike everywhere, and install the plugin
    on every node. Ctrl+C here ends the Ray job; the last checkpoint stays.
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Empty, Queue

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(ray_session(address))
        except RayClusterError as exc:
            raise TrainingError(str(exc)) from exc
        use_gpu = manifest.accelerated and ray.cluster_resources().get("GPU", 0) >= workers
        frames = Queue(actor_options={"num_cpus": 0})
        config = {
            "manifest": manifest,
            "run": run,
            "frames": frames,
            "checkpoint_interval_s": checkpoint_interval_s,
            "hours": hours,
        }
        trainer = TorchTrainer(
            _ray_worker,
            train_loop_config=config,
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(name="ray", storage_path=str(run.run_dir.resolve())),
        )
        received: list[Frame] = []
        done = threading.Event()

        def forward() -> None:
            while not (done.is_set() and frames.empty()):
                try:
                    frame = frames.get(timeout=0.2)
                except Empty:
                    continue
                if frame.final:
                    received.append(frame)
                elif on_frame is not None:
                    on_frame(frame)

        forwarder = threading.Thread(target=forward, name="studio-train-ray-frames", daemon=True)
        forwarder.start()
        try:
            trainer.fit()
        except Exception as exc:  # Ray wraps the trainer's error; say what it was
            raise TrainingError(f"{_ray_cause(exc)} (in Ray Train)") from exc
        finally:
            done.set()
            forwarder.join()
        if not received:
            raise TrainingError(f"training {manifest.title} on Ray ended without a model")
        return register_trained_model(manifest, run, received[-1], store)


def _ray_cause(exc: BaseException) -> str:
    """The innermost error of a Ray Train failure, described."""
    errors = getattr(exc, "worker_failures", None)
    if isinstance(errors, Mapping) and errors:
        return describe_error(next(iter(errors.values())))
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return describe_error(exc)


def _ray_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: run the trainer; rank 0 sends its frames to the driver."""
    import ray.train
    import ray.train.torch

    manifest: Trainable = config["manifest"]
    run: TrainingRun = config["run"]
    rank = ray.train.get_context().get_world_rank()
    device = str(ray.train.torch.get_device()) if manifest.accelerated else "cpu"
    ctx = TrainContext(
        run.run_dir,
        checkpoint_interval_s=config["checkpoint_interval_s"],
        hours=config["hours"],
        rank=rank,
        device=device,
    )
    frames = trainer_frames(manifest, run.make_params(manifest), run.data, ctx)
    while True:
        try:
            frame = next(frames)
        except StopIteration as stop:
            if rank == 0:
                config["frames"].put(stop.value)
            return
        if rank == 0:
            config["frames"].put(frame)


# -- the GUI's lane ---------------------------------------------------------------------------------------------------


class TrainingHandle(JobHandle):
    """A submitted long job: cancel, pause or resume it, or wait for it."""

    ctx: TrainContext

    def pause(self) -> None:
        self.ctx.pause()

    def resume_running(self) -> None:
        self.ctx.resume_running()

    @property
    def paused(self) -> bool:
        return self.ctx.paused


class TrainingQueue(JobQueue):
    """The lane for long jobs: its own threads beside the interactive :class:`JobQueue`.

    A long job trains on its device while interactive jobs keep running on
    theirs; pause it (:meth:`TrainingHandle.pause`) to give them the device.
    Events are those of a :class:`JobQueue` (preview | finished | cancelled |
    failed); the finished frame's ``info["trained_model"]`` is the new model's id.
    """

    def __init__(
        self,
        models: ModelStore,
        preview_interval_s: float = PREVIEW_INTERVAL_S,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        super().__init__(preview_interval_s, models)
        self.checkpoint_interval_s = checkpoint_interval_s

    def train(
        self,
        manifest: Trainable,
        run: TrainingRun,
        listener: Listener,
        *,
        device: str | None = None,
        hours: float | None = None,
    ) -> TrainingHandle:
        """Queue ``run`` (made with :func:`new_run`, or :func:`open_run` to resume it from its checkpoint)."""

        def handle(job_id: int) -> TrainingHandle:
            ctx = TrainContext(
                run.run_dir,
                job_id,
                checkpoint_interval_s=self.checkpoint_interval_s,
                hours=hours,
                device=device or manifest.device,
                preview_interval_s=self.preview_interval_s,
                models=self.models,
            )
            return TrainingHandle(job_id, ctx, training_job(manifest, run), listener)

        return self._enqueue(handle)


__all__ = [
    "CHECKPOINT_INTERVAL_S",
    "Checkpoint",
    "Release",
    "TrainContext",
    "Trainable",
    "TrainedModel",
    "Trainer",
    "TrainingError",
    "TrainingHandle",
    "TrainingQueue",
    "TrainingRun",
    "checkpoint_network",
    "default_runs_root",
    "float16_weights",
    "latest_run",
    "load_checkpoint",
    "load_optimizer_state",
    "new_run",
    "open_run",
    "optimizer_state",
    "prefixed",
    "register_trained_model",
    "release_main",
    "release_weights",
    "restore_training_state",
    "saved_step",
    "train_on_ray",
    "train_plugin",
    "trainer_frames",
    "training_job",
    "training_state",
]
