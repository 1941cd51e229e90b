"""Project files: one zip holding lossless PNG layers, a JSON description and each plugin's own data.

Writing is atomic (a crash or a full disk never leaves a half-written
project). Reading validates every member and refuses anything unexpected:
unknown or escaping member names, sizes that do not match, oversized data.
``document.json`` is checked against a schema (pydantic) before anything is
built from it: types, finite numbers, bounded counts, lengths and nesting.
A plugin's member ``plugins/<id>.json`` (format version 2 on) is checked to be
bounded, finite JSON and otherwise kept opaque: the plugin validates its content.
Format version 3 adds each layer's blend mode and lock; older projects open with
normal, unlocked layers. Format version 4 adds bits per channel: the document's default
and each layer's (a 16-bit raster layer is a 16-bit RGBA PNG member); older projects
open as 8-bit.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt, ValidationError

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.blend import BlendMode
from studio.core.document import (
    MAX_LAYER_NAME,
    MAX_PLUGIN_DATA_BYTES,
    MAX_PLUGIN_DATA_DEPTH,
    PLUGIN_DATA_ID,
    Document,
    Layer,
    LayerKind,
    Recipe,
    encode_plugin_data,
    json_depth,
)
from studio.core.export import ExportSettings
from studio.core.image import decode_png16, encode_png16, pillow_pixel_limit
from studio.core.print_size import PrintSpec

PROJECT_SUFFIX = ".studio"
FORMAT = "studio-project"
FORMAT_VERSION = 4
MANIFEST_NAME = "document.json"
MAX_PROJECT_PIXELS = 400_000_000
MAX_LAYERS = 10_000
MAX_RECIPE_DEPTH = 32
MAX_RECIPE_VALUES = 10_000
_RESTORE = "Open an autosave or a backup."
_LAYER_MEMBER = re.compile(r"^layers/[0-9a-f]{32}\.png$")
_PLUGIN_MEMBER = re.compile(rf"plugins/({PLUGIN_DATA_ID.pattern})\.json")
_PIL_MODE = {LayerKind.RASTER: "RGBA", LayerKind.MASK: "L", LayerKind.LABELS: "L"}
_BitDepth = Literal[8, 16]


def _bounded_json(value: JsonValue) -> JsonValue:
    """``value`` if it nests at most MAX_RECIPE_DEPTH deep, holds at most MAX_RECIPE_VALUES values,
    and every number in it is finite."""
    count = 0
    pending: list[tuple[JsonValue, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        count += 1
        if count > MAX_RECIPE_VALUES or depth > MAX_RECIPE_DEPTH:
            raise ValueError(f"nests deeper than {MAX_RECIPE_DEPTH} or holds over {MAX_RECIPE_VALUES} values")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"holds {item}, not a finite number")
        if isinstance(item, dict):
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item)
    return value


_Name = Annotated[str, Field(max_length=MAX_LAYER_NAME)]
_Short = Annotated[str, Field(max_length=4096)]
_Side = Annotated[StrictInt, Field(gt=0, le=MAX_PROJECT_PIXELS)]
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Strings = Annotated[dict[_Short, _Short], Field(max_length=1000)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class _Header(BaseModel):
    """What every version of document.json starts with: read first to refuse files of a newer Studio."""

    model_config = ConfigDict(extra="allow")
    format: Literal["studio-project"]
    version: Annotated[StrictInt, Field(ge=1)]


class _RecipeEntry(_Schema):
    plugin_id: Annotated[str, Field(max_length=200)]
    params: Annotated[dict[_Short, JsonValue], AfterValidator(_bounded_json)] = {}
    seed: Annotated[StrictInt, Field(ge=-(2**63), lt=2**64)] | None = None
    models: Annotated[list[dict[_Short, JsonValue]], Field(max_length=1000), AfterValidator(_bounded_json)] = []
    inputs: _Strings = {}
    size: tuple[_Side, _Side] | None = None
    input_files: _Strings = {}
    studio_version: _Short = ""
    created: _Short = ""


class _LayerEntry(_Schema):
    id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    name: _Name
    kind: LayerKind
    visible: StrictBool
    opacity: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    file: _Short
    recipe: _RecipeEntry | None = None
    blend_mode: BlendMode = BlendMode.NORMAL
    locked: StrictBool = False
    bit_depth: _BitDepth = 8


class _PrintSpecEntry(_Schema):
    """A PrintSpec's fields; one left out takes PrintSpec's default (only the fields set are passed on)."""

    width_in: _Finite
    height_in: _Finite
    ppi: StrictInt = 0
    bleed_in: _Finite = 0.0
    wrap_in: _Finite = 0.0
    safe_in: _Finite = 0.0
    name: Annotated[str, Field(max_length=200)] = ""


class _ExportSettingsEntry(_Schema):
    """ExportSettings' fields; one left out takes its default (only the fields set are passed on)."""

    format: _Short | None = None
    bit_depth: StrictInt | None = None
    compression: _Short | None = None
    quality: StrictInt | None = None
    subsampling: _Short | None = None
    dpi: _Finite | None = None
    icc: _Short | None = None
    cmyk_profile: _Short | None = None
    intent: _Short | None = None


class _Manifest(_Schema):
    """document.json as every version Studio has written with format versions 1 to 4."""

    format: Literal["studio-project"]
    version: StrictInt
    studio_version: _Short = ""
    name: _Name | None = None
    width: _Side
    height: _Side
    active: _Short | None = None
    print_spec: _PrintSpecEntry | None = None
    export_settings: _ExportSettingsEntry | None = None
    bit_depth: _BitDepth = 8
    layers: Annotated[list[_LayerEntry], Field(max_length=MAX_LAYERS)]


class ProjectError(Exception):
    """A project file could not be read; the message names the file and the problem."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"Cannot open project {path}: {reason}")
        self.path = path
        self.reason = reason


def save_project(doc: Document, path: str | os.PathLike[str]) -> None:
    """Write ``doc`` to ``path`` atomically."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "studio_version": __version__,
        "name": doc.name,
        "width": doc.width,
        "height": doc.height,
        "active": doc.active_id,
        "print_spec": doc.print_spec.to_dict() if doc.print_spec else None,
        "export_settings": doc.export_settings.to_dict() if doc.export_settings else None,
        "bit_depth": doc.bit_depth,
        "layers": [],
    }
    plugin_members = {
        f"plugins/{plugin_id}.json": encode_plugin_data(plugin_id, value)
        for plugin_id, value in doc.plugin_data.items()
    }
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        for layer in doc.layers:
            member = f"layers/{layer.id}.png"
            archive.writestr(member, _layer_png(layer), compress_type=zipfile.ZIP_STORED)
            manifest["layers"].append(
                {
                    "id": layer.id,
                    "name": layer.name,
                    "kind": layer.kind.value,
                    "visible": layer.visible,
                    "opacity": layer.opacity,
                    "file": member,
                    "recipe": layer.recipe.to_dict() if layer.recipe else None,
                    "blend_mode": layer.blend_mode.value,
                    "locked": layer.locked,
                    "bit_depth": layer.bit_depth,
                }
            )
        for member, data in plugin_members.items():
            archive.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1), compress_type=zipfile.ZIP_DEFLATED)


def _layer_png(layer: Layer) -> bytes:
    """A layer's member: a PNG of its pixels, 16 bits per channel for a 16-bit layer."""
    if layer.bit_depth == 16:
        return encode_png16(layer.pixels)
    buffer = io.BytesIO()
    Image.fromarray(layer.pixels, _PIL_MODE[layer.kind]).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def load_project(path: str | os.PathLike[str]) -> Document:
    """Read a project file, validating every member before trusting it."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(archive, path)
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(path, "the file does not exist.") from None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error, NotImplementedError, UnicodeDecodeError):
        raise ProjectError(path, "it is not a Studio project or it is damaged. Open an autosave or a backup.") from None
    except OSError as exc:
        raise ProjectError(path, f"{exc.strerror or exc}.") from None


def _read(archive: zipfile.ZipFile, path: Path) -> Document:
    infos = {info.filename: info for info in archive.infolist()}
    for name, info in infos.items():
        if name != MANIFEST_NAME and not _LAYER_MEMBER.match(name) and not _PLUGIN_MEMBER.fullmatch(name):
            raise ProjectError(path, f"it contains an unexpected member {name!r}; it was not written by Studio.")
        if info.flag_bits & 0x1:
            raise ProjectError(path, f"its member {name!r} is encrypted; Studio never encrypts projects.")
    if MANIFEST_NAME not in infos:
        raise ProjectError(path, f"{MANIFEST_NAME} is missing; it is not a Studio project.")
    if infos[MANIFEST_NAME].file_size > 16 * 1024 * 1024:
        raise ProjectError(path, f"{MANIFEST_NAME} is implausibly large.")
    manifest = _read_manifest(archive.read(MANIFEST_NAME), path)
    width, height, entries = manifest.width, manifest.height, manifest.layers
    if width * height * max(len(entries), 1) > MAX_PROJECT_PIXELS:
        raise ProjectError(path, f"its size {width}x{height} with {len(entries)} layers is out of range.")
    if len({entry.id for entry in entries}) < len(entries):
        raise ProjectError(path, "two of its layers have the same id; it was not written by Studio.")
    doc = Document(width, height, manifest.name if manifest.name is not None else path.stem)
    doc.print_spec, doc.export_settings = _read_print_settings(manifest, path)
    doc.bit_depth = manifest.bit_depth
    for entry in entries:
        doc.layers.append(_read_layer(archive, infos, entry, width, height, path))
    active = manifest.active
    doc.active_id = active if any(la.id == active for la in doc.layers) else (doc.layers[-1].id if doc.layers else None)
    for name, info in infos.items():
        if match := _PLUGIN_MEMBER.fullmatch(name):
            doc.plugin_data[match[1]] = _read_plugin_data(archive, info, path)
    return doc


def _finite(text: str) -> float:
    """A JSON number as a float, or ValueError for NaN, Infinity or one too large for a float."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"it holds {text}, not a finite number")
    return number


def _read_plugin_data(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> Any:
    """A plugin's member as JSON values: bounded in size and nesting, finite; a fault is a ProjectError naming it."""
    name = info.filename
    if info.file_size > MAX_PLUGIN_DATA_BYTES:
        raise ProjectError(path, f"its plugin data {name!r} is over {MAX_PLUGIN_DATA_BYTES} bytes. {_RESTORE}")
    try:
        raw = archive.read(name)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ProjectError(path, f"its plugin data {name!r} is damaged ({exc}). {_RESTORE}") from None
    too_deep = ProjectError(path, f"its plugin data {name!r} nests deeper than {MAX_PLUGIN_DATA_DEPTH}. {_RESTORE}")
    try:
        value = json.loads(raw, parse_float=_finite, parse_constant=_finite)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise ProjectError(path, f"its plugin data {name!r} is not valid JSON ({exc}). {_RESTORE}") from None
    if json_depth(value) > MAX_PLUGIN_DATA_DEPTH:
        raise too_deep
    return value


def _read_manifest(raw: bytes, path: Path) -> _Manifest:
    """document.json validated against the schema; any fault is a ProjectError naming the field."""
    try:
        header = _Header.model_validate_json(raw)
        if header.version > FORMAT_VERSION:
            raise ProjectError(path, "it was saved by a newer Studio; update Studio to open it.")
        return _Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise _schema_error(exc, path) from None


def _schema_error(exc: ValidationError, path: Path) -> ProjectError:
    """The first schema violation, as a ProjectError naming the section and the field."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = error["loc"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if error["type"] == "json_invalid":
        return ProjectError(path, f"{MANIFEST_NAME} is not valid JSON ({error['msg']}).")
    if not loc or loc == ("format",):
        return ProjectError(path, "it is not a Studio project.")
    section = {
        "layers": "a layer entry is malformed",
        "print_spec": "its print spec is malformed",
        "export_settings": "its export settings are malformed",
    }.get(str(loc[0]), f"{MANIFEST_NAME} is malformed")
    return ProjectError(path, f"{section} ({where}: {error['msg']}).")


def _read_print_settings(manifest: _Manifest, path: Path) -> tuple[PrintSpec | None, ExportSettings | None]:
    try:
        entry = manifest.print_spec
        spec = PrintSpec(**entry.model_dump(exclude_unset=True)) if entry is not None else None
    except ValueError as exc:
        raise ProjectError(path, f"its print spec is malformed ({exc}).") from None
    try:
        export = manifest.export_settings
        settings = ExportSettings.from_dict(export.model_dump(exclude_unset=True)) if export is not None else None
    except ValueError as exc:
        raise ProjectError(path, f"its export settings are malformed ({exc}).") from None
    return spec, settings


def _decode_16(data: bytes) -> np.ndarray:
    """A 16-bit layer's member (its size already checked) as RGBA uint16; ValueError when it is not one."""
    pixels = decode_png16(data)
    if pixels is None:
        raise ValueError("it is not a 16-bit PNG")
    return pixels


def _read_layer(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], entry: _LayerEntry, width: int, height: int, path: Path
) -> Layer:
    kind, member, layer_id, name = entry.kind, entry.file, entry.id, entry.name
    recipe = Recipe.from_dict(entry.recipe.model_dump()) if entry.recipe is not None else None
    if member != f"layers/{layer_id}.png" or member not in infos:
        raise ProjectError(path, f"layer {name!r} refers to a missing or misnamed member {member!r}.")
    sixteen = entry.bit_depth == 16
    if sixteen and kind is not LayerKind.RASTER:
        raise ProjectError(path, f"layer {name!r} is a {kind} with 16 bits; only image layers have 16 bits.")
    # PNG never expands past raw size plus a little; a larger claim is a zip bomb.
    channels = 4 if kind is LayerKind.RASTER else 1
    if infos[member].file_size > width * height * channels * (2 if sixteen else 1) * 2 + 65536:
        raise ProjectError(path, f"member {member!r} is larger than its layer can be.")
    try:
        # The project's own validated size governs, not Pillow's default bomb limit: what Studio saves, it opens.
        data = io.BytesIO(archive.read(member))
        with pillow_pixel_limit(width * height), Image.open(data, formats=["PNG"]) as image:
            if image.size != (width, height):
                raise ProjectError(
                    path, f"layer {name!r} is {image.size[0]}x{image.size[1]}, expected {width}x{height}."
                )
            pixels = _decode_16(data.getvalue()) if sixteen else np.asarray(image.convert(_PIL_MODE[kind]))
    except ProjectError:
        raise
    except Image.DecompressionBombError:
        message = f"layer {name!r} is larger than {width}x{height}, the size the project gives."
        raise ProjectError(path, message) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ProjectError(path, f"layer {name!r} is damaged ({exc}).") from None
    return Layer(
        name,
        kind,
        np.array(pixels),
        entry.visible,
        entry.opacity,
        recipe,
        id=layer_id,
        blend_mode=entry.blend_mode,
        locked=entry.locked,
    )
