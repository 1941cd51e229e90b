"""Which layers of a feature network the optimisation plugins read, by name, with each network's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from studio.core.params import ParamError, split_list

VGG_LAYERS = (("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vgg16": VGG_LAYERS,
    "vgg19": VGG_LAYERS,
    "vgg16_hed": VGG_LAYERS,
    "alexnet": (("relu3",), ("relu1", "relu2", "relu3", "relu4", "relu5")),
    "efficientnet_lite0": (("stage4",), ("stem", "stage2", "stage3", "stage4", "stage5")),
}
"""(content layers, style layers) per network: Gatys et al.'s choice for VGG, its equivalent for the others."""


@dataclass(frozen=True)
class Layers:
    """The tap names the content and style losses read."""

    content: tuple[str, ...]
    style: tuple[str, ...]


def named_layers(key: str, text: str, default: Sequence[str], network: str, taps: Sequence[str]) -> tuple[str, ...]:
    """The layers named in ``text`` (comma-separated), or ``default`` when it is empty.

    A name the network does not have is a :class:`ParamError` for parameter ``key`` listing the valid names.
    """
    names = tuple(split_list(text)) or tuple(default)
    unknown = [name for name in names if name not in taps]
    if unknown or not names:
        what = f"{unknown[0]!r} is not a layer of {network}" if unknown else f"{network} has no default"
        raise ParamError(f"{key}: {what}; choose from: {', '.join(taps)}")
    return names


def choose_layers(network: str, taps: Sequence[str], content: str = "", style: str = "") -> Layers:
    """The content and style layers: those named (comma-separated) or the network's defaults.

    A name the network does not have is a :class:`ParamError` listing the valid names.
    """
    defaults = DEFAULT_LAYERS.get(network, ((), ()))
    return Layers(
        named_layers("content_layers", content, defaults[0], network, taps),
        named_layers("style_layers", style, defaults[1], network, taps),
    )
