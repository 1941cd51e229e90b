"""Engine of the GAN breeding plugin: a seed's picture, a grid of its children, or a walk to other pictures.

The picture is the seed's sample, or the one the ``styles`` parameter holds (a bred
picture's styles, as the breeding panel puts them in a layer's recipe).

Every picture is rendered with the seed as its noise seed, so a style-based
generator's noise stays put across children and walk frames. The generator's
pictures are fitted to the canvas by :func:`fit`; outputs are named
``children/child-NN.png``, ``walk/frame-NNN.png``, ``walk/walk.gif``,
``walk/walk.webp`` and ``walk/walk.mp4``, and the strip of a walk's frames at the
generator's size, ``walk/strip.png``, is a document. A walk goes to walk_seed's
sample, or to the styles of bred pictures (``walk_styles``), looping back with
``walk_loop``, so the breeding panel's walks are this engine's, with a recipe.

The final frame's ``info`` holds the recipe of its picture
(:func:`~studio_plugins.gan_breeding.lineage.recipe_for`: generator hash, styles,
truncation, noise seed), which :func:`~studio_plugins.gan_breeding.lineage.render_recipe`
renders to the same pixels at the generator's size. The image mode's picture keeps 16 bits (uint16 RGBA, so
smooth colour fields do not band in print); children grids, walk frames and files are 8-bit.
"""

from __future__ import annotations

from collections.abc import Generator as Frames
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image
from studio_plugins.gan_breeding.breeding import children, loop, walk
from studio_plugins.gan_breeding.generators import Generator, from_store
from studio_plugins.gan_breeding.lineage import Node, Param, recipe_for
from studio_plugins.gan_breeding.params import BreedParams

from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext
from studio.core.outputs import AnimationFormat, Output, looping_animations
from studio.core.params import ParamError, numbers, output_size

RENDER_BATCH = 16
"""Walk frames rendered at a time."""
GAP_GREY = 40
"""The colour of the lines between the cells of a children grid."""
WALK_FORMATS: tuple[AnimationFormat, ...] = ("gif", "webp", "mp4")
STRIP_COLUMNS = 10
"""Walk frames on a row of the strip (the DCGAN paper's interpolation figure)."""


def run(params: BreedParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Make ``params.mode``'s picture from the seed's sample of ``params.generator``, fitted to the canvas (or the
    ``size`` parameter's long side); children and walk frames are emitted as outputs on the way."""
    ctx.check_cancelled()
    size = output_size(inputs.width, inputs.height, params)
    generator = from_store(ctx.models, params.generator, ctx.device)
    rng = np.random.default_rng(params.seed)
    parent = _start(generator, params, rng)
    info: dict[str, Any] = {
        "seed": params.seed,
        "generator": params.generator,
        "mode": params.mode,
        "recipe": recipe_for(parent),
    }
    if generator.notice:
        info["notice"] = generator.notice
    if params.mode == "children":
        picture = yield from _children(generator, params, parent, rng, size, ctx, info)
    elif params.mode == "walk":
        picture = yield from _walk(generator, params, parent, size, ctx, info)
    else:
        picture = fit(_render(generator, params, parent.ws[None], 16)[0], size)  # a result keeps 16 bits
    ctx.check_cancelled()
    yield ctx.frame(1.0, picture, final=True, message=generator.notice, info=info)


def _children(
    generator: Generator,
    params: BreedParams,
    parent: Node,
    rng: np.random.Generator,
    size: tuple[int, int],
    ctx: RunContext,
    info: dict[str, Any],
) -> Frames[Frame, None, np.ndarray]:
    """The grid of the parent (in the centre) and its children; each child emitted as ``children/child-NN.png``."""
    count = params.children**2 - 1
    bred = children(parent.ws, rng, count, params.mutation, space=generator.space, scale=generator.spread)
    nodes = [
        _node(generator, params, ws, "child", {"mutation": params.mutation, "index": index}, parent)
        for index, ws in enumerate(bred, start=1)
    ]
    pictures = _render(generator, params, np.concatenate([parent.ws[None], bred]))
    yield ctx.frame(0.5, fit(pictures[0], size), message=f"{count} children bred")
    for index, picture in enumerate(pictures[1:], start=1):
        ctx.check_cancelled()
        ctx.emit(Output(f"children/child-{index:02d}.png", image=fit(picture, size)))
    info["children"] = [recipe_for(node) for node in nodes]
    centre = (params.children // 2) * (params.children + 1)  # the middle cell (for an even side, below right)
    cells = [*pictures[1 : centre + 1], pictures[0], *pictures[centre + 1 :]]
    return fit(contact_sheet(cells, params.children), size)


def _walk(
    generator: Generator,
    params: BreedParams,
    start: Node,
    size: tuple[int, int],
    ctx: RunContext,
    info: dict[str, Any],
) -> Frames[Frame, None, np.ndarray]:
    """Frames from the start to walk_seed's picture (or walk_styles'; with walk_loop, through them and back),
    each emitted as ``walk/frame-NNN.png``, then the strip of the frames at the generator's size (a document) and
    the GIF, WebP and MP4; returns the first frame."""
    stops = _walk_stops(generator, params)
    if params.walk_loop:
        path = loop([start.ws, *(stop.ws for stop in stops)], params.walk_steps, params.easing, space=generator.space)
    elif len(stops) == 1:
        path = walk(start.ws, stops[0].ws, params.walk_steps, params.easing, space=generator.space)
    else:
        raise ParamError(
            f"walk_styles: {len(stops)} pictures, but a walk that does not loop goes to one; turn walk_loop on or "
            "give one picture's styles"
        )
    frames: list[np.ndarray] = []
    for first in range(0, len(path), RENDER_BATCH):
        ctx.check_cancelled()
        for picture in _render(generator, params, path[first : first + RENDER_BATCH]):
            frames.append(picture)
            fitted = fit(picture, size)
            ctx.emit(Output(f"walk/frame-{len(frames):03d}.png", image=fitted))
        if ctx.preview_due():
            yield ctx.frame(0.9 * len(frames) / len(path), fitted, message=f"frame {len(frames)}/{len(path)}")
    ctx.check_cancelled()
    ctx.emit(Output("walk/strip.png", kind="document", image=contact_sheet(frames, min(len(frames), STRIP_COLUMNS))))
    pictures = [Image.fromarray(fit(picture, size)[..., :3]) for picture in frames]
    for output in looping_animations(pictures, params.fps, "walk/walk", WALK_FORMATS):
        ctx.emit(output)
    info["walk_end"] = recipe_for(stops[-1])
    return fit(frames[0], size)


def _walk_stops(generator: Generator, params: BreedParams) -> list[Node]:
    """The pictures a walk goes to after its start: walk_styles' pictures, or else walk_seed's sample."""
    if not params.walk_styles:
        ws = seed_styles(generator, np.random.default_rng(params.walk_seed))
        return [_node(generator, params, ws, "sample", {"seed": params.walk_seed})]
    pictures = _pictures_from_text(params.walk_styles, generator, params.generator, "walk_styles")
    return [_node(generator, params, ws, "styles", {}) for ws in pictures]


def _start(generator: Generator, params: BreedParams, rng: np.random.Generator) -> Node:
    """The picture to start from: the ``styles`` parameter's, or else the seed's sample."""
    if not params.styles:
        return _node(generator, params, seed_styles(generator, rng), "sample", {"seed": params.seed})
    return _node(generator, params, styles_from_text(params.styles, generator, params.generator), "styles", {})


def styles_to_text(ws: np.ndarray) -> str:
    """Styles (num_ws, w_dim) as the ``styles`` parameter's numbers, each exactly its float32 value."""
    return ",".join(repr(float(value)) for value in np.asarray(ws, np.float32).ravel())


def styles_from_text(text: str, generator: Generator, name: str) -> np.ndarray:
    """The styles (num_ws, w_dim) the ``styles`` parameter's ``text`` holds for ``generator`` (called ``name``)."""
    pictures = _pictures_from_text(text, generator, name, "styles")
    if len(pictures) != 1:
        raise ParamError(f"styles: {len(pictures)} pictures' styles, but a picture starts from one; give one")
    return pictures[0]


def _pictures_from_text(text: str, generator: Generator, name: str, field: str) -> np.ndarray:
    """The styles (count, num_ws, w_dim) of the pictures the parameter ``field``'s ``text`` holds, one after
    another, for ``generator`` (called ``name``)."""
    values = np.asarray(numbers(text, field), np.float32)
    each = generator.num_ws * generator.w_dim
    if values.size == 0 or values.size % each:
        raise ParamError(
            f"{field}: {values.size} numbers, but {name} takes {generator.num_ws} x {generator.w_dim} = {each} "
            "for each picture; these styles were bred with another generator: choose that one"
        )
    return values.reshape(-1, generator.num_ws, generator.w_dim)


def seed_styles(generator: Generator, rng: np.random.Generator) -> np.ndarray:
    """The untruncated styles (num_ws, w_dim) of the next latent ``rng`` draws."""
    return generator.styles(generator.sample_latents(rng, 1))[0]


def _render(generator: Generator, params: BreedParams, ws: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    return generator.render(ws, params.seed, params.truncation, bit_depth)


def _node(
    generator: Generator,
    params: BreedParams,
    ws: np.ndarray,
    operation: str,
    values: Mapping[str, Param],
    parent: Node | None = None,
) -> Node:
    return Node(
        parents=(parent.id,) if parent is not None else (),
        operation=operation,
        params=values,
        generator=generator.hash,
        ws=ws,
        truncation=params.truncation,
        noise_seed=params.seed,
    )


def fit(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``picture`` (H, W, 3) uint8 or uint16 scaled to fit ``size`` (width, height), Lanczos when enlarging, centred
    on a transparent canvas: RGBA (height, width, 4) of its type."""
    width, height = size
    scale = min(width / picture.shape[1], height / picture.shape[0])
    inner = max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale))
    left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
    canvas = np.zeros((height, width, 4), picture.dtype)
    canvas[top : top + inner[1], left : left + inner[0], :3] = resample(picture, inner)
    canvas[top : top + inner[1], left : left + inner[0], 3] = np.iinfo(picture.dtype).max
    return canvas


def contact_sheet(pictures: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Pictures of one size (H, W, 3) in reading order on rows of ``columns``, with thin grey lines between them
    (a last row that is not full is left grey where it has no pictures)."""
    height, width = pictures[0].shape[:2]
    gap = max(1, width // 32)
    rows = -(-len(pictures) // columns)
    sheet = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), GAP_GREY, np.uint8)
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top, left = gap + row * (height + gap), gap + column * (width + gap)
        sheet[top : top + height, left : left + width] = picture
    return sheet
