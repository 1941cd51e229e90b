"""The inpainting network's trainer: random crops of photographs with random holes, the paper's loss, two stages.

Liu et al. 2018 train in two stages: first with batch norm everywhere at
``learning_rate``, then (from ``finetune_from_step``) with the encoder's batch
norms frozen at ``finetune_learning_rate``, so that their statistics, which the
holes skew, stop moving. Fine-tuning a trained model (``base``) runs the second
stage only. Every step's crops and holes follow from the seed and the step, so a
resumed run trains on exactly what an unbroken one would. Every
``validate_every`` steps the network fills a fixed set of validation crops
whose holes span every size of :data:`~studio_plugins.inpainting.masks.RATIO_BINS`;
the frame carries the loss and the hole's mean error per size, and a sample image.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from studio_plugins.inpainting.loss import InpaintingLoss, LossWeights
from studio_plugins.inpainting.masks import RATIO_BINS, random_mask, valid_mask, validation_masks
from studio_plugins.inpainting.models import BUILDER, CHECKPOINT_NET, MODEL_ID, weights_bytes
from studio_plugins.inpainting.net import NetConfig, PConvUNet, composite
from studio_plugins.inpainting.photos import Photos, load_photos
from torch import Tensor

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

Stage = Literal["train", "finetune"]

VALIDATION_PER_BIN = 4  # validation crops per hole size
VALIDATION_SEED = 0  # the validation crops and holes are the same for every run


@dataclass
class TrainParams:
    """How the inpainting network is trained; the defaults are the shipped model's (training.toml)."""

    steps: Annotated[int, Param("Training steps", min=1, max=10_000_000)] = 40_000
    batch: Annotated[int, Param("Crops per step", min=1, max=256)] = 8
    crop: Annotated[int, Param("Side of the training crops in pixels, a multiple of 2^levels", min=8, max=2048)] = 128
    levels: Annotated[
        int, Param("Stride-2 layers of the encoder (the network's depth); a base model keeps its own", min=1, max=10)
    ] = 6
    width: Annotated[
        int, Param("Channels of the first layer (the network's width); a base model keeps its own", min=1, max=256)
    ] = 32
    learning_rate: Annotated[float, Param("Adam learning rate of the first stage", min=1e-7, max=1.0)] = 2e-4
    finetune_from_step: Annotated[
        int,
        Param(
            "Step from which the encoder's batch norms are frozen and finetune_learning_rate is used (the paper's "
            "second stage); a base model is fine-tuned so from the start",
            min=0,
            max=10_000_000,
        ),
    ] = 32_000
    finetune_learning_rate: Annotated[float, Param("Adam learning rate of the second stage", min=1e-7, max=1.0)] = 5e-5
    loss_size: Annotated[
        int,
        Param(
            "Side in pixels at which the VGG16 terms of the loss (perceptual, style) and total variation are computed, "
            "on the output and the photograph shrunk to it; 0 = the crop size. Smaller is faster (VGG16 takes most of "
            "a step); the pixel terms stay at the crop size",
            min=0,
            max=2048,
        ),
    ] = 96
    precision: Annotated[
        Precision,
        Param(
            "Arithmetic of the networks' passes: auto = bfloat16 where the processor computes it in hardware, "
            "else float32; losses are summed in float32"
        ),
    ] = "auto"
    validate_every: Annotated[
        int, Param("Steps between validation passes (losses per hole size and a sample image)", min=1, max=10_000_000)
    ] = 500
    seed: Annotated[
        int, Param("Initial weights, crops and holes: a seed gives the same run", min=0, max=2**31 - 1, role="seed")
    ] = 0
    base: Annotated[
        str,
        Param(f"Inpainting model to fine-tune, e.g. {MODEL_ID} (the shipped one); empty = train one from scratch"),
    ] = ""

    def __post_init__(self) -> None:
        multiple = NetConfig(self.levels, self.width).multiple
        if not self.base and self.crop % multiple:
            raise ParamError(f"crop: {self.crop} is not a multiple of {multiple}, which a network of {self.levels} "
                             f"levels needs; use {max(multiple, self.crop // multiple * multiple)}")  # fmt: skip
        if self.loss_size > self.crop:
            raise ParamError(f"loss_size: {self.loss_size} is larger than the crop ({self.crop}); use 0 or less")


def train(params: TrainParams, data: Path, ctx: TrainContext) -> Iterator[Frame]:
    """Train the network on the photographs in ``data`` (see the module's docstring) and emit its weights."""
    photos = load_photos(data, params.crop)
    device = ctx.device
    state = ctx.resume_state()
    torch.manual_seed(params.seed)
    net, base = _network(params, ctx, state)
    if params.crop % net.config.multiple:
        raise TrainingError(f"crop: {params.crop} is not a multiple of {net.config.multiple}, which {params.base} "
                            f"({net.config.levels} levels) needs")  # fmt: skip
    fast_layout = torch.device(device).type in ("cpu", "cuda")
    memory_format = torch.channels_last if fast_layout else torch.contiguous_format
    net.to(device=device, memory_format=memory_format)
    bfloat16 = use_bfloat16(params.precision, device)
    weights = LossWeights()
    if params.loss_size and params.loss_size != params.crop:
        weights = dataclasses.replace(weights, valid=0.0, hole=0.0)  # added at the crop size instead (_loss)
    criterion = InpaintingLoss(ctx.models, device, weights, fast_layout)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
    step, loss = 0, math.nan
    nets, optimizers = {CHECKPOINT_NET: net}, {"optimizer": optimizer}
    if state is not None:
        restore_training_state(state, nets, optimizers)
        step, loss = state.step, float(state.meta["loss"])
    validation = _validation_set(photos, device, memory_format)
    stage = _stage(params, step)
    _enter(stage, net, optimizer, params)

    def checkpoint() -> None:
        tensors, optimizers_rest = training_state(nets, optimizers)
        meta = {"step": step, "loss": loss, "stage": stage, "base": base, "net": dataclasses.asdict(net.config)}
        ctx.save_checkpoint(tensors, meta | optimizers_rest)

    def validation_frame(final: bool = False) -> Frame:
        result, sample = _validate(net, criterion, validation, params.loss_size, bfloat16)
        log.info("step %d: validation loss %.4f, hole L1 by hole size %s", step, result["loss"], result["hole_l1"])
        info = {"step": step, "loss": loss, "stage": stage, "validation": result}
        if final:
            return ctx.frame(1.0, sample, final=True, message=f"trained {step} steps, loss {loss:.4f}",
                             info=info | {"model": {"base": base}})  # fmt: skip
        message = f"step {step}: validation loss {result['loss']:.4f}"
        return ctx.frame(step / params.steps, sample, message=message, info=info)

    if state is None:
        yield validation_frame()
    started, first_step = ctx.elapsed(), step
    while step < params.steps and not ctx.time_up():
        ctx.check_cancelled()
        if _stage(params, step) != stage:
            stage = _stage(params, step)
            _enter(stage, net, optimizer, params)
        images, holes = training_batch(photos, params, step)
        image, valid = _tensors(images, holes, device, memory_format)
        with autocast(image, bfloat16):
            total, _ = _loss(criterion, net(image, valid), image, valid, params.loss_size)
        loss = total.item()
        if not math.isfinite(loss):
            raise TrainingError(f"the loss is {loss} at step {step + 1}: start a new run with a lower "
                                f"learning_rate, or with precision=float32")  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        step += 1
        if ctx.checkpoint_due():
            checkpoint()
        if step % params.validate_every == 0:
            yield validation_frame()
        elif ctx.preview_due():
            rate = (step - first_step) * params.batch / max(ctx.elapsed() - started, 1e-9)
            message = f"step {step}/{params.steps}, loss {loss:.4f}, {rate:.1f} images/s"
            yield ctx.frame(step / params.steps, message=message,
                            info={"step": step, "loss": loss, "stage": stage, "images_per_s": rate})  # fmt: skip
    checkpoint()
    ctx.emit(Output(MODEL_OUTPUT, data=weights_bytes(net, {"base": base, "steps": str(step)})))
    yield validation_frame(final=True)


def training_batch(photos: Photos, params: TrainParams, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Step ``step``'s crops (batch, crop, crop, 3) uint8 and hole masks (batch, crop, crop) bool.

    They follow from the seed and the step only; every hole size of RATIO_BINS is equally likely.
    """
    rng = np.random.default_rng((params.seed, step))
    images = photos.crops(rng, params.batch)
    size = (params.crop, params.crop)
    holes = np.stack([random_mask(rng, size, RATIO_BINS[rng.integers(len(RATIO_BINS))]) for _ in images])
    return images, holes


def _network(params: TrainParams, ctx: TrainContext, state: Checkpoint | None) -> tuple[PConvUNet, str]:
    """The network to train, and the catalog id of the model it is (or is trained from)."""
    if state is not None:  # its weights are restored with the optimizer's state
        return PConvUNet(NetConfig(**state.meta["net"])), str(state.meta["base"])
    if not params.base:
        return PConvUNet(NetConfig(params.levels, params.width)), MODEL_ID
    spec = ctx.models.spec(params.base)
    if spec.builder != BUILDER:
        raise TrainingError(f"base: {params.base} is not an inpainting network; give {MODEL_ID} or a model "
                            f"trained from it, or leave it empty to train from scratch")  # fmt: skip
    loaded = ctx.models.load(params.base)
    net = PConvUNet(loaded.config)
    net.load_state_dict(loaded.state_dict())
    return net, spec.base or spec.id


def _stage(params: TrainParams, step: int) -> Stage:
    return "finetune" if params.base or step >= params.finetune_from_step else "train"


def _enter(stage: Stage, net: PConvUNet, optimizer: torch.optim.Optimizer, params: TrainParams) -> None:
    """Set the network and the optimizer up for ``stage``."""
    if stage == "finetune":
        net.freeze_encoder_norm()
    rate = params.finetune_learning_rate if stage == "finetune" else params.learning_rate
    for group in optimizer.param_groups:
        group["lr"] = rate
    net.train()


def _tensors(
    images: np.ndarray, holes: np.ndarray, device: str, memory_format: torch.memory_format
) -> tuple[Tensor, Tensor]:
    """Crops (N, H, W, 3) uint8 and holes (N, H, W) bool as the network's input: (N, 3, H, W) in 0..1 and the
    valid mask (N, 1, H, W)."""
    image = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    valid = torch.from_numpy(valid_mask(holes)).to(device).unsqueeze(1)
    return image.contiguous(memory_format=memory_format), valid.contiguous(memory_format=memory_format)


def _loss(
    criterion: InpaintingLoss, output: Tensor, target: Tensor, valid: Tensor, size: int
) -> tuple[Tensor, dict[str, float]]:
    """The paper's loss; with a ``size`` below the crop's, its VGG16 and total-variation terms on the pair shrunk to
    ``size`` (where ``criterion`` weighs the pixel terms 0), the pixel terms at full size."""
    if not size or size == target.shape[-1]:
        return criterion(output, target, valid)
    shrunk = [F.interpolate(tensor, size=(size, size), mode="area") for tensor in (output, target, valid)]
    total, terms = criterion(shrunk[0], shrunk[1], (shrunk[2] > 0.999).to(valid.dtype))
    with torch.autocast(output.device.type, enabled=False):
        error = (output.float() - target.float()).abs()
        pixel = {"valid": (valid * error).mean(), "hole": ((1.0 - valid) * error).mean()}
        weights = LossWeights()
        total = total + weights.valid * pixel["valid"] + weights.hole * pixel["hole"]
    return total, terms | {name: value.item() for name, value in pixel.items()}


@dataclass(frozen=True)
class _Validation:
    """The fixed validation crops (N, 3, H, W) and their valid masks (N, 1, H, W), :data:`VALIDATION_PER_BIN` of
    each hole size in the order of RATIO_BINS."""

    image: Tensor
    valid: Tensor


def _validation_set(photos: Photos, device: str, memory_format: torch.memory_format) -> _Validation:
    masks = validation_masks((photos.crop, photos.crop), VALIDATION_PER_BIN, VALIDATION_SEED)
    holes = np.stack([hole for size in RATIO_BINS for hole in masks[size]])
    return _Validation(*_tensors(photos.validation_crops(len(holes), VALIDATION_SEED), holes, device, memory_format))


def _validate(
    net: PConvUNet, criterion: InpaintingLoss, batch: _Validation, loss_size: int, bfloat16: bool
) -> tuple[dict[str, Any], np.ndarray]:
    """The validation losses (overall and per hole size) and the hole's mean absolute error per hole size, and a
    sample: a row per hole size of the input with its hole in white, the filled result and the photograph."""
    net.eval()
    image, valid = batch.image, batch.valid
    losses, errors, rows = {}, {}, []
    with torch.no_grad(), autocast(image, bfloat16):
        output = net(image, valid)
        for index, (low, high) in enumerate(RATIO_BINS):
            part = slice(index * VALIDATION_PER_BIN, (index + 1) * VALIDATION_PER_BIN)
            label = f"{low:.0%}-{high:.0%}"
            losses[label] = _loss(criterion, output[part], image[part], valid[part], loss_size)[0].item()
            hole = 1.0 - valid[part]
            errors[label] = ((output[part].float() - image[part]).abs() * hole).sum().item() / (3 * hole.sum().item())
            first = slice(part.start, part.start + 1)
            filled = composite(output[first].float().clamp(0.0, 1.0), image[first], valid[first])
            masked = torch.where(valid[first] > 0.5, image[first], torch.ones_like(image[first]))
            rows.append(torch.cat([masked, filled, image[first]], dim=3))
    net.train()
    info = {"loss": sum(losses.values()) / len(losses), "loss_by_hole": losses, "hole_l1": errors}
    return info, tensor_to_image(torch.cat(rows, dim=2))
