"""Optimise mode: the picture is optimised so a network sees its content and the styles' textures (Gatys et al. 2015).

The loss at one scale is

    content_weight * content + style_weight * style + tv_weight * total variation

where *content* compares the network's activations of the picture with those
of the content image, *style* compares their Gram matrices with the blend of
the style images' Gram matrices (a weighted target Gram, which has the same
gradient as the weighted sum of the per-style losses), and each term is divided
by the size of its target so the same weights work for every network and layer.

Large outputs are made coarse to fine: the picture is optimised at a small size
first and upscaled in steps to the output size, with most iterations at low
resolution. A scale larger than a tile is optimised tile by tile on a grid that
shifts every step; the style Gram matrices are computed once per scale and
shared by every tile, and each tile's content target comes from the content at
that scale, so neither seams nor drift appear. The tiled path keeps Adam's
per-pixel state for the whole picture and takes one step per sweep over the tiles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.style_transfer.common import Styles, content_rgb, finish, load_styles, recolour_styles
from studio_plugins.style_transfer.params import StyleParams

from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext
from studio.core.nets.features import (
    FeatureExtractor,
    autocast,
    feature_extractor,
    feature_mse,
    gram_matrix,
    image_to_tensor,
    masked_gram_matrix,
    target_activations,
    tensor_to_image,
    use_bfloat16,
)
from studio.core.nets.layers import Layers, choose_layers
from studio.core.nets.optim import PixelAdam, lbfgs_steps, tiled_gradient
from studio.core.params import output_size
from studio.core.tiling import (
    Box,
    TileGrid,
    auto_tile_size,
    expand,
    margin_for,
    needs_tiling,
    pyramid_sizes,
    random_offset,
    resize,
    split_iterations,
)

AUTO_MIN_SIDE = 128  # the coarsest scale when ``scales`` is automatic
MIN_SIDE = 32  # the smallest picture a scale or a style image may have


@dataclass(frozen=True)
class Weights:
    """How much each term of the loss counts."""

    content: float
    style: float
    tv: float


@dataclass(frozen=True)
class LossTerms:
    """The weighted terms of the loss of one picture (or tile) and their sum."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.content + self.style + self.tv


class Objective:
    """The style-transfer loss at one scale.

    ``style_targets`` are the blended Gram matrices of the styles per style
    layer; ``content_norms`` the mean squared content activation per content
    layer (both computed once per scale, for the whole picture, and shared by
    every tile). ``whole_content`` are the content layers' activations of the
    whole picture when they were computed with the norms (an untiled scale).
    ``mask_mean`` is the mean of the strength mask over the whole picture (1
    without a mask). With ``bfloat16`` the network's passes run in bfloat16
    (autocast); the losses are summed in float32.
    """

    def __init__(
        self,
        net: FeatureExtractor,
        content_net: FeatureExtractor,
        layers: Layers,
        style_targets: Mapping[str, torch.Tensor],
        content_norms: Mapping[str, float],
        weights: Weights,
        mask_mean: float = 1.0,
        bfloat16: bool = False,
        whole_content: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        self.net = net
        self.content_net = content_net
        self.layers = layers
        self.style_targets = dict(style_targets)
        self.style_norms = {name: float(g.square().mean().clamp_min(1e-12)) for name, g in self.style_targets.items()}
        self.content_norms = dict(content_norms)
        self.weights = weights
        self.mask_mean = max(mask_mean, 1e-6)
        self.bfloat16 = bfloat16
        self.whole_content = None if whole_content is None else dict(whole_content)

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """The content layers' activations of ``content`` (the picture or tile's content at this scale)."""
        return target_activations(self.content_net, content, self.bfloat16)

    def whole_content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """The content targets of the whole picture ``content``: those of the norms' pass where there was one."""
        return self.whole_content if self.whole_content is not None else self.content_targets(content)

    def __call__(
        self, image: torch.Tensor, content_targets: Mapping[str, torch.Tensor], mask: torch.Tensor | None = None
    ) -> LossTerms:
        """The loss of ``image`` (1, 3, H, W); ``mask`` (1, 1, H, W) weights where the style is matched."""
        with autocast(image, self.bfloat16):
            return self._terms(image, content_targets, mask)

    def _terms(
        self, image: torch.Tensor, content_targets: Mapping[str, torch.Tensor], mask: torch.Tensor | None
    ) -> LossTerms:
        features = self.net(image)
        content = sum(
            feature_mse(features[name], content_targets[name]) / self.content_norms[name]
            for name in self.layers.content
        ) / len(self.layers.content)
        style_factor = 1.0
        if mask is not None:
            style_factor = float(mask.mean()) / self.mask_mean
        style = image.new_zeros(())
        if style_factor > 0:
            for name in self.layers.style:
                feature = features[name]
                gram = gram_matrix(feature) if mask is None else masked_gram_matrix(feature, _mask_at(mask, feature))
                style = style + F.mse_loss(gram, self.style_targets[name]) / self.style_norms[name]
            style = style * (style_factor / len(self.layers.style))
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        tv = dy.square().mean() + dx.square().mean()
        w = self.weights
        return LossTerms(w.content * content, w.style * style, w.tv * tv)


def _mask_at(mask: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    return F.interpolate(mask, size=feature.shape[-2:], mode="area")


def gram_statistics(
    net: FeatureExtractor,
    image: torch.Tensor,
    layers: Sequence[str],
    tile: int,
    check: Callable[[], None] = lambda: None,
    bfloat16: bool = False,
) -> Generator[None, None, dict[str, torch.Tensor]]:
    """The Gram matrices (1, C, C) of ``image`` at ``layers``, tile by tile when it is larger than ``tile``.

    Each tile runs with a margin of context and contributes only the feature
    positions of its centre, so the result equals the whole picture's Gram up
    to the border effects of the margin. Yields after each tile (for progress).
    With ``bfloat16`` the network runs in bfloat16; the products are summed in float32.
    """
    height, width = image.shape[-2:]
    tiled = needs_tiling(width, height, tile)
    margin = margin_for(tile) if tiled else 0
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)
    boxes: Iterator[Box] = iter(TileGrid(width, height, tile)) if tiled else iter([(0, 0, width, height)])
    with torch.no_grad():
        for box in boxes:
            check()
            px0, py0, px1, py1 = expand(box, margin, width, height)
            with autocast(image, bfloat16):
                features = net(image[..., py0:py1, px0:px1])
            for name in layers:
                feature = features[name][0]
                fh, fw = feature.shape[-2:]
                x0 = round((box[0] - px0) * fw / (px1 - px0))
                x1 = round((box[2] - px0) * fw / (px1 - px0))
                y0 = round((box[1] - py0) * fh / (py1 - py0))
                y1 = round((box[3] - py0) * fh / (py1 - py0))
                flat = feature[:, y0:y1, x0:x1].reshape(feature.shape[0], -1).float()
                product = flat @ flat.T
                sums[name] = sums[name] + product if name in sums else product
                counts[name] += flat.shape[1]
            yield
    return {name: (sums[name] / max(counts[name], 1)).unsqueeze(0) for name in layers}


def style_size(style: np.ndarray, size: tuple[int, int], style_scale: float) -> tuple[int, int]:
    """(width, height) a style is analysed at: its long side ``style_scale`` times the picture's long side."""
    height, width = style.shape[:2]
    scale = style_scale * max(size) / max(width, height)
    scale = max(scale, MIN_SIDE / min(width, height))
    return max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))


def build_objective(
    net: FeatureExtractor,
    content_net: FeatureExtractor,
    layers: Layers,
    content: torch.Tensor,
    styles: Styles,
    weights: Weights,
    style_scale: float = 1.0,
    tile: int = 1 << 30,
    mask: torch.Tensor | None = None,
    check: Callable[[], None] = lambda: None,
    bfloat16: bool = False,
) -> Generator[None, None, Objective]:
    """The objective for pictures of ``content``'s size: style targets and content norms, computed tile by tile.

    Yields after each tile of each statistics pass; ``yield from`` returns the :class:`Objective`.
    ``bfloat16`` runs the network's passes in bfloat16, here and in the objective.
    """
    size = (content.shape[-1], content.shape[-2])
    targets: dict[str, torch.Tensor] = {}
    for image, blend in zip(styles.images, styles.weights, strict=True):
        if blend <= 0:
            continue
        tensor = image_to_tensor(resample(image, style_size(image, size, style_scale)), content.device)
        grams = yield from gram_statistics(net, tensor, layers.style, tile, check, bfloat16)
        for name, gram in grams.items():
            targets[name] = targets[name] + blend * gram if name in targets else blend * gram
    whole_content = None
    if needs_tiling(*size, tile):
        content_grams = yield from gram_statistics(content_net, content, layers.content, tile, check, bfloat16)
        norms = {name: float(torch.diagonal(g[0]).mean().clamp_min(1e-12)) for name, g in content_grams.items()}
    else:
        # The mean of a Gram matrix's diagonal is the activations' mean square: one pass gives targets and norms.
        check()
        whole_content = target_activations(content_net, content, bfloat16)
        norms = {name: float(f.square().mean().clamp_min(1e-12)) for name, f in whole_content.items()}
        yield
    mask_mean = 1.0 if mask is None else float(mask.mean())
    return Objective(net, content_net, layers, targets, norms, weights, mask_mean, bfloat16, whole_content)


def drain(generator: Generator[None, None, object]) -> object:
    """Run a generator of this module to its end and return its value."""
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


@dataclass(frozen=True)
class _Scale:
    """One scale of the schedule, with its work in pixel-iterations (for progress)."""

    index: int
    size: tuple[int, int]
    iterations: int
    tiled: bool
    setup_work: float
    step_work: float

    @property
    def work(self) -> float:
        return self.setup_work + self.iterations * self.step_work


@dataclass
class _Run:
    """State shared by the steps of one render: context, progress, the loss curve."""

    params: StyleParams
    ctx: RunContext
    content: np.ndarray
    mask: np.ndarray | None
    scales: list[_Scale]
    done: float = 0.0
    loss: float = math.nan
    curve: list[tuple[int, int, float, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.total = sum(s.work for s in self.scales)

    def advance(self, work: float) -> None:
        self.done = min(self.done + work, self.total)

    def record(self, scale: _Scale, step: int, loss: float) -> None:
        self.loss = loss
        self.curve.append((scale.index, step, time.perf_counter() - self.started, loss))

    def preview(self, scale: _Scale, step: int, image: torch.Tensor | None, what: str = "") -> Frame | None:
        """A preview frame when one is due: scale k/n, iteration, loss and ETA in the message."""
        if not self.ctx.preview_due():
            return None
        progress = 0.99 * self.done / self.total  # the last hundredth: colour, mask and the final frame
        eta = self.ctx.eta(progress)
        width, height = scale.size
        parts = [f"scale {scale.index + 1}/{len(self.scales)} ({width}x{height})"]
        parts.append(what or f"iteration {step}/{scale.iterations}")
        if not math.isnan(self.loss):
            parts.append(f"loss {self.loss:.4g}")
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        picture = None if image is None else finish(tensor_to_image(image), self.content, self.mask, self.params)
        return self.ctx.frame(progress, picture, message=", ".join(parts))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def schedule(params: StyleParams, size: tuple[int, int], tile: int, styles: int) -> list[_Scale]:
    """The scales, coarse to fine, with their iterations and whether they are tiled."""
    min_side = AUTO_MIN_SIDE if params.scales == 0 else MIN_SIDE
    sizes = pyramid_sizes(*size, factor=params.scale_factor, count=params.scales or None, min_side=min_side)
    counts = split_iterations(params.iterations, len(sizes), ratio=1 / params.scale_factor)
    scales = []
    for index, ((width, height), iterations) in enumerate(zip(sizes, counts, strict=True)):
        tiled = needs_tiling(width, height, tile)
        pixels = width * height
        # A statistics pass is a forward pass (about a third of an iteration); tiles also run the content.
        step = pixels * (1.35 if tiled else 1.0)
        scales.append(_Scale(index, (width, height), iterations, tiled, pixels * 0.35 * (1 + styles), step))
    return scales


def run(params: StyleParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Optimise the picture towards the styles, coarse to fine; previews stream, the last frame is the result."""
    content = content_rgb(inputs)
    styles = recolour_styles(load_styles(params), content, params.preserve_colour)
    spec = ctx.models.spec(params.network)
    layers = choose_layers(params.network, tuple(spec.taps), params.content_layers, params.style_layers)
    device = ctx.device
    channels_last = torch.device(device).type in ("cpu", "cuda")
    net = feature_extractor(ctx.models, params.network, layers.content + layers.style, device, channels_last)
    content_net = feature_extractor(ctx.models, params.network, layers.content, device, channels_last)
    weights = Weights(params.content_weight, params.style_weight, params.tv_weight)

    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    generator = torch.Generator().manual_seed(params.seed)
    size = output_size(inputs.width, inputs.height, params)
    tile = params.tile_size or auto_tile_size(params.network, device)
    bfloat16 = use_bfloat16(params.precision, device)
    state = _Run(params, ctx, content, inputs.mask, schedule(params, size, tile, len(styles.images)))

    content_full = image_to_tensor(resample(content, size), device)
    mask_full = None
    if inputs.mask is not None:
        mask_full = torch.from_numpy(resample(inputs.mask.astype(np.float32), size)).to(device)[None, None]

    image: torch.Tensor | None = None
    previous_content = content_full
    for scale in state.scales:
        ctx.check_cancelled()
        content_at = resize(content_full, scale.size).clamp(0.0, 1.0)
        mask_at = None if mask_full is None else resize(mask_full, scale.size).clamp(0.0, 1.0)
        if image is None:
            image = _initial(params, content_at, styles, generator)
        else:
            # The coarser result upscaled, plus the content detail that scale was too small to hold.
            image = content_at + resize(image - previous_content, scale.size)
        previous_content = content_at
        image = image.clamp(0.0, 1.0)
        passes = build_objective(
            net,
            content_net,
            layers,
            content_at,
            styles,
            weights,
            params.style_scale,
            tile,
            mask_at,
            ctx.check_cancelled,
            bfloat16,
        )
        objective = yield from _analyse(state, scale, passes)
        if scale.tiled:
            steps = _optimise_tiled(state, scale, objective, image, content_at, mask_at, tile, rng)
        elif params.optimizer == "lbfgs":
            steps = _optimise_lbfgs(state, scale, objective, image, content_at, mask_at)
        else:
            steps = _optimise_adam(state, scale, objective, image, content_at, mask_at)
        image = yield from steps

    assert image is not None
    ctx.check_cancelled()
    result = finish(tensor_to_image(image, 16), content, inputs.mask, params)
    info = {
        "seed": params.seed,
        "size": list(size),
        "tile": tile,
        "precision": "bfloat16" if bfloat16 else "float32",
        "scales": [{"size": list(s.size), "iterations": s.iterations, "tiled": s.tiled} for s in state.scales],
        "loss": {"first": state.curve[0][3], "final": state.curve[-1][3]} if state.curve else {},
        "loss_curve": state.curve,
        "seconds": time.perf_counter() - state.started,
    }
    yield ctx.frame(1.0, result, final=True, message=f"done, loss {state.loss:.4g}", info=info)


def _initial(params: StyleParams, content: torch.Tensor, styles: Styles, generator: torch.Generator) -> torch.Tensor:
    if params.init == "noise":
        return torch.rand(content.shape, generator=generator).to(content.device)
    if params.init == "style":
        height, width = content.shape[-2:]
        return image_to_tensor(resample(styles.images[0], (width, height)), content.device)
    return content.clone()


def _analyse(state: _Run, scale: _Scale, passes: Generator[None, None, Objective]) -> Generator[Frame, None, Objective]:
    """Run a scale's statistics passes, turning their ticks into progress frames."""
    start = state.done
    ticks = 0
    while True:
        try:
            next(passes)
        except StopIteration as stop:
            state.done = start + scale.setup_work
            return stop.value
        ticks += 1
        state.done = start + scale.setup_work * ticks / (ticks + 1)
        frame = state.preview(scale, 0, None, "analysing the styles")
        if frame is not None:
            yield frame


def _optimise_lbfgs(
    state: _Run,
    scale: _Scale,
    objective: Objective,
    image: torch.Tensor,
    content: torch.Tensor,
    mask: torch.Tensor | None,
) -> Generator[Frame, None, torch.Tensor]:
    """L-BFGS on the whole picture, over the levels of a pyramid where it has room for them; every iteration is
    one loss evaluation."""
    targets = objective.whole_content_targets(content)

    def loss_of(picture: torch.Tensor) -> torch.Tensor:
        state.ctx.check_cancelled()
        return objective(picture, targets, mask).total

    def on_step(step: int, loss: float, best: torch.Tensor) -> Frame | None:
        state.record(scale, step, loss)
        state.advance(scale.step_work)
        return state.preview(scale, step, best)

    return (yield from lbfgs_steps(image, scale.iterations, loss_of, on_step))


def _optimise_adam(
    state: _Run,
    scale: _Scale,
    objective: Objective,
    image: torch.Tensor,
    content: torch.Tensor,
    mask: torch.Tensor | None,
) -> Generator[Frame, None, torch.Tensor]:
    """Adam on the whole picture."""
    targets = objective.whole_content_targets(content)
    x = image.detach().clone()
    adam = PixelAdam(x, state.params.learning_rate)
    pixels = x.shape[-1] * x.shape[-2]
    for step in range(1, scale.iterations + 1):
        state.ctx.check_cancelled()
        variable = x.detach().requires_grad_(True)
        loss = objective(variable, targets, mask).total
        # Scaled by the pixel count, per-pixel gradients do not shrink with the picture (Adam's epsilon stays small).
        (loss * pixels).backward()
        adam.step(variable.grad)
        state.record(scale, step, float(loss.detach()))
        state.advance(scale.step_work)
        if (frame := state.preview(scale, step, x)) is not None:
            yield frame
    return x


def _optimise_tiled(
    state: _Run,
    scale: _Scale,
    objective: Objective,
    image: torch.Tensor,
    content: torch.Tensor,
    mask: torch.Tensor | None,
    tile: int,
    rng: np.random.Generator,
) -> Generator[Frame, None, torch.Tensor]:
    """Adam with full-size per-pixel state; each step sweeps tiles on a grid shifted by a new random offset.

    Each tile's loss (style against the shared targets, content against the
    tile's own content) is computed with a margin of context; only the
    gradient of the tile's centre is kept.
    """
    ctx = state.ctx
    x = image.detach().clone()
    adam = PixelAdam(x, state.params.learning_rate)
    for step in range(1, scale.iterations + 1):

        def tile_loss(patch: torch.Tensor, window: Box) -> torch.Tensor:
            ctx.check_cancelled()
            x0, y0, x1, y1 = window
            targets = objective.content_targets(content[..., y0:y1, x0:x1])
            return objective(patch, targets, None if mask is None else mask[..., y0:y1, x0:x1]).total

        def on_tile(share: float, tiles: int, step: int = step) -> Frame | None:
            state.advance(scale.step_work * share)
            return state.preview(scale, step, x, f"iteration {step}/{scale.iterations}, {tiles} tiles")

        gradient, total = yield from tiled_gradient(x, tile, random_offset(rng, tile), tile_loss, on_tile)
        adam.step(gradient)
        del gradient
        state.record(scale, step, total)
        if (frame := state.preview(scale, step, x)) is not None:
            yield frame
    return x
