"""Batch rendering: job files, resumable runs, a local process pool or a Ray cluster.

A job file (TOML) lists inputs, plugin steps (a parameter given as a list is
swept: the cross product of all lists becomes the items), optional print and
export settings and an output name template::

    inputs = ["photos/*.jpg"]
    output = "{stem}-{step1.rule}-{index:03d}.tif"

    [[steps]]
    plugin = "generative"
    rule = ["ridgelines", "flow_field"]
    seed = [1, 2, 3]

:func:`load_job` validates the whole file before anything runs and reports
every problem with file, line and key. :func:`run_job` renders the items; a
manifest next to the outputs (written atomically after every item) makes the
run resumable: finished items whose output still has its recorded hash are
skipped, missing or corrupt ones are rendered again.

Qt-free; Ray and torch are imported only when used.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as _dt
import glob
import hashlib
import itertools
import json
import multiprocessing
import os
import queue
import re
import string
import tempfile
import threading
import time
import tomllib
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.export import FORMATS, ExportSettings, export_image
from studio.core.image import EXPORT_FORMATS, load_image, to_uint8
from studio.core.jobs import Cancelled, Inputs, RunContext, describe_error, pick_device
from studio.core.params import ParamError, make_params, param_fields, params_to_dict, split_list
from studio.core.plugin import PluginManifest, PluginRegistry, discover_plugins
from studio.core.run import run_plugin, to_rgba

__all__ = [
    "BatchEvent",
    "BatchItem",
    "BatchSummary",
    "Job",
    "JobFileError",
    "JobProblem",
    "StepCall",
    "job_file_text",
    "load_job",
    "manifest_path",
    "run_job",
]

Engine = Literal["local", "ray"]
EventKind = Literal["planned", "started", "progress", "done", "skipped", "failed"]

MANIFEST_FORMAT = 1
TOP_LEVEL_KEYS = ("inputs", "size", "output", "output_dir", "steps", "print", "export")
TEMPLATE_FIELDS = ("index", "input_index", "stem", "name", "job")
MAX_ITEMS = 100_000
_HASH_CHUNK = 1 << 20


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class JobProblem:
    """One thing wrong with a job file: where (line, key) and what to do."""

    line: int
    key: str
    message: str


class JobFileError(ValueError):
    """A job file is wrong; ``problems`` lists every error found, each with line and key."""

    def __init__(self, path: Path, problems: Sequence[JobProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}:{p.line}: {p.key}: {p.message}" for p in self.problems))

    def __reduce__(self) -> tuple[type[JobFileError], tuple[Path, list[JobProblem]]]:
        return (type(self), (self.path, self.problems))


# --------------------------------------------------------------------------- where keys are


class _TomlLines:
    """The line of every table header and key in a TOML text (tomllib reports none).

    A small scanner that follows strings (all four kinds, multi-line ones
    included), comments and brackets, so text inside a string or a multi-line
    array is never taken for a key.
    """

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str, int] = ("", -1)
        in_string: str | None = None  # the closing quotes of an open multi-line string
        depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is None and depth == 0:
                stripped = line.strip()
                if stripped.startswith("[["):
                    name = _dotted_name(stripped[2 : _closing(stripped, "]]")])
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    table = (name, index)
                    self.tables.setdefault(table, number)
                    continue
                if stripped.startswith("["):
                    table = (_dotted_name(stripped[1 : _closing(stripped, "]")]), -1)
                    self.tables.setdefault(table, number)
                    continue
                key_end = _closing(stripped, "=")
                if stripped and not stripped.startswith("#") and key_end < len(stripped):
                    key = _dotted_name(stripped[:key_end])
                    self.keys.setdefault((*table, key), number)
                    self.keys.setdefault((*table, key.split(".")[0]), number)
                    in_string, depth = _scan_value(stripped[key_end + 1 :], in_string, depth)
                    continue
            in_string, depth = _scan_value(line, in_string, depth)

    def line_of(self, table: str = "", index: int = -1, key: str | None = None) -> int:
        """The line defining ``key`` in ``table`` (entry ``index`` of an array of tables), else the table's."""
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        if (table, index) in self.tables:
            return self.tables[(table, index)]
        if table and ("", -1, table) in self.keys:  # an inline table: `print = {preset = "..."}`
            return self.keys[("", -1, table)]
        return 1


def _closing(text: str, token: str) -> int:
    """The position of ``token`` outside quotes in ``text`` (len(text) when absent)."""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif text.startswith(token, i):
            return i
        i += 1
    return len(text)


def _dotted_name(text: str) -> str:
    """``a . "b c"`` -> ``a.b c``: a TOML key or table name with quotes and spaces removed."""
    parts, part, quote = [], "", ""
    for ch in text.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                part += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(part.strip())
            part = ""
        else:
            part += ch
    parts.append(part.strip())
    return ".".join(parts)


def _scan_value(line: str, in_string: str | None, depth: int) -> tuple[str | None, int]:
    """Follow strings, comments and brackets through one line; return the state at its end."""
    i = 0
    while i < len(line):
        if in_string is not None:
            end = line.find(in_string, i)
            while end > 0 and in_string == '"""' and _escaped(line, end):
                end = line.find(in_string, end + 1)
            if end < 0:
                return in_string, depth
            i = end + 3
            in_string = None
            continue
        ch = line[i]
        if ch == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            in_string = line[i : i + 3]
            i += 3
            continue
        if ch in "\"'":
            i = _skip_string(line, i)
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return in_string, depth


def _escaped(line: str, position: int) -> bool:
    """True when the character at ``position`` follows an odd number of backslashes."""
    count = 0
    while position - count - 1 >= 0 and line[position - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _skip_string(line: str, start: int) -> int:
    """The position after the single-line string that opens at ``start``."""
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == quote and (quote == "'" or not _escaped(line, i)):
            return i + 1
        i += 1
    return len(line)


# --------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class StepCall:
    """One plugin step of one item: the plugin and all its parameter values (plain JSON values).

    ``files`` names the parameters whose values are absolute paths of files
    (style or guide images; comma-separated when there are several); they are
    hashed with the inputs and shipped to Ray workers.
    """

    plugin: str
    params: dict[str, Any]
    files: tuple[str, ...] = ()

    def file_paths(self) -> list[Path]:
        return [Path(item) for key in self.files for item in split_list(self.params[key])]


@dataclass(frozen=True)
class BatchItem:
    """One output of a job: an input (or a blank canvas of ``size``), the steps, the output file."""

    index: int
    input: Path | None
    size: tuple[int, int] | None
    steps: tuple[StepCall, ...]
    output: Path
    output_name: str
    print_settings: dict[str, Any] | None = None
    export_settings: dict[str, Any] = field(default_factory=dict)

    def files(self) -> list[Path]:
        """Every file the item reads: its input, then files named by parameters."""
        paths = [self.input] if self.input is not None else []
        paths += [path for step in self.steps for path in step.file_paths()]
        return paths

    def recipe(self) -> dict[str, Any]:
        """What the output is made from, apart from input pixels (recorded in the manifest)."""
        return {
            "steps": [{"plugin": s.plugin, "params": s.params, "seed": s.params.get("seed")} for s in self.steps],
            "size": list(self.size) if self.size else None,
            "print": self.print_settings,
            "export": self.export_settings,
        }


@dataclass(frozen=True)
class Job:
    """A validated job file and the items it expands to."""

    path: Path
    output_dir: Path
    items: tuple[BatchItem, ...]

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path, self.output_dir)


def manifest_path(job_path: Path, output_dir: Path) -> Path:
    """Where the manifest of a job lives: next to its outputs, named after the job file."""
    return output_dir / f"{job_path.stem}.manifest.json"


class _Problems:
    """Collects problems of one job file, each placed on its line."""

    def __init__(self, lines: _TomlLines) -> None:
        self.lines = lines
        self.found: list[JobProblem] = []

    def add(self, message: str, key: str, table: str = "", index: int = -1, line_key: str | None = None) -> None:
        line = self.lines.line_of(table, index, line_key if line_key is not None else key.rsplit(".", 1)[-1])
        self.found.append(JobProblem(line, key, message))


def load_job(path: str | os.PathLike[str], registry: PluginRegistry | None = None) -> Job:
    """Read and validate a job file and expand it into items; raise :class:`JobFileError` listing every problem."""
    job_path = Path(path).absolute()
    try:
        text = job_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise JobFileError(job_path, [JobProblem(1, "file", f"cannot read the job file: {reason}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else 1
        raise JobFileError(job_path, [JobProblem(line, "syntax", f"not valid TOML: {exc}")]) from exc
    problems = _Problems(_TomlLines(text))
    job = _parse(job_path, data, registry or discover_plugins(), problems)
    if problems.found:
        raise JobFileError(job_path, sorted(problems.found, key=lambda p: p.line))
    assert job is not None
    return job


def _parse(path: Path, data: dict[str, Any], registry: PluginRegistry, problems: _Problems) -> Job | None:
    folder = path.parent
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.add(f"unknown key; a job file has {', '.join(TOP_LEVEL_KEYS)}", key)
    inputs = _parse_inputs(folder, data.get("inputs"), problems)
    size = _parse_size(data.get("size"), problems) if "size" in data else None
    steps = _parse_steps(folder, data.get("steps"), registry, problems)
    print_settings = _parse_print(data.get("print"), problems)
    export_table = data.get("export")
    suffix = Path(data["output"]).suffix.lower() if isinstance(data.get("output"), str) else ""
    fmt = next((name for name, suffixes in FORMATS.items() if suffix in suffixes), None)
    if fmt is not None and (export_table is None or (isinstance(export_table, dict) and "format" not in export_table)):
        export_table = {**(export_table or {}), "format": fmt}
    export_settings = _parse_export(folder, export_table, print_settings, problems)
    output_dir = folder
    if "output_dir" in data:
        if isinstance(data["output_dir"], str) and data["output_dir"].strip():
            output_dir = (folder / data["output_dir"]).absolute()
        else:
            problems.add("must be a folder name (a string), relative to the job file", "output_dir")
    template = data.get("output")
    if not isinstance(template, str) or not template.strip():
        problems.add('is required: an output name template, for example "{stem}-{index:03d}.png"', "output")
        template = None
    if inputs is not None and size is not None:
        problems.add("is the canvas of a job without inputs; items take the size of their input", "size")
    if inputs is None and size is None:
        problems.add("give `inputs` (files or globs) or a canvas `size` = [width, height]", "inputs")
    if steps and steps[0] is not None and inputs is None and steps[0].manifest.uses_image:
        problems.add(f"plugin {steps[0].manifest.id!r} transforms an image: list the images in `inputs`", "inputs")
    if template is None or steps is None:
        return None
    _check_template(template, steps, problems)
    if problems.found or export_settings is None:
        return None
    complete = [step for step in steps if step is not None]
    items = _expand(path, output_dir, inputs, size, complete, template, print_settings, export_settings, problems)
    return Job(path, output_dir, tuple(items)) if not problems.found else None


def _parse_inputs(folder: Path, value: Any, problems: _Problems) -> list[Path] | None:
    if value is None:
        return None
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        problems.add("must be a file name or glob, or a list of them", "inputs")
        return None
    files: list[Path] = []
    for pattern in patterns:
        full = folder / pattern
        if glob.has_magic(pattern):
            matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True) if Path(m).is_file())
            if not matches:
                problems.add(f"{pattern!r} matches no file in {folder}", "inputs")
            files += matches
        elif full.is_file():
            files.append(full)
        else:
            problems.add(f"{pattern!r} does not exist in {folder}; the path is relative to the job file", "inputs")
    unique = list(dict.fromkeys(f.absolute() for f in files))
    unsupported = [f for f in unique if f.suffix.lower() not in EXPORT_FORMATS]
    if unsupported:
        problems.add(f"{unsupported[0].name} is not an image Studio reads ({', '.join(EXPORT_FORMATS)})", "inputs")
    return unique


def _parse_size(value: Any, problems: _Problems) -> tuple[int, int] | None:
    if isinstance(value, str):
        width, sep, height = value.lower().partition("x")
        value = [width, height] if sep else value
    try:
        width, height = (int(v) for v in value)
    except (TypeError, ValueError):
        problems.add('must be [width, height] or "WIDTHxHEIGHT" in pixels', "size")
        return None
    if not (1 <= width <= 65535 and 1 <= height <= 65535):
        problems.add(f"{width}x{height} is out of range; use 1 to 65535 pixels per side", "size")
        return None
    return width, height


@dataclass(frozen=True)
class _Step:
    """A step as written: the plugin and, for each parameter, the values to sweep."""

    manifest: PluginManifest
    sweeps: dict[str, list[Any]]
    files: tuple[str, ...]

    def call(self, values: Sequence[Any]) -> StepCall:
        """The call for one combination of swept values, with every parameter filled in."""
        params = make_params(self.manifest.params_class(), dict(zip(self.sweeps, values, strict=True)))
        return StepCall(self.manifest.id, params_to_dict(params), self.files)

    def param_names(self) -> list[str]:
        return [f.name for f in param_fields(self.manifest.params_class())]


def _parse_steps(folder: Path, value: Any, registry: PluginRegistry, problems: _Problems) -> list[_Step | None] | None:
    """Each [[steps]] table as a step (None for a table with problems); None when there are no steps."""
    if not isinstance(value, list) or not value or not all(isinstance(s, dict) for s in value):
        problems.add("add at least one [[steps]] table with a `plugin` id and its parameters", "steps")
        return None
    steps: list[_Step | None] = []
    for index, table in enumerate(value):
        where = {"table": "steps", "index": index}
        label = f"steps[{index + 1}]"
        plugin_id = table.get("plugin")
        if not isinstance(plugin_id, str):
            problems.add("needs `plugin` = a plugin id (see `studio plugins`)", f"{label}.plugin", **where)
            steps.append(None)
            continue
        manifest = registry.plugins.get(plugin_id)
        if manifest is None:
            known = ", ".join(sorted(registry.plugins)) or "none"
            problems.add(f"unknown plugin {plugin_id!r}; installed plugins: {known}", f"{label}.plugin", **where)
            steps.append(None)
            continue
        steps.append(_parse_step_params(folder, manifest, table, label, where, problems))
    return steps


def _parse_step_params(
    folder: Path,
    manifest: PluginManifest,
    table: dict[str, Any],
    label: str,
    where: dict[str, Any],
    problems: _Problems,
) -> _Step | None:
    params_class = manifest.params_class()
    text_params = {f.name: f for f in param_fields(params_class) if f.kind is str and not f.choices}
    sweeps: dict[str, list[Any]] = {}
    files: list[str] = []
    ok = True
    for key, raw in table.items():
        if key == "plugin":
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            problems.add("an empty list sweeps nothing; give at least one value", f"{label}.{key}", **where)
            ok = False
            continue
        if key in text_params and all(isinstance(v, str) for v in values):
            paths = _file_values(folder, values, text_params[key].meta.widget in ("file", "files"))
            if isinstance(paths, str):
                problems.add(f"{paths!r} is not a file in {folder}", f"{label}.{key}", **where, line_key=key)
                ok = False
                continue
            if paths is not None:
                values = paths
                files.append(key)
        for value in values:
            try:
                make_params(params_class, {key: value})
            except ParamError as exc:
                problems.add(f"{exc} (plugin {manifest.id})", f"{label}.{key}", **where, line_key=key)
                ok = False
                break
        sweeps[key] = values
    return _Step(manifest, sweeps, tuple(files)) if ok else None


def _file_values(folder: Path, values: list[str], declared: bool) -> list[str] | str | None:
    """Values naming files (comma-separated lists allowed) with each file resolved to an absolute path.

    None when the values are not file names (a parameter not declared as a file whose values
    neither exist as files nor end like an image); the first missing file's name when one is missing.
    """
    looks_like_files = declared or any(
        _resolve_file(folder, item) is not None or Path(item).suffix.lower() in EXPORT_FORMATS
        for value in values
        for item in split_list(value)
    )
    if not looks_like_files:
        return None
    resolved = []
    for value in values:
        paths = []
        for item in split_list(value):
            path = _resolve_file(folder, item)
            if path is None:
                return item
            paths.append(str(path))
        resolved.append(", ".join(paths))
    return resolved


def _resolve_file(folder: Path, value: str) -> Path | None:
    """The file a parameter value names, relative to the job file's folder (or absolute); None if there is none."""
    if not value:
        return None
    candidate = Path(value).expanduser()
    candidate = candidate if candidate.is_absolute() else folder / candidate
    return candidate.absolute() if candidate.is_file() else None


PRINT_KEYS = ("preset", "width", "height", "unit", "bleed", "wrap", "ppi", "fit", "fill", "unsharp")


def _parse_print(value: Any, problems: _Problems) -> dict[str, Any] | None:
    """The [print] table as the plain settings a worker needs: spec, fit mode, fill colour, unsharp mask."""
    from studio.core import printing

    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add("must be a table: [print] with a `preset` (or `width` and `height`)", "print")
        return None

    def bad(key: str, message: str) -> None:
        problems.add(message, f"print.{key}", "print", line_key=key)

    for key in value:
        if key not in PRINT_KEYS:
            bad(key, f"unknown print setting; known: {', '.join(PRINT_KEYS)}")
    ppi = value.get("ppi")
    if ppi is not None and (isinstance(ppi, bool) or not isinstance(ppi, int)):
        bad("ppi", f"{ppi!r} is not a whole number of pixels per inch (for example {printing.PPI_CHOICES})")
        return None
    try:
        if "preset" in value:
            spec = printing.get_preset(str(value["preset"]), ppi=ppi)
        elif "width" in value and "height" in value:
            spec = printing.PrintSpec.from_units(
                float(value["width"]),
                float(value["height"]),
                value.get("unit", "in"),
                ppi=ppi or 300,
                bleed=float(value.get("bleed", 0.0)),
                wrap=float(value.get("wrap", 0.0)),
            )
        else:
            problems.add("needs a `preset` or a `width` and `height`", "print", "print")
            return None
    except KeyError as exc:
        bad("preset", str(exc.args[0]))
        return None
    except (TypeError, ValueError) as exc:
        bad("width" if "preset" not in value else "ppi", str(exc))
        return None
    fit = value.get("fit", "crop")
    if fit not in printing.FIT_MODES:
        bad("fit", f"{fit!r} is not one of {', '.join(printing.FIT_MODES)}")
    fill = value.get("fill", [255, 255, 255, 255])
    if not (isinstance(fill, list) and 3 <= len(fill) <= 4 and all(isinstance(v, int) and 0 <= v <= 255 for v in fill)):
        bad("fill", f"{fill!r} is not a colour; write [red, green, blue] with values 0 to 255")
        fill = [255, 255, 255]
    unsharp = value.get("unsharp")
    if unsharp is not None:
        try:
            if not isinstance(unsharp, dict):
                raise TypeError("must be a table such as {radius = 1.0, amount = 0.5}")
            printing.Unsharp(**unsharp)
        except (TypeError, ValueError) as exc:
            bad("unsharp", str(exc))
    return {"spec": spec.to_dict(), "fit": fit, "fill": [*fill, 255][:4], "unsharp": unsharp}


def _parse_export(folder: Path, value: Any, print_settings: dict[str, Any] | None, problems: _Problems) -> Any:
    """The [export] table as ExportSettings (format taken from the output suffix when not given), or None."""
    from studio.core.export import ExportSettingsError

    if value is not None and not isinstance(value, dict):
        problems.add("must be a table: [export] with export settings", "export")
        return None
    table = dict(value or {})
    for key in ("icc", "cmyk_profile"):
        if isinstance(table.get(key), str) and (resolved := _resolve_file(folder, table[key])) is not None:
            table[key] = str(resolved)
    if "dpi" not in table and print_settings is not None:
        table["dpi"] = float(print_settings["spec"]["ppi"])
    try:
        return ExportSettings.from_dict(table)
    except ExportSettingsError as exc:
        problems.add(str(exc), f"export.{exc.key}", "export", line_key=exc.key)
    except TypeError as exc:
        problems.add(str(exc), "export", "export")
    return None


# --------------------------------------------------------------------------- items and names


def _expand(
    path: Path,
    output_dir: Path,
    inputs: list[Path] | None,
    size: tuple[int, int] | None,
    steps: list[_Step],
    template: str,
    print_settings: dict[str, Any] | None,
    export_settings: ExportSettings,
    problems: _Problems,
) -> list[BatchItem]:
    combos = [list(itertools.product(*step.sweeps.values())) for step in steps]
    count = max(1, len(inputs or [None])) * int(np.prod([len(c) for c in combos]))
    if count > MAX_ITEMS:
        problems.add(f"the sweeps make {count:,} items; split the job (at most {MAX_ITEMS:,})", "steps")
        return []
    items: list[BatchItem] = []
    seen: dict[Path, int] = {}
    for input_index, source in enumerate(inputs or [None], start=1):
        for choice in itertools.product(*combos):
            index = len(items) + 1
            calls = [step.call(values) for step, values in zip(steps, choice, strict=True)]
            name = _render_name(template, path, index, input_index, source, calls, problems)
            if name is None:
                return []
            if not Path(name).suffix:
                name += export_settings.suffix
            output = Path(os.path.normpath(output_dir / name))
            if not output.is_relative_to(output_dir) or Path(name).is_absolute():
                problems.add(f"{name!r} lies outside the output folder {output_dir}", "output")
                return []
            if output.suffix.lower() not in FORMATS[export_settings.format]:
                suffixes = " or ".join(FORMATS[export_settings.format])
                problems.add(
                    f"{name!r} does not end in {suffixes}, the suffix of the export format "
                    f"{export_settings.format!r}; change the suffix or [export] format",
                    "output",
                )
                return []
            name = output.relative_to(output_dir).as_posix()
            if output in seen:
                problems.add(
                    f"items {seen[output]} and {index} would both write {name!r}; add a key that tells them apart "
                    "(for example {index} or a swept parameter)",
                    "output",
                )
                return []
            seen[output] = index
            items.append(
                BatchItem(index, source, size, tuple(calls), output, name, print_settings, export_settings.to_dict())
            )
    return items


def _check_template(template: str, steps: Sequence[_Step | None], problems: _Problems) -> bool:
    """Check that every key of the output template exists (steps with problems are checked by number only)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        problems.add(f"{template!r} is not a valid template ({exc}); write keys as {{stem}}", "output")
        return False
    ok = True
    for _text, field_name, _spec, _conversion in parsed:
        if field_name is None:
            continue
        root, _, rest = field_name.partition(".")
        step_match = re.fullmatch(r"step(\d+)", root)
        if step_match:
            number = int(step_match.group(1))
            if not 1 <= number <= len(steps):
                problems.add(f"{{{field_name}}}: there is no step {number} (the job has {len(steps)})", "output")
                ok = False
                continue
            step = steps[number - 1]
            if step is None:
                continue
            known = ["plugin", *step.param_names()]
            if rest not in known:
                problems.add(
                    f"{{{field_name}}}: step {number} ({step.manifest.id}) has no parameter {rest!r}; "
                    f"use one of {', '.join(known)}",
                    "output",
                )
                ok = False
        elif field_name not in TEMPLATE_FIELDS or rest:
            keys = ", ".join([*TEMPLATE_FIELDS, "stepN.PARAM"])
            problems.add(f"{{{field_name}}} is not a template key; keys: {keys}", "output")
            ok = False
    return ok


def _render_name(
    template: str,
    path: Path,
    index: int,
    input_index: int,
    source: Path | None,
    calls: list[StepCall],
    problems: _Problems,
) -> str | None:
    fields: dict[str, Any] = {
        "index": index,
        "input_index": input_index,
        "stem": source.stem if source else path.stem,
        "name": source.name if source else path.stem,
        "job": path.stem,
    }
    for number, call in enumerate(calls, start=1):
        shown = {
            k: "+".join(Path(i).stem for i in split_list(v)) if k in call.files else v for k, v in call.params.items()
        }
        fields[f"step{number}"] = types.SimpleNamespace(plugin=call.plugin, **shown)
    try:
        return template.format_map(fields)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        problems.add(f"{template!r} cannot be filled in for item {index}: {exc}", "output")
        return None


# --------------------------------------------------------------------------- rendering one item


class ItemError(RuntimeError):
    """One item failed; the message names the input or step and what went wrong."""


def render_item(
    item: BatchItem,
    registry: PluginRegistry,
    ctx: RunContext,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Load the item's input, run its steps in order and fit it to the print preset; return RGBA pixels."""
    if item.input is not None:
        image: np.ndarray | None = to_uint8(load_image(item.input).pixels)
        height, width = image.shape[:2]
    else:
        assert item.size is not None
        image = None
        width, height = item.size
    count = len(item.steps)
    for number, call in enumerate(item.steps):
        manifest = registry.get(call.plugin)
        params = make_params(manifest.params_class(), call.params)
        inputs = Inputs(width, height, image if manifest.uses_image else None)

        def progress(frame: Any, number: int = number) -> None:
            if on_progress is not None:
                on_progress((number + frame.progress) / count)

        try:
            final = run_plugin(manifest, params, inputs, ctx, progress)
            if final.image is None:
                raise ItemError(f"{manifest.title} finished without an image")
            image = np.ascontiguousarray(to_rgba(final.image))
        except Cancelled:
            raise
        except Exception as exc:
            raise ItemError(f"step {number + 1} ({call.plugin}): {describe_error(exc)}") from exc
        height, width = image.shape[:2]
    assert image is not None
    if item.print_settings is not None:
        image = _fit_to_print(image, item.print_settings)
    return image


def _fit_to_print(pixels: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    from studio.core import printing

    spec = printing.PrintSpec.from_dict(settings["spec"])
    unsharp = printing.Unsharp(**settings["unsharp"]) if settings.get("unsharp") else None
    return printing.fit_to_print(pixels, spec, settings["fit"], fill=tuple(settings["fill"]), unsharp=unsharp)


def export_item(pixels: np.ndarray, path: Path, settings: Mapping[str, Any]) -> None:
    """Write an item's pixels to ``path`` atomically with the job's export settings (replacing an older file)."""
    export_image(pixels, path, ExportSettings.from_dict(settings), overwrite=True)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Result:
    """What a worker reports for one item. ``data`` carries the file when the driver writes it (Ray)."""

    index: int
    seconds: float
    sha256: str | None = None
    error: str | None = None
    data: bytes | None = None
    cancelled: bool = False


@dataclass
class _WorkerState:
    """What a worker process keeps between items: the plugins and the model store (models load once)."""

    registry: PluginRegistry
    models: Any = None
    progress: Any = None
    cancel: Any = None


_WORKER: _WorkerState | None = None


def _worker_state(plugins: Mapping[str, PluginManifest]) -> _WorkerState:
    """This process's worker state, made on first use with the driver's plugins."""
    global _WORKER  # noqa: PLW0603 - one state per worker process
    if _WORKER is None:
        from studio.core.models.store import default_store

        _WORKER = _WorkerState(PluginRegistry(dict(plugins)), default_store())
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
    ctx = RunContext(item.index, device=device, preview_interval_s=0.25, models=state.models)

    def progress(fraction: float) -> None:
        if cancelled():
            ctx.cancel()
        if on_progress is not None:
            on_progress(fraction)

    try:
        pixels = render_item(item, state.registry, ctx, progress)
        export_item(pixels, target, item.export_settings)
        return _Result(item.index, time.perf_counter() - started, sha256=file_sha256(target))
    except Cancelled:
        return _Result(item.index, time.perf_counter() - started, cancelled=True)
    except Exception as exc:  # one failing item is reported; the others go on
        return _Result(item.index, time.perf_counter() - started, error=describe_error(exc))


def _item_device(item: BatchItem, registry: PluginRegistry) -> str | None:
    accelerated = any(registry.plugins[s.plugin].accelerated for s in item.steps if s.plugin in registry.plugins)
    return None if accelerated else "cpu"


# --------------------------------------------------------------------------- local pool workers


def _init_pool_worker(progress: Any, cancel: Any, plugins: Mapping[str, PluginManifest]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl+C stops
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one process per core: no thread oversubscription
    state = _worker_state(plugins)
    state.progress, state.cancel = progress, cancel


def _pool_task(item: BatchItem) -> _Result:
    assert _WORKER is not None, "the pool initializer sets up the worker"
    state = _WORKER
    report = _progress_reporter(state.progress, item.index)
    return _render(item, item.output, state, report, state.cancel.is_set, _item_device(item, state.registry))


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


def _ray_task(plugins: Mapping[str, PluginManifest], progress: Any, item: BatchItem, *data: bytes) -> _Result:
    """Render one item on a Ray worker from the file contents the driver sent; return the encoded output.

    ``progress`` is a Ray queue that gets ``(index, fraction)`` as the item renders.
    """
    state = _worker_state(plugins)
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
            result = dataclasses.replace(result, data=target.read_bytes())
        return result


# --------------------------------------------------------------------------- the manifest


class Manifest:
    """The record of a job's items next to its outputs (JSON, written atomically, one writer)."""

    def __init__(self, path: Path, job_path: Path, items: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.job_path = job_path
        self.items: dict[str, dict[str, Any]] = items or {}

    @classmethod
    def load(cls, path: Path, job_path: Path) -> Manifest:
        """The manifest at ``path``; an empty one when there is none or it is unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data["items"] if data.get("format") == MANIFEST_FORMAT else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            items = {}
        return cls(path, job_path, dict(items) if isinstance(items, dict) else {})

    def save(self) -> None:
        data = {
            "format": MANIFEST_FORMAT,
            "job": str(self.job_path),
            "studio_version": __version__,
            "updated": _now(),
            "items": self.items,
        }
        with atomic_write(self.path) as handle:
            handle.write((json.dumps(data, indent=1, sort_keys=False) + "\n").encode())


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- running a job


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


class BatchError(RuntimeError):
    """A job cannot start (for example an output exists that this job did not make)."""


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
) -> BatchSummary:
    """Render the items of ``job`` that are not done and verified; return the summary.

    ``engine="local"`` renders in this process when a GPU is used (or
    ``workers == 1``), else in a pool of ``workers`` processes (one per core by
    default); ``engine="ray"`` submits one Ray task per item (to ``address``, or
    a local Ray cluster). The manifest is written after every item. Ctrl+C or
    ``cancel`` stops the run; what was finished stays recorded.
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
        entry.update(sha256=result.sha256, seconds=round(result.seconds, 3), error=result.error)
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
            _run_ray(todo, address, registry, record, emit, cancel)
        elif engine == "local":
            if workers is None:
                workers = 1 if _uses_gpu(todo, registry) else (os.cpu_count() or 1)
            if workers <= 1 or len(todo) <= 1:
                _run_inline(todo, registry, record, emit, cancel)
            else:
                _run_pool(todo, min(workers, len(todo)), registry, record, emit, cancel)
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
    """Delete temporary files an interrupted write of ``output`` left behind (atomic_write's ``.NAME.*.part``)."""
    for leftover in output.parent.glob(f".{glob.escape(output.name)}.*.part"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _uses_gpu(items: Sequence[BatchItem], registry: PluginRegistry) -> bool:
    if all(_item_device(item, registry) == "cpu" for item in items):
        return False
    return pick_device() != "cpu"


Record = Callable[[BatchItem, _Result], None]
Emit = Callable[[BatchEvent], None]


def _run_inline(
    items: Sequence[BatchItem], registry: PluginRegistry, record: Record, emit: Emit, cancel: threading.Event
) -> None:
    from studio.core.models.store import default_store

    state = _WorkerState(registry, default_store())
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
        workers, mp_context=context, initializer=_init_pool_worker, initargs=(progress, stop, registry.plugins)
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
                        record(item, _future_result(future, item))
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
    record: Record,
    emit: Emit,
    cancel: threading.Event,
) -> None:
    import ray
    from ray.util.queue import Queue

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
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
            pending[task.remote(plugins, progress, item, *refs)] = item
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
    finally:
        if started_here:
            ray.shutdown()


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
    except OSError as exc:
        return dataclasses.replace(result, data=None, sha256=None, error=describe_error(exc))
    if hashlib.sha256(result.data).hexdigest() != file_sha256(item.output):
        return dataclasses.replace(result, data=None, error=f"{item.output} does not read back as written")
    return dataclasses.replace(result, data=None, sha256=file_sha256(item.output))


def job_file_text(
    *,
    inputs: Sequence[str],
    steps: Sequence[tuple[str, Mapping[str, Any]]],
    output: str,
    output_dir: str | None = None,
    export: Mapping[str, Any] | None = None,
) -> str:
    """A job file (TOML text) for the given inputs, steps, output template and export settings."""
    lines = [f"inputs = {_toml_value(list(inputs))}", f"output = {_toml_value(output)}"]
    if output_dir is not None:
        lines.append(f"output_dir = {_toml_value(output_dir)}")
    for plugin, params in steps:
        lines += ["", "[[steps]]", f"plugin = {_toml_value(plugin)}"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in params.items()]
    if export:
        lines += ["", "[export]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in export.items())]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a job file")


def iter_outputs(job: Job) -> Iterator[tuple[BatchItem, str]]:
    """Each item with its state in the manifest (for ``--dry-run``): done, failed, pending or new."""
    manifest = Manifest.load(job.manifest_path, job.path)
    for item in job.items:
        entry = manifest.items.get(item.output_name)
        yield item, entry.get("status", "new") if entry else "new"
