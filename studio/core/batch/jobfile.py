"""The job: parsing and validating a job file, expanding it into items with their output names."""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import itertools
import json
import math
import os
import re
import string
import time
import tomllib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import MAX_NAME_BYTES
from studio.core.batch.errors import JobFileError, JobProblem
from studio.core.batch.manifest import Manifest
from studio.core.batch.toml_lines import _TomlLines
from studio.core.export import FORMATS, ExportSettings
from studio.core.image import EXPORT_FORMATS
from studio.core.params import ParamError, coerce, make_params, param_fields, params_to_dict, split_list
from studio.core.plugin import PluginManifest, PluginRegistry, discover_plugins

TOP_LEVEL_KEYS = ("inputs", "size", "output", "output_dir", "steps", "print", "export")
TEMPLATE_FIELDS = ("index", "input_index", "stem", "name", "job")
MAX_ITEMS = 100_000


@dataclass(frozen=True)
class StepCall:
    """One plugin step of one item: the plugin and all its parameter values (plain JSON values).

    ``files`` names the parameters whose values are absolute paths of files
    (style or guide images; comma-separated when there are several); ``inputs``
    maps the plugin's declared inputs other than the picture (a mask, a label
    map, a style picture) to absolute paths. Both are hashed with the item's
    input and shipped to Ray workers.
    """

    plugin: str
    params: dict[str, Any]
    files: tuple[str, ...] = ()
    inputs: dict[str, str] = field(default_factory=dict)

    def file_paths(self) -> list[Path]:
        paths = [Path(item) for key in self.files for item in split_list(self.params[key])]
        return paths + [Path(path) for path in self.inputs.values()]


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
            "steps": [
                {"plugin": s.plugin, "params": s.params, "inputs": s.inputs, "seed": s.params.get("seed")}
                for s in self.steps
            ],
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
    job_path = Path(os.path.normpath(Path(path).absolute()))
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
        if isinstance(data["output_dir"], str) and data["output_dir"].strip() and "\0" not in data["output_dir"]:
            output_dir = Path(os.path.normpath(folder / data["output_dir"]))
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
    if steps and steps[0] is not None and inputs is None and steps[0].manifest.reads("image"):
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
            matches = _glob_files(folder, pattern)
            if isinstance(matches, str):
                problems.add(matches, "inputs")
                continue
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


GLOB_MAX_ENTRIES = 200_000
"""The most files and folders one input glob may look at."""
GLOB_MAX_SECONDS = 10.0
"""The longest one input glob may search."""


def _glob_files(folder: Path, pattern: str) -> list[Path] | str:
    """The files ``pattern`` (relative to ``folder``; ``**`` for any depth) matches, sorted, or a message when
    it searches from the root of the filesystem, looks at more than :data:`GLOB_MAX_ENTRIES` entries or takes
    more than :data:`GLOB_MAX_SECONDS` seconds. Hidden names need a pattern starting with a dot (as in glob);
    ``**`` follows no link to a folder."""
    parts = Path(os.path.normpath(folder / pattern)).parts
    parts += ("*",) if parts[-1] == "**" else ()  # "photos/**": every file below photos
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = Path(*parts[:fixed])
    advice = "give the folder of the pictures (relative to the job file) and a pattern inside it"
    if base.parent == base:
        return f"{pattern!r} searches the whole filesystem from {base}; {advice}"
    budget = _GlobBudget(time.monotonic() + GLOB_MAX_SECONDS)
    level = [base]
    try:
        for part in parts[fixed:]:
            level = [path for directory in level for path in _glob_step(directory, part, budget)]
    except _GlobLimit as exc:
        return f"{pattern!r} {exc}; {advice}"
    return sorted(path for path in level if path.is_file())


class _GlobLimit(Exception):
    """A glob went past one of its limits; the message says which."""


@dataclass
class _GlobBudget:
    """What one glob may still spend: entries looked at and time."""

    deadline: float
    looked: int = 0

    def spend(self, entries: int) -> None:
        self.looked += entries
        if self.looked > GLOB_MAX_ENTRIES:
            raise _GlobLimit(f"looks through more than {GLOB_MAX_ENTRIES:,} files and folders")
        if time.monotonic() > self.deadline:
            raise _GlobLimit(f"took more than {GLOB_MAX_SECONDS:g} s to search")


def _glob_step(directory: Path, part: str, budget: _GlobBudget) -> list[Path]:
    """The paths in ``directory`` that the pattern component ``part`` matches (``**``: it and every folder below)."""
    if not glob.has_magic(part):
        return [directory / part]
    if part == "**":
        folders = [directory]
        for root, names, files in os.walk(directory):
            budget.spend(len(names) + len(files))
            names[:] = [name for name in names if not name.startswith(".")]
            folders += [Path(root, name) for name in names]
        return folders
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    budget.spend(len(names))
    hidden = part.startswith(".")
    return [directory / name for name in names if fnmatch.fnmatchcase(name, part) and (hidden or name[0] != ".")]


def _parse_size(value: Any, problems: _Problems) -> tuple[int, int] | None:
    if isinstance(value, str):
        width, sep, height = value.lower().partition("x")
        value = [width, height] if sep else value
    try:
        width, height = (int(v) for v in value)
    except (TypeError, ValueError, OverflowError):
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
    input_keys: tuple[str, ...] = ()

    def call(self, values: Sequence[Any]) -> StepCall:
        """The call for one combination of swept values, with every parameter filled in.

        Input files keep their ``{stem}``-style fields; :func:`_expand` fills them in per item.
        """
        chosen = dict(zip(self.sweeps, values, strict=True))
        inputs = {key: chosen.pop(key) for key in self.input_keys}
        params = make_params(self.manifest.params_class(), chosen)
        return StepCall(self.manifest.id, params_to_dict(params), self.files, inputs)

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
        manifest = registry.find(plugin_id)
        if manifest is None:
            problems.add(f"unknown plugin {plugin_id!r}; installed plugins: {registry.known()}", f"{label}.plugin",
                         **where)  # fmt: skip
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
    fields = {f.name: f for f in param_fields(params_class)}
    text_params = {name: f for name, f in fields.items() if f.kind is str and not f.choices}
    sweeps: dict[str, list[Any]] = {}
    files: list[str] = []
    input_keys: list[str] = []
    ok = True
    for spec in manifest.inputs:
        if spec.required and spec.name != "image" and spec.name not in table:
            problems.add(
                f'{manifest.title} needs its {spec.label.lower()}: add {spec.name} = "FILE" to this step',
                label,
                **where,
            )
            ok = False
    for key, raw in table.items():
        if key == "plugin":
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            problems.add("an empty list sweeps nothing; give at least one value", f"{label}.{key}", **where)
            ok = False
            continue
        if key == "image" and manifest.reads("image"):
            problems.add("the picture comes from the top-level `inputs`; remove this key", f"{label}.{key}", **where)
            ok = False
            continue
        if manifest.reads(key):
            resolved = _input_files(folder, values)
            if isinstance(resolved, str):
                problems.add(resolved, f"{label}.{key}", **where, line_key=key)
                ok = False
                continue
            sweeps[key] = resolved
            input_keys.append(key)
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
                if key in fields:
                    coerce(fields[key], value)
                else:
                    make_params(params_class, {key: value})
            except ParamError as exc:
                problems.add(f"{exc} (plugin {manifest.id})", f"{label}.{key}", **where, line_key=key)
                ok = False
                break
        sweeps[key] = values
    return _Step(manifest, sweeps, tuple(files), tuple(input_keys)) if ok else None


INPUT_FIELDS = ("stem", "name", "input_index")
"""The fields an input file's name may use, filled in per item: ``mask = "masks/{stem}.png"``."""


def _input_files(folder: Path, values: list[Any]) -> list[str] | str:
    """Input file names resolved against the job's folder; names with fields are checked per item.

    A message (str) when a value is not a file name, uses an unknown field, or names a missing file.
    """
    resolved = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            return f"{value!r} is not a file name; give a picture's path (relative to the job file)"
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            return f"{value!r} is not a valid name: {exc}"
        fields = {name for _, name, _, _ in parsed if name is not None}
        spec_problem = next((p for _, _, spec, _ in parsed if (p := _spec_problem(spec)) is not None), None)
        if spec_problem is not None:
            return f"{value!r}: {spec_problem}"
        unknown = sorted(field for field in fields if field not in INPUT_FIELDS)
        if unknown:
            return f"{{{unknown[0]}}} is not a field of an input file's name; use {', '.join(INPUT_FIELDS)}"
        if fields:
            resolved.append(value)
            continue
        path = _resolve_file(folder, value)
        if path is None:
            return f"{value!r} is not a file in {folder}"
        resolved.append(str(path))
    return resolved


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
    try:
        candidate = Path(value).expanduser()
    except RuntimeError:  # "~user/..." for a user this system does not know
        return None
    candidate = candidate if candidate.is_absolute() else folder / candidate
    return candidate.absolute() if candidate.is_file() else None


PRINT_KEYS = ("preset", "width", "height", "unit", "bleed", "wrap", "ppi", "fit", "fill", "unsharp")


def _parse_print(value: Any, problems: _Problems) -> dict[str, Any] | None:
    """The [print] table as the plain settings a worker needs: spec, fit mode, fill colour, unsharp mask."""
    from studio.core import print_size, printing

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
        bad("ppi", f"{ppi!r} is not a whole number of pixels per inch (for example {print_size.PPI_CHOICES})")
        return None
    try:
        if "preset" in value:
            spec = print_size.get_preset(str(value["preset"]), ppi=ppi)
        elif "width" in value and "height" in value:
            spec = print_size.PrintSpec.from_units(
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
    count = item_count(len(inputs or [None]), [step.sweeps for step in steps])
    if count > MAX_ITEMS:
        problems.add(f"the sweeps make {count:,} items; split the job (at most {MAX_ITEMS:,})", "steps")
        return []
    combos = [list(itertools.product(*step.sweeps.values())) for step in steps]
    items: list[BatchItem] = []
    seen: dict[Path, int] = {}
    for input_index, source in enumerate(inputs or [None], start=1):
        for choice in itertools.product(*combos):
            index = len(items) + 1
            fields = {"stem": source.stem if source else "", "name": source.name if source else ""}
            filled = [
                _fill_input_files(step.call(values), path.parent, fields | {"input_index": input_index}, problems)
                for step, values in zip(steps, choice, strict=True)
            ]
            calls = [call for call in filled if call is not None]
            if len(calls) < len(filled):
                return []
            name = _render_name(template, path, index, input_index, source, calls, problems)
            if name is None:
                return []
            if "\0" in name:
                problems.add(f"{name!r} contains a NUL character, which no file name may hold", "output")
                return []
            if not Path(name).suffix:
                name += export_settings.suffix
            output = Path(os.path.normpath(output_dir / name))
            if not output.is_relative_to(output_dir) or Path(name).is_absolute():
                problems.add(f"{name!r} lies outside the output folder {output_dir}", "output")
                return []
            name_bytes = len(output.name.encode("utf-8", "surrogateescape"))
            written_bytes = len(pending_path(output).name.encode("utf-8", "surrogateescape"))
            if written_bytes > MAX_NAME_BYTES:
                most = MAX_NAME_BYTES - (written_bytes - name_bytes)
                problems.add(
                    f"the file name {output.name[:40]!r}... of item {index} is {name_bytes} bytes; outputs are written "
                    f"under longer temporary names, so it may have at most {most}: shorten the template",
                    "output",
                )
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


def item_count(inputs: int, sweeps: Sequence[Mapping[str, Sequence[Any]]]) -> int:
    """How many items ``inputs`` inputs times every combination of the swept values make (an exact integer)."""
    return inputs * math.prod(len(values) for step in sweeps for values in step.values())


def _fill_input_files(call: StepCall, folder: Path, fields: Mapping[str, Any], problems: _Problems) -> StepCall | None:
    """``call`` with the fields of its input file names filled in for one item; None (and a problem) when a
    file is missing."""
    inputs = {}
    for name, value in call.inputs.items():
        try:
            text = value.format(**fields)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            problems.add(f"{value!r} cannot be filled in for input {fields['name'] or 'of the canvas'}: {exc}", name)
            return None
        path = _resolve_file(folder, text)
        if path is None:
            problems.add(f"{text!r} (for input {fields['name'] or 'of the canvas'}) is not a file in {folder}", name)
            return None
        inputs[name] = str(path)
    return dataclasses.replace(call, inputs=inputs)


def _check_template(template: str, steps: Sequence[_Step | None], problems: _Problems) -> bool:
    """Check that every key of the output template exists (steps with problems are checked by number only)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        problems.add(f"{template!r} is not a valid template ({exc}); write keys as {{stem}}", "output")
        return False
    ok = True
    for _text, field_name, spec, _conversion in parsed:
        if field_name is None:
            continue
        if (spec_problem := _spec_problem(spec)) is not None:
            problems.add(f"{{{field_name}:{spec}}}: {spec_problem}", "output")
            ok = False
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


MAX_FIELD_WIDTH = 255
"""The widest a template field may be padded (``{index:03d}``): a file name has at most 255 bytes."""


def outputs_folder(output: Path) -> Path:
    """Where an item's named outputs go: a folder named after its output file (``a/b.png`` -> ``a/b/``)."""
    return output.with_suffix("")


def pending_path(output: Path) -> Path:
    """Where a pool worker writes an item's output until the driver records it: a hidden name beside it.

    Its named outputs go to ``outputs_folder`` of that name; the driver moves both into place.
    """
    return output.with_name(f".{output.name}.pending{output.suffix}")


def _spec_problem(spec: str | None) -> str | None:
    """What is wrong with a field's format spec (``03d``, ``>8``), or None: a nested field or a width over 255."""
    if spec and "{" in spec:
        return "a format spec cannot hold another {field}; write the width as a number, for example {index:03d}"
    if any(int(number) > MAX_FIELD_WIDTH for number in re.findall(r"\d+", spec or "")):
        return f"pads wider than {MAX_FIELD_WIDTH} characters, which no file name holds; shorten it"
    return None


class _NameFormatter(string.Formatter):
    """Fills in an output name template, refusing a field whose text would make a folder or hold a NUL."""

    def format_field(self, value: Any, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        separators = {"/", "\0", os.sep, os.altsep} - {None}
        if any(char in text for char in separators):
            raise ValueError(
                f"a field gives {text!r}, which holds '/' or NUL; a field may not make folders "
                "(write folders in the template itself)"
            )
        return text


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
        name = _NameFormatter().vformat(template, (), fields)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        problems.add(f"{template!r} cannot be filled in for item {index}: {exc}", "output")
        return None
    sizes = {part: len(part.encode("utf-8", "surrogateescape")) for part in name.split("/")}
    long_part = next((part for part, size in sizes.items() if size > MAX_NAME_BYTES), None)
    if long_part is not None:
        problems.add(
            f"{template!r} makes the file name {long_part[:40]!r}... of {sizes[long_part]} bytes for item {index}; "
            f"a file name holds at most {MAX_NAME_BYTES} bytes: shorten the template",
            "output",
        )
        return None
    return name


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
