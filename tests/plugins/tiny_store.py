"""A model store holding one tiny random network under a catalog id, for plugin tests."""

from collections.abc import Callable, Mapping
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from studio.core.models.spec import IMAGENET, ModelSpec, UserFile
from studio.core.models.store import ModelStore


def tiny_store(
    folder: Path,
    builder: str,
    build: Callable[[], nn.Module],
    taps: Mapping[str, str],
    *,
    seed: int = 0,
    model_id: str = "vgg16",
) -> ModelStore:
    """A store in ``folder`` whose ``model_id`` is ``build()`` with weights fixed by ``seed`` (``builder`` names it)."""
    spec = ModelSpec(
        id=model_id,
        title=f"Tiny {model_id}",
        description="a test network",
        builder=builder,
        sources=(UserFile("tiny.safetensors", "tiny test weights"),),
        license="MIT (test weights)",
        provenance="made by the tests",
        size_mb=0.01,
        normalization=IMAGENET,
        taps=dict(taps),
    )
    torch.manual_seed(seed)
    weights = folder / "tiny.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in build().state_dict().items()}, weights)
    models = ModelStore(folder / "models", specs={model_id: spec})
    models.import_file(model_id, weights)
    return models
