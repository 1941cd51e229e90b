"""Project files: one zip holding lossless PNG layers and a JSON description.

Writing is atomic (a crash or a full disk never leaves a half-written
project). Reading validates every member and refuses anything unexpected:
unknown or escaping member names, sizes that do not match, oversized data.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.document import Document, Layer, LayerKind, Recipe
from studio.core.export import ExportSettings
from studio.core.image import pillow_pixel_limit
from studio.core.print_size import PrintSpec

PROJECT_SUFFIX = ".studio"
FORMAT = "studio-project"
FORMAT_VERSION = 1
MANIFEST_NAME = "document.json"
MAX_PROJECT_PIXELS = 400_000_000
_LAYER_MEMBER = re.compile(r"^layers/[0-9a-f]{32}\.png$")
_PIL_MODE = {LayerKind.RASTER: "RGBA", LayerKind.MASK: "L", LayerKind.LABELS: "L"}


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
        "layers": [],
    }
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        for layer in doc.layers:
            member = f"layers/{layer.id}.png"
            buffer = io.BytesIO()
            Image.fromarray(layer.pixels, _PIL_MODE[layer.kind]).save(buffer, "PNG", compress_level=1)
            archive.writestr(member, buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
            manifest["layers"].append(
                {
                    "id": layer.id,
                    "name": layer.name,
                    "kind": layer.kind.value,
                    "visible": layer.visible,
                    "opacity": layer.opacity,
                    "file": member,
                    "recipe": layer.recipe.to_dict() if layer.recipe else None,
                }
            )
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1), compress_type=zipfile.ZIP_DEFLATED)


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
        if name != MANIFEST_NAME and not _LAYER_MEMBER.match(name):
            raise ProjectError(path, f"it contains an unexpected member {name!r}; it was not written by Studio.")
        if info.flag_bits & 0x1:
            raise ProjectError(path, f"its member {name!r} is encrypted; Studio never encrypts projects.")
    if MANIFEST_NAME not in infos:
        raise ProjectError(path, f"{MANIFEST_NAME} is missing; it is not a Studio project.")
    if infos[MANIFEST_NAME].file_size > 16 * 1024 * 1024:
        raise ProjectError(path, f"{MANIFEST_NAME} is implausibly large.")
    try:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ProjectError(path, "it is not a Studio project.")
        if int(manifest["version"]) > FORMAT_VERSION:
            raise ProjectError(path, "it was saved by a newer Studio; update Studio to open it.")
        width, height = int(manifest["width"]), int(manifest["height"])
        entries = list(manifest["layers"])
    except ProjectError:
        raise
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise ProjectError(path, f"{MANIFEST_NAME} is malformed ({exc}).") from None
    if not (width > 0 and height > 0 and width * height * max(len(entries), 1) <= MAX_PROJECT_PIXELS):
        raise ProjectError(path, f"its size {width}x{height} with {len(entries)} layers is out of range.")
    doc = Document(width, height, str(manifest.get("name", path.stem)))
    doc.print_spec, doc.export_settings = _read_print_settings(manifest, path)
    for entry in entries:
        doc.layers.append(_read_layer(archive, infos, entry, width, height, path))
    active = manifest.get("active")
    doc.active_id = active if any(la.id == active for la in doc.layers) else (doc.layers[-1].id if doc.layers else None)
    return doc


def _read_print_settings(manifest: dict[str, Any], path: Path) -> tuple[PrintSpec | None, ExportSettings | None]:
    spec_data, export_data = manifest.get("print_spec"), manifest.get("export_settings")
    try:
        spec = PrintSpec.from_dict(spec_data) if spec_data is not None else None
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise ProjectError(path, f"its print spec is malformed ({exc}).") from None
    try:
        settings = ExportSettings.from_dict(export_data) if export_data is not None else None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ProjectError(path, f"its export settings are malformed ({exc}).") from None
    return spec, settings


def _read_layer(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], entry: Any, width: int, height: int, path: Path
) -> Layer:
    try:
        kind = LayerKind(entry["kind"])
        member = str(entry["file"])
        layer_id = str(entry["id"])
        recipe = Recipe.from_dict(entry["recipe"]) if entry.get("recipe") else None
        name, visible, opacity = str(entry["name"]), bool(entry["visible"]), float(entry["opacity"])
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise ProjectError(path, f"a layer entry is malformed ({exc}).") from None
    if member != f"layers/{layer_id}.png" or member not in infos:
        raise ProjectError(path, f"layer {name!r} refers to a missing or misnamed member {member!r}.")
    # PNG never expands past raw size plus a little; a larger claim is a zip bomb.
    channels = 4 if kind is LayerKind.RASTER else 1
    if infos[member].file_size > width * height * channels * 2 + 65536:
        raise ProjectError(path, f"member {member!r} is larger than its layer can be.")
    try:
        # The project's own validated size governs, not Pillow's default bomb limit: what Studio saves, it opens.
        data = io.BytesIO(archive.read(member))
        with pillow_pixel_limit(width * height), Image.open(data, formats=["PNG"]) as image:
            if image.size != (width, height):
                raise ProjectError(
                    path, f"layer {name!r} is {image.size[0]}x{image.size[1]}, expected {width}x{height}."
                )
            pixels = np.asarray(image.convert(_PIL_MODE[kind]))
    except ProjectError:
        raise
    except Image.DecompressionBombError:
        message = f"layer {name!r} is larger than {width}x{height}, the size the project gives."
        raise ProjectError(path, message) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ProjectError(path, f"layer {name!r} is damaged ({exc}).") from None
    return Layer(name, kind, np.array(pixels), visible, opacity, recipe, id=layer_id)
