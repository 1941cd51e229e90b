"""Rendering one item: load its input, run its steps, fit it to print, export it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.batch.errors import ItemError
from studio.core.batch.jobfile import BatchItem
from studio.core.export import ExportSettings, export_image
from studio.core.image import load_image, to_uint8
from studio.core.jobs import Cancelled, Inputs, RunContext, describe_error
from studio.core.params import make_params
from studio.core.plugin import PluginRegistry
from studio.core.run import run_plugin, to_rgba

_HASH_CHUNK = 1 << 20


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
