"""Running a plugin: its inputs built from what a host has, and its results as layers with recipes.

Every host (the panel, ``studio run``, batch, re-render) builds a job's inputs
with :func:`build_inputs` and runs it with :func:`job_function` or
:func:`run_plugin`; the GUI turns results into layers with :func:`result_layer`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from studio.core.blend import BlendMode, over
from studio.core.document import Document, Layer, LayerKind, Recipe, to_dtype
from studio.core.inputs import IMAGE, InputError, Inputs, Provided, as_kind, read_input, resample
from studio.core.jobs import EngineError, Frame, RunContext, closed_after, drive
from studio.core.params import mask_reach, recipe_params, role_field
from studio.core.plugin import PluginManifest
from studio.core.tiles import TiledImage


def build_inputs(
    manifest: PluginManifest,
    provided: Provided,
    canvas: tuple[int, int] | None = None,
) -> Inputs:
    """The :class:`Inputs` of a job of ``manifest`` from what a host ``provided``, by input name.

    Files are loaded (an unreadable one is an :class:`~studio.core.image.ImageError`
    naming it) and converted to the input's kind. The document's size is the
    picture's, else ``canvas``, else the label map's or the mask's; a plugin that
    does not read the picture still gets the picture's size. A mask or label map of another size, a missing
    required input or an input the plugin does not declare is an :class:`InputError`.
    """
    declared = {spec.name: spec for spec in manifest.inputs}
    given = {name: value for name, value in provided.items() if value is not None}
    check_given(manifest, given)
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, str] = {}
    for name, value in given.items():
        spec = declared.get(name, IMAGE)
        if isinstance(value, np.ndarray):
            arrays[name] = as_kind(value, spec.kind)
        else:
            files[name] = str(value)
            arrays[name] = read_input(spec, value)
    picture = arrays.get("image")
    if picture is not None:
        width, height = picture.shape[1], picture.shape[0]
    elif canvas is not None:
        width, height = canvas
    elif (document_map := arrays.get("labels", arrays.get("mask"))) is not None:
        width, height = document_map.shape[1], document_map.shape[0]
    else:
        raise InputError(f"{manifest.title} needs a canvas size when it reads no picture")
    for name in ("mask", "labels"):
        array = arrays.get(name)
        if array is not None and array.shape[:2] != (height, width):
            source = files.get(name, f"the {declared[name].label.lower()}")
            raise InputError(
                f"{source} is {array.shape[1]}x{array.shape[0]} but the picture is {width}x{height}; "
                f"make the {declared[name].label.lower()} the picture's size"
            )
    image = picture if "image" in declared else None
    extras = {name: array for name, array in arrays.items() if name in declared and not declared[name].from_document}
    files = {name: path for name, path in files.items() if name in declared}
    return Inputs(width, height, image, arrays.get("mask"), arrays.get("labels"), extras, files)


def check_given(manifest: PluginManifest, names: Collection[str]) -> None:
    """InputError unless the inputs a host provides (by name) hold every input ``manifest`` requires and only
    inputs it declares (or its picture, "image")."""
    declared = [spec.name for spec in manifest.inputs]
    unknown = sorted(set(names) - set(declared) - {"image"})
    if unknown:
        known = ", ".join(declared) or "none"
        raise InputError(f"{manifest.title} takes no input {unknown[0]!r}; its inputs: {known}")
    missing = [spec for spec in manifest.inputs if spec.required and spec.name not in names]
    if missing:
        spec = missing[0]
        raise InputError(f"{manifest.title} needs {spec.label.lower()} ({spec.help or spec.name})")


def inputs_from_document(
    doc: Document, manifest: PluginManifest, extras: Mapping[str, str | Path] | None = None
) -> Inputs:
    """The inputs a job of ``manifest`` reads from ``doc``: its visible picture, its mask in use (else its
    selection), its label map in use, and the ``extras`` the artist chose (files by input name). The picture is
    8-bit, whatever the layers' depth."""
    provided: dict[str, Any] = dict(extras or {})
    if manifest.reads("image"):
        provided["image"] = doc.composite(dtype=np.dtype(np.uint8))
    mask, labels = doc.job_mask(), doc.active_labels()
    if manifest.reads("mask") and mask is not None:
        provided["mask"] = mask[1]
    if manifest.reads("labels") and labels is not None:
        provided["labels"] = labels.pixels
    return build_inputs(manifest, provided, (doc.width, doc.height))


def deferred_inputs(
    doc: Document, manifest: PluginManifest, extras: Mapping[str, str | Path] | None = None
) -> Callable[[], Inputs]:
    """:func:`inputs_from_document` without copying pixels on the calling (GUI) thread: ``doc`` is snapshotted now,
    and the inputs ``manifest`` requires are checked to be there (else :class:`InputError`); the function returned
    builds the inputs from the snapshot when first called (on the job's worker thread, which reads the files then,
    raising their errors) and keeps them."""
    extras = dict(extras or {})
    in_use = {
        "image": True,
        "mask": doc.active_mask() is not None or doc.selection is not None,
        "labels": doc.active_labels() is not None,
    }
    given = [name for name, value in extras.items() if value is not None]
    check_given(manifest, given + [name for name, there in in_use.items() if there and manifest.reads(name)])
    snapshot: Document | None = doc.snapshot()
    built: Inputs | None = None

    def inputs() -> Inputs:
        nonlocal snapshot, built
        if built is None:
            assert snapshot is not None, "building the inputs failed"
            built, snapshot = inputs_from_document(snapshot, manifest, extras), None
        return built

    return inputs


def deferred_job(
    manifest: PluginManifest, params: Any, inputs: Callable[[], Inputs]
) -> Callable[[RunContext], Iterator[Frame]]:
    """:func:`job_function` whose inputs are built by ``inputs()`` (see :func:`deferred_inputs`) on the worker thread,
    before the engine starts, and whose final image is made the result layer's pixels there too
    (``Frame.prepared``, see :func:`result_pixels`)."""
    params = dataclasses.replace(params)

    def job(ctx: RunContext) -> Iterator[Frame]:
        built = inputs()
        frames = job_function(manifest, params, built)(ctx)
        with closed_after(frames):
            for frame in frames:
                # A result of another size (a run at another size) opens as a new document, not a layer.
                if frame.final and frame.image is not None and frame.image.shape[:2] == (built.height, built.width):
                    built.digests()  # for the recipe, worked out here rather than on the GUI thread
                    yield dataclasses.replace(frame, prepared=result_pixels(manifest, params, built, frame.image))
                else:
                    yield frame

    return job


def to_rgba(image: np.ndarray) -> np.ndarray:
    """An engine image (RGB or RGBA, uint8 or uint16: a result computed in float keeps 16 bits) as RGBA of its
    type."""
    if image.dtype not in (np.uint8, np.uint16) or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise EngineError(
            f"the engine produced a {image.dtype} image of shape {image.shape}, not RGB(A) uint8 or uint16"
        )
    if image.shape[2] == 4:
        return image
    alpha = np.full((*image.shape[:2], 1), np.iinfo(image.dtype).max, image.dtype)
    return np.concatenate([image, alpha], axis=2)


def confine(pixels: np.ndarray, inputs: Inputs, reach: int = 0) -> np.ndarray:
    """A result (RGBA uint8 or uint16) held to its inputs: it is no more opaque than the input picture
    (transparency stays transparency) and fully transparent where the mask is 0 (nothing changes outside the mask),
    or farther than ``reach`` pixels from it (see :func:`~studio.core.params.mask_reach`).

    The one rule every plugin's result follows, whatever the engine did with alpha and the mask; a result of another
    size than the inputs (a run or re-render at another size) is held to the inputs resampled to its size.
    """
    if inputs.image is None and inputs.mask is None:
        return pixels
    height, width = pixels.shape[:2]
    if (inputs.width, inputs.height) != (width, height):
        inputs = inputs.resized((width, height))
    alpha = pixels[..., 3]
    if inputs.image is not None:
        alpha = np.minimum(alpha, to_dtype(inputs.image, pixels.dtype)[..., 3])
    if inputs.mask is not None:
        alpha = np.where(grow(inputs.mask > 0, reach), alpha, 0).astype(pixels.dtype)
    return np.concatenate([pixels[..., :3], alpha[..., None]], axis=2)


def grow(region: np.ndarray, pixels: int) -> np.ndarray:
    """The bool ``region`` (H, W) and every pixel within ``pixels`` (Euclidean) of it."""
    if pixels <= 0 or not region.any():
        return region
    distance = cv2.distanceTransform(np.where(region, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    return distance <= pixels


def result_picture(image: np.ndarray, inputs: Inputs, reach: int = 0) -> np.ndarray:
    """A result as a picture of its own (a file, the next step of a batch): held to its inputs by :func:`confine`
    and laid over the input picture, so outside the mask it is the input and transparency stays transparency.
    It has the result's type (a 16-bit result stays 16-bit)."""
    confined = confine(to_rgba(image), inputs, reach)
    if inputs.image is None:
        return confined
    height, width = confined.shape[:2]
    below = inputs.image if inputs.image.shape[:2] == (height, width) else resample(inputs.image, (width, height))
    return over(to_dtype(below, confined.dtype), confined, BlendMode.NORMAL)


def make_recipe(manifest: PluginManifest, params: Any, inputs: Inputs, frame: Frame) -> Recipe:
    """The recipe of a finished job: plugin, the parameters that applied, seed, the models it loaded and its inputs."""
    seed_field = role_field(type(params), "seed")
    seed = frame.info.get("seed", getattr(params, seed_field.name) if seed_field is not None else None)
    return Recipe(
        plugin_id=manifest.id,
        params=recipe_params(params),
        seed=int(seed) if seed is not None else None,
        models=[dict(m) for m in frame.info.get("models", [])],
        inputs=inputs.digests(),
        size=(inputs.width, inputs.height),
        input_files={name: path for name, path in inputs.files.items() if not manifest.input(name).from_document},
    )


def result_layer(doc: Document, manifest: PluginManifest, params: Any, inputs: Inputs, frame: Frame) -> Layer:
    """A new raster layer holding a job's final image (held to its inputs by :func:`confine`) and its recipe:
    a 16-bit layer for a 16-bit result."""
    if frame.image is None:
        raise EngineError(f"{manifest.title} finished without an image")
    pixels = frame.prepared if frame.prepared is not None else result_pixels(manifest, params, inputs, frame.image)
    if (pixels.width, pixels.height) != (doc.width, doc.height):
        raise EngineError(
            f"{manifest.title} produced a {pixels.width}x{pixels.height} image for a {doc.width}x{doc.height} document"
        )
    recipe = make_recipe(manifest, params, inputs, frame)
    return Layer(doc.unique_layer_name(manifest.title), LayerKind.RASTER, pixels, recipe=recipe)


def result_pixels(manifest: PluginManifest, params: Any, inputs: Inputs, image: np.ndarray) -> TiledImage:
    """A job's final ``image`` held to its ``inputs`` by :func:`confine`, as a layer's pixels: EngineError unless it
    is a picture of the inputs' size."""
    pixels = to_rgba(image)
    if pixels.shape[:2] != (inputs.height, inputs.width):
        raise EngineError(
            f"{manifest.title} produced a {pixels.shape[1]}x{pixels.shape[0]} image for a "
            f"{inputs.width}x{inputs.height} document"
        )
    return TiledImage.from_array(confine(pixels, inputs, mask_reach(params)))


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
