"""studio.core.tiling (pyramids, shifted tiles, smoothing) and studio.core.nets.features (taps, statistics)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.core import tiling
from studio.core.models.spec import IMAGENET
from studio.core.nets.features import (
    FeatureExtractor,
    feature_mse,
    gram_matrix,
    image_to_tensor,
    masked_gram_matrix,
    tensor_to_image,
)
from studio.core.nets.relu_max_pool import fused_available


def test_pyramid_sizes_end_at_the_image_and_shrink_by_the_factor():
    sizes = tiling.pyramid_sizes(1000, 600, factor=2.0, count=3)
    assert sizes == [(250, 150), (500, 300), (1000, 600)]
    assert tiling.pyramid_sizes(100, 80, factor=1.4, count=9, min_side=64) == [(100, 80)]
    assert len(tiling.pyramid_sizes(1024, 1024, factor=1.4, min_side=64)) == 9
    with pytest.raises(ValueError, match="above 1"):
        tiling.pyramid_sizes(10, 10, factor=1.0)


def test_split_iterations_sums_to_the_total_with_most_at_the_coarse_scales():
    counts = tiling.split_iterations(100, 4, ratio=0.5)
    assert counts == [55, 26, 13, 6]
    assert tiling.split_iterations(7, 4, ratio=0.1) == [4, 1, 1, 1], "every scale gets one"


@pytest.mark.parametrize("offset", [(0, 0), (5, 17), (31, 1)])
def test_a_shifted_grid_covers_every_pixel_exactly_once(offset):
    grid = tiling.TileGrid(100, 70, 32, offset)
    cover = np.zeros((70, 100), int)
    for x0, y0, x1, y1 in grid:
        assert 0 < x1 - x0 <= 32 and 0 < y1 - y0 <= 32
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()
    first = next(iter(grid))
    assert first[2:] == (offset[0] or 32, offset[1] or 32), "the borders move with the offset"


def test_tiled_map_with_context_equals_the_whole_image_computation():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 90, 130)

    def blur(patch, _box):
        return F.avg_pool2d(F.pad(patch, (2, 2, 2, 2), mode="replicate"), 5, 1)

    whole = blur(image, None)
    tiled = tiling.tiled_map(image, blur, tiling.TileGrid(130, 90, 40, (7, 23)), margin=2)
    torch.testing.assert_close(tiled, whole)


def test_tiled_map_with_a_shift_equals_rolling_there_and_back():
    torch.manual_seed(1)
    image = torch.rand(1, 2, 50, 70)
    grid = tiling.TileGrid(70, 50, 16, (5, 7))

    def blur(patch, _box):
        return F.avg_pool2d(F.pad(patch, (1, 1, 1, 1), mode="replicate"), 3, 1)

    rolled = torch.roll(image, (-9, 13), (-2, -1))
    expected = torch.roll(tiling.tiled_map(rolled, blur, grid, 4), (9, -13), (-2, -1))
    torch.testing.assert_close(tiling.tiled_map(image, blur, grid, 4, shift=(13, -9)), expected)


def test_tiled_map_checks_between_tiles():
    calls = []
    grid = tiling.TileGrid(64, 64, 16)
    tiling.tiled_map(torch.zeros(1, 1, 64, 64), lambda p, _b: p, grid, 0, check=lambda: calls.append(1))
    assert len(calls) == len(grid) == 16


def test_random_offsets_are_seeded_and_inside_the_tile():
    a = [tiling.random_offset(np.random.default_rng(3), 64) for _ in range(3)]
    b = [tiling.random_offset(np.random.default_rng(3), 64) for _ in range(3)]
    assert a == b and all(0 <= v < 64 for offset in a for v in offset)


def test_gaussian_blur_keeps_flat_images_and_smooths_noise():
    flat = torch.full((1, 3, 20, 20), 0.3)
    torch.testing.assert_close(tiling.gaussian_blur(flat, 2.0), flat)
    noise = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert tiling.gaussian_blur(noise, 2.0).std() < 0.3 * noise.std()
    assert tiling.gaussian_blur(noise, 0.0) is noise


def test_laplacian_normalize_balances_the_frequency_bands():
    generator = torch.Generator().manual_seed(0)
    coarse = F.interpolate(torch.randn(1, 1, 8, 8, generator=generator), size=(64, 64), mode="bilinear")
    fine = 0.01 * torch.randn(1, 1, 64, 64, generator=generator)
    out = tiling.laplacian_normalize(coarse * 100 + fine, levels=4)
    assert out.shape == coarse.shape
    high = out - F.interpolate(F.avg_pool2d(out, 2), size=(64, 64), mode="bilinear")
    assert high.std() > 0.05, "the faint fine detail is no longer drowned by the strong coarse one"


class Probe(nn.Module):
    """conv -> relu -> conv -> a layer that must never run when only the first taps are needed."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1), Boom())

    def forward(self, x):
        return self.body(x)


class Boom(nn.Module):
    def forward(self, x):
        raise AssertionError("ran past the deepest tap")


def test_feature_extractor_returns_taps_by_name_and_stops_at_the_deepest():
    extractor = FeatureExtractor(Probe(), {"relu": "body.1", "conv2": "body.2"}, ["relu", "conv2"], IMAGENET)
    image = torch.rand(1, 3, 10, 10, requires_grad=True)
    features = extractor(image)
    assert features["relu"].shape == (1, 4, 8, 8) and features["conv2"].shape == (1, 2, 8, 8)
    assert (features["relu"] >= 0).all()
    features["conv2"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0, "gradients reach the input"
    assert all(not p.requires_grad for p in extractor.net.parameters())
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        FeatureExtractor(Probe(), {"relu": "body.1"}, ["nope"])


def test_channels_last_extractor_gives_the_same_activations_grams_and_gradients():
    torch.manual_seed(0)
    plain = FeatureExtractor(Probe(), {"relu": "body.1"}, ["relu"], IMAGENET)
    fast = FeatureExtractor(Probe(), {"relu": "body.1"}, ["relu"], IMAGENET, channels_last=True)
    fast.net.load_state_dict(plain.net.state_dict())
    image = torch.rand(1, 3, 12, 9)
    grams, gradients = [], []
    for extractor in (plain, fast):
        variable = image.clone().requires_grad_(True)
        feature = extractor(variable)["relu"]
        assert feature.is_contiguous(memory_format=extractor.memory_format)
        gram = gram_matrix(feature)
        gram.sum().backward()
        grams.append(gram)
        gradients.append(variable.grad)
    assert fast.net.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(grams[0], grams[1])
    torch.testing.assert_close(gradients[0], gradients[1])


@pytest.mark.parametrize("channels_last", [False, True])
def test_untapped_relus_run_after_their_max_pool_with_exactly_the_same_results(channels_last):
    torch.manual_seed(1)
    vgg_like = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # relu "1" untapped: runs after the pool
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),  # relu "4" tapped: stays
        nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), Boom(),
    )  # fmt: skip
    inputs: dict[str, tuple[int, ...]] = {}
    for path in ("1", "4", "7"):
        vgg_like.get_submodule(path).register_forward_pre_hook(
            lambda _module, args, path=path: inputs.__setitem__(path, tuple(args[0].shape))
        )
    extractor = FeatureExtractor(vgg_like, {"a": "4", "b": "8"}, ["a", "b"], IMAGENET, channels_last=channels_last)
    image = torch.rand(1, 3, 22, 18, requires_grad=True)
    features = extractor(image)
    fused = channels_last and fused_available()  # relu 1 with pool 2 as one ReluMaxPool kernel: no module runs
    assert inputs == {"4": (1, 8, 11, 9), "7": (1, 4, 6, 5)} | ({} if fused else {"1": (1, 8, 11, 9)}), "relu 1 pooled"
    (features["a"].square().sum() + features["b"].sum()).backward()

    straight = image.detach().clone().requires_grad_(True)
    activation = extractor.normalize(straight).contiguous(memory_format=extractor.memory_format)
    expected = {}
    for index, module in enumerate(list(vgg_like)[:9]):
        activation = module(activation)
        expected[str(index)] = activation
    (expected["4"].square().sum() + expected["8"].sum()).backward()
    assert torch.equal(features["a"], expected["4"]) and torch.equal(features["b"], expected["8"])
    assert torch.equal(image.grad, straight.grad)
    assert (expected["0"] < 0).any() and (expected["6"] < 0).any(), "the relus had something to cut"


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_feature_mse_is_mse_loss_in_float32_with_the_gradient_in_the_features_memory_order(memory_format):
    generator = torch.Generator().manual_seed(5)
    features = torch.randn(1, 6, 5, 7, generator=generator).contiguous(memory_format=memory_format)
    target = torch.randn(1, 6, 5, 7, generator=generator)  # contiguous whatever the features' order
    for dtype in (torch.float32, torch.bfloat16):
        ours = features.to(dtype).requires_grad_(True)
        loss = feature_mse(ours, target.to(dtype))
        (grad,) = torch.autograd.grad(loss, ours)
        reference = features.to(dtype).float().requires_grad_(True)
        expected = F.mse_loss(reference, target.to(dtype).float())
        (expected_grad,) = torch.autograd.grad(expected, reference)
        assert loss.dtype == torch.float32
        torch.testing.assert_close(loss, expected)
        torch.testing.assert_close(grad.float(), expected_grad, rtol=1e-2 if dtype == torch.bfloat16 else 1e-6, atol=0)
        assert grad.dtype == dtype and grad.is_contiguous(memory_format=memory_format)


def test_gram_matrix_is_divided_by_the_positions():
    features = torch.ones(1, 2, 3, 4)
    torch.testing.assert_close(gram_matrix(features), torch.ones(1, 2, 2))


def test_images_round_trip_through_tensors():
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    tensor = image_to_tensor(rgba)
    assert tensor.shape == (1, 3, 5, 7) and float(tensor.max()) <= 1.0
    np.testing.assert_array_equal(tensor_to_image(tensor), rgba[..., :3])


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_gradients_are_autograds_in_the_features_memory_order(channels_last):
    """The Gram's own backward gives what autograd's product gives, laid out as the features are (a channels-last
    gradient adds to the convolution's gradient without a copy)."""
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(2, 5, 6, 7, dtype=torch.float64, generator=generator)
    weight = torch.rand(2, 1, 6, 7, dtype=torch.float64, generator=generator)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    features.requires_grad_(True)
    torch.autograd.gradcheck(gram_matrix, (features,))
    torch.autograd.gradcheck(lambda f: masked_gram_matrix(f, weight), (features,))
    flat = features.reshape(2, 5, 42)
    torch.testing.assert_close(gram_matrix(features), flat @ flat.mT / 42)
    (grad,) = torch.autograd.grad(gram_matrix(features).square().sum(), features)
    assert grad.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert grad._base is None, "a tensor of its own, which autograd can add another layer's gradient into in place"
