"""The DCGAN generator of the PyTorch tutorial (Radford et al. 2015): a latent vector to a 64 x 64 RGB image.

Layout and state-dict keys (``main.0.weight``, ``main.1.running_mean``, ...)
follow the tutorial's ``Generator``, so checkpoints trained with it load as they
are. Input: ``(N, nz, 1, 1)`` standard normal noise; output: ``(N, 3, 64, 64)``
in -1..1 (tanh).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DCGANGenerator", "generator64", "tutorial_init"]


class DCGANGenerator(nn.Module):
    """Five transposed convolutions, 1 -> 4 -> 8 -> 16 -> 32 -> 64 pixels; batch norm and ReLU between, tanh last."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.nz = nz
        widths = (ngf * 8, ngf * 4, ngf * 2, ngf)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False)]
        for channels_in, channels_out in zip(widths, (*widths[1:], nc), strict=True):
            layers += [nn.BatchNorm2d(channels_in), nn.ReLU(inplace=True)]
            layers.append(nn.ConvTranspose2d(channels_in, channels_out, 4, 2, 1, bias=False))
        layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)
        tutorial_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in -1..1 for latents ``z`` of shape ``(N, nz)`` or ``(N, nz, 1, 1)``."""
        if z.ndim == 2:
            z = z[:, :, None, None]
        return self.main(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent vectors, standard normal, on the module's device: ``(n, nz, 1, 1)``."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.nz, 1, 1, generator=generator)
        return z.to(device)


def tutorial_init(net: nn.Module) -> None:
    """The tutorial's ``weights_init``: convolution weights drawn from N(0, 0.02), batch-norm scales from N(1, 0.02),
    batch-norm shifts 0."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)


def generator64() -> DCGANGenerator:
    """The tutorial generator with nz=100, ngf=64, nc=3, randomly initialised as in the tutorial."""
    return DCGANGenerator(nz=100, ngf=64, nc=3)
