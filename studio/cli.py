"""The ``studio`` command: the GUI, and headless commands sharing the same core."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from studio import __version__

COMMANDS = ("plugins", "run")


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
    parser.epilog = "commands: studio plugins | studio run PLUGIN ... (studio COMMAND --help for details)"
    options = parser.parse_args(args)
    return gui_main(options.files)


def gui_main(files: Sequence[Path] | None = None) -> int:
    """Open the main window (entry point of ``studio-gui``)."""
    from studio.qt.app import run_app

    return run_app([Path(f) for f in (files if files is not None else sys.argv[1:])])


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio")
    sub = parser.add_subparsers(dest="command", required=True)
    plugins = sub.add_parser("plugins", help="list installed plugins and the ones that failed to load")
    plugins.set_defaults(handler=_cmd_plugins)
    run = sub.add_parser("run", help="run a plugin headless")
    run.add_argument("plugin", help="plugin id (see `studio plugins`)")
    run.add_argument("--input", "-i", type=Path, help="input image")
    run.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter (repeatable); `--set help` lists them",
    )
    run.add_argument("--size", help="canvas size WIDTHxHEIGHT when there is no input (default 1024x1024)")
    run.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    run.add_argument("--output", "-o", type=Path, help="output image (.png, .jpg, .tif, .webp, .bmp)")
    run.set_defaults(handler=_cmd_run)
    return parser


def _cmd_plugins(_options: argparse.Namespace) -> int:
    from studio.core.plugin import discover_plugins

    registry = discover_plugins()
    for manifest in registry.plugins.values():
        models = f"  models: {', '.join(manifest.models)}" if manifest.models else ""
        print(f"{manifest.id:<20} {manifest.title}{models}")
        if manifest.description:
            print(f"{'':<20} {manifest.description}")
    for error in registry.errors:
        print(f"{error.name:<20} FAILED to load ({error.target}): {error.error}")
    if not registry.plugins and not registry.errors:
        print("no plugins installed")
    return 0


def _fail(message: str, code: int = 1) -> int:
    print(f"studio: error: {message}", file=sys.stderr)
    return code


def _cmd_run(options: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.image import ImageError, load_image, save_image, to_uint8
    from studio.core.jobs import Cancelled, Inputs, RunContext, describe_error
    from studio.core.params import ParamError, make_params, param_fields, parse_assignments
    from studio.core.plugin import discover_plugins
    from studio.core.run import run_plugin, to_rgba

    registry = discover_plugins()
    try:
        manifest = registry.get(options.plugin)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    params_class = manifest.params_class()
    if options.assignments == ["help"]:
        for field in param_fields(params_class):
            bounds = "" if field.meta.min is None else f" [{field.meta.min}..{field.meta.max}]"
            choices = f" one of {', '.join(map(str, field.choices))}" if field.choices else ""
            print(f"{field.name}={field.default}{bounds}{choices}  {field.meta.help}")
        return 0
    if options.output is None:
        return _fail("--output FILE is required", 2)
    try:
        params = make_params(params_class, parse_assignments(options.assignments))
    except ParamError as exc:
        return _fail(f"bad parameter for {manifest.id}: {exc}", 2)
    try:
        image = to_uint8(load_image(options.input).pixels) if options.input else None
    except ImageError as exc:
        return _fail(str(exc))
    if manifest.uses_image and image is None:
        return _fail(f"{manifest.id} needs an input image: add --input FILE", 2)
    if image is not None:
        width, height = image.shape[1], image.shape[0]
    else:
        try:
            width, height = _parse_size(options.size or "1024x1024")
        except ValueError as exc:
            return _fail(str(exc), 2)
    inputs = Inputs(width, height, image if manifest.uses_image else None)
    ctx = RunContext(device=options.device or manifest.device)
    with tqdm(
        total=100, desc=manifest.title, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]"
    ) as bar:

        def progress(frame: object) -> None:
            bar.n = round(frame.progress * 100)  # type: ignore[attr-defined]
            bar.refresh()

        try:
            final = run_plugin(manifest, params, inputs, ctx, progress)
        except KeyboardInterrupt:
            ctx.cancel()
            return _fail("cancelled; nothing was written", 130)
        except Cancelled:
            return _fail("cancelled; nothing was written", 130)
        except Exception as exc:  # report any engine failure as a message, not a traceback
            return _fail(f"{manifest.id} failed: {describe_error(exc)}")
        bar.n = 100
        bar.refresh()
    assert final.image is not None
    try:
        save_image(to_rgba(final.image), options.output)
    except (ImageError, OSError) as exc:
        return _fail(str(exc))
    print(f"wrote {options.output} ({width}x{height})")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 1 or max(size) > 65535:
        raise ValueError(f"--size {text!r} is not WIDTHxHEIGHT (for example 1024x768)")
    return size


if __name__ == "__main__":
    sys.exit(main())
