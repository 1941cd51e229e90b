"""ImageNet classifiers whose weights only the PyTorch hub provides (torchvision layouts, random init)."""

from __future__ import annotations

from torch import nn
from torchvision.models import googlenet as tv_googlenet
from torchvision.models import resnet50 as tv_resnet50


def googlenet() -> nn.Module:
    """GoogLeNet / Inception v1 without the auxiliary classifiers (torchvision's inference layout)."""
    return tv_googlenet(weights=None, aux_logits=False, init_weights=False)


def resnet50() -> nn.Module:
    """ResNet-50 with its 1000-class head."""
    return tv_resnet50(weights=None)
