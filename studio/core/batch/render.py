"""Rendering one item: load its input, run its steps, fit it to print, export it."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.batch.errors import ItemError
from studio.core.batch.jobfile import BatchItem
from studio.core.cancel import Cancelled
from studio.core.errors import describe_error
from studio.core.export import ExportSettings, export_image
from studio.core.image import load_image, to_uint8
from studio.core.jobs import RunContext
from studio.core.outputs import Output, OutputFolder
from studio.core.params import make_params, mask_reach
from studio.core.plugin import PluginRegistry
from studio.core.run import build_inputs, result_picture, run_plugin

_HASH_CHUNK = 1 << 20


def render_item(
    item: BatchItem,
    registry: PluginRegistry,
    ctx: RunContext,
    on_progress: Callable[[float], None] | None = None,
    outputs: StepOutputs | None = None,
) -> np.ndarray:
    """Load the item's input, run its steps in order and fit it to the print preset; return RGBA pixels (uint16
    when the last step's result has 16 bits).

    Each step's picture is the previous step's result; its other inputs are the
    files the step names. Named outputs go to ``outputs`` (the engine's ``ctx``
    must have it as its sink), under ``stepN/`` when the item has several steps.
    """
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

        def progress(frame: Any, number: int = number) -> None:
            if on_progress is not None:
                on_progress((number + frame.progress) / count)

        try:
            params = make_params(manifest.params_class(), call.params)
            # Plugins read 8-bit pictures; the last step's result keeps its 16 bits for the export.
            picture = to_uint8(image) if image is not None and manifest.reads("image") else None
            provided = {"image": picture, **call.inputs}
            inputs = build_inputs(manifest, provided, (width, height))
            if outputs is not None:
                outputs.step = f"step{number + 1}" if count > 1 else ""
            final = run_plugin(manifest, params, inputs, ctx, progress)
            if final.image is None:
                raise ItemError(f"{manifest.title} finished without an image")
            image = np.ascontiguousarray(result_picture(final.image, inputs, mask_reach(params)))
        except Cancelled:
            raise
        except Exception as exc:
            raise ItemError(f"step {number + 1} ({call.plugin}): {describe_error(exc)}") from exc
        height, width = image.shape[:2]
    assert image is not None
    if item.print_settings is not None:
        image = _fit_to_print(image, item.print_settings)
    return image


class StepOutputs(OutputFolder):
    """An item's output folder: every named output of its steps, under ``stepN/`` when it has several."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.step = ""

    def __call__(self, output: Output) -> bool:
        if self.step:
            output = dataclasses.replace(output, name=f"{self.step}/{output.name}")
        return super().__call__(output)


def _fit_to_print(pixels: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    from studio.core import print_size, printing

    spec = print_size.PrintSpec.from_dict(settings["spec"])
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
