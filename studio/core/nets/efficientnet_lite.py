"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variants for mobile accelerators), written for Studio.

Lite differs from EfficientNet-B0 in: no squeeze-and-excitation, ReLU6 instead of
swish, and a stem (32 channels) and head (1280 channels) that stay fixed however
the network is scaled. Convolutions pad as TensorFlow's ``"same"`` (asymmetric
for stride 2: the extra row and column go at the bottom and right), and batch
norm uses TF's epsilon 1e-3 and momentum 0.99 (torch momentum 0.01), so the
converted TF weights reproduce the reference.

Input: RGB as ``(x * 255 - 127) / 128``, 224 x 224 for the classifier; any size
of at least 32 for :meth:`EfficientNetLite.features`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LITE0_BLOCKS", "LITE0_TAPS", "BlockArgs", "EfficientNetLite", "efficientnet_lite0"]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's decay 0.99


@dataclass(frozen=True)
class BlockArgs:
    """One stage of inverted-residual blocks: ``repeats`` blocks, the first with ``stride``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


# EfficientNet-B0's stages (width and depth multiplier 1.0 for Lite0).
LITE0_BLOCKS: tuple[BlockArgs, ...] = (
    BlockArgs(1, 3, 1, 1, 32, 16),
    BlockArgs(2, 3, 2, 6, 16, 24),
    BlockArgs(2, 5, 2, 6, 24, 40),
    BlockArgs(3, 3, 2, 6, 40, 80),
    BlockArgs(3, 5, 1, 6, 80, 112),
    BlockArgs(4, 5, 2, 6, 112, 192),
    BlockArgs(1, 3, 1, 6, 192, 320),
)

# Named layers a plugin may tap: the stem, the output of the last block of each stage, the head.
LITE0_TAPS: dict[str, str] = {
    "stem": "stem",  # 32 channels, 1/2 resolution
    "stage1": "blocks.0",  # 16, 1/2
    "stage2": "blocks.2",  # 24, 1/4
    "stage3": "blocks.4",  # 40, 1/8
    "stage4": "blocks.7",  # 80, 1/16
    "stage5": "blocks.10",  # 112, 1/16
    "stage6": "blocks.14",  # 192, 1/32
    "stage7": "blocks.15",  # 320, 1/32
    "head": "head",  # 1280, 1/32
}


class Conv2dSame(nn.Conv2d):
    """A bias-free ``nn.Conv2d`` that pads like TensorFlow's ``padding="same"`` for any input size."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(channels_in, channels_out, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad so that the output is ``ceil(size / stride)``, the extra pixel at the bottom/right, then convolve."""
        pad: list[int] = []
        for size, kernel, stride in zip(
            (x.shape[-1], x.shape[-2]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pad += [total // 2, total - total // 2]
        if any(pad):
            x = F.pad(x, pad)
        return super().forward(x)


def conv_bn(
    channels_in: int, channels_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    """Convolution (TF same padding), batch norm and, unless ``act`` is false, ReLU6."""
    layers: list[nn.Module] = [
        Conv2dSame(channels_in, channels_out, kernel, stride, groups),
        nn.BatchNorm2d(channels_out, eps=BN_EPS, momentum=BN_MOMENTUM),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (absent when ``expand`` is 1), depthwise conv, linear 1x1 projection.

    The input is added back when the block keeps both resolution and channels.
    """

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = channels_in * expand
        self.expand = conv_bn(channels_in, hidden) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.project = conv_bn(hidden, channels_out, act=False)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite classifier: ``stem``, ``blocks`` (Sequential of MBConv), ``head``, pool, ``classifier``."""

    def __init__(
        self,
        stages: tuple[BlockArgs, ...] = LITE0_BLOCKS,
        stem_channels: int = 32,
        head_channels: int = 1280,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.stem = conv_bn(3, stem_channels, 3, stride=2)
        blocks: list[nn.Module] = []
        for stage in stages:
            for i in range(stage.repeats):
                blocks.append(
                    MBConv(
                        stage.channels_in if i == 0 else stage.channels_out,
                        stage.channels_out,
                        stage.kernel,
                        stage.stride if i == 0 else 1,
                        stage.expand,
                    )
                )
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(stages[-1].channels_out, head_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """TF reference initialisers: convs normal with std sqrt(2 / fan_out), dense uniform +-1/sqrt(out)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional path (stem, blocks, head): a 1280-channel map at 1/32 of the input size."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (1000 classes) for a normalised batch."""
        pooled = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(pooled))


def efficientnet_lite0() -> EfficientNetLite:
    """EfficientNet-Lite0 with 1000 ImageNet classes, randomly initialised (4.7 M parameters)."""
    return EfficientNetLite(LITE0_BLOCKS)
