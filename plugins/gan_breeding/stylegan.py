"""A style-based generator and its discriminator, after StyleGAN2 (Karras et al. 2020), sized for a CPU.

The generator maps a latent ``z`` (pixel-normalised) through an MLP to a style
vector ``w``; a learned 4 x 4 constant is then grown to the output resolution by
blocks of two modulated 3 x 3 convolutions (weight demodulation, per-layer noise
of learned strength), each resolution adding its RGB to the upsampled RGB of the
one before. Every convolution reads its own style vector, so ``forward`` takes
``ws`` of shape (N, num_ws, w_dim) and coarse, middle and fine levels
(:meth:`StyleGenerator.level_slices`) can come from different parents.

Modulation scales the input channels and demodulation the output channels of a
shared convolution, which equals StyleGAN2's per-sample weights and keeps the
convolution batched (fast with channels-last and bfloat16). Learning rates are
equalised (weights stored at unit variance, scaled at run time), with the
mapping network at 1/100 of the rate, as in StyleGAN. The LeakyReLUs' gain of
sqrt(2) is folded into the weights of the convolutions that read them (their
``input_gain``), which spares a pass over every feature map. Bilinear resampling
takes the place of StyleGAN2's FIR filters.

Training pieces live here too: the non-saturating logistic loss, the R1
penalty on real images, the exponential moving average of the generator, and
differentiable augmentation of what the discriminator sees.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0)  # keeps LeakyReLU activations at unit variance (folded into the next layer)
MAPPING_LR = 0.01  # the mapping network's learning rate relative to the synthesis network's
W_AVG_BETA = 0.995  # how slowly the tracked mean of w follows the batches
STDDEV_GROUP = 4  # images per minibatch-standard-deviation group
COARSE_MAX = 8  # coarse styles act on the 4 and 8 px layers; fine styles on the output resolution's
AUGMENT_SHIFT = 1 / 8  # DiffAugment's largest translation, a share of the side
AUGMENT_CUTOUT = 1 / 2  # DiffAugment's cut-out square, a share of the side


@dataclass(frozen=True)
class GeneratorConfig:
    """The networks' shape: layers at 4 to ``resolution`` px have ``channels`` channels up to 16 px and
    ``fine_channels`` above (up to 16 px, where there are none, ``fine_channels`` is ``channels``); the
    discriminator mirrors the generator."""

    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 256
    mapping_layers: int = 4
    channels: int = 128
    fine_channels: int = 64

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two of at least 8, not {self.resolution}")
        if min(self.z_dim, self.w_dim, self.mapping_layers, self.channels, self.fine_channels) < 1:
            raise ValueError(f"every size of {self} must be at least 1")
        if self.resolution <= 16:
            object.__setattr__(self, "fine_channels", self.channels)

    @property
    def resolutions(self) -> tuple[int, ...]:
        """4, 8, ... up to the output resolution."""
        return tuple(4 << level for level in range(int(math.log2(self.resolution)) - 1))

    def channels_at(self, resolution: int) -> int:
        """The channels of the layers at ``resolution`` px."""
        return self.channels if resolution <= 16 else self.fine_channels


class EqualLinear(nn.Module):
    """A fully connected layer with an equalised learning rate, optionally followed by a scaled LeakyReLU."""

    def __init__(
        self, in_features: int, out_features: int, bias_init: float = 0.0, lr: float = 1.0, activate: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr))
        self.weight_gain = lr / math.sqrt(in_features)
        self.bias_gain = lr
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, LEAKY_SLOPE) * ACTIVATION_GAIN if self.activate else x


class EqualConv2d(nn.Module):
    """A same-padded convolution with an equalised learning rate, optionally followed by a LeakyReLU whose gain is
    left to the layers that read it (see :data:`ACTIVATION_GAIN`); ``input_gain`` is the gain its input still
    owes."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        bias: bool = True,
        activate: bool = True,
        input_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.gain = input_gain / math.sqrt(in_channels * kernel * kernel)
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


class ModulatedConv2d(nn.Module):
    """A convolution plus bias whose input channels are scaled by a style (an affine map of w) and, with
    ``demodulate``, whose output channels are rescaled to the unit variance the per-sample weights would give;
    ``input_gain`` is the gain its input still owes."""

    def __init__(
        self,
        w_dim: int,
        in_channels: int,
        out_channels: int,
        kernel: int,
        demodulate: bool = True,
        input_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.input_gain = input_gain
        self.demodulate = demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        weight = self.weight * self.gain
        x = x * (styles * self.input_gain).to(x.dtype)[:, :, None, None]
        x = F.conv2d(x, weight.to(x.dtype), padding=self.weight.shape[-1] // 2)
        bias = self.bias.to(x.dtype)[None, :, None, None]
        if not self.demodulate:
            return x + bias
        with torch.autocast(x.device.type, enabled=False):
            energy = styles.float().square() @ weight.float().square().sum((2, 3)).t()
            scale = torch.rsqrt(energy + 1e-8)
        return torch.addcmul(bias, x, scale.to(x.dtype)[:, :, None, None])


class SynthesisLayer(nn.Module):
    """A modulated 3 x 3 convolution (after a 2x upsampling with ``upsample``), noise and activation (its gain left
    to the next layers)."""

    def __init__(
        self, w_dim: int, in_channels: int, out_channels: int, resolution: int, upsample: bool, input_gain: float
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(w_dim, in_channels, out_channels, 3, input_gain=input_gain)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.resolution = resolution
        self.upsample = upsample

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        """The layer's output for features ``x``, styles ``w`` (N, w_dim) and a noise map (or none)."""
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        if noise is not None:
            x = x + (noise * self.noise_strength).to(x.dtype)
        return F.leaky_relu(x, LEAKY_SLOPE)


class SynthesisBlock(nn.Module):
    """One resolution of the generator: its layers (the first upsamples, except at 4 px) and its RGB, added to
    the upsampled RGB of the resolution before."""

    def __init__(self, w_dim: int, in_channels: int, channels: int, resolution: int) -> None:
        super().__init__()
        gain = ACTIVATION_GAIN
        reads_const = resolution == 4
        first = [] if reads_const else [SynthesisLayer(w_dim, in_channels, channels, resolution, True, gain)]
        last = SynthesisLayer(w_dim, channels, channels, resolution, False, 1.0 if reads_const else gain)
        self.layers = nn.ModuleList([*first, last])
        self.to_rgb = ModulatedConv2d(w_dim, channels, 3, 1, demodulate=False, input_gain=gain)

    def forward(self, x: Tensor, rgb: Tensor | None, ws: Tensor, noise: list[Tensor | None]) -> tuple[Tensor, Tensor]:
        """The features and RGB after this block, given those before it and its layers' styles (N, layers, w_dim)."""
        for index, layer in enumerate(self.layers):
            x = layer(x, ws[:, index], noise[index])
        y = self.to_rgb(x, ws[:, -1])
        if rgb is None:
            return x, y
        return x, y + F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False).to(y.dtype)


class StyleGenerator(nn.Module):
    """Latents to images in about -1..1 through per-layer styles (see the module's docstring)."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        config = config or GeneratorConfig()
        self.config = config
        self.mapping_net = nn.Sequential(
            *(
                EqualLinear(config.z_dim if index == 0 else config.w_dim, config.w_dim, lr=MAPPING_LR, activate=True)
                for index in range(config.mapping_layers)
            )
        )
        self.const = nn.Parameter(torch.randn(config.channels_at(4), 4, 4))
        channels = [config.channels_at(resolution) for resolution in config.resolutions]
        self.blocks = nn.ModuleList(
            SynthesisBlock(config.w_dim, previous, current, resolution)
            for previous, current, resolution in zip(
                [channels[0], *channels], channels, config.resolutions, strict=False
            )
        )
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    @property
    def layers(self) -> list[SynthesisLayer]:
        """The convolution layers in order, one per style vector."""
        return [layer for block in self.blocks for layer in block.layers]

    @property
    def num_ws(self) -> int:
        """Style vectors ``forward`` reads: one per convolution layer."""
        return sum(len(block.layers) for block in self.blocks)

    def level_slices(self) -> dict[str, slice]:
        """The ws indices of each level: "coarse" (the 4 and 8 px layers), "fine" (the output resolution's) and
        "middle" (those between; empty below 32 px)."""
        resolutions = [layer.resolution for layer in self.layers]
        coarse = sum(1 for resolution in resolutions if resolution <= COARSE_MAX)
        fine = resolutions.index(self.config.resolution)
        return {"coarse": slice(0, coarse), "middle": slice(coarse, fine), "fine": slice(fine, self.num_ws)}

    def mapping(self, z: Tensor, truncation: float = 1.0) -> Tensor:
        """Style vectors w (N, w_dim) of latents ``z`` (N, z_dim), pulled towards :attr:`w_avg` by ``truncation``
        (1 = not at all, 0 = every w is the mean)."""
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        return self.truncate(self.mapping_net(z), truncation)

    def truncate(self, w: Tensor, truncation: float) -> Tensor:
        """``w`` (any shape ending in w_dim) moved towards the mean style: w_avg + truncation * (w - w_avg)."""
        return w if truncation == 1.0 else torch.lerp(self.w_avg.to(w.dtype), w, truncation)

    @torch.no_grad()
    def update_w_avg(self, w: Tensor, beta: float = W_AVG_BETA) -> None:
        """Move the tracked mean style towards the mean of ``w`` (N, w_dim), a training batch's styles."""
        self.w_avg.copy_(torch.lerp(w.detach().float().mean(dim=0), self.w_avg, beta))

    def forward(
        self, ws: Tensor, noise_seed: int | None = None, *, noise: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Images (N, 3, resolution, resolution) in about -1..1 of styles ``ws`` (N, num_ws, w_dim); a (N, w_dim)
        ``ws`` gives every layer the same style.

        With a ``noise_seed`` every image gets the same noise maps, drawn from that
        seed on the CPU, so a recipe re-renders the same pixels on any device and in
        any batch; without one each image gets its own, from ``generator`` (or
        torch's global generator). ``noise`` scales the noise (0 switches it off).
        """
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.shape[1:] != (self.num_ws, self.config.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.config.w_dim}), not {tuple(ws.shape)}")
        maps = self._noise(ws.shape[0], ws.device, noise_seed, generator, noise)
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        rgb = None
        start = 0
        for block in self.blocks:
            end = start + len(block.layers)
            x, rgb = block(x, rgb, ws[:, start:end], maps[start:end])
            start = end
        assert rgb is not None
        return rgb

    def _noise(
        self, count: int, device: torch.device, seed: int | None, generator: torch.Generator | None, scale: float
    ) -> list[Tensor | None]:
        """A noise map (count or 1, 1, H, W) per layer, times ``scale`` (see :meth:`forward`)."""
        if not scale:
            return [None] * self.num_ws
        sizes = [layer.resolution for layer in self.layers]
        if seed is not None:
            seeded = torch.Generator().manual_seed(seed)
            maps = [torch.randn(1, 1, size, size, generator=seeded).to(device) for size in sizes]
        else:
            on = generator.device if generator is not None else device
            maps = [torch.randn(count, 1, size, size, generator=generator, device=on).to(device) for size in sizes]
        return maps if scale == 1.0 else [noise * scale for noise in maps]


class DiscriminatorBlock(nn.Module):
    """Two 3 x 3 convolutions, the second at half resolution, beside a 1 x 1 skip; the sum scaled to unit variance."""

    def __init__(self, in_channels: int, out_channels: int, input_gain: float) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, input_gain=input_gain)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, input_gain=ACTIVATION_GAIN)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activate=False,
                                input_gain=input_gain / math.sqrt(2.0))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.conv1(F.avg_pool2d(self.conv0(x), 2)) + self.skip(F.avg_pool2d(x, 2))


class Discriminator(nn.Module):
    """Images (N, 3, R, R) in -1..1 to float32 logits (N,): residual blocks down to 4 x 4, then the minibatch
    standard deviation as an extra channel, a convolution and two fully connected layers."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        config = config or GeneratorConfig()
        self.config = config
        resolutions = config.resolutions[::-1]
        self.from_rgb = EqualConv2d(3, config.channels_at(resolutions[0]), 1)
        gains = [ACTIVATION_GAIN] + [1.0] * len(resolutions)  # from_rgb's output owes the gain; blocks' do not
        self.blocks = nn.Sequential(
            *(
                DiscriminatorBlock(config.channels_at(high), config.channels_at(low), gain)
                for (high, low), gain in zip(itertools.pairwise(resolutions), gains, strict=False)
            )
        )
        channels = config.channels_at(4)
        self.conv = EqualConv2d(channels + 1, channels, 3)
        self.fc = EqualLinear(channels * 16, channels, activate=True)
        self.out = EqualLinear(channels, 1)

    def forward(self, images: Tensor) -> Tensor:
        x = self.blocks(self.from_rgb(images))
        x = self.conv(torch.cat([x, _minibatch_stddev(x)], dim=1))
        with torch.autocast(x.device.type, enabled=False):
            return self.out(self.fc(x.float().flatten(1) * ACTIVATION_GAIN)).squeeze(1)


def _minibatch_stddev(x: Tensor) -> Tensor:
    """One channel (N, 1, H, W): the standard deviation of the features across each group of images, averaged."""
    n, c, h, w = x.shape
    group = math.gcd(STDDEV_GROUP, n)
    grouped = x.float().reshape(group, n // group, c, h, w)
    spread = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
    return spread.repeat(group).reshape(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)


def generator_loss(fake_logits: Tensor) -> Tensor:
    """The non-saturating logistic loss of the generator: softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The logistic loss of the discriminator: softplus(D(G(z))) + softplus(-D(x))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """The R1 penalty (Mescheder et al. 2018): the mean squared norm of D's gradient at real images (float32, in
    the caller's autocast)."""
    real = real.detach().float().requires_grad_(True)
    (gradient,) = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)
    return gradient.float().square().sum(dim=(1, 2, 3)).mean()


def diff_augment(images: Tensor, draw: torch.Generator) -> Tensor:
    """Images (N, 3, H, W) in -1..1 with DiffAugment's colour, translation and cut-out (Zhao et al. 2020), each
    image its own, drawn from ``draw`` (a CPU generator): differentiable, so the generator learns through them.

    Brightness moves by up to ±0.5, saturation scales by 0 to 2, contrast by 0.5 to 1.5; the picture moves by up
    to :data:`AUGMENT_SHIFT` of its side (zeros come in) and loses a square of :data:`AUGMENT_CUTOUT` of its side.
    """
    n, _, height, width = images.shape
    device = images.device

    def uniform() -> Tensor:
        return torch.rand(n, 1, 1, 1, generator=draw).to(device, images.dtype)

    x = images + (uniform() - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (uniform() * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (uniform() + 0.5) + mean
    rows, cols = _shifted(n, height, draw).to(device), _shifted(n, width, draw).to(device)
    shift_y, shift_x = round(height * AUGMENT_SHIFT), round(width * AUGMENT_SHIFT)
    padded = F.pad(x, (shift_x, shift_x, shift_y, shift_y)).permute(0, 2, 3, 1)
    x = padded[torch.arange(n, device=device).view(n, 1, 1), rows.view(n, height, 1), cols.view(n, 1, width)]
    x = x.permute(0, 3, 1, 2)
    inside_y, inside_x = _cut(n, height, draw).to(device), _cut(n, width, draw).to(device)
    keep = ~(inside_y.view(n, 1, height, 1) & inside_x.view(n, 1, 1, width))
    return x * keep.to(x.dtype)


def _shifted(n: int, side: int, draw: torch.Generator) -> Tensor:
    """Per image, the indices (n, side) into a side padded by AUGMENT_SHIFT that move it by a random amount."""
    shift = round(side * AUGMENT_SHIFT)
    offsets = torch.randint(-shift, shift + 1, (n, 1), generator=draw)
    return torch.arange(side).view(1, side) + offsets + shift


def _cut(n: int, side: int, draw: torch.Generator) -> Tensor:
    """Per image, which of ``side`` positions (n, side) fall in a random span of AUGMENT_CUTOUT of the side."""
    span = round(side * AUGMENT_CUTOUT)
    start = torch.randint(0, side - span + 1, (n, 1), generator=draw)
    positions = torch.arange(side).view(1, side)
    return (positions >= start) & (positions < start + span)


@torch.no_grad()
def silence_noise(generator: StyleGenerator) -> None:
    """Switch ``generator``'s per-layer noise off for good: every strength 0 and no longer trained."""
    for layer in generator.layers:
        layer.noise_strength.zero_().requires_grad_(False)


@torch.no_grad()
def ema_update(average: nn.Module, model: nn.Module, beta: float) -> None:
    """``average``'s parameters ← beta · average + (1 - beta) · model's; its buffers (w_avg) copied."""
    for kept, new in zip(average.parameters(), model.parameters(), strict=True):
        kept.lerp_(new.detach(), 1.0 - beta)
    for kept, new in zip(average.buffers(), model.buffers(), strict=True):
        kept.copy_(new)
