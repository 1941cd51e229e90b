"""The style-based generator's trainer: a folder of pictures in, the generator's moving average out, resumable.

StyleGAN2's recipe at the scale of a CPU: the non-saturating logistic loss; the
R1 penalty on real pictures every ``r1_every`` steps (lazy regularisation: the
penalty weighed by ``r1_every``, the discriminator's Adam rate and beta2 scaled
by r1_every / (r1_every + 1)); style mixing in a share of the batches, so that
the levels of the styles learn to work apart; with ``augment``, DiffAugment
between every picture and the discriminator (for small folders); without
``noise``, no per-pixel noise (every strength held at 0); and an exponential
moving average of the generator, whose half-life is ``ema_kimg``
thousand pictures (ramped up over the first pictures), which is the model that
ships.

The defaults (``training.toml``) are the shipped model's recipe: 256 channels up
to 16 px, style mixing in half the batches and ``r1_gamma`` 0.2, eight times
StyleGAN2-ADA's rule of thumb (0.0002 x resolution² / batch = 0.026 at 64 px and
batch 32), which keeps the discriminator smooth on the hard edges of
generative-rules pictures. Against a first run with 128 channels, mixing in 90%
and 0.05, this recipe costs 1.4 times as much a step and reached a lower
sliced Wasserstein distance at every step compared (1,000 to 4,000).

The pictures of ``data`` (of ``data/train`` when there is one, so a held-out split
beside it stays unseen) are decoded once, cropped square at their centre and
reduced to the resolution; a step's pictures, flips, latents, style mixing and
noise follow from the seed and the step, so a resumed run trains exactly as an
unbroken one. Every ``sample_every`` steps a frame shows the average generator's
pictures of fixed latents and a quality number as it goes: the sliced Wasserstein
distance (SWD, after Karras et al. 2018) between 7 x 7 patches of the Laplacian
pyramids of its pictures and of training pictures, x1000, lower is better.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.gan_breeding.models import BUILDER, CHECKPOINT_NET, MODEL_ID, weights_bytes
from studio_plugins.gan_breeding.rules_data import TRAIN
from studio_plugins.gan_breeding.stylegan import (
    Discriminator,
    GeneratorConfig,
    StyleGenerator,
    diff_augment,
    discriminator_loss,
    ema_update,
    generator_loss,
    r1_penalty,
    silence_noise,
)
from torch import Tensor

from studio.core.colour import composite_over
from studio.core.image import SUPPORTED_SUFFIXES, ImageError, load_image, to_uint8
from studio.core.jobs import Frame
from studio.core.nets.features import autocast, tensor_to_image, use_bfloat16
from studio.core.outputs import Output
from studio.core.params import Param, ParamError, Precision
from studio.core.training import (
    MODEL_OUTPUT,
    Checkpoint,
    TrainContext,
    TrainingError,
    restore_training_state,
    training_state,
)

log = logging.getLogger(__name__)


ADAM_BETAS = (0.0, 0.99)
EMA_RAMPUP = 0.05  # the average's half-life is at most this share of the pictures shown so far
SAMPLE_SEED = 0  # the sample grid's latents and noise are the same for every run
SAMPLE_GRID = (4, 8)  # rows, columns
QUALITY_PICTURES = 256  # generated pictures (and training pictures) the SWD compares
QUALITY_PATCHES = 4096  # 7 x 7 patches per pyramid level and set
QUALITY_PROJECTIONS = 128  # random directions the patches are projected on
QUALITY_SEED = 1
PATCH = 7
BACKGROUND = (255, 255, 255)  # what transparent pixels are flattened onto


@dataclass
class TrainParams:
    """How the style-based generator is trained; the defaults are the shipped model's (training.toml)."""

    steps: Annotated[int, Param("Training steps", min=1, max=10_000_000)] = 30_000
    batch: Annotated[int, Param("Pictures per step", min=1, max=256)] = 32
    resolution: Annotated[
        int, Param("Side of the pictures in pixels, a power of two; a base model keeps its own", min=8, max=1024)
    ] = 64
    z_dim: Annotated[int, Param("Size of the latents; a base model keeps its own", min=1, max=2048)] = 128
    w_dim: Annotated[int, Param("Size of the style vectors; a base model keeps its own", min=1, max=2048)] = 256
    mapping_layers: Annotated[
        int, Param("Layers of the mapping network; a base model keeps its own", min=1, max=16)
    ] = 4
    channels: Annotated[
        int, Param("Channels of the 4 to 16 px layers; a base model keeps its own", min=1, max=1024)
    ] = 256
    fine_channels: Annotated[
        int, Param("Channels of the layers above 16 px; a base model keeps its own", min=1, max=1024)
    ] = 64
    g_learning_rate: Annotated[float, Param("Adam learning rate of the generator", min=1e-7, max=1.0)] = 0.002
    d_learning_rate: Annotated[float, Param("Adam learning rate of the discriminator", min=1e-7, max=1.0)] = 0.0025
    r1_gamma: Annotated[
        float, Param("Weight of the R1 penalty on the discriminator's gradient at real pictures", min=0.0, max=1e4)
    ] = 0.2
    r1_every: Annotated[int, Param("Steps between R1 penalties (lazy regularisation)", min=1, max=1000)] = 16
    style_mixing: Annotated[
        float, Param("Share of batches whose later layers take the styles of other latents", min=0.0, max=1.0)
    ] = 0.5
    augment: Annotated[
        bool,
        Param(
            "Every picture the discriminator sees, real or made, gets a random colour change, shift and cut-out "
            "(DiffAugment): keeps it from learning a small folder by heart"
        ),
    ] = False
    noise: Annotated[
        bool,
        Param(
            "Per-pixel noise inputs, StyleGAN's stochastic detail (hair, grain); off = every layer's noise strength "
            "held at 0, for flat, graphic pictures (a base model or resumed run loses its noise)"
        ),
    ] = True
    ema_kimg: Annotated[
        float, Param("Half-life of the generator's moving average, in thousands of pictures", min=0.0, max=1e4)
    ] = 10.0
    precision: Annotated[
        Precision,
        Param(
            "Arithmetic of the networks' passes: auto = bfloat16 where the processor computes it in hardware, "
            "else float32; the losses and the discriminator's logits are float32"
        ),
    ] = "auto"
    sample_every: Annotated[
        int, Param("Steps between sample grids and quality measurements (SWD)", min=1, max=10_000_000)
    ] = 500
    seed: Annotated[
        int,
        Param(
            "Initial weights, batches, latents and noise: a seed gives the same run", min=0, max=2**31 - 1, role="seed"
        ),
    ] = 0
    base: Annotated[
        str,
        Param(
            f"Generator to fine-tune, e.g. {MODEL_ID} (the shipped one) on a folder of your own pictures; its "
            "discriminator starts afresh. Empty = train one from scratch"
        ),
    ] = ""

    def __post_init__(self) -> None:
        if not self.base:
            try:
                self.config()
            except ValueError as exc:
                raise ParamError(str(exc)) from None

    def config(self) -> GeneratorConfig:
        """The networks' shape these params ask for (a base model's own shape wins)."""
        return GeneratorConfig(self.resolution, self.z_dim, self.w_dim, self.mapping_layers, self.channels,
                               self.fine_channels)  # fmt: skip


def train(params: TrainParams, data: Path, ctx: TrainContext) -> Iterator[Frame]:
    """Train the generator on the pictures in ``data`` (see the module's docstring) and emit its moving average."""
    device = ctx.device
    state = ctx.resume_state()
    torch.manual_seed(params.seed)
    generator, base = _generator(params, ctx, state)
    config = generator.config
    pictures = load_pictures(data, config.resolution)
    discriminator = Discriminator(config)
    average = copy.deepcopy(generator).eval().requires_grad_(False)
    fast_layout = torch.device(device).type in ("cpu", "cuda")
    memory_format = torch.channels_last if fast_layout else torch.contiguous_format
    for net in (generator, discriminator, average):
        net.to(device=device, memory_format=memory_format)
    bfloat16 = use_bfloat16(params.precision, device)
    lazy = params.r1_every / (params.r1_every + 1)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=params.g_learning_rate, betas=ADAM_BETAS)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=params.d_learning_rate * lazy,
                                   betas=(ADAM_BETAS[0], ADAM_BETAS[1] ** lazy))  # fmt: skip
    nets = {"G": generator, "D": discriminator, CHECKPOINT_NET: average}
    optimizers = {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}
    step, losses = 0, {}
    if state is not None:
        restore_training_state(state, nets, optimizers)
        step, losses = state.step, dict(state.meta["losses"])
    if not params.noise:
        for net in (generator, average):
            silence_noise(net)
    chosen = np.random.default_rng(QUALITY_SEED).integers(len(pictures), size=QUALITY_PICTURES)
    quality_real = to_signed(pictures[chosen], device)

    def checkpoint() -> None:
        tensors, optimizers_rest = training_state(nets, optimizers)
        meta = {"step": step, "base": base, "config": dataclasses.asdict(config), "losses": losses}
        ctx.save_checkpoint(tensors, meta | optimizers_rest)

    def sample_frame(final: bool = False) -> Frame:
        grid, swd = _samples(average, quality_real, bfloat16)
        kimg = step * params.batch / 1000
        log.info("step %d (%.1f kimg): SWD %.2f, losses %s", step, kimg, swd, losses)
        info = {"step": step, "kimg": kimg, "losses": losses, "swd": swd}
        if final:
            return ctx.frame(1.0, grid, final=True, message=f"trained {step} steps ({kimg:.1f} kimg), SWD {swd:.2f}",
                             info=info | {"model": {"base": base}})  # fmt: skip
        return ctx.frame(step / params.steps, grid, message=f"step {step}: SWD {swd:.2f}", info=info)

    if state is None:
        yield sample_frame()
    started, first_step = ctx.elapsed(), step
    while step < params.steps and not ctx.time_up():
        ctx.check_cancelled()
        rng = np.random.default_rng((params.seed, step))
        real = to_signed(training_batch(pictures, params.batch, rng), device).contiguous(memory_format=memory_format)
        noise = torch.Generator(device).manual_seed(int(rng.integers(2**62)))
        ws, w = _styles(generator, params, rng, noise, device)
        judge = _judge(discriminator, params, rng)
        with autocast(real, bfloat16):
            fake = generator(ws, generator=noise, noise=float(params.noise))
            d_loss = discriminator_loss(judge(real), judge(fake.detach()))
        losses = {"d": d_loss.item()}
        if (step + 1) % params.r1_every == 0:
            with autocast(real, bfloat16):
                penalty = r1_penalty(judge, real)
            losses["r1"] = penalty.item()
            d_loss = d_loss + penalty * (params.r1_gamma / 2 * params.r1_every)
        _check_finite(losses, step)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()
        discriminator.requires_grad_(False)
        with autocast(real, bfloat16):
            g_loss = generator_loss(judge(fake))
        losses["g"] = g_loss.item()
        _check_finite(losses, step)
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        discriminator.requires_grad_(True)
        generator.update_w_avg(w)
        step += 1
        ema_update(average, generator, _ema_beta(params, step))
        if ctx.checkpoint_due():
            checkpoint()
        if step % params.sample_every == 0:
            yield sample_frame()
        elif ctx.preview_due():
            rate = (step - first_step) * params.batch / max(ctx.elapsed() - started, 1e-9)
            message = f"step {step}/{params.steps}, {rate:.1f} pictures/s, D {losses['d']:.3f}, G {losses['g']:.3f}"
            info = {"step": step, "kimg": step * params.batch / 1000, "losses": losses, "images_per_s": rate}
            yield ctx.frame(step / params.steps, message=message, info=info)
    checkpoint()
    ctx.emit(Output(MODEL_OUTPUT, data=weights_bytes(average, {"base": base, "steps": str(step)})))
    yield sample_frame(final=True)


def load_pictures(folder: Path, resolution: int) -> np.ndarray:
    """The pictures of ``folder`` (of its ``train`` subfolder when it has one) as (N, resolution, resolution, 3)
    uint8: each cropped square at its centre and resized, transparency flattened onto white.

    Files Studio cannot read are skipped with a logged note; a folder left with no
    picture is a :class:`TrainingError` naming it.
    """
    folder = Path(folder)
    source = folder / TRAIN if (folder / TRAIN).is_dir() else folder
    if not source.is_dir():
        raise TrainingError(f"{folder} is not a folder: give the folder of pictures to train on")
    pictures = []
    for path in sorted(p for p in source.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file()):
        try:
            rgba = to_uint8(load_image(path).pixels)
        except ImageError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        rgb = composite_over(rgba, BACKGROUND) if (rgba[..., 3] < 255).any() else rgba[..., :3]
        pictures.append(_square(rgb, resolution))
    if not pictures:
        raise TrainingError(f"{source} holds no picture to train on ({', '.join(SUPPORTED_SUFFIXES)})")
    log.info("%s: %d pictures to train on", source, len(pictures))
    return np.stack(pictures)


def training_batch(pictures: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` pictures drawn with ``rng``, half of them mirrored: (batch, R, R, 3) uint8."""
    chosen = pictures[rng.integers(len(pictures), size=batch)]
    flip = rng.random(batch) < 0.5
    chosen[flip] = chosen[flip, :, ::-1]
    return chosen


def sliced_wasserstein(real: Tensor, fake: Tensor, seed: int = QUALITY_SEED) -> float:
    """The SWD x1000 between two sets of pictures (N, 3, H, W) in -1..1 (the sets may differ in size); values
    beyond that range count as its ends, as the pictures are shown and saved.

    At every level of their Laplacian pyramids (down to 16 px, box filters),
    :data:`QUALITY_PATCHES` random 7 x 7 patches of each set are normalised by the
    real patches' mean and spread, projected on random directions, and the sorted
    projections compared; the distance is the mean over levels.
    """
    draw = torch.Generator().manual_seed(seed)
    distances = []
    real, fake = (pictures.float().cpu().clamp(-1.0, 1.0) for pictures in (real, fake))
    for real_level, fake_level in zip(_laplacian(real), _laplacian(fake), strict=True):
        a, b = _patches(real_level, draw), _patches(fake_level, draw)
        mean, spread = a.mean(dim=0), a.std(dim=0) + 1e-8
        directions = torch.randn(a.shape[1], QUALITY_PROJECTIONS, generator=draw)
        directions /= directions.norm(dim=0, keepdim=True)
        projected = [torch.sort(((x - mean) / spread) @ directions, dim=0).values for x in (a, b)]
        distances.append((projected[0] - projected[1]).abs().mean().item())
    return 1000.0 * sum(distances) / len(distances)


def _generator(params: TrainParams, ctx: TrainContext, state: Checkpoint | None) -> tuple[StyleGenerator, str]:
    """The generator to train, and the catalog id of the model it is (or is trained from)."""
    if state is not None:
        return StyleGenerator(GeneratorConfig(**state.meta["config"])), str(state.meta["base"])
    if not params.base:
        return StyleGenerator(params.config()), MODEL_ID
    spec = ctx.models.spec(params.base)
    if spec.builder != BUILDER:
        raise TrainingError(f"base: {params.base} is not a style-based generator; give {MODEL_ID} or a model "
                            f"trained from it, or leave it empty to train from scratch")  # fmt: skip
    loaded = ctx.models.load(params.base)
    generator = StyleGenerator(loaded.config)
    generator.load_state_dict(loaded.state_dict())
    return generator, spec.base or spec.id


def _styles(
    generator: StyleGenerator, params: TrainParams, rng: np.random.Generator, noise: torch.Generator, device: str
) -> tuple[Tensor, Tensor]:
    """A step's styles (batch, num_ws, w_dim), mixed from a second latent after a random layer in a share of the
    steps, and the styles of the first latents (batch, w_dim)."""
    latents = torch.randn(2, params.batch, generator.config.z_dim, generator=noise, device=noise.device).to(device)
    w = generator.mapping(latents[0])
    ws = w.unsqueeze(1).repeat(1, generator.num_ws, 1)
    if rng.random() < params.style_mixing:
        cutoff = int(rng.integers(1, generator.num_ws))
        ws[:, cutoff:] = generator.mapping(latents[1]).unsqueeze(1)
    return ws, w


def _judge(discriminator: Discriminator, params: TrainParams, rng: np.random.Generator) -> Callable[[Tensor], Tensor]:
    """The discriminator as a step sees it: behind DiffAugment (drawn from ``rng``) when ``params.augment``."""
    if not params.augment:
        return discriminator
    draw = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return lambda images: discriminator(diff_augment(images, draw))


def _check_finite(losses: dict[str, float], step: int) -> None:
    if not all(math.isfinite(value) for value in losses.values()):
        raise TrainingError(f"the losses are {losses} at step {step + 1}: start a new run with lower learning rates, "
                            f"or with precision=float32")  # fmt: skip


def _ema_beta(params: TrainParams, step: int) -> float:
    """How much of the moving average stays at ``step``: a half-life of ema_kimg thousand pictures, ramped up."""
    half_life = min(params.ema_kimg * 1000.0, step * params.batch * EMA_RAMPUP)
    return 0.5 ** (params.batch / max(half_life, 1e-8))


def _square(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """The centre square of ``rgb`` resized to ``resolution`` (area averaging when reducing)."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = rgb[top : top + side, left : left + side]
    if side == resolution:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
    return cv2.resize(square, (resolution, resolution), interpolation=interpolation)


def to_signed(pictures: np.ndarray, device: str) -> Tensor:
    """uint8 pictures (N, H, W, 3) as (N, 3, H, W) in -1..1."""
    return torch.from_numpy(np.ascontiguousarray(pictures)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@torch.no_grad()
def _samples(average: StyleGenerator, real: Tensor, bfloat16: bool) -> tuple[np.ndarray, float]:
    """The grid of the average generator's pictures of the fixed latents, and its SWD against ``real``."""
    draw = torch.Generator().manual_seed(SAMPLE_SEED)
    latents = torch.randn(len(real), average.config.z_dim, generator=draw).to(real.device)
    pictures = []
    with autocast(real, bfloat16):
        for chunk in latents.split(32):
            pictures.append(average(average.mapping(chunk), noise_seed=SAMPLE_SEED).float())
    fake = torch.cat(pictures)
    swd = sliced_wasserstein(real, fake)
    rows, columns = SAMPLE_GRID
    size = average.config.resolution
    grid = fake[: rows * columns].reshape(rows, columns, 3, size, size).permute(2, 0, 3, 1, 4)
    return tensor_to_image((grid.reshape(1, 3, rows * size, columns * size) + 1.0) / 2.0), swd


def _laplacian(pictures: Tensor) -> list[Tensor]:
    """The Laplacian pyramid of ``pictures`` down to 16 px: band-pass levels, then the low-pass rest."""
    levels = []
    while pictures.shape[-1] > 16:
        smaller = F.avg_pool2d(pictures, 2)
        levels.append(pictures - F.interpolate(smaller, scale_factor=2.0, mode="bilinear", align_corners=False))
        pictures = smaller
    return [*levels, pictures]


def _patches(level: Tensor, draw: torch.Generator) -> Tensor:
    """:data:`QUALITY_PATCHES` random 7 x 7 patches of ``level`` (N, C, H, W) as rows (patches, C * 49)."""
    count, _, height, width = level.shape
    which = torch.randint(count, (QUALITY_PATCHES,), generator=draw)
    top = torch.randint(height - PATCH + 1, (QUALITY_PATCHES,), generator=draw)
    left = torch.randint(width - PATCH + 1, (QUALITY_PATCHES,), generator=draw)
    offsets = torch.arange(PATCH)
    rows = (top[:, None] + offsets)[:, :, None]
    columns = (left[:, None] + offsets)[:, None, :]
    return level[which[:, None, None], :, rows, columns].reshape(QUALITY_PATCHES, -1)
