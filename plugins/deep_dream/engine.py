"""Engine of the Deep Dream plugin: gradient ascent on a layer's activations, octave by octave, in shifted tiles.

Each step rolls the picture by a random jitter and cuts it into equal
patches (``studio.core.tiling.TorusGrid``: the picture wraps around like a
rolled image, the grid moves by a random offset every step); each patch's
gradient is smoothed (Laplacian pyramid or Gaussian), normalised by the
whole picture's mean absolute gradient of the previous step, weighted by
the mask and added to the patch's centre in place. A picture up to
``tile_size`` is one patch: exactly the classic whole-image step. Between
steps the picture is kept as uint16 (6 bytes a pixel); nothing full-size is
allocated per step. Octaves work coarse to fine and carry only the detail
the dream added, so the picture's own detail is kept at every scale (as in
the original Deep Dream notebook). With bfloat16 (``precision``) only the
network's passes change: channels-last, under autocast; the gradient the
picture moves by is float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.deep_dream.animation import Animation, zoom_rotate
from studio_plugins.deep_dream.params import DEFAULT_LAYERS, NETWORK_LAYERS, DreamParams

from studio.core import tiling
from studio.core.image import ImageError, load_image, to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.models.errors import ModelError
from studio.core.models.usage import ModelSource
from studio.core.nets.features import (
    FeatureExtractor,
    autocast,
    feature_extractor,
    image_to_tensor,
    use_bfloat16,
)
from studio.core.params import numbers, output_size

MARGIN = 64
"""Pixels of context around each tile: the gradient at a tile's border sees the picture beyond it."""
MIN_PATCH = {"inception_v3": 80}
"""Smallest patch a network runs on (Inception's deepest layers need 75 px); smaller ones are padded."""
MIN_PATCH_DEFAULT = 32
MIN_OCTAVE_SIDE = 32
GUIDE_MAX_SIDE = 512
GUIDE_MAX_POSITIONS = 4096
MATCH_CHUNK = 4096

Objective = Callable[[torch.Tensor], torch.Tensor]
"""Features (1, C, h, w) of one tile -> the number the dream makes larger (a sum, so tiles add up)."""


def run(params: DreamParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Dream on ``inputs.image`` (only where ``inputs.mask`` allows), yielding previews and the final frame.

    The picture is first resized to the ``size`` parameter's long side, if set.
    With ``params.frames > 1`` it makes a zoom animation: every frame is
    dreamed from the last one zoomed and rotated, previewed and emitted as an
    output when done, then the GIF and WebP; the final frame is the last one.
    """
    ctx.check_cancelled()
    inputs = inputs.resized(output_size(inputs.width, inputs.height, params))
    if inputs.image is None:
        raise ValueError("Deep Dream needs a picture: open an image or paint on the canvas first")
    network = choose_network(params.network, ctx.models)
    layer = choose_layer(network, params.layer, ctx.models.spec(network).taps)
    guide = load_guide(params.guide) if params.objective == "guide" else None
    mask_array = _check_mask(inputs.mask, inputs.width, inputs.height)

    device = ctx.device
    bfloat16 = use_bfloat16(params.precision, device)
    # channels-last makes bfloat16 convolutions much faster; float32 keeps the default order, so its pixels stay put
    channels_last = bfloat16 and torch.device(device).type in ("cpu", "cuda")
    extractor = feature_extractor(ctx.models, network, [layer], device, channels_last)
    dreamer = Dreamer(
        extractor,
        layer,
        params,
        np.random.default_rng(params.seed),
        ctx.check_cancelled,
        MIN_PATCH.get(network, MIN_PATCH_DEFAULT),
        bfloat16,
    )
    if params.objective == "channels":
        dreamer.objective = channel_objective(params.channels, channel_count(extractor, layer, device), layer)
    elif params.objective == "layer":
        dreamer.objective = layer_objective
    original = inputs.image
    mask = torch.from_numpy(mask_array).to(device)[None, None] if mask_array is not None else None
    height, width = inputs.height, inputs.width
    sizes = tiling.pyramid_sizes(
        width, height, factor=params.octave_scale, count=params.octaves, min_side=min(MIN_OCTAVE_SIDE, width, height)
    )
    first_work = sum(w * h for w, h in sizes) * params.iterations
    later_work = width * height * params.frame_iterations
    total_work = first_work + later_work * (params.frames - 1)
    done = 0.0
    animation = Animation(params.fps) if params.frames > 1 else None
    info = {"seed": params.seed, "network": network, "layer": layer, "precision": "bfloat16" if bfloat16 else "float32"}
    alpha = inputs.image[..., 3] if inputs.image.shape[2] == 4 else None

    def progress_message(stage: str) -> tuple[float, str]:
        fraction = done / total_work
        eta = ctx.eta(fraction)
        left = "" if eta is None else f", {_duration(eta)} left"
        prefix = f"frame {frame_no + 1}/{params.frames}, " if params.frames > 1 else ""
        return fraction, f"{prefix}{stage}{left}"

    x = torch.empty(0)
    for frame_no in range(params.frames):
        if frame_no == 0:
            stages = _octaves(dreamer, original, mask, sizes, params.iterations, guide, device)
        else:
            x = to_picture(zoom_rotate(from_picture(x), params.zoom, params.rotate))
            if guide is not None and frame_no == 1:
                dreamer.objective = guided_objective(guide_features(extractor, layer, guide, max(width, height)))
            stages = _steps(dreamer, x, _mask_at(mask, (width, height)), params.frame_iterations, 0, 1)
        for x, stage in stages:
            done += x.shape[-1] * x.shape[-2]
            if ctx.preview_due():
                fraction, message = progress_message(stage)
                yield ctx.frame(fraction, picture_to_image(x), message=message)
        if frame_no == 0 and mask is not None:
            _keep_original_outside(x, original, mask)
        if animation is not None:
            picture = picture_to_image(x)
            ctx.emit(animation.add(picture))
            fraction, message = progress_message("frame done")
            yield ctx.frame(fraction, picture, message=message)
    ctx.check_cancelled()
    if animation is not None:
        for output in animation.finish():
            ctx.emit(output)
    yield ctx.frame(1.0, picture_to_image(x, alpha, 16), final=True, info=info)


PICTURE_SCALE = 65535.0
"""The picture between steps is uint16 (1, 3, H, W): 6 bytes a pixel, finer than float16 everywhere in 0..1."""
STRIP_ROWS = 256
"""Rows converted at a time when a full-size picture becomes an image, so no full-size float copy is made."""


def to_picture(image: torch.Tensor) -> torch.Tensor:
    """A float tensor in 0..1 as the uint16 picture the dream keeps between steps."""
    return image.clamp(0.0, 1.0).mul_(PICTURE_SCALE).round_().to(torch.uint16)


def from_picture(picture: torch.Tensor) -> torch.Tensor:
    """The uint16 picture (or a block of it) as float32 in 0..1."""
    return picture.to(torch.float32).div_(PICTURE_SCALE)


def picture_to_image(picture: torch.Tensor, alpha: np.ndarray | None = None, bit_depth: int = 8) -> np.ndarray:
    """The uint16 picture (1, 3, H, W) as an owned (H, W, 3) array of ``bit_depth`` bits (uint8 for previews,
    uint16 for the result), or (H, W, 4) with ``alpha`` (uint8); in strips."""
    height, width = picture.shape[-2:]
    image = np.empty((height, width, 3 if alpha is None else 4), np.uint16 if bit_depth == 16 else np.uint8)
    for top in range(0, height, STRIP_ROWS):
        strip = picture[0, :, top : top + STRIP_ROWS]
        if bit_depth == 8:
            strip = strip.to(torch.int32).add_(128).div_(257, rounding_mode="floor").to(torch.uint8)
        image[top : top + STRIP_ROWS, :, :3] = strip.permute(1, 2, 0).cpu().numpy()
    if alpha is not None:
        image[..., 3] = alpha.astype(image.dtype) * (257 if bit_depth == 16 else 1)
    return image


def _channel(original: np.ndarray, channel: int, size: tuple[int, int], device: str) -> torch.Tensor:
    """One channel (1, 1, h, w) of the uint8 original (H, W, C) as float in 0..1 on ``device``, resized to ``size``."""
    plane = torch.from_numpy(np.ascontiguousarray(original[..., channel])).to(device)
    return tiling.resize(plane.to(torch.float32).div_(255.0)[None, None], size)


def _octave_start(
    original: np.ndarray, size: tuple[int, int], previous: torch.Tensor | None, device: str
) -> torch.Tensor:
    """The picture an octave starts from: the original at ``size`` plus the detail dreamed into ``previous``.

    Works one channel at a time, so the float copies are a third of a picture.
    """
    width, height = size
    picture = torch.empty((1, 3, height, width), dtype=torch.uint16, device=device)
    for channel in range(3):
        start = _channel(original, channel, size, device)
        if previous is not None:
            below = previous.shape[-1], previous.shape[-2]
            detail = from_picture(previous[:, channel : channel + 1]).sub_(_channel(original, channel, below, device))
            start = start + tiling.resize(detail, size)
            del detail
        picture[:, channel : channel + 1] = to_picture(start)
        del start
    return picture


def _octaves(
    dreamer: Dreamer,
    original: np.ndarray,
    mask: torch.Tensor | None,
    sizes: list[tuple[int, int]],
    iterations: int,
    guide: torch.Tensor | None,
    device: str,
) -> Iterator[tuple[torch.Tensor, str]]:
    """Dream coarse to fine; each octave starts from the picture at its size plus the detail dreamed so far."""
    x: torch.Tensor | None = None
    for octave, size in enumerate(sizes):
        x = _octave_start(original, size, x, device)
        if guide is not None:
            dreamer.objective = guided_objective(guide_features(dreamer.extractor, dreamer.layer, guide, max(size)))
        yield from _steps(dreamer, x, _mask_at(mask, size), iterations, octave, len(sizes))
    # the last octave's x was yielded last: the caller keeps it


def _steps(
    dreamer: Dreamer, x: torch.Tensor, mask: torch.Tensor | None, iterations: int, octave: int, octaves: int
) -> Iterator[tuple[torch.Tensor, str]]:
    dreamer.reset_scale()
    for iteration in range(iterations):
        dreamer.step(x, mask)
        yield x, f"octave {octave + 1}/{octaves}, iteration {iteration + 1}/{iterations}"


class Dreamer:
    """Gradient-ascent steps on a picture, tile by tile, in tiles whose grid and roll change every step.

    The picture is updated in place one tile's centre at a time, so nothing
    full-size is allocated per step. The gradient is normalised by its mean
    absolute value over the whole picture at the previous step (within the
    first step, over the tiles done so far): one scale for every tile, so
    tiles meet without a seam. With one tile this is exactly the classic
    whole-image step.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        layer: str,
        params: DreamParams,
        rng: np.random.Generator,
        check: Callable[[], None],
        min_patch: int = MIN_PATCH_DEFAULT,
        bfloat16: bool = False,
    ) -> None:
        self.extractor = extractor
        self.layer = layer
        self.params = params
        self.rng = rng
        self.check = check
        self.min_patch = min_patch
        self.bfloat16 = bfloat16
        self.objective: Objective = layer_objective
        self.shift_grid = True
        self.scale: float | None = None

    def reset_scale(self) -> None:
        """Forget the gradient scale of the last step (call when the picture changes size)."""
        self.scale = None

    def grid(self, width: int, height: int) -> tiling.TorusGrid:
        """The tiles of the next step: the grid moved by a random offset, the picture by a random roll."""
        p = self.params
        jitter = p.jitter
        roll = [int(v) for v in self.rng.integers(-jitter, jitter + 1, size=2)] if jitter else [0, 0]
        margin = min(MARGIN, p.tile_size // 4)
        if tiling.needs_tiling(width, height, p.tile_size) and self.shift_grid:
            moved = tiling.random_offset(self.rng, p.tile_size)
            roll = [roll[0] + moved[0], roll[1] + moved[1]]
        return tiling.TorusGrid(width, height, p.tile_size, margin, (-roll[0], -roll[1]))

    def step(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Move the uint16 picture ``x`` (1, 3, H, W) up the objective's gradient, in place; ``mask`` weights it."""
        height, width = x.shape[-2:]
        grid = self.grid(width, height)
        patch_width, patch_height = grid.patch_size
        tiled = len(grid) > 1  # equal patches freed and made again fragment the heap; one patch does not
        total = 0.0
        pixels = 0
        for tile in grid:
            self.check()
            patch = from_picture(tiling.take_wrapped(x, tile.patch_x, tile.patch_y, patch_width, patch_height))
            gradient = self.tile_gradient(patch)
            cx, cy = tile.centre_offset
            gradient = gradient[..., cy : cy + tile.height, cx : cx + tile.width]
            total += float(gradient.abs().sum())
            pixels += gradient.numel()
            scale = self.scale if self.scale is not None else total / pixels
            if scale == 0.0:
                continue
            if mask is not None:
                gradient = gradient * tiling.take_wrapped(mask, tile.x, tile.y, tile.width, tile.height)
            centre = patch[..., cy : cy + tile.height, cx : cx + tile.width]
            centre = centre.add_(gradient, alpha=self.params.step_size / scale)
            tiling.put_wrapped(x, tile.x, tile.y, to_picture(centre))
            if tiled:
                del patch, gradient, centre
                tiling.release_freed_memory()
        self.scale = total / pixels

    def tile_gradient(self, patch: torch.Tensor) -> torch.Tensor:
        """The smoothed gradient of the objective with respect to ``patch``."""
        with torch.enable_grad():
            patch = patch.detach().requires_grad_(True)
            with autocast(patch, self.bfloat16):
                features = self.extractor(_pad_to(patch, self.min_patch))[self.layer]
                objective = self.objective(features)
            (gradient,) = torch.autograd.grad(objective, patch)
        return self.smooth(gradient)

    def smooth(self, gradient: torch.Tensor) -> torch.Tensor:
        if self.params.smoothing == "laplacian":
            return tiling.laplacian_normalize(gradient, self.params.pyramid_levels)
        if self.params.smoothing == "gaussian":
            return tiling.gaussian_blur(gradient, self.params.blur_sigma)
        return gradient


def _pad_to(patch: torch.Tensor, side: int) -> torch.Tensor:
    """``patch`` padded (mirrored where possible) on the right and bottom to at least ``side`` pixels."""
    height, width = patch.shape[-2:]
    pad_x, pad_y = max(0, side - width), max(0, side - height)
    if not pad_x and not pad_y:
        return patch
    mode = "reflect" if pad_x < width and pad_y < height else "replicate"
    return F.pad(patch, (0, pad_x, 0, pad_y), mode=mode)


def layer_objective(features: torch.Tensor) -> torch.Tensor:
    """The L2 of the activations: everything the layer responds to grows."""
    return features.pow(2).sum()


def channel_objective(text: str, channel_count: int, layer: str) -> Objective:
    """The summed activation of the channels listed in ``text`` (comma-separated numbers)."""
    values = numbers(text, "channels")
    if not values:
        raise ValueError("objective 'channels' needs channel numbers: set channels (for example channels=12 or 3,17)")
    bad = [v for v in values if not v.is_integer() or not 0 <= v < channel_count]
    if bad:
        raise ValueError(
            f"channels: {bad[0]:g} is not a channel of {layer}, which has channels 0 to {channel_count - 1}"
        )
    index = sorted({int(v) for v in values})

    def objective(features: torch.Tensor) -> torch.Tensor:
        return features[:, index].sum()

    return objective


def guided_objective(guide: torch.Tensor) -> Objective:
    """For each position, the dot product with the guide feature (C, M) it matches best (the notebook's guide)."""

    def objective(features: torch.Tensor) -> torch.Tensor:
        channels = features.shape[1]
        flat = features.reshape(channels, -1)
        with torch.no_grad():
            best = torch.cat([guide[:, (chunk.T @ guide).argmax(1)] for chunk in flat.split(MATCH_CHUNK, dim=1)], 1)
        return (flat * best).sum()

    return objective


def guide_features(extractor: FeatureExtractor, layer: str, guide: torch.Tensor, long_side: int) -> torch.Tensor:
    """The guide's features at ``layer`` (C, M), the guide scaled to ``long_side`` (at most 512 px), M <= 4096."""
    height, width = guide.shape[-2:]
    scale = min(GUIDE_MAX_SIDE, long_side) / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    with torch.no_grad():
        image = tiling.resize(guide.to(extractor_device(extractor)), size).clamp(0.0, 1.0)
        features = extractor(_pad_to(image, MIN_PATCH_DEFAULT))[layer][0]
    flat = features.reshape(features.shape[0], -1)
    if flat.shape[1] > GUIDE_MAX_POSITIONS:
        keep = torch.linspace(0, flat.shape[1] - 1, GUIDE_MAX_POSITIONS, device=flat.device).round().long()
        flat = flat[:, keep]
    return flat.contiguous()


def extractor_device(extractor: FeatureExtractor) -> torch.device:
    return next(extractor.net.parameters()).device


def channel_count(extractor: FeatureExtractor, layer: str, device: str) -> int:
    with torch.no_grad():
        return int(extractor(torch.zeros(1, 3, 96, 96, device=device))[layer].shape[1])


def choose_network(network: str, store: ModelSource) -> str:
    """``network``, or for "auto" the first installed of inception_v3, vgg16, alexnet, efficientnet_lite0."""
    if network != "auto":
        return network
    for candidate in NETWORK_LAYERS:
        try:
            if store.record(candidate) is not None:
                return candidate
        except ModelError:
            continue
    return next(iter(NETWORK_LAYERS))


def choose_layer(network: str, layer: str, taps: Mapping[str, str]) -> str:
    """``layer``, or the network's favourite for "auto"; a layer the network lacks is a ValueError naming its layers."""
    names = list(taps)
    if layer == "auto":
        favourite = DEFAULT_LAYERS.get(network)
        return favourite if favourite in names else names[len(names) // 2]
    if layer not in names:
        raise ValueError(f"layer {layer!r} is not a layer of {network}; choose one of: {', '.join(names)}")
    return layer


def load_guide(path: str) -> torch.Tensor:
    """The guide image as a (1, 3, H, W) CPU tensor; a missing or unreadable file is a ValueError naming it."""
    if not path.strip():
        raise ValueError("objective 'guide' needs a guide image: set guide to an image file")
    file = Path(path.strip()).expanduser()
    try:
        image = load_image(file)
    except ImageError as exc:
        raise ValueError(f"guide image {file}: {exc.reason}") from None
    return image_to_tensor(to_uint8(image.pixels))


def _check_mask(mask: np.ndarray | None, width: int, height: int) -> np.ndarray | None:
    if mask is None:
        return None
    if mask.shape != (height, width):
        raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the picture {width}x{height}")
    if not mask.any():
        raise ValueError("the mask is empty: paint where the dream should happen, or hide the mask layer")
    return np.ascontiguousarray(mask, dtype=np.float32)


def _mask_at(mask: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor | None:
    if mask is None:
        return None
    return tiling.resize(mask, size).clamp(0.0, 1.0)


def _keep_original_outside(x: torch.Tensor, original: np.ndarray, mask: torch.Tensor) -> None:
    """``x`` where the mask is 1, the original where it is 0 (exactly), blended between; in place, in strips."""
    for top in range(0, x.shape[-2], STRIP_ROWS):
        rows = slice(top, top + STRIP_ROWS)
        before = torch.from_numpy(np.ascontiguousarray(original[rows, :, :3])).to(x.device)
        before = before.permute(2, 0, 1)[None].to(torch.float32).mul_(257.0)
        after = x[..., rows, :].to(torch.float32)
        x[..., rows, :] = after.sub_(before).mul_(mask[..., rows, :]).add_(before).round_().to(torch.uint16)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
