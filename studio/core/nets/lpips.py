"""LPIPS (Zhang et al. 2018): how different two pictures look, from VGG16 features weighed by learned heads.

At each of five VGG16 layers the features of both pictures are scaled to unit
length along the channels, their squared difference is weighed per channel by
a non-negative 1x1 "calibration head" and summed over the channels, then
averaged over the positions; the distance is the sum over the layers. LPIPS
feeds the network pictures in -1..1 through a "scaling layer" that equals
torchvision's ImageNet normalisation of pictures in 0..1, which is what
:class:`~studio.core.nets.features.FeatureExtractor` applies here. The weights
are the catalog's ``lpips_vgg16``.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.core.models.catalog import VGG16_TAPS
from studio.core.models.spec import IMAGENET
from studio.core.nets.features import FeatureExtractor
from studio.core.nets.vgg import vgg16_features

__all__ = ["CHANNELS", "LAYERS", "LPIPS"]

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)  # of LAYERS
EPS = 1e-10  # LPIPS's guard in the unit normalisation


class LPIPS(nn.Module):
    """The LPIPS-vgg distance between two batches of pictures.

    Built randomly initialised, with every head weight 1 (the paper's uncalibrated
    baseline, a distance all the same); the model store loads the real weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = FeatureExtractor(vgg16_features(), VGG16_TAPS, LAYERS, IMAGENET)
        self.heads = nn.ModuleList(nn.Conv2d(channels, 1, kernel_size=1, bias=False) for channels in CHANNELS)
        for head in self.heads:
            nn.init.ones_(head.weight)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The distances (N,) between ``a`` and ``b`` (N, 3, H, W) in 0..1; 0 where they are equal."""
        if a.shape != b.shape:
            raise ValueError(f"LPIPS compares pictures of one shape, not {tuple(a.shape)} and {tuple(b.shape)}")
        features = self.features(torch.cat([a, b]))
        total = a.new_zeros(a.shape[0])
        for layer, head in zip(LAYERS, self.heads, strict=True):
            of_a, of_b = _unit(features[layer]).chunk(2)
            total = total + head((of_a - of_b).square()).mean(dim=(1, 2, 3))
        return total


def _unit(features: torch.Tensor) -> torch.Tensor:
    """``features`` (N, C, H, W) divided by their length along the channels."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + EPS)
