"""Neural doodle (Champandard 2016, "Semantic Style Transfer and Turning Two-Bit Doodles into Fine Artworks").

The picture is optimised (L-BFGS, coarse to fine) so that every region of the
doodle has the textures of the region of the style painting whose label has
the same colour. Two methods:

- ``gram``: for every style layer and every region, the Gram matrix of the
  output's features inside the region (the label mask resized to the layer,
  normalised by the mask's area) is pulled towards the style's Gram matrix
  inside its region of the same colour (the "fast neural doodle" way);
- ``patch``: at the patch layers, the label channels (one-hot regions, scaled
  by ``semantic_weight``) are appended to the features; every output patch is
  matched to the style patch of highest normalised cross-correlation of these
  augmented features, and the loss pulls it towards that patch (an MRF loss).

Both add an optional content term (the content picture's features) and total
variation. Each term is a relative error, as in style transfer.

A region may take its texture from other pictures (``region_textures``): a
whole texture picture stands for that one region; a blend of sources mixes
their Gram matrices by weight (Gram method) or offers the patches of all of
them (patch method). The style's patches are sampled on a grid coarse enough
that at most ``STYLE_PATCH_BUDGET`` values are kept per layer, so the patch
method's memory does not grow with the style picture's size.

A scale larger than ``tile_size`` (print sizes) is optimised tile by tile on a
grid that shifts every step, with Adam over the whole picture (as style
transfer's tiled scales): the style's statistics (region Grams, or its patches)
are computed once per scale for the whole style; each tile uses its own masks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.doodle.params import STYLE_SOURCE, Blend, DoodleParams, region_sources

from studio.core.inputs import Inputs, resample
from studio.core.jobs import Frame, RunContext
from studio.core.labels import RegionMatch, colour_hex, match_regions, one_hot
from studio.core.nets.features import (
    FeatureExtractor,
    autocast,
    feature_extractor,
    feature_mse,
    image_to_tensor,
    target_activations,
    tensor_to_image,
    use_bfloat16,
)
from studio.core.nets.layers import DEFAULT_LAYERS, choose_layers, named_layers
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

AUTO_MIN_SIDE = 64  # the coarsest scale when ``scales`` is automatic
MIN_SIDE = 16  # the smallest picture a scale or the style may have
TILED_LEARNING_RATE = 0.02  # Adam's step on tiled scales (image values are 0..1)
MATCH_BUDGET = 1 << 24  # correlation values computed at once by the patch matching (64 MiB of float32)
STYLE_PATCH_BUDGET = 1 << 26  # values of a layer's style patches kept by the patch method (256 MiB of float32)


@dataclass(frozen=True)
class Weights:
    """How much each term of the loss counts."""

    content: float
    style: float
    tv: float


def _area(masks: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Region masks (1, K, H, W) resized to the spatial size of ``like`` (area average: fractional at edges)."""
    return F.interpolate(masks, size=like.shape[-2:], mode="area")


class _RegionGrams(torch.autograd.Function):
    """Gram matrices (K, C, C) of features (C, N) inside each of K weighted regions (K, N), normalised by each
    region's weight; the backward pass keeps only the features and the weights, not a masked copy per region."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, features: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(features, weights)
        totals = weights.sum(dim=1).clamp_min(1e-8)
        return torch.stack([(features * w) @ features.T / t for w, t in zip(weights, totals, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        features, weights = ctx.saved_tensors
        totals = weights.sum(dim=1).clamp_min(1e-8)
        result = torch.zeros_like(features)
        for g, w, t in zip(grad, weights, totals, strict=True):
            result += ((g + g.T) @ features) * (w / t)
        return result, None


def _region_grams(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The Gram matrix (K, C, C) of ``features`` (1, C, h, w) inside each region of ``masks`` (1, K, h, w)."""
    channels, regions = features.shape[1], masks.shape[1]
    dtype = torch.promote_types(features.dtype, torch.float32)  # bfloat16 features are summed in float32
    flat = features.to(dtype).permute(1, 0, 2, 3).reshape(channels, -1)
    return _RegionGrams.apply(flat, masks.to(dtype).permute(1, 0, 2, 3).reshape(regions, -1))


class GramLoss:
    """Per-region Gram matrices of the style (targets), matched inside the same regions of the output (or a tile)."""

    def __init__(self, targets: Mapping[str, torch.Tensor]) -> None:
        """``targets``: the style's region Grams (K, C, C) by layer, from :func:`region_gram_targets`."""
        self.targets = dict(targets)
        self.norms = {name: float(target.square().mean().clamp_min(1e-12)) for name, target in targets.items()}

    def __call__(self, features: Mapping[str, torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
        """The loss of ``features`` whose picture has the region ``masks`` (1, K, H, W)."""
        total = masks.new_zeros(())
        for name, target in self.targets.items():
            feature = features[name]
            at_layer = _area(masks, feature)
            shares = at_layer.mean(dim=(2, 3))[0]  # each region's share of the picture at this layer
            error = (_region_grams(feature, at_layer) - target).square().mean(dim=(1, 2))
            total = total + (shares * error).sum() / self.norms[name]
        return total / len(self.targets)


def region_gram_targets(
    net: FeatureExtractor,
    style: torch.Tensor,
    masks: torch.Tensor,
    layers: Sequence[str],
    tile: int,
    bfloat16: bool,
    check: Callable[[], None] = lambda: None,
) -> dict[str, torch.Tensor]:
    """The Gram matrix (K, C, C) of the whole ``style`` (1, 3, h, w) inside each region of ``masks`` (1, K, h, w)
    at each layer, computed tile by tile (with a margin of context, centres only) when the style exceeds ``tile``.
    """
    height, width = style.shape[-2:]
    tiled = needs_tiling(width, height, tile)
    margin = margin_for(tile) if tiled else 0
    boxes: Iterable[Box] = TileGrid(width, height, tile) if tiled else [(0, 0, width, height)]
    sums: dict[str, torch.Tensor] = {}
    weights: dict[str, torch.Tensor] = {}
    for box in boxes:
        check()
        px0, py0, px1, py1 = expand(box, margin, width, height)
        with torch.no_grad(), autocast(style, bfloat16):
            features = net(style[..., py0:py1, px0:px1])
        for name in layers:
            feature = features[name].float()
            fh, fw = feature.shape[-2:]
            at_layer = _area(masks[..., py0:py1, px0:px1], feature)
            x0, x1 = round((box[0] - px0) * fw / (px1 - px0)), round((box[2] - px0) * fw / (px1 - px0))
            y0, y1 = round((box[1] - py0) * fh / (py1 - py0)), round((box[3] - py0) * fh / (py1 - py0))
            centre, centre_masks = feature[..., y0:y1, x0:x1], at_layer[..., y0:y1, x0:x1]
            weight = centre_masks.sum(dim=(2, 3))[0]  # (K,)
            gram = _region_grams(centre, centre_masks) * weight.view(-1, 1, 1)
            sums[name] = sums[name] + gram if name in sums else gram
            weights[name] = weights[name] + weight if name in weights else weight
    return {name: sums[name] / weights[name].clamp_min(1e-8).view(-1, 1, 1) for name in layers}


@dataclass(frozen=True)
class _StylePatches:
    """One layer's style patches: raw (for the loss) and normalised augmented kernels (for the matching)."""

    raw: torch.Tensor  # (N, C * k * k)
    kernels: torch.Tensor  # (N, C + K, k, k), unit norm
    scale: float  # what the label channels are multiplied by at this layer
    norm: float


class PatchLoss:
    """Champandard's semantic MRF loss: each output patch is pulled towards its nearest style patch.

    The nearest patch maximises the normalised cross-correlation of features
    with the label channels appended (one-hot regions times ``semantic_weight``
    times the features' RMS, so the weight means the same at every layer).
    """

    def __init__(
        self,
        sources: Sequence[tuple[Mapping[str, torch.Tensor], torch.Tensor]],
        patch_size: int,
        semantic_weight: float,
        budget: int = STYLE_PATCH_BUDGET,
    ) -> None:
        """``sources``: (features by layer (float32, a whole picture), its region masks (1, K, h, w)), the style
        painting first; the patches of all of them that lie in some region are candidates. Each source's patches
        are taken on a grid coarse enough that a layer keeps at most about ``budget`` values."""
        self.patch_size = patch_size
        self.layers: dict[str, _StylePatches] = {}
        for name, first in sources[0][0].items():
            scale = semantic_weight * float(first.square().mean().sqrt().clamp_min(1e-6))
            kernels, raws = [], []
            for features, masks in sources:
                feature = features[name]
                augmented = torch.cat([feature, _area(masks, feature) * scale], dim=1)
                stride = _stride(augmented, patch_size, budget // len(sources))
                kernel = _patches(augmented, patch_size, stride)
                inside = kernel[:, feature.shape[1] :].flatten(1).sum(dim=1) > 0
                kernels.append(kernel[inside])
                raws.append(_patches(feature, patch_size, stride).flatten(1)[inside])
            kernel, raw = torch.cat(kernels), torch.cat(raws)
            kernel = kernel / kernel.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1, 1)
            self.layers[name] = _StylePatches(raw, kernel, scale, float(raw.square().mean().clamp_min(1e-12)))

    def __call__(self, features: Mapping[str, torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
        """The loss of ``features`` whose picture (the output or a tile of it) has the region ``masks`` (1, K, H, W);
        its patches are matched against every patch of the whole style."""
        total = next(iter(self.layers.values())).raw.new_zeros(())
        for name, style in self.layers.items():
            feature = features[name].float()
            if min(feature.shape[-2:]) < self.patch_size:
                continue  # a sliver of a tile at the picture's edge holds no whole patch at this layer
            with torch.no_grad():
                augmented = torch.cat([feature.detach(), _area(masks, feature) * style.scale], dim=1)
                nearest = nearest_patches(augmented, style.kernels)
            ours = F.unfold(feature, self.patch_size)[0].T  # (L, C * k * k)
            total = total + (ours - style.raw[nearest]).square().mean() / style.norm
        return total / len(self.layers)


def _patches(features: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """The ``size`` x ``size`` patches of ``features`` (1, C, h, w) every ``stride`` pixels, as (N, C, size, size)."""
    channels = features.shape[1]
    flat = F.unfold(features, size, stride=stride)[0].T  # (N, C * size * size)
    return flat.reshape(-1, channels, size, size)


def _stride(features: torch.Tensor, size: int, budget: int) -> int:
    """The smallest grid step at which the patches of ``features`` (1, C, h, w) hold at most ``budget`` values."""
    channels, height, width = features.shape[1:]
    positions = max(1, (height - size + 1) * (width - size + 1))
    return max(1, math.ceil(math.sqrt(positions * channels * size * size / max(budget, 1))))


def nearest_patches(features: torch.Tensor, kernels: torch.Tensor, budget: int = MATCH_BUDGET) -> torch.Tensor:
    """For each patch position of ``features`` (1, C, h, w), the index of the kernel (N, C, k, k, unit norm) of
    highest normalised cross-correlation, flattened as :func:`torch.nn.functional.unfold` orders positions.

    The correlations are computed by convolution, a chunk of kernels at a time, so at most about ``budget``
    values exist at once. (The output patch's own norm does not change which kernel is best.)
    """
    size = kernels.shape[-1]
    positions = (features.shape[-2] - size + 1) * (features.shape[-1] - size + 1)
    chunk = max(1, budget // max(positions, 1))
    best = torch.full((positions,), -math.inf, device=features.device)
    index = torch.zeros(positions, dtype=torch.long, device=features.device)
    for start in range(0, kernels.shape[0], chunk):
        scores = F.conv2d(features, kernels[start : start + chunk])[0].flatten(1)  # (n, L)
        value, which = scores.max(dim=0)
        better = value > best
        best = torch.where(better, value, best)
        index = torch.where(better, which + start, index)
    return index


class Objective:
    """The doodle's loss at one scale: style (Gram or patch), optional content, total variation."""

    def __init__(
        self,
        net: FeatureExtractor,
        style: GramLoss | PatchLoss,
        content_layers: Sequence[str],
        weights: Weights,
        bfloat16: bool,
    ) -> None:
        self.net = net
        self.style = style
        self.content_layers = tuple(content_layers)
        self.weights = weights
        self.bfloat16 = bfloat16

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The content layers' activations (float32) of ``content`` (the picture's or a tile's); none without."""
        if content is None or not self.content_layers:
            return {}
        activations = target_activations(self.net, content, self.bfloat16)
        return {name: feature for name, feature in activations.items() if name in self.content_layers}

    def __call__(
        self, image: torch.Tensor, masks: torch.Tensor, content_targets: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """The weighted loss of ``image`` (1, 3, H, W) with region ``masks`` (1, K, H, W) of the same size."""
        with autocast(image, self.bfloat16):
            features = self.net(image)
        loss = self.weights.style * self.style(features, masks)
        for name, target in content_targets.items():
            norm = target.square().mean().clamp_min(1e-12)
            error = feature_mse(features[name], target) / norm
            loss = loss + self.weights.content * error / len(content_targets)
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        return loss + self.weights.tv * (dy.square().mean() + dx.square().mean())


@dataclass(frozen=True)
class _Setup:
    """What every scale of a render reads: network, layers, masks and pictures at full size."""

    net: FeatureExtractor
    style_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    style: torch.Tensor  # (1, 3, h, w)
    style_masks: torch.Tensor  # (1, K, h, w)
    doodle_masks: torch.Tensor  # (1, K, H, W) at the output size
    content: torch.Tensor | None  # (1, 3, H, W) at the output size
    bfloat16: bool
    textures: Mapping[str, torch.Tensor]  # (1, 3, h, w) by texture input
    shares: Mapping[str, torch.Tensor]  # (K,) each source's share of each region's texture, "style" included


def _style_size(style: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) the style is analysed at for a scale of ``size``: its long side the scale's long side."""
    height, width = style.shape[-2:]
    factor = max(max(size) / max(width, height), MIN_SIDE / min(width, height))
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))


def _objective(
    setup: _Setup, params: DoodleParams, size: tuple[int, int], tile: int, check: Callable[[], None]
) -> Objective:
    """The loss for pictures of ``size`` (width, height): the style's statistics at that scale."""
    sources = {STYLE_SOURCE: (setup.style, setup.style_masks * setup.shares[STYLE_SOURCE].view(1, -1, 1, 1) > 0)}
    for name, texture in setup.textures.items():
        uses = (setup.shares[name] > 0).view(1, -1, 1, 1)
        sources[name] = (texture, uses.expand(-1, -1, *texture.shape[-2:]))
    scaled = {}
    for name, (picture, regions) in sources.items():
        picture_size = _style_size(picture, size)
        masks = F.interpolate(regions.float(), size=picture_size[::-1], mode="area")
        scaled[name] = (resize(picture, picture_size).clamp(0.0, 1.0), masks)
    loss: GramLoss | PatchLoss
    if params.method == "gram":
        targets: dict[str, torch.Tensor] = {}
        for name, (picture, masks) in scaled.items():
            grams = region_gram_targets(setup.net, picture, masks, setup.style_layers, tile, setup.bfloat16, check)
            share = setup.shares[name].view(-1, 1, 1)
            for layer, gram in grams.items():
                targets[layer] = share * gram + targets[layer] if layer in targets else share * gram
        loss = GramLoss(targets)
    else:
        features = []
        for picture, masks in scaled.values():
            activations = target_activations(setup.net, picture, setup.bfloat16)
            found = {name: feature for name, feature in activations.items() if name in setup.style_layers}
            features.append((found, masks))
        loss = PatchLoss(features, params.patch_size, params.semantic_weight)
    weights = Weights(params.content_weight, params.style_weight, params.tv_weight)
    return Objective(setup.net, loss, setup.content_layers, weights, setup.bfloat16)


def _masks(indices: np.ndarray, count: int, size: tuple[int, int], device: str) -> torch.Tensor:
    """A region index map as one-hot masks (1, K, H, W) at ``size`` (width, height), resized exactly."""
    exact = resample(indices.astype(np.int32), size, exact=True)
    return torch.from_numpy(one_hot(exact, count))[None].to(device)


def _layers(params: DoodleParams, taps: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(style layers of the chosen method, content layers)."""
    chosen = choose_layers(params.network, taps, "", params.style_layers)
    if params.method == "gram":
        return chosen.style, chosen.content
    default = DEFAULT_LAYERS.get(params.network, ((), ()))[1][2:4]
    return named_layers("patch_layers", params.patch_layers, default, params.network, taps), chosen.content


@dataclass(frozen=True)
class _Regions:
    """The doodle's regions matched to the style map's, and the pictures each region takes its texture from."""

    match: RegionMatch
    style: np.ndarray  # RGB uint8
    textures: dict[str, np.ndarray]  # RGB uint8, by texture input
    blends: tuple[Blend, ...]  # each region's sources
    unused: tuple[str, ...]  # colours region_textures names that the doodle does not have

    def shares(self, device: str) -> dict[str, torch.Tensor]:
        """(K,) float32 per source: its weight in each region's blend."""
        names = (STYLE_SOURCE, *self.textures)
        table = np.array([[dict(blend).get(name, 0.0) for blend in self.blends] for name in names], np.float32)
        return {name: torch.from_numpy(row).to(device) for name, row in zip(names, table, strict=True)}

    def summary(self) -> dict[str, object]:
        """What a recipe records: the match, and the sources of the regions not textured by the style alone."""
        sources = {
            colour_hex(colour): {name: round(weight, 4) for name, weight in blend}
            for colour, blend in zip(self.match.colours, self.blends, strict=True)
            if blend != ((STYLE_SOURCE, 1.0),)
        }
        return {**self.match.summary(), "region_sources": sources, "unused_region_textures": list(self.unused)}


def _regions(inputs: Inputs, params: DoodleParams) -> _Regions:
    """The doodle's regions matched to the style label map's and to the texture pictures that ``region_textures``
    assigns; a ValueError names a texture that is assigned but not given."""
    style = inputs.extra("style")
    style_labels = inputs.extra("style_labels")
    if inputs.labels is None or style is None or style_labels is None:
        raise ValueError("a neural doodle needs the doodle, a style painting and the style's label map")
    style_rgb = np.ascontiguousarray(style[..., :3])
    style_labels = resample(style_labels, (style_rgb.shape[1], style_rgb.shape[0]), exact=True)
    sources = region_sources(params.region_textures)
    elsewhere = [_rgb(colour) for colour, blend in sources.items() if STYLE_SOURCE not in dict(blend)]
    match = match_regions(inputs.labels, style_labels, params.snap_distance, elsewhere=np.array(elsewhere, np.uint8))
    colours = [colour_hex(colour) for colour in match.colours]
    blends = tuple(sources.get(colour, ((STYLE_SOURCE, 1.0),)) for colour in colours)
    textures: dict[str, np.ndarray] = {}
    for colour, blend in zip(colours, blends, strict=True):
        for name, _ in blend:
            if name == STYLE_SOURCE or name in textures:
                continue
            picture = inputs.extra(name)
            if picture is None:
                raise ValueError(
                    f"region {colour} takes its texture from {name}, which was not given; choose a picture for "
                    f"{name} in the Inputs box (on the command line: --extra {name}=FILE)"
                )
            textures[name] = np.ascontiguousarray(picture[..., :3])
    unused = tuple(colour for colour in sources if colour not in colours)
    return _Regions(match, style_rgb, textures, blends, unused)


def _rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an RGB triple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@dataclass(frozen=True)
class _Scale:
    """One scale of the schedule."""

    index: int
    size: tuple[int, int]
    iterations: int


class _Progress:
    """Progress over a render's scales (work in pixel-iterations), the loss curve and throttled preview frames."""

    def __init__(self, ctx: RunContext, total: float, scales: int) -> None:
        self.ctx = ctx
        self.total = total
        self.scales = scales
        self.done = 0.0
        self.curve: list[float] = []

    def preview(self, scale: _Scale, step: int, image: torch.Tensor, extra: str = "") -> Frame | None:
        """A preview frame when one is due: scale k/n, iteration, loss and ETA in the message."""
        if not self.ctx.preview_due():
            return None
        progress = 0.99 * self.done / self.total
        eta = self.ctx.eta(progress)
        width, height = scale.size
        parts = [f"scale {scale.index + 1}/{self.scales} ({width}x{height})", f"iteration {step}/{scale.iterations}"]
        if extra:
            parts.append(extra)
        if self.curve:
            parts.append(f"loss {self.curve[-1]:.4g}")
        if eta is not None:
            parts.append(f"ETA {eta:.0f} s")
        return self.ctx.frame(progress, tensor_to_image(image), message=", ".join(parts))


def _optimise_lbfgs(
    progress: _Progress,
    scale: _Scale,
    objective: Objective,
    image: torch.Tensor,
    masks: torch.Tensor,
    content: torch.Tensor | None,
) -> Generator[Frame, None, torch.Tensor]:
    """L-BFGS on the whole picture, over the levels of a pyramid where it has room for them; every iteration is
    one loss evaluation."""
    targets = objective.content_targets(content)
    pixels = scale.size[0] * scale.size[1]

    def loss_of(picture: torch.Tensor) -> torch.Tensor:
        progress.ctx.check_cancelled()
        return objective(picture, masks, targets)

    def on_step(step: int, loss: float, best: torch.Tensor) -> Frame | None:
        progress.curve.append(loss)
        progress.done += pixels
        return progress.preview(scale, step, best)

    return (yield from lbfgs_steps(image, scale.iterations, loss_of, on_step))


def _optimise_tiled(
    progress: _Progress,
    scale: _Scale,
    objective: Objective,
    image: torch.Tensor,
    masks: torch.Tensor,
    content: torch.Tensor | None,
    tile: int,
    rng: np.random.Generator,
) -> Generator[Frame, None, torch.Tensor]:
    """Adam with full-size per-pixel state; each step sweeps tiles on a grid shifted by a new random offset.

    Each tile's loss (the shared style statistics or style patches, the tile's own region masks and content) is
    computed with a margin of context; only the gradient of the tile's centre is kept, so at most one tile's
    network pass is alive at a time. L-BFGS needs one fixed loss, which a shifting grid is not: Adam it is.
    """
    ctx = progress.ctx
    x = image.detach().clone()
    adam = PixelAdam(x, TILED_LEARNING_RATE)
    height, width = x.shape[-2:]
    for step in range(1, scale.iterations + 1):

        def tile_loss(patch: torch.Tensor, window: Box) -> torch.Tensor:
            ctx.check_cancelled()
            x0, y0, x1, y1 = window
            crop = None if content is None else content[..., y0:y1, x0:x1]
            return objective(patch, masks[..., y0:y1, x0:x1], objective.content_targets(crop))

        def on_tile(share: float, tiles: int, step: int = step) -> Frame | None:
            progress.done += share * width * height
            return progress.preview(scale, step, x, f"{tiles} tiles")

        gradient, total = yield from tiled_gradient(x, tile, random_offset(rng, tile), tile_loss, on_tile)
        adam.step(gradient)
        del gradient
        progress.curve.append(total)
        if (frame := progress.preview(scale, step, x)) is not None:
            yield frame
    return x


def run(params: DoodleParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Paint the doodle with the style's regions, coarse to fine; previews stream, the last frame is the result."""
    started = time.perf_counter()
    regions = _regions(inputs, params)
    match, style_rgb = regions.match, regions.style
    device = ctx.device
    style_layers, content_layers = _layers(params, tuple(ctx.models.spec(params.network).taps))
    use_content = inputs.image is not None and params.content_weight > 0
    if not use_content:
        content_layers = ()
    channels_last = torch.device(device).type in ("cpu", "cuda")
    net = feature_extractor(ctx.models, params.network, style_layers + content_layers, device, channels_last)
    bfloat16 = use_bfloat16(params.precision, device)
    size = output_size(inputs.width, inputs.height, params)
    content = None if inputs.image is None else image_to_tensor(resample(inputs.image[..., :3], size), device)
    setup = _Setup(
        net,
        style_layers,
        content_layers,
        image_to_tensor(style_rgb, device),
        _masks(match.style, match.count, (style_rgb.shape[1], style_rgb.shape[0]), device),
        _masks(match.doodle, match.count, size, device),
        content if use_content else None,
        bfloat16,
        {name: image_to_tensor(picture, device) for name, picture in regions.textures.items()},
        regions.shares(device),
    )
    min_side = AUTO_MIN_SIDE if params.scales == 0 else MIN_SIDE
    sizes = pyramid_sizes(*size, factor=params.scale_factor, count=params.scales or None, min_side=min_side)
    counts = split_iterations(params.iterations, len(sizes), ratio=1 / params.scale_factor)
    tile = params.tile_size or auto_tile_size(params.network, device)
    progress = _Progress(ctx, sum(w * h * n for (w, h), n in zip(sizes, counts, strict=True)), len(sizes))
    generator = torch.Generator().manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    image: torch.Tensor | None = None
    tiled_scales: list[bool] = []
    for index, (scale_size, iterations) in enumerate(zip(sizes, counts, strict=True)):
        ctx.check_cancelled()
        if image is None:
            first = torch.rand((1, 3, scale_size[1], scale_size[0]), generator=generator).to(device)
            image = first if content is None else resize(content, scale_size)
        else:
            image = resize(image, scale_size)
        image = image.clamp(0.0, 1.0)
        objective = _objective(setup, params, scale_size, tile, ctx.check_cancelled)
        masks = F.interpolate(setup.doodle_masks, size=scale_size[::-1], mode="area")
        content_at = None if setup.content is None else resize(setup.content, scale_size).clamp(0.0, 1.0)
        scale = _Scale(index, scale_size, iterations)
        tiled_scales.append(needs_tiling(*scale_size, tile))
        if tiled_scales[-1]:
            steps = _optimise_tiled(progress, scale, objective, image, masks, content_at, tile, rng)
        else:
            steps = _optimise_lbfgs(progress, scale, objective, image, masks, content_at)
        image = yield from steps
    curve = progress.curve
    assert image is not None
    ctx.check_cancelled()
    info = {
        "method": params.method,
        "seed": params.seed,
        "size": list(size),
        "network": params.network,
        "layers": list(style_layers),
        "content_layers": list(content_layers),
        "precision": "bfloat16" if bfloat16 else "float32",
        **regions.summary(),
        "tile": tile,
        "scales": [
            {"size": list(s), "iterations": n, "tiled": t} for s, n, t in zip(sizes, counts, tiled_scales, strict=True)
        ],
        "loss": {"first": curve[0], "final": curve[-1]} if curve else {},
        "seconds": time.perf_counter() - started,
    }
    message = f"done ({params.method}, {match.count} regions), loss {curve[-1]:.4g}" if curve else "done"
    yield ctx.frame(1.0, tensor_to_image(image, 16), final=True, message=message, info=info)
