"""The fused ReLU after a 2 x 2 max-pool (studio/core/nets/_relu_max_pool.c): PyTorch's values and gradients."""

import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from studio.core.nets import relu_max_pool
from studio.core.nets.relu_max_pool import ReluMaxPool, fused_available


@pytest.fixture(autouse=True)
def built() -> None:
    if not fused_available():
        if os.environ.get("CI"):
            pytest.fail("the fused ReLU and max-pool library was not built: pip install -e . needs a C compiler")
        pytest.skip("the fused ReLU and max-pool library is not built (no C compiler at install time)")


def pair() -> ReluMaxPool:
    return ReluMaxPool(nn.MaxPool2d(2), nn.ReLU())


def both_ways(module: nn.Module, image: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Output, input gradient and the name of the backward node of ``module`` on ``image``."""
    variable = image.detach().clone().requires_grad_(True)
    output = module(variable)
    output.backward(grad)
    return output, variable.grad, type(output.grad_fn).__name__


def reference(image: torch.Tensor) -> torch.Tensor:
    return F.relu(F.max_pool2d(image, 2))


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 40),
    height=st.integers(2, 13),
    width=st.integers(2, 13),
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
    levels=st.sampled_from([3, 1000]),
    nans=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_values_and_gradients_are_pytorchs_to_the_bit(batch, channels, height, width, dtype, levels, nans, seed):
    generator = torch.Generator().manual_seed(seed)
    # Few levels make ties and zeros common; odd sizes leave a row or column outside every window.
    values = torch.randint(-levels, levels + 1, (batch, channels, height, width), generator=generator) / levels
    if nans:
        values[torch.rand(values.shape, generator=generator) < 0.05] = float("nan")
    image = values.to(dtype).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(batch, channels, height // 2, width // 2, generator=generator).to(dtype)
    output, gradient, node = both_ways(pair(), image, grad)
    expected, expected_gradient, _ = both_ways(reference, image, grad)
    assert node == "_FusedReluMaxPoolBackward"
    assert torch.equal(output.isnan(), expected.isnan()) and torch.equal(output.nan_to_num(), expected.nan_to_num())
    assert torch.equal(gradient, expected_gradient)
    assert output.dtype == dtype and output.is_contiguous(memory_format=torch.channels_last)
    assert gradient.is_contiguous(memory_format=torch.channels_last)


def test_large_tensors_split_into_bands_across_threads_give_the_same_result():
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        image = torch.randn(2, 64, 130, 98).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        grad = torch.randn(2, 64, 65, 49).to(torch.bfloat16)
        output, gradient, node = both_ways(pair(), image, grad)
    finally:
        torch.set_num_threads(threads)
    expected, expected_gradient, _ = both_ways(reference, image, grad)
    assert node == "_FusedReluMaxPoolBackward"
    assert torch.equal(output, expected) and torch.equal(gradient, expected_gradient)
    # A quarter of the inputs get a gradient, less the windows whose maximum the ReLU cut (1 in 16 for noise).
    assert 0.75 < (gradient == 0).float().mean() < 0.8


@pytest.mark.parametrize(
    "pool, image",
    [
        (nn.MaxPool2d(2), torch.randn(1, 5, 8, 6)),  # the default order: PyTorch's operations
        (nn.MaxPool2d(2), torch.randn(1, 5, 8, 6, dtype=torch.float64).contiguous(memory_format=torch.channels_last)),
        (nn.MaxPool2d(3), torch.randn(1, 5, 9, 6).contiguous(memory_format=torch.channels_last)),
        (nn.MaxPool2d(2, ceil_mode=True), torch.randn(1, 5, 9, 7).contiguous(memory_format=torch.channels_last)),
        (nn.MaxPool2d(2, padding=1), torch.randn(1, 5, 8, 6).contiguous(memory_format=torch.channels_last)),
    ],
)
def test_other_pools_and_tensors_run_pytorchs_own_operations(pool, image):
    grad_shape = F.relu(pool(image)).shape
    grad = torch.randn(grad_shape).to(image.dtype)
    output, gradient, node = both_ways(ReluMaxPool(pool, nn.ReLU()), image, grad)
    expected, expected_gradient, _ = both_ways(lambda x: F.relu(pool(x)), image, grad)
    assert node == "ReluBackward0" and output.shape == grad_shape
    assert torch.equal(output, expected) and torch.equal(gradient, expected_gradient)


def test_without_gradients_only_the_values_are_computed():
    image = torch.randn(1, 8, 10, 10).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        output = pair()(image)
    assert output.grad_fn is None and torch.equal(output, reference(image))


def test_without_the_library_pytorchs_operations_run(monkeypatch):
    monkeypatch.setattr(relu_max_pool, "_LIBRARY", None)
    assert not relu_max_pool.fused_available()
    image = torch.randn(1, 8, 10, 10).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(1, 8, 5, 5).to(torch.bfloat16)
    output, gradient, node = both_ways(pair(), image, grad)
    expected, expected_gradient, _ = both_ways(reference, image, grad)
    assert node == "ReluBackward0"
    assert torch.equal(output, expected) and torch.equal(gradient, expected_gradient)
