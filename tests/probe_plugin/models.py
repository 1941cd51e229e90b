"""The probe plugin's own network: a tiny residual convolution, weights shipped next to this file."""

from pathlib import Path

import torch
from torch import nn

from studio.core.models.spec import BundledFile, ModelSpec

WEIGHTS = Path(__file__).with_name("probe_net.safetensors")
WEIGHTS_SHA256 = "529350fedf180e685c2af68e7f6fac2565b62764d32ecf2bc82736af0e79edfd"
"""The file as saved from ``torch.manual_seed(0); ProbeNet().state_dict()`` with safetensors."""


class ProbeNet(nn.Module):
    """RGB in 0..1 to RGB in 0..1: the picture plus a learned correction."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.body(x)).clamp(0.0, 1.0)


def build() -> ProbeNet:
    return ProbeNet()


SPECS = (
    ModelSpec(
        id="probe_net",
        title="Probe network",
        description="A tiny residual convolution the probe test plugin ships and trains",
        builder="probe_plugin.models:build",
        sources=(BundledFile(str(WEIGHTS), WEIGHTS_SHA256),),
        license="MIT (made by Studio's tests)",
        provenance="random initialisation with torch.manual_seed(0), saved by tests/probe_plugin/models.py",
        size_mb=0.01,
        default=False,
    ),
)
