"""Inception v3 as a feature extractor (torchvision layout, no classifier).

The module is torchvision's ``Inception3`` without the auxiliary classifier
and with ``fc`` replaced by ``Identity``: ``forward`` returns the 2048 pooled
features and the blocks ``Conv2d_4a_3x3``, ``Mixed_5b`` .. ``Mixed_7c`` are
the taps plugins read with forward hooks. State dict keys are torchvision's
(minus ``fc.*`` and ``AuxLogits.*``).

One deliberate difference from torchvision: the 3x3 average pools in front of
the ``branch_pool`` convolutions average over the pixels inside the image
only, as TensorFlow's ``SAME`` pooling does. Both the Keras weights (nsfwjs)
and torchvision's ``inception_v3_google`` weights were trained in TensorFlow
with that pooling; torchvision's port counts the zero padding instead, which
darkens the borders of those branches. The correction is done by a
convolution subclass that rescales its input, so no state dict key changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception_v3
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionC, InceptionE

TAPS = ("Conv2d_4a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
        "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")  # fmt: skip
"""Submodules whose outputs plugins may tap (tap name == module name)."""


class ExcludePadConv2d(nn.Conv2d):
    """A convolution that first turns a padded 3x3 average (``count_include_pad=True``) into TF's ``SAME`` average.

    ``avg_pool2d(x, 3, 1, 1)`` divides every window sum by 9; the border
    windows hold only 4 or 6 real pixels. Multiplying by ``9 / count`` gives
    the mean over real pixels, exactly.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale the border of the pooled input, then convolve."""
        ones = torch.ones((1, 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        fraction = F.avg_pool2d(ones, kernel_size=3, stride=1, padding=1)  # count / 9
        return super().forward(x / fraction)


def _exclude_padding(block: BasicConv2d) -> None:
    """Swap ``block.conv`` for an ``ExcludePadConv2d`` with the same shape (weights are loaded later)."""
    conv = block.conv
    block.conv = ExcludePadConv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding, bias=False
    )


def inception_v3_backbone() -> nn.Module:
    """A randomly initialised Inception v3 trunk: input (N, 3, H, W) with H, W >= 75, output (N, 2048)."""
    net = inception_v3(weights=None, aux_logits=False, init_weights=False)
    net.fc = nn.Identity()
    net.dropout = nn.Identity()
    for module in net.modules():
        if isinstance(module, InceptionA | InceptionC | InceptionE):
            _exclude_padding(module.branch_pool)
    return net


__all__ = ["TAPS", "ExcludePadConv2d", "inception_v3_backbone"]
