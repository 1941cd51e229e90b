"""The convolutional feature stacks of VGG16, VGG19 and AlexNet, laid out exactly as torchvision's ``.features``.

Module indices (and so state-dict keys such as ``"28.weight"`` and the catalog's
taps such as ``relu5_3 -> "29"``) are torchvision's. Building one downloads
nothing: the weights come from the model store.
"""

from __future__ import annotations

from torch import nn

__all__ = ["alexnet_features", "vgg16_features", "vgg19_features"]

# Output channels of each 3x3 convolution; "M" is a 2x2 max pool (torchvision's configurations "D" and "E").
VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip
VGG19_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _init_convs(features: nn.Sequential) -> nn.Sequential:
    """Initialise the convolutions as torchvision does (Kaiming normal, fan out; zero bias)."""
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return features


def _vgg(layout: tuple[int | str, ...]) -> nn.Sequential:
    """Conv 3x3 (padding 1) + ReLU per number, max pool 2x2 per "M", in one flat Sequential."""
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return _init_convs(nn.Sequential(*layers))


def vgg16_features() -> nn.Sequential:
    """Torchvision's ``vgg16().features``, randomly initialised (31 modules; ``relu1_1`` is 1, ``relu5_3`` is 29)."""
    return _vgg(VGG16_LAYOUT)


def vgg19_features() -> nn.Sequential:
    """Torchvision's ``vgg19().features``, randomly initialised (37 modules; ``relu4_1`` is 20, ``relu5_4`` is 35)."""
    return _vgg(VGG19_LAYOUT)


def alexnet_features() -> nn.Sequential:
    """Torchvision's ``alexnet().features`` (the one-tower 64-channel variant), randomly initialised.

    ``relu1`` .. ``relu5`` are modules 1, 4, 7, 9 and 11.
    """
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
