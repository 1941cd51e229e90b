"""The partial-convolution U-Net of Liu et al. 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions".

Masks are 1 where a pixel is valid and 0 in a hole. The paper gives every input
channel its own mask, but the mask a partial convolution puts out is the same
for all its output channels, so here each tensor carries one mask channel. A
layer that reads several concatenated tensors (the decoder's upsampled features
and skip features, each with its own mask) counts each tensor's mask once per
channel of that tensor: the number of valid inputs in a window is then exactly
the paper's sum(M) over per-channel masks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FIRST_KERNELS = (7, 5, 5)  # the encoder's first kernel sizes; deeper layers use 3x3
LEAKY_SLOPE = 0.2  # the decoder's LeakyReLU


class PartialConv2d(nn.Module):
    """A convolution of features that come with a validity mask (1 = valid, 0 = hole).

    Where a window holds valid inputs, the output is W^T (X ⊙ M) · sum(1)/sum(M) + b, with
    sum(1) the number of elements of the window over all input channels and sum(M) the valid
    ones; where it holds none, the output is 0. The updated mask is 1 wherever a valid input fed
    the window. Zero padding counts as hole, so windows over the border are renormalised too.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.padding = kernel_size // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, self.padding, bias=False)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, features: Tensor | Sequence[Tensor], masks: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """The output (N, out_channels, H', W') of ``features`` and its float32 mask (N, 1, H', W').

        ``features`` is one (N, C, H, W) tensor or several to concatenate along channels; each
        comes with a 0/1 mask in ``masks`` of one channel (shared by all its channels) or C
        channels (one per channel).
        """
        parts = [features] if isinstance(features, Tensor) else list(features)
        part_masks = [masks] if isinstance(masks, Tensor) else list(masks)
        if len(parts) != len(part_masks):
            raise ValueError(f"{len(parts)} feature tensors come with {len(part_masks)} masks")
        channels = sum(part.shape[1] for part in parts)
        if channels != self.conv.in_channels:
            raise ValueError(f"this layer reads {self.conv.in_channels} channels, not {channels}")
        kernel = self.conv.kernel_size[0]
        stride = self.conv.stride[0]
        # Counts reach in_channels * kernel**2, more than bfloat16 holds exactly: keep them in float32.
        with torch.autocast(parts[0].device.type, enabled=False):
            valid = _valid_channels(parts[0], part_masks[0])
            for part, mask in zip(parts[1:], part_masks[1:], strict=True):
                valid = valid + _valid_channels(part, mask)
            window = F.avg_pool2d(valid, kernel, stride, self.padding, divisor_override=1)
            new_mask = (window > 0).float()
        masked = [part * mask.to(part.dtype) for part, mask in zip(parts, part_masks, strict=True)]
        out = self.conv(masked[0] if len(masked) == 1 else torch.cat(masked, dim=1))
        window = window.to(torch.promote_types(out.dtype, window.dtype))
        scale = channels * kernel * kernel / window.clamp_min(1.0) * new_mask.to(window.dtype)
        out = out * scale.to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1, 1) * new_mask.to(out.dtype)
        return out, new_mask


def _valid_channels(features: Tensor, mask: Tensor) -> Tensor:
    """How many of ``features``' channels are valid at each pixel, as float32 (N, 1, H, W)."""
    if mask.shape[1] == 1:
        return mask.float() * features.shape[1]
    if mask.shape[1] == features.shape[1]:
        return mask.float().sum(dim=1, keepdim=True)
    raise ValueError(f"a mask has {mask.shape[1]} channels for features of {features.shape[1]}; give 1 or as many")


@dataclass(frozen=True)
class NetConfig:
    """The shape of a :class:`PConvUNet`.

    ``levels`` stride-2 encoder layers with ``width``, 2·width, 4·width, 8·width, 8·width, ...
    channels (capped at 8·width), and as many decoder layers. The paper's network for 512 px is
    ``levels=8, width=64``.
    """

    levels: int = 6
    width: int = 32

    def __post_init__(self) -> None:
        if self.levels < 1 or self.width < 1:
            raise ValueError(f"a network needs at least one level and one channel, not {self}")

    @property
    def multiple(self) -> int:
        """What the picture's height and width must be multiples of."""
        return 2**self.levels

    @property
    def channels(self) -> tuple[int, ...]:
        """The encoder layers' output channels, shallowest first."""
        return tuple(min(self.width * 2**level, 8 * self.width) for level in range(self.levels))


class _Block(nn.Module):
    """A partial convolution, optionally followed by batch norm and an activation."""

    def __init__(self, conv: PartialConv2d, norm: bool, activation: nn.Module | None) -> None:
        super().__init__()
        self.conv = conv
        self.norm = nn.BatchNorm2d(conv.conv.out_channels) if norm else None
        self.activation = activation

    def forward(self, features: Tensor | Sequence[Tensor], masks: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """The block's features and mask."""
        out, mask = self.conv(features, masks)
        if self.norm is not None:
            out = self.norm(out)
        if self.activation is not None:
            out = self.activation(out)
        return out, mask


class PConvUNet(nn.Module):
    """The paper's U-Net of partial convolutions: it fills the holes of an RGB picture.

    The encoder halves the resolution ``config.levels`` times (ReLU, batch norm after all but
    the first layer); the decoder upsamples (nearest), concatenates the skip features and their
    masks, and convolves (3x3, batch norm, LeakyReLU 0.2). The last layer reads the input
    picture and its mask and puts out RGB with neither batch norm nor activation.

    The network computes on the picture mapped from 0..1 to -1..1 and maps its output back, so
    the output is in the input's 0..1 scale but not clamped (the loss reads it as it is; clamp
    it for display). It covers the whole picture: keep the input at valid pixels with
    :func:`composite`.
    """

    def __init__(self, config: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.config = config
        channels = (3, *config.channels)
        kernels = [FIRST_KERNELS[level] if level < len(FIRST_KERNELS) else 3 for level in range(config.levels)]
        self.encoder = nn.ModuleList(
            _Block(
                PartialConv2d(channels[level], channels[level + 1], kernels[level], stride=2, bias=level == 0),
                norm=level > 0,
                activation=nn.ReLU(),
            )
            for level in range(config.levels)
        )
        # Deepest first: decoder layer ``level`` reads the upsampled output of level + 1 and the skip of level - 1.
        self.decoder = nn.ModuleList(
            _Block(
                PartialConv2d(
                    channels[level] + channels[level - 1], channels[level - 1] if level > 1 else 3, 3, bias=level == 1
                ),
                norm=level > 1,
                activation=nn.LeakyReLU(LEAKY_SLOPE) if level > 1 else None,
            )
            for level in range(config.levels, 0, -1)
        )
        self._encoder_norm_frozen = False

    def forward(self, image: Tensor, valid: Tensor) -> Tensor:
        """The filled picture (N, 3, H, W) for ``image`` (N, 3, H, W) in 0..1 and ``valid`` (N, 1, H, W), 0 in holes.

        The pixel values inside the holes are never read. The output is float32, or bfloat16 under autocast.
        """
        self._check(image, valid)
        valid = valid.float()
        features, mask = image * 2.0 - 1.0, valid
        skips = [(features, mask)]
        for block in self.encoder:
            features, mask = block(features, mask)
            skips.append((features, mask))
        skips.pop()
        for block in self.decoder:
            skip, skip_mask = skips.pop()
            features, mask = block([_upsample(features), skip], [_upsample(mask), skip_mask])
        return (features + 1.0) / 2.0

    def _check(self, image: Tensor, valid: Tensor) -> None:
        """Raise a ValueError for inputs this network cannot read."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an RGB batch (N, 3, H, W), got a tensor of shape {tuple(image.shape)}")
        n, _, height, width = image.shape
        if tuple(valid.shape) != (n, 1, height, width):
            raise ValueError(f"the mask has shape {tuple(valid.shape)}; expected {(n, 1, height, width)}")
        multiple = self.config.multiple
        if height % multiple or width % multiple:
            raise ValueError(
                f"the picture is {width}x{height} pixels; this network ({self.config.levels} levels) needs a width "
                f"and height that are multiples of {multiple}: pad or crop it"
            )

    def freeze_encoder_norm(self) -> None:
        """The paper's fine-tuning stage: the encoder's batch norms keep their running statistics and stop learning.

        This lasts through later ``train()`` calls.
        """
        self._encoder_norm_frozen = True
        for norm in self._encoder_norms():
            norm.eval()
            norm.requires_grad_(False)

    def train(self, mode: bool = True) -> Self:
        """Training or evaluation mode, keeping the encoder's batch norms in evaluation once frozen."""
        super().train(mode)
        if self._encoder_norm_frozen:
            for norm in self._encoder_norms():
                norm.eval()
        return self

    def _encoder_norms(self) -> Iterator[nn.BatchNorm2d]:
        """The encoder's batch norm layers."""
        return (module for module in self.encoder.modules() if isinstance(module, nn.BatchNorm2d))

    def parameter_count(self) -> int:
        """The number of parameters (trainable or not)."""
        return sum(parameter.numel() for parameter in self.parameters())


def _upsample(tensor: Tensor) -> Tensor:
    """``tensor`` at twice the resolution, nearest neighbour."""
    return F.interpolate(tensor, scale_factor=2.0, mode="nearest")


def composite(output: Tensor, image: Tensor, valid: Tensor) -> Tensor:
    """``image`` at its valid pixels and the network's ``output`` in the holes (``valid`` is 0 there)."""
    return torch.where(valid > 0.5, image, output)
