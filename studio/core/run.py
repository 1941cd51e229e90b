"""Running a plugin on a document: its inputs, and its result as a layer with a recipe."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from studio.core.document import Document, Layer, LayerKind, Recipe, pixels_digest
from studio.core.jobs import EngineError, Frame, Inputs, RunContext, drive
from studio.core.params import params_to_dict
from studio.core.plugin import PluginManifest


def inputs_from_document(doc: Document, manifest: PluginManifest) -> Inputs:
    """The copies of the document a job of ``manifest`` reads."""
    image = doc.composite() if manifest.uses_image else None
    mask_layer = doc.active_mask() if manifest.uses_mask else None
    mask = mask_layer.pixels.astype(np.float32) / 255.0 if mask_layer is not None else None
    return Inputs(doc.width, doc.height, image, mask)


def to_rgba(image: np.ndarray) -> np.ndarray:
    """An engine image (RGB or RGBA uint8) as RGBA uint8."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise EngineError(f"the engine produced a {image.dtype} image of shape {image.shape}, not RGB(A) uint8")
    if image.shape[2] == 4:
        return image
    alpha = np.full((*image.shape[:2], 1), 255, np.uint8)
    return np.concatenate([image, alpha], axis=2)


def make_recipe(manifest: PluginManifest, params: Any, inputs: Inputs, frame: Frame) -> Recipe:
    """The recipe of a finished job: plugin, parameters, seed, models and input hashes."""
    input_hashes = {}
    if inputs.image is not None:
        input_hashes["image"] = pixels_digest(inputs.image)
    if inputs.mask is not None:
        input_hashes["mask"] = pixels_digest(inputs.mask)
    values = params_to_dict(params)
    seed = frame.info.get("seed", values.get("seed"))
    return Recipe(
        plugin_id=manifest.id,
        params=values,
        seed=int(seed) if seed is not None else None,
        models=[dict(m) for m in frame.info.get("models", [])],
        inputs=input_hashes,
        size=(inputs.width, inputs.height),
    )


def result_layer(doc: Document, manifest: PluginManifest, params: Any, inputs: Inputs, frame: Frame) -> Layer:
    """A new raster layer holding a job's final image and its recipe."""
    if frame.image is None:
        raise EngineError(f"{manifest.title} finished without an image")
    pixels = to_rgba(frame.image)
    if pixels.shape[:2] != (doc.height, doc.width):
        raise EngineError(
            f"{manifest.title} produced a {pixels.shape[1]}x{pixels.shape[0]} image for a "
            f"{doc.width}x{doc.height} document"
        )
    recipe = make_recipe(manifest, params, inputs, frame)
    return Layer(doc.unique_layer_name(manifest.title), LayerKind.RASTER, np.ascontiguousarray(pixels), recipe=recipe)


def job_function(manifest: PluginManifest, params: Any, inputs: Inputs) -> Callable[[RunContext], Iterator[Frame]]:
    """A job for :class:`~studio.core.jobs.JobQueue`: resolves the engine lazily, then runs it."""
    params = dataclasses.replace(params)

    def job(ctx: RunContext) -> Iterator[Frame]:
        engine = manifest.engine_function()
        return engine(params, inputs, ctx)

    return job


def run_plugin(
    manifest: PluginManifest,
    params: Any,
    inputs: Inputs,
    ctx: RunContext,
    on_frame: Callable[[Frame], None] | None = None,
) -> Frame:
    """Run a plugin to completion in this thread and return its final frame."""
    return drive(job_function(manifest, params, inputs)(ctx), ctx, on_frame)
