"""The ``studio`` command: the GUI, and headless commands sharing the same core."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from studio import __version__

if TYPE_CHECKING:
    from studio.core.batch import BatchEvent
    from studio.core.inputs import InputSpec
    from studio.core.models.store import ModelStore
    from studio.core.outputs import OutputFolder
    from studio.core.plugin import PluginRegistry

COMMANDS = ("plugins", "run", "models", "render", "train")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``studio`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        parser = _command_parser()
        options = parser.parse_args(args)
        return int(options.handler(options))
    parser = argparse.ArgumentParser(prog="studio", description="Make images with neural networks.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("files", nargs="*", type=Path, help="images or .studio projects to open")
    parser.epilog = (
        "commands: studio plugins | studio run PLUGIN ... | studio models ... (studio COMMAND --help for details)"
    )
    options = parser.parse_args(args)
    return gui_main(options.files)


def gui_main(files: Sequence[Path] | None = None) -> NoReturn:
    """Open the main window (entry point of ``studio-gui``) and end the process when it closes."""
    from studio.qt.app import run_app

    code = run_app([Path(f) for f in (files if files is not None else sys.argv[1:])])
    # The window saved what it keeps when it closed; tearing down torch's and Qt's modules and the worker threads
    # one by one would only make quitting take seconds.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio")
    sub = parser.add_subparsers(dest="command", required=True)
    plugins = sub.add_parser("plugins", help="list installed plugins and the ones that failed to load")
    plugins.set_defaults(handler=_cmd_plugins)
    run = sub.add_parser("run", help="run a plugin headless")
    run.add_argument("plugin", help="plugin id or alias (see `studio plugins`)")
    run.add_argument("--input", "-i", type=Path, help="input image (the document's picture)")
    run.add_argument("--mask", type=Path, help="mask picture: white (or opaque) where the plugin works")
    run.add_argument("--labels", type=Path, help="label map: regions painted in flat colours")
    run.add_argument(
        "--extra",
        dest="extras",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an extra input the plugin declares, such as a style picture (repeatable; `studio plugins` lists them)",
    )
    run.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter (repeatable); `--set help` lists them",
    )
    run.add_argument(
        "--size",
        help="canvas size WIDTHxHEIGHT when there is no input (default: the label map's or mask's, else 1024x1024)",
    )
    run.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    run.add_argument("--output", "-o", type=Path, help="output image (.png, .jpg, .tif, .webp, .bmp)")
    run.add_argument(
        "--outputs",
        type=Path,
        help="folder for the plugin's other outputs (frames, GIFs, grids); default: the output's name without suffix",
    )
    run.set_defaults(handler=_cmd_run)
    _add_models_parser(sub)
    _add_render_parser(sub)
    _add_train_parser(sub)
    return parser


def _add_models_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, install, verify, remove or import pretrained networks")
    msub = models.add_subparsers(dest="models_command", required=True)
    listing = msub.add_parser("list", help="every known model: status, size, license, which plugins use it")
    listing.set_defaults(handler=_cmd_models_list)
    install = msub.add_parser("install", help="fetch, verify and cache models")
    install.add_argument("ids", nargs="*", metavar="ID", help="model ids (see `studio models list`)")
    install.add_argument("--defaults", action="store_true", help="every default model this machine can get")
    install.add_argument("--force", action="store_true", help="install again even if already installed")
    install.set_defaults(handler=_cmd_models_install)
    verify = msub.add_parser("verify", help="re-check the cached files of installed models")
    verify.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: every installed model)")
    verify.set_defaults(handler=_cmd_models_verify)
    remove = msub.add_parser("remove", help="delete a model's cached files")
    remove.add_argument("ids", nargs="+", metavar="ID")
    remove.set_defaults(handler=_cmd_models_remove)
    import_ = msub.add_parser("import", help="install a model from a weights file you have")
    import_.add_argument("id", metavar="ID")
    import_.add_argument("file", type=Path, metavar="FILE")
    import_.add_argument(
        "--as", dest="as_id", metavar="NAME", help="install it as another ID under its own id NAME, to keep several"
    )
    import_.set_defaults(handler=_cmd_models_import)


def _add_render_parser(sub: argparse._SubParsersAction) -> None:
    render = sub.add_parser("render", help="render a batch job file (resumable; locally or on a Ray cluster)")
    render.add_argument("job", type=Path, metavar="JOBS.toml", help="the job file")
    render.add_argument("--engine", choices=("local", "ray"), default="local", help="where items run (default local)")
    render.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray)")
    render.add_argument("--workers", type=int, help="local engine: processes (default: one per core, 1 on a GPU)")
    render.add_argument("--dry-run", action="store_true", help="list the items and their outputs, render nothing")
    render.add_argument("--force", action="store_true", help="render every item again, overwriting outputs")
    render.set_defaults(handler=_cmd_render)


def _cmd_render(options: argparse.Namespace) -> int:
    from studio.core.batch import BatchError, JobFileError, iter_outputs, load_job, run_job
    from studio.core.plugin import discover_plugins

    if options.workers is not None and options.workers < 1:
        return _fail("--workers must be 1 or more", 2)
    if options.address and options.engine != "ray":
        return _fail("--address is for --engine ray", 2)
    registry = discover_plugins()
    try:
        job = load_job(options.job, registry)
    except JobFileError as exc:
        print(f"studio: error: the job file is wrong:\n{exc}", file=sys.stderr)
        return 2
    if options.dry_run:
        for item, state in iter_outputs(job):
            source = item.input.name if item.input else f"{item.size[0]}x{item.size[1]} canvas"
            steps = " -> ".join(s.plugin for s in item.steps)
            print(f"{item.index:>5}  {state:<8} {source} -> {steps} -> {item.output_name}")
        print(f"{len(job.items)} items; outputs in {job.output_dir}; manifest {job.manifest_path.name}")
        return 0
    try:
        with _BatchBars(len(job.items)) as bars:
            summary = run_job(
                job,
                engine=options.engine,
                address=options.address,
                workers=options.workers,
                force=options.force,
                on_event=bars.update,
                registry=registry,
            )
    except BatchError as exc:
        return _fail(str(exc), 2)
    except OSError as exc:
        return _fail(f"cannot write the manifest or outputs in {job.output_dir}: {exc}")
    for line in summary.lines(job):
        print(line, file=sys.stderr if summary.failed and line.startswith("  ") else sys.stdout)
    return summary.exit_code


class _BatchBars:
    """Two tqdm bars for ``studio render``: all items (with ETA) and the current item."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __enter__(self) -> _BatchBars:
        from tqdm import tqdm

        self.overall = tqdm(total=self.total, desc="items", unit="item", position=0)
        self.current = tqdm(total=100, desc="current", unit="%", position=1, bar_format="{desc}: {bar}| {n:.0f}%")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.current.close()
        self.overall.close()

    def update(self, event: BatchEvent) -> None:
        item = event.item
        if event.kind == "planned":
            self.overall.reset(total=event.to_render)
        elif item is not None and event.kind in ("started", "progress"):
            self.current.set_description_str(f"#{item.index} {item.output_name}", refresh=False)
            self.current.n = round(event.fraction * 100)
            self.current.refresh()
        elif item is not None and event.kind in ("done", "failed"):
            if event.kind == "failed":
                self.overall.write(f"failed #{item.index} {item.output_name}: {event.message}")
            self.overall.update(1)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a plugin's network: a long job with checkpoints, resumable")
    train.add_argument("plugin", help="plugin id or alias (see `studio plugins`)")
    train.add_argument("--data", type=Path, metavar="FOLDER", help="the pictures to train on")
    train.add_argument(
        "--resume", action="store_true", help="continue the latest run (or --run-dir) from its last checkpoint"
    )
    train.add_argument(
        "--hours",
        type=float,
        help="finish after this many hours of this session, with the model so far (--resume trains on later)",
    )
    train.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a training parameter of a new run (repeatable); `--set help` lists them",
    )
    train.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a TOML table of training parameters for a new run (a recorded configuration); --set overrides it",
    )
    train.add_argument("--run-dir", type=Path, metavar="DIR", help="the run's folder (default: a new one per run)")
    train.add_argument(
        "--checkpoint-every", type=float, default=300.0, metavar="SECONDS", help="seconds between checkpoints"
    )
    train.add_argument("--engine", choices=("local", "ray"), default="local", help="where it trains (default local)")
    train.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray)")
    train.add_argument("--workers", type=int, default=1, help="Ray engine: training workers (default 1)")
    train.add_argument("--device", help="local engine: cpu, cuda or mps (default: the best available)")
    train.set_defaults(handler=_cmd_train)


def _config_table(path: Path) -> dict[str, object]:
    """The parameters in the TOML file ``path``; a :class:`~studio.core.params.ParamError` naming it otherwise."""
    import tomllib

    from studio.core.params import ParamError

    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParamError(f"{path}: {exc}; give a TOML file of key = value lines") from exc


def _cmd_train(options: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.cancel import Cancelled
    from studio.core.errors import describe_error
    from studio.core.jobs import Frame
    from studio.core.params import ParamError, make_params, parse_assignments
    from studio.core.plugin import discover_plugins
    from studio.core.training import (
        TrainContext,
        TrainingError,
        default_runs_root,
        latest_run,
        new_run,
        open_run,
        saved_step,
        train_on_ray,
        train_plugin,
    )

    if options.engine != "ray" and (options.address or options.workers != 1):
        return _fail("--address and --workers are for --engine ray", 2)
    if options.engine == "ray" and options.device:
        return _fail("--device is for --engine local (Ray gives each worker its device)", 2)
    spans = [options.checkpoint_every] + ([options.hours] if options.hours is not None else [])
    if not all(0 < span < math.inf for span in spans) or options.workers < 1:
        return _fail("--hours and --checkpoint-every must be finite numbers more than 0, --workers at least 1", 2)
    try:
        device = _checked_device(options.device)
    except ValueError as exc:
        return _fail(str(exc), 2)
    registry = discover_plugins()
    try:
        manifest = registry.get(options.plugin)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    if manifest.trainer is None:
        return _fail(f"{manifest.id} cannot be trained: it declares no trainer", 2)
    if options.assignments == ["help"]:
        _print_param_help(manifest.train_params_class())
        return 0
    try:
        if options.resume:
            if options.assignments or options.config:
                return _fail("--set and --config cannot change a resumed run: its parameters are in its run.json", 2)
            run_dir = options.run_dir or latest_run(manifest.id)
            if run_dir is None:
                root = default_runs_root() / manifest.id
                return _fail(f"no run of {manifest.id} to resume in {root}; start one with --data FOLDER", 2)
            run = open_run(run_dir)
            if run.plugin != manifest.id:
                return _fail(f"{run_dir} is a run of {run.plugin}, not of {manifest.id}", 2)
            if not run.resumable:
                print(f"{run_dir} finished already; its model is {run.model_id}")
                return 0
            if options.data is not None:
                run = run.moved_data(options.data)
            step = saved_step(run.run_dir)
            print(f"resuming {run.run_dir} from step {step if step is not None else '0 (no checkpoint yet)'}")
            if run.model_id is not None:
                model = f"its model {run.model_id} is replaced" if run.owns_model else "its model is registered"
                print(f"it stopped when its time was up; {model} when it ends again")
        else:
            if options.data is None or not options.data.is_dir():
                return _fail("--data FOLDER is required: the folder of pictures to train on", 2)
            recorded = _config_table(options.config) if options.config else {}
            values = recorded | parse_assignments(options.assignments)
            params = make_params(manifest.train_params_class(), values)
            run = new_run(manifest, params, options.data, options.run_dir)
            print(f"training {manifest.title} in {run.run_dir}")
    except ParamError as exc:
        return _fail(f"bad parameter for {manifest.id}: {exc}", 2)
    except TrainingError as exc:
        return _fail(str(exc), 2)
    store = _model_store(registry)
    with tqdm(
        total=100, desc=manifest.title, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}]{postfix}"
    ) as bar:

        def progress(frame: Frame) -> None:
            bar.n = round(frame.progress * 100)
            eta = "" if frame.eta_s is None else f", {round(frame.eta_s)} s left"
            bar.set_postfix_str(f"{frame.message[:50]}{eta}", refresh=False)
            bar.refresh()

        try:
            if options.engine == "ray":
                trained = train_on_ray(
                    manifest,
                    run,
                    store,
                    address=options.address,
                    workers=options.workers,
                    checkpoint_interval_s=options.checkpoint_every,
                    hours=options.hours,
                    on_frame=progress,
                )
            else:
                ctx = TrainContext(
                    run.run_dir,
                    checkpoint_interval_s=options.checkpoint_every,
                    hours=options.hours,
                    device=device or manifest.device,
                    models=store,
                )
                trained = train_plugin(manifest, run, ctx, progress)
        except (KeyboardInterrupt, Cancelled):
            bar.close()
            return _fail(f"cancelled; {_checkpoint_kept(run.run_dir, manifest.id)}", 130)
        except Exception as exc:  # report any trainer failure as a message, not a traceback
            bar.close()
            return _fail(
                f"training {manifest.id} failed: {describe_error(exc)}\n{_checkpoint_kept(run.run_dir, manifest.id)}"
            )
        bar.n = 100
        bar.refresh()
    print(f"trained {trained.steps} steps in {round(trained.trained_s)} s; samples in {run.run_dir / 'samples'}")
    print(f"model: {trained.model_id}")
    return 0


def _checkpoint_kept(run_dir: Path, plugin: str) -> str:
    """What is left of an interrupted run, and how to continue it."""
    from studio.core.training import TrainingError, saved_step

    try:
        step = saved_step(run_dir)
    except TrainingError as exc:
        return str(exc)
    if step is None:
        return f"no checkpoint was saved yet in {run_dir}"
    return f"the checkpoint of step {step} is kept: continue with `studio train {plugin} --resume --run-dir {run_dir}`"


def _print_param_help(params_class: type) -> None:
    from studio.core.params import condition_text, param_fields

    for field in param_fields(params_class):
        bounds = "" if field.meta.min is None else f" [{field.meta.min}..{field.meta.max}]"
        choices = f" one of {', '.join(map(str, field.choices))}" if field.choices else ""
        when = f" ({condition_text(field)})" if condition_text(field) else ""
        if field.meta.choices_by is None:
            print(f"{field.name}={field.default}{bounds}{choices}  {field.meta.help}{when}")
            continue
        print(f"{field.name}={field.default}{bounds}  {field.meta.help}{when}")
        controller, table = field.meta.choices_by
        for value, groups in table.items():
            print(f"    with {controller}={value}: {', '.join(str(c) for group in groups.values() for c in group)}")


def _cmd_plugins(_options: argparse.Namespace) -> int:
    from studio.core.plugin import discover_plugins

    registry = discover_plugins()
    registry.model_catalog()  # moves a plugin that uses an unknown model to the errors
    for manifest in registry.plugins.values():
        models = f"  models: {', '.join(manifest.models)}" if manifest.models else ""
        aliases = f" (also: {', '.join(manifest.aliases)})" if manifest.aliases else ""
        print(f"{manifest.id:<20} {manifest.title}{aliases}{models}")
        if manifest.description:
            print(f"{'':<20} {manifest.description}")
        if manifest.inputs:
            print(f"{'':<20} inputs: {', '.join(_input_usage(spec) for spec in manifest.inputs)}")
    for error in registry.errors:
        print(f"{error.name:<20} FAILED to load ({error.target}): {error.error}")
    if not registry.plugins and not registry.errors:
        print("no plugins installed")
    return 0


def _input_usage(spec: InputSpec) -> str:
    option = {"image": "--input ", "mask": "--mask ", "labels": "--labels "}.get(spec.name, f"--extra {spec.name}=")
    return f"{option}FILE ({spec.label.lower()}{'' if spec.required else ', optional'})"


def _fail(message: str, code: int = 1) -> int:
    print(f"studio: error: {message}", file=sys.stderr)
    return code


def _cmd_run(options: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.cancel import Cancelled
    from studio.core.errors import describe_error
    from studio.core.image import ImageError, file_bit_depth, save_image
    from studio.core.inputs import InputError
    from studio.core.jobs import RunContext
    from studio.core.outputs import OutputError, OutputFolder
    from studio.core.params import ParamError, make_params, mask_reach, parse_assignments
    from studio.core.plugin import discover_plugins
    from studio.core.run import build_inputs, result_picture, run_plugin

    registry = discover_plugins()
    try:
        manifest = registry.get(options.plugin)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    params_class = manifest.params_class()
    if options.assignments == ["help"]:
        _print_param_help(params_class)
        return 0
    if options.output is None:
        return _fail("--output FILE is required", 2)
    try:
        params = make_params(params_class, parse_assignments(options.assignments))
        extras = parse_assignments(options.extras)
    except ParamError as exc:
        return _fail(f"bad parameter for {manifest.id}: {exc}", 2)
    clash = sorted(set(extras) & {"image", "mask", "labels"})
    if clash:
        return _fail(f"--extra {clash[0]}=FILE: use --{'input' if clash[0] == 'image' else clash[0]} FILE", 2)
    provided = {"image": options.input, "mask": options.mask, "labels": options.labels, **extras}
    try:
        size_text = options.size or (None if options.labels or options.mask else "1024x1024")
        canvas = _parse_size(size_text) if size_text else None
        device = _checked_device(options.device) or manifest.device
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        inputs = build_inputs(manifest, provided, canvas)
    except InputError as exc:
        return _fail(f"{exc}{_input_hint(str(exc))}", 2)
    except ImageError as exc:
        return _fail(str(exc))
    outputs = OutputFolder(options.outputs or options.output.with_suffix(""))
    ctx = RunContext(device=device, models=_model_store(registry), outputs=outputs)
    with tqdm(
        total=100, desc=manifest.title, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]"
    ) as bar:

        def progress(frame: object) -> None:
            bar.n = round(frame.progress * 100)
            bar.refresh()

        try:
            final = run_plugin(manifest, params, inputs, ctx, progress)
        except KeyboardInterrupt:
            ctx.cancel()
            return _fail(f"cancelled; nothing more was written{_written(outputs)}", 130)
        except Cancelled:
            return _fail(f"cancelled; nothing more was written{_written(outputs)}", 130)
        except Exception as exc:  # report any engine failure as a message, not a traceback
            bar.close()
            return _fail(f"{manifest.id} failed: {describe_error(exc)}{_written(outputs)}")
        bar.n = 100
        bar.refresh()
    try:
        if final.image is not None:
            picture = result_picture(final.image, inputs, mask_reach(params))
            save_image(picture, options.output, bit_depth=file_bit_depth(picture, options.output))
            print(f"wrote {options.output} ({final.image.shape[1]}x{final.image.shape[0]})")
        for output in final.outputs:
            outputs.write(output)
    except (ImageError, OutputError, OSError) as exc:
        return _fail(str(exc))
    if outputs.written:
        print(f"wrote {len(outputs.written)} more file(s) in {outputs.folder}")
    return 0


def _input_hint(message: str) -> str:
    """What to add to a command line for a missing input (the message names it)."""
    for name, option in (("picture", "--input FILE"), ("mask", "--mask FILE"), ("label map", "--labels FILE")):
        if f"needs {name}" in message:
            return f": add {option}"
    return ": add --extra NAME=FILE" if " needs " in message else ""


def _written(outputs: OutputFolder) -> str:
    return f" after {len(outputs.written)} file(s) in {outputs.folder}" if outputs.written else ""


def _model_store(registry: PluginRegistry | None = None) -> ModelStore:
    """The store the model commands and ``studio run`` work on: the user's model cache, with the catalog and
    every model the plugins bring."""
    from studio.core.models.store import ModelStore
    from studio.core.plugin import discover_plugins

    return ModelStore(specs=(registry or discover_plugins()).model_catalog())


def _unknown_models(store: ModelStore, ids: Sequence[str]) -> int | None:
    """Exit code 2 with a message if any id is not in the catalog."""
    unknown = [i for i in ids if i not in store.specs]
    if unknown:
        known = ", ".join(sorted(store.specs))
        return _fail(f"unknown model {', '.join(map(repr, unknown))}; known models: {known}", 2)
    return None


def _short_license(text: str) -> str:
    return text.partition(" (")[0].strip()


def _cmd_models_list(_options: argparse.Namespace) -> int:
    from studio.core.models import ModelStatus
    from studio.core.plugin import discover_plugins

    registry = discover_plugins()
    store = _model_store(registry)
    rows = [("ID", "STATUS", "SIZE MB", "LICENSE", "USED BY")]
    for model_id, spec in store.specs.items():
        status = store.status(model_id)
        size = store.size_bytes(model_id) / 1e6 if status == ModelStatus.INSTALLED else spec.size_mb
        users = ", ".join(registry.users_of(spec.base or model_id)) or "-"
        rows.append((model_id, str(status), f"{size:.1f}", _short_license(spec.license), users))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"cache: {store.root}")
    return 0


def _cmd_models_install(options: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.cancel import Cancelled
    from studio.core.models import ModelError, ModelStatus

    store = _model_store()
    if not options.ids and not options.defaults:
        return _fail("give model ids or --defaults (see `studio models list`)", 2)
    if (code := _unknown_models(store, options.ids)) is not None:
        return code
    ids = list(dict.fromkeys(options.ids))
    if options.defaults:
        for model_id, spec in store.specs.items():
            if not spec.default or model_id in ids:
                continue
            status = store.status(model_id)
            if status in (ModelStatus.CAN_INSTALL, ModelStatus.INSTALLED, ModelStatus.BROKEN):
                ids.append(model_id)
            else:
                how = (
                    f"connect to the internet, then run `studio models install {model_id}`"
                    if status == ModelStatus.NEEDS_INTERNET
                    else f"import its file with `studio models import {model_id} FILE`"
                )
                print(f"{model_id}: skipped, {status} ({how})")
    failed = []
    for model_id in ids:
        if not options.force and store.status(model_id) == ModelStatus.INSTALLED:
            print(f"{model_id}: already installed")
            continue
        with tqdm(
            total=100, desc=model_id, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}", leave=False
        ) as bar:

            def progress(fraction: float, message: str, bar: tqdm = bar) -> None:
                bar.n = round(fraction * 100)
                bar.set_postfix_str(message[:60], refresh=False)
                bar.refresh()

            try:
                record = store.install(model_id, progress=progress)
            except (KeyboardInterrupt, Cancelled):
                bar.close()
                return _fail(f"{model_id}: cancelled; nothing was left in the cache", 130)
            except ModelError as exc:
                bar.close()
                print(f"studio: error: {exc}", file=sys.stderr)
                failed.append(model_id)
                continue
        print(f"{model_id}: installed from {record.source}")
    if failed:
        return _fail(f"{len(failed)} of {len(ids)} not installed: {', '.join(failed)}")
    return 0


def _cmd_models_verify(options: argparse.Namespace) -> int:
    from studio.core.models import ModelError

    store = _model_store()
    if (code := _unknown_models(store, options.ids)) is not None:
        return code
    ids = options.ids or store.installed()
    if not ids:
        print("no models installed")
        return 0
    failed = 0
    for model_id in ids:
        try:
            record = store.verify(model_id)
        except ModelError as exc:
            print(f"studio: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{model_id}: ok ({len(record.files)} file{'s' if len(record.files) != 1 else ''}, from {record.source})")
    return 1 if failed else 0


def _cmd_models_remove(options: argparse.Namespace) -> int:
    store = _model_store()
    if (code := _unknown_models(store, options.ids)) is not None:
        return code
    for model_id in dict.fromkeys(options.ids):
        if not store.cached_path(model_id).exists():
            print(f"{model_id}: not installed, nothing to remove")
            continue
        try:
            store.remove(model_id)
        except OSError as exc:
            return _fail(f"{model_id}: cannot remove {store.cached_path(model_id)}: {exc}")
        print(f"{model_id}: removed")
    return 0


def _cmd_models_import(options: argparse.Namespace) -> int:
    from studio.core.models import ModelError

    store = _model_store()
    if (code := _unknown_models(store, [options.id])) is not None:
        return code
    if not options.file.is_file():
        return _fail(f"{options.file} is not a file", 2)
    try:
        record = store.import_file(options.id, options.file, options.as_id)
    except ModelError as exc:
        return _fail(str(exc))
    print(f"{record.model_id}: imported from {options.file} ({record.source})")
    return 0


def _checked_device(name: str | None) -> str | None:
    """The ``--device`` given, checked against this machine's devices (a ValueError lists them); None if not given."""
    from studio.core.jobs import pick_device

    if name is None:
        return None
    try:
        return pick_device(name)
    except ValueError as exc:
        raise ValueError(f"--device: {exc}") from None


def _parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        sep = ""
    if not sep:
        raise ValueError(f"--size {text!r} is not WIDTHxHEIGHT (for example 1024x768)")
    if min(size) < 1 or max(size) > 65535:
        raise ValueError(f"--size {text!r} is out of range: each side is 1 to 65535 pixels")
    return size


if __name__ == "__main__":
    sys.exit(main())
