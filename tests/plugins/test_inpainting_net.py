"""The partial-convolution inpainting network, its training masks and its loss.

The partial convolution is checked against the paper's formula evaluated window by window with a mask per input
channel. The loss uses a tiny VGG16-shaped network with fixed random weights, installed as "vgg16" in a temporary
model store, whose taps sit at VGG16's module indices.
"""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from studio_plugins.inpainting.loss import InpaintingLoss, LossWeights
from studio_plugins.inpainting.masks import (
    RATIO_BINS,
    brush_stroke,
    random_mask,
    scratch,
    valid_mask,
    validation_masks,
)
from studio_plugins.inpainting.net import NetConfig, PartialConv2d, PConvUNet, composite
from tiny_store import tiny_store
from torch import nn

from studio.core.models.catalog import VGG16_TAPS

TINY = NetConfig(levels=3, width=4)


def tiny_vgg16() -> nn.Sequential:
    """VGG16's first three blocks with few channels: relu1_2, relu2_2 and relu3_3 at modules 3, 8 and 15."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 0-4
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 5-9
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),  # 10-13
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14-16
    )  # fmt: skip


@pytest.fixture(scope="module")
def criterion(tmp_path_factory) -> InpaintingLoss:
    store = tiny_store(
        tmp_path_factory.mktemp("inpainting-store"), "test_inpainting_net:tiny_vgg16", tiny_vgg16, VGG16_TAPS, seed=5
    )
    return InpaintingLoss(store, "cpu")


def reference_pconv(x, mask, weight, bias, stride, padding):
    """The paper's partial convolution, window by window: ``mask`` has one channel per channel of ``x``."""
    n, channels, height, width = x.shape
    size = weight.shape[-1]
    xs = F.pad(x * mask, [padding] * 4)
    ms = F.pad(mask, [padding] * 4)
    rows = (height + 2 * padding - size) // stride + 1
    cols = (width + 2 * padding - size) // stride + 1
    out = torch.zeros(n, weight.shape[0], rows, cols, dtype=x.dtype)
    new_mask = torch.zeros(n, 1, rows, cols, dtype=x.dtype)
    for b in range(n):
        for i in range(rows):
            for j in range(cols):
                window = (slice(i * stride, i * stride + size), slice(j * stride, j * stride + size))
                valid = ms[b, :, window[0], window[1]].sum()
                if valid > 0:
                    product = (weight * xs[b, :, window[0], window[1]]).sum(dim=(1, 2, 3))
                    out[b, :, i, j] = product * (channels * size * size) / valid + bias
                    new_mask[b, 0, i, j] = 1.0
    return out, new_mask


def layer(in_channels, out_channels, size, stride=1, padding=None, seed=0):
    torch.manual_seed(seed)
    conv = PartialConv2d(in_channels, out_channels, size, stride, padding).double()
    with torch.no_grad():
        conv.bias.normal_()
    return conv


def holed(shape, seed, box=None):
    """A random 0/1 mask of ``shape`` (about a third holes) with an optional all-hole box (top, bottom, left, right)."""
    generator = torch.Generator().manual_seed(seed)
    mask = (torch.rand(shape, generator=generator, dtype=torch.float64) > 0.35).double()
    if box is not None:
        top, bottom, left, right = box
        mask[..., top:bottom, left:right] = 0.0
    return mask


@pytest.mark.parametrize(
    ("channels", "mask_channels", "size", "stride", "box"),
    [
        (3, 3, 3, 1, None),  # a mask per channel
        (4, 1, 3, 1, (2, 9, 3, 10)),  # one shared mask with windows that see only hole
        (3, 3, 5, 2, (0, 7, 0, 6)),  # stride 2, 5x5, the hole on the border
        (5, 5, 7, 2, (4, 12, 4, 12)),  # the encoder's first layer shape
    ],
)
def test_partial_conv_matches_the_papers_formula(channels, mask_channels, size, stride, box):
    x = torch.randn(2, channels, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mask = holed((2, mask_channels, 12, 12), seed=2, box=box)
    conv = layer(channels, 6, size, stride)
    out, new_mask = conv(x, mask)
    expected, expected_mask = reference_pconv(x, mask.expand_as(x), conv.conv.weight, conv.bias, stride, size // 2)
    assert out.shape == expected.shape and new_mask.shape == expected_mask.shape
    torch.testing.assert_close(new_mask.double(), expected_mask, rtol=0, atol=0)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-9)
    if box is not None:
        assert (new_mask == 0).any(), "the hole should leave windows with no valid input"
        assert torch.equal(out * (1 - new_mask), torch.zeros_like(out)), "windows without a valid input give 0"


def test_partial_conv_of_concatenated_tensors_with_their_own_masks():
    generator = torch.Generator().manual_seed(3)
    upsampled = torch.randn(2, 3, 10, 10, dtype=torch.float64, generator=generator)
    skip = torch.randn(2, 2, 10, 10, dtype=torch.float64, generator=generator)
    up_mask = holed((2, 1, 10, 10), seed=4, box=(0, 5, 0, 10))
    skip_mask = holed((2, 1, 10, 10), seed=5, box=(3, 10, 0, 4))
    conv = layer(5, 4, 3)
    out, new_mask = conv([upsampled, skip], [up_mask, skip_mask])
    per_channel = torch.cat([up_mask.expand(-1, 3, -1, -1), skip_mask.expand(-1, 2, -1, -1)], dim=1)
    expected, expected_mask = reference_pconv(
        torch.cat([upsampled, skip], dim=1), per_channel, conv.conv.weight, conv.bias, 1, 1
    )
    torch.testing.assert_close(new_mask.double(), expected_mask, rtol=0, atol=0)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-9)


def test_partial_conv_of_a_fully_valid_input_is_a_plain_convolution():
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    ones = torch.ones(2, 1, 9, 9, dtype=torch.float64)
    unpadded = layer(3, 5, 3, stride=2, padding=0)
    out, new_mask = unpadded(x, ones)
    torch.testing.assert_close(out, F.conv2d(x, unpadded.conv.weight, unpadded.bias, stride=2))
    assert bool((new_mask == 1).all())
    padded = layer(3, 5, 3)
    out, _ = padded(x, ones)
    plain = F.conv2d(x, padded.conv.weight, padded.bias, padding=1)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1])
    corner = (plain[..., 0, 0] - padded.bias) * 9 / 4 + padded.bias  # the padding counts as hole
    torch.testing.assert_close(out[..., 0, 0], corner)


def test_partial_conv_rejects_mismatched_inputs():
    conv = PartialConv2d(4, 2, 3)
    with pytest.raises(ValueError, match="reads 4 channels"):
        conv(torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="give 1 or as many"):
        conv(torch.zeros(1, 4, 8, 8), torch.ones(1, 2, 8, 8))
    with pytest.raises(ValueError, match="2 feature tensors come with 1 masks"):
        conv([torch.zeros(1, 2, 8, 8)] * 2, [torch.ones(1, 1, 8, 8)])


def test_config_follows_the_paper():
    assert NetConfig(levels=8, width=64).channels == (64, 128, 256, 512, 512, 512, 512, 512)
    assert NetConfig().multiple == 64
    net = PConvUNet(NetConfig(levels=5, width=4))
    assert [block.conv.conv.kernel_size[0] for block in net.encoder] == [7, 5, 5, 3, 3]
    assert [block.conv.conv.stride[0] for block in net.encoder] == [2] * 5
    assert net.encoder[0].norm is None and all(block.norm is not None for block in net.encoder[1:])
    assert isinstance(net.decoder[-1].conv, PartialConv2d) and net.decoder[-1].conv.conv.in_channels == 4 + 3
    assert net.decoder[-1].norm is None and net.decoder[-1].activation is None
    assert net.parameter_count() == sum(p.numel() for p in net.parameters())
    assert PConvUNet(NetConfig(levels=5, width=8)).parameter_count() > net.parameter_count()
    with pytest.raises(ValueError):
        NetConfig(levels=0)


def batch(size=32, n=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=generator)
    hole = np.stack([random_mask(np.random.default_rng(seed + i), (size, size), (0.2, 0.3)) for i in range(n)])
    valid = torch.from_numpy(valid_mask(hole))[:, None]
    return image, valid


def test_unet_output_shape_and_size_check():
    net = PConvUNet(TINY)
    image, valid = batch()
    out = net(image, valid)
    assert out.shape == image.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 36, 32), torch.ones(1, 1, 36, 32))
    with pytest.raises(ValueError, match="mask has shape"):
        net(image, valid[:, :, :16])


@pytest.mark.parametrize("training", [False, True])
def test_unet_never_reads_the_pixels_in_the_hole(training):
    torch.manual_seed(0)
    net = PConvUNet(TINY).train(training)
    image, valid = batch(seed=1)
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(9)) * 100.0
    other = torch.where(valid > 0, image, noise)
    assert not torch.equal(other, image)
    with torch.no_grad():
        assert torch.equal(net(image, valid), net(other, valid))
    # Sanity: the valid pixels do matter.
    with torch.no_grad():
        assert not torch.equal(net(image, valid), net(image.flip(3), valid))


def encoder_and_decoder_norms(net):
    encoder = [m for m in net.encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    decoder = [m for m in net.decoder.modules() if isinstance(m, nn.BatchNorm2d)]
    return encoder, decoder


def test_freeze_encoder_norm_keeps_its_statistics_through_training():
    net = PConvUNet(TINY)
    image, valid = batch()
    net.train()
    net(image, valid)  # move the running statistics away from their initial values
    net.freeze_encoder_norm()
    net.eval()
    net.train()
    encoder, decoder = encoder_and_decoder_norms(net)
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in encoder]
    decoder_before = [m.running_mean.clone() for m in decoder]
    out = net(image * 0.5 + 0.3, valid)
    out.mean().backward()
    for module, (mean, var) in zip(encoder, before, strict=True):
        assert not module.training
        assert torch.equal(module.running_mean, mean) and torch.equal(module.running_var, var)
        assert not module.weight.requires_grad and module.weight.grad is None
    assert all(m.training for m in decoder)
    assert any(not torch.equal(m.running_mean, old) for m, old in zip(decoder, decoder_before, strict=True))
    assert net.encoder[1].conv.conv.weight.grad is not None


def test_unet_under_bfloat16_autocast_and_channels_last():
    net = PConvUNet(TINY).eval()
    image, valid = batch(seed=2)
    with torch.no_grad():
        reference = net(image, valid)
    net = net.to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        out = net(image.contiguous(memory_format=torch.channels_last), valid)
    assert out.shape == reference.shape and torch.isfinite(out).all()
    assert (out.float() - reference).abs().max() < 0.1 * reference.abs().max()
    net.train()
    with torch.autocast("cpu", torch.bfloat16):
        loss = net(image.contiguous(memory_format=torch.channels_last), valid).float().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_composite_keeps_the_valid_pixels():
    image, valid = batch()
    output = torch.full_like(image, 0.5)
    filled = composite(output, image, valid)
    assert torch.equal(filled * valid, image * valid)
    assert torch.equal(filled * (1 - valid), output * (1 - valid))


# Masks


def ratio(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask)) / mask.size


@pytest.mark.parametrize("size", [(64, 64), (96, 160), (256, 256)])
def test_validation_masks_land_in_their_bins_and_repeat(size):
    masks = validation_masks(size, per_bin=3, seed=7)
    assert tuple(masks) == RATIO_BINS
    for (low, high), bin_masks in masks.items():
        assert len(bin_masks) == 3
        for mask in bin_masks:
            assert mask.shape == size and mask.dtype == bool
            assert low <= ratio(mask) <= high, (size, low, high, ratio(mask))
    again = validation_masks(size, per_bin=3, seed=7)
    assert all(np.array_equal(a, b) for key in masks for a, b in zip(masks[key], again[key], strict=True))
    other = validation_masks(size, per_bin=3, seed=8)
    assert not all(np.array_equal(a, b) for key in masks for a, b in zip(masks[key], other[key], strict=True))


def test_random_mask_reaches_narrow_and_wide_ranges():
    rng = np.random.default_rng(11)
    for bounds in ((0.01, 0.02), (0.55, 0.6), (0.05, 0.05 + 1 / 4096)):
        mask = random_mask(rng, (64, 64), bounds)
        assert bounds[0] <= ratio(mask) <= bounds[1]
    with pytest.raises(ValueError):
        random_mask(rng, (64, 64), (0.5, 0.4))
    with pytest.raises(ValueError, match="no 8x8 mask"):
        random_mask(rng, (8, 8), (0.501, 0.502))


def survives_erosion(mask: np.ndarray) -> float:
    """The share of a shape's pixels more than about 2.5 px from its edge."""
    eroded = cv2.erode(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return np.count_nonzero(eroded) / max(np.count_nonzero(mask), 1)


def test_brush_strokes_are_wide_and_scratches_thin():
    rng = np.random.default_rng(12)
    strokes = [survives_erosion(brush_stroke(rng, (256, 256))) for _ in range(20)]
    scratches = [survives_erosion(scratch(rng, (256, 256))) for _ in range(20)]
    assert min(strokes) > 0.4
    assert np.mean(scratches) < 0.1
    assert max(scratches) < min(strokes)


def test_valid_mask_is_one_outside_the_hole():
    hole = np.zeros((4, 5), bool)
    hole[1:3, 2:4] = True
    valid = valid_mask(hole)
    assert valid.dtype == np.float32
    assert np.array_equal(valid, np.where(hole, 0.0, 1.0).astype(np.float32))


# Loss


def test_loss_is_zero_for_a_perfect_output(criterion):
    target, valid = batch()
    total, terms = criterion(target.clone(), target, valid)
    assert set(terms) == {"valid", "hole", "perceptual", "style", "tv"}
    assert all(isinstance(value, float) for value in terms.values())
    for name in ("valid", "hole", "perceptual", "style"):
        assert terms[name] == 0.0, name
    assert terms["tv"] > 0.0  # the ground truth has texture in the hole
    assert float(total) == pytest.approx(0.1 * terms["tv"], rel=1e-6)


def test_hole_and_valid_terms_read_only_their_pixels(criterion):
    target, valid = batch(seed=1)
    hole = 1 - valid
    _, outside = criterion(target + 0.1 * valid, target, valid)
    assert outside["hole"] == 0.0 and outside["valid"] == pytest.approx(0.1 * float(valid.mean()), rel=1e-5)
    _, inside = criterion(target + 0.1 * hole, target, valid)
    assert inside["valid"] == 0.0 and inside["hole"] == pytest.approx(0.1 * float(hole.mean()), rel=1e-5)
    # The composite ignores the output outside the hole; only the output's own features see it.
    assert outside["perceptual"] > 0.0 and outside["tv"] == pytest.approx(criterion(target, target, valid)[1]["tv"])


def test_total_variation_stays_within_the_dilated_hole(criterion):
    target = torch.full((1, 3, 32, 32), 0.5)
    valid = torch.ones(1, 1, 32, 32)
    valid[..., 12:20, 12:20] = 0.0
    output = torch.full_like(target, 0.5)
    far = torch.ones(1, 1, 32, 32)
    far[..., 9:23, 9:23] = 0.0  # more than one pixel from the hole
    noisy = target + 0.3 * far * torch.rand(target.shape, generator=torch.Generator().manual_seed(0))
    assert criterion(output, noisy, valid)[1]["tv"] == 0.0
    ring = target.clone()
    ring[..., 11, 11:21] = 1.0  # the dilation's edge
    assert criterion(output, ring, valid)[1]["tv"] > 0.0


def test_loss_weights_and_gradients(criterion):
    target, valid = batch(seed=2)
    output = (target + 0.2 * torch.randn(target.shape, generator=torch.Generator().manual_seed(3))).requires_grad_()
    total, terms = criterion(output, target, valid)
    weights = LossWeights()
    expected = sum(getattr(weights, name) * value for name, value in terms.items())
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    assert all(value > 0 for value in terms.values())
    total.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert output.grad[(valid > 0).expand_as(output)].abs().sum() > 0  # the output's own features see valid pixels
    assert all(p.grad is None and not p.requires_grad for p in criterion.features.parameters())


def test_loss_under_bfloat16_autocast_sums_in_float32(criterion):
    target, valid = batch(seed=3)
    output = (target + 0.2 * torch.randn(target.shape, generator=torch.Generator().manual_seed(4))).requires_grad_()
    exact, exact_terms = criterion(output, target, valid)
    with torch.autocast("cpu", torch.bfloat16):
        total, terms = criterion(output, target, valid)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    assert terms["valid"] == exact_terms["valid"] and terms["hole"] == exact_terms["hole"]
    assert float(total.detach()) == pytest.approx(float(exact.detach()), rel=0.1)
    total.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
