"""A ReLU after a 2 x 2 max-pool as one pass over memory, forward and backward, on channels-last CPU tensors.

In VGG-style networks every untapped ReLU before a max-pool runs after it (see
:class:`studio.core.nets.features.FeatureExtractor`). PyTorch runs the pair as
separate passes: the pool writes int64 indices, its backward first fills the
whole input gradient with zeros, and the ReLU reads and writes everything once
more each way. At 512 px those passes at VGG's first pool took about 18 ms of a
180 ms bfloat16 optimise step. The C library built from ``_relu_max_pool.c``
(setup.py, optional) does each direction in one pass with a byte per output
value; the values and gradients are PyTorch's to the bit. Where it is not built,
or for other tensors (CUDA, NCHW, float16), PyTorch's operations run.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable

log = logging.getLogger(__name__)

_DTYPES = {torch.bfloat16: "bfloat16", torch.float32: "float32"}
_MIN_VALUES_PER_BAND = 1 << 16


def _load_library() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("studio.core.nets._relu_max_pool")
    if spec is None or spec.origin is None:
        log.info(
            "the fused ReLU and max-pool is not built (no C compiler when Studio was installed): PyTorch's operations"
            " run instead, a tenth slower in optimise mode; install a C compiler and run pip install -e . again"
        )
        return None
    library = ctypes.CDLL(spec.origin)
    for direction in ("forward", "backward"):
        for name in _DTYPES.values():
            kernel = getattr(library, f"relu_max_pool_{direction}_{name}")
            kernel.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 5
            kernel.restype = None
    return library


_LIBRARY = _load_library()


def fused_available() -> bool:
    """Whether the fused kernels were built with Studio."""
    return _LIBRARY is not None


@cache
def _threads(count: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(count, thread_name_prefix="relu-max-pool")


def _run(direction: str, dtype: torch.dtype, rows: int, values: int, *arguments: int) -> None:
    """Run one kernel over ``rows`` rows, in bands on torch's number of threads (ctypes releases the GIL)."""
    assert _LIBRARY is not None
    kernel = getattr(_LIBRARY, f"relu_max_pool_{direction}_{_DTYPES[dtype]}")
    bands = max(1, min(torch.get_num_threads(), rows, values // _MIN_VALUES_PER_BAND))
    if bands == 1:
        kernel(*arguments, 0, rows)
        return
    edges = [rows * band // bands for band in range(bands + 1)]
    pool = _threads(bands)
    for done in [pool.submit(kernel, *arguments, first, end) for first, end in pairwise(edges)]:
        done.result()


class _FusedReluMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, image: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        batch, channels, height, width = image.shape
        output = torch.empty(
            (batch, channels, height // 2, width // 2), dtype=image.dtype, memory_format=torch.channels_last
        )
        source = torch.empty((batch, height // 2, width // 2, channels), dtype=torch.uint8)
        _run("forward", image.dtype, batch * (height // 2), output.numel(),
             image.data_ptr(), output.data_ptr(), source.data_ptr(), height, width, channels)  # fmt: skip
        ctx.save_for_backward(source)
        ctx.input_shape = image.shape  # type: ignore[attr-defined]
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        (source,) = ctx.saved_tensors
        batch, channels, height, width = ctx.input_shape
        grad_output = grad_output.contiguous(memory_format=torch.channels_last)
        grad_input = torch.empty(
            (batch, channels, height, width), dtype=grad_output.dtype, memory_format=torch.channels_last
        )
        _run("backward", grad_output.dtype, batch * height, grad_input.numel(),
             grad_output.data_ptr(), source.data_ptr(), grad_input.data_ptr(), height, width, channels)  # fmt: skip
        return grad_input


class ReluMaxPool(nn.Module):
    """``relu(pool(x))``: fused where the pool is 2 x 2 of stride 2 and ``x`` a channels-last bfloat16 or float32
    CPU tensor and the library is built; ``pool`` and ``relu`` as they are otherwise."""

    def __init__(self, pool: nn.MaxPool2d, relu: nn.ReLU) -> None:
        super().__init__()
        self.pool = pool
        self.relu = relu
        self.fusable_pool = (
            _as_pair(pool.kernel_size) == (2, 2)
            and _as_pair(pool.stride or pool.kernel_size) == (2, 2)
            and _as_pair(pool.padding) == (0, 0)
            and _as_pair(pool.dilation) == (1, 1)
            and not pool.ceil_mode
            and not pool.return_indices
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if (
            _LIBRARY is not None
            and self.fusable_pool
            and image.device.type == "cpu"
            and image.dtype in _DTYPES
            and image.dim() == 4
            and image.is_contiguous(memory_format=torch.channels_last)
            and min(image.shape[-2:]) >= 2
        ):
            return _FusedReluMaxPool.apply(image)
        return self.relu(self.pool(image))


def _as_pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)
