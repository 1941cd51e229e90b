"""The probe plugin's trainer: teaches ProbeNet to remove noise from crops of a folder of pictures.

It uses the whole long-job contract: resume from the last checkpoint, checkpoints
when due, an early end when the time is up, sample previews, and the weights as
the final output.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import safetensors.torch
import torch

from probe_plugin.models import build
from studio.core.image import ImageError, load_image, to_uint8
from studio.core.jobs import Frame
from studio.core.outputs import Output
from studio.core.params import Param
from studio.core.training import TrainContext, restore_training_state, training_state

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


@dataclass
class TrainParams:
    steps: Annotated[int, Param("Training steps", min=1, max=1_000_000)] = 400
    batch: Annotated[int, Param("Crops per step", min=1, max=256)] = 8
    crop: Annotated[int, Param("Crop side in pixels", min=4, max=512)] = 24
    learning_rate: Annotated[float, Param("Adam learning rate", min=1e-6, max=1.0)] = 3e-3
    noise: Annotated[float, Param("Strength of the noise the network learns to remove", min=0, max=1)] = 0.1
    sample_every: Annotated[int, Param("Steps between sample previews", min=1, max=1_000_000)] = 100
    seed: Annotated[int, Param("Initial weights and crops", min=0, max=2**31 - 1, role="seed")] = 0


def train(params: TrainParams, data: Path, ctx: TrainContext) -> Iterator[Frame]:
    """Train ProbeNet as a denoiser; crops depend on the seed and the step only, so a resumed run sees the same."""
    pictures = _load_pictures(data, params.crop)
    torch.manual_seed(params.seed)
    net = build().to(ctx.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
    nets, optimizers = {"net": net}, {"optimizer": optimizer}
    step = 0
    state = ctx.resume_state()
    if state is not None:
        restore_training_state(state, nets, optimizers)
        step = state.step
    shown = _batch(pictures, params, torch.Generator().manual_seed(params.seed))
    loss = float("nan")

    def checkpoint() -> None:
        tensors, optimizers_rest = training_state(nets, optimizers)
        ctx.save_checkpoint(tensors, {"step": step, "loss": loss} | optimizers_rest)

    while step < params.steps and not ctx.time_up():
        ctx.check_cancelled()
        noisy, clean = _batch(pictures, params, torch.Generator().manual_seed(params.seed * 1_000_003 + step))
        error = torch.nn.functional.mse_loss(net(noisy.to(ctx.device)), clean.to(ctx.device))
        optimizer.zero_grad()
        error.backward()
        optimizer.step()
        step += 1
        loss = error.item()
        if ctx.checkpoint_due():
            checkpoint()
        info = {"step": step, "loss": loss}
        if step % params.sample_every == 0:
            yield ctx.frame(step / params.steps, _sample(net, shown, ctx.device), message=f"step {step}", info=info)
        elif ctx.preview_due():
            yield ctx.frame(step / params.steps, message=f"step {step}, loss {loss:.5f}", info=info)
    checkpoint()
    weights = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    ctx.emit(Output("model.safetensors", data=safetensors.torch.save(weights)))
    yield ctx.frame(
        1.0,
        _sample(net, shown, ctx.device),
        final=True,
        message=f"trained {step} steps, loss {loss:.5f}",
        info={"step": step, "loss": loss, "model": {"base": "probe_net"}},
    )


def _load_pictures(data: Path, crop: int) -> list[torch.Tensor]:
    """Every picture of the folder decoded into memory, RGB float (3, H, W), each at least ``crop`` wide and high."""
    files = sorted(p for p in Path(data).iterdir() if p.suffix.lower() in SUFFIXES) if Path(data).is_dir() else []
    pictures = []
    for path in files:
        try:
            pixels = to_uint8(load_image(path).pixels)[..., :3]
        except ImageError:
            continue
        if min(pixels.shape[:2]) >= crop:
            pictures.append(torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous())
    if not pictures:
        raise ValueError(f"{data} holds no picture of at least {crop}x{crop} pixels to train on")
    return pictures


def _batch(
    pictures: list[torch.Tensor], params: TrainParams, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``params.batch`` random crops, and the same with noise: (noisy, clean)."""
    crops = []
    for _ in range(params.batch):
        picture = pictures[int(torch.randint(len(pictures), (), generator=generator))]
        top = int(torch.randint(picture.shape[1] - params.crop + 1, (), generator=generator))
        left = int(torch.randint(picture.shape[2] - params.crop + 1, (), generator=generator))
        crops.append(picture[:, top : top + params.crop, left : left + params.crop])
    clean = torch.stack(crops)
    noisy = (clean + params.noise * torch.randn(clean.shape, generator=generator)).clamp(0.0, 1.0)
    return noisy, clean


def _sample(net: torch.nn.Module, shown: tuple[torch.Tensor, torch.Tensor], device: str) -> np.ndarray:
    """The noisy crops above what the network makes of them, as one RGB picture."""
    noisy, _ = shown
    with torch.no_grad():
        cleaned = net(noisy.to(device)).cpu()
    rows = [torch.cat(list(images), dim=2) for images in (noisy, cleaned)]
    grid = torch.cat(rows, dim=1).clamp(0.0, 1.0)
    return np.ascontiguousarray((grid.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8))
