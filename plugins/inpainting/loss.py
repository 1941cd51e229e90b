"""The training loss of the partial-convolution inpainting network (Liu et al. 2018, section 3.3).

L1 on the valid pixels and on the hole, perceptual and style losses on VGG16's
pool1..pool3 features of the output and of the composite (output in the hole,
ground truth elsewhere), and total variation over the hole's 1-pixel dilation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from studio_plugins.inpainting.net import composite
from torch import Tensor, nn

from studio.core.nets.features import feature_extractor, gram_matrix

if TYPE_CHECKING:
    from studio.core.models.usage import ModelSource

# The catalog taps VGG16's ReLUs, not its pools: pool1..pool3 are the 2x2 max pools that follow these.
POOLED_TAPS = ("relu1_2", "relu2_2", "relu3_3")


@dataclass(frozen=True)
class LossWeights:
    """How much each term counts; the defaults are the paper's."""

    valid: float = 1.0
    hole: float = 6.0
    perceptual: float = 0.05
    style: float = 120.0
    tv: float = 0.1


class InpaintingLoss(nn.Module):
    """The paper's loss of a network output against the ground truth, with VGG16 from Studio's model store.

    VGG16's weights stay frozen; gradients flow to the output. Called under
    ``torch.autocast`` with bfloat16, the VGG passes run in bfloat16; the terms
    are computed and summed in float32 either way.
    """

    def __init__(
        self,
        models: ModelSource,
        device: str = "cpu",
        weights: LossWeights = LossWeights(),
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.features = feature_extractor(models, "vgg16", POOLED_TAPS, device, channels_last)
        self.weights = weights

    def forward(self, output: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The weighted total and the unweighted terms (for logging) of ``output`` against ``target``.

        ``output`` and ``target`` are (N, 3, H, W) in the 0..1 scale; ``valid`` (N, 1, H, W) is 0 in the hole.
        The perceptual and style terms add the output's and the composite's.
        """
        valid = valid.float()
        filled = composite(output, target, valid)
        features = self._pools(torch.cat([output, filled.to(output.dtype)]))
        with torch.no_grad():
            target_features = self._pools(target)
        with torch.autocast(output.device.type, enabled=False):
            error = output.float() - target.float()
            terms = {
                "valid": (valid * error).abs().mean(),
                "hole": ((1.0 - valid) * error).abs().mean(),
                "perceptual": error.new_zeros(()),
                "style": error.new_zeros(()),
                "tv": _total_variation(filled.float(), 1.0 - valid),
            }
            for both, target_layer in zip(features, target_features, strict=True):
                expected = target_layer.float()
                target_gram = _gram(expected)
                for layer in both.float().chunk(2):
                    terms["perceptual"] = terms["perceptual"] + F.l1_loss(layer, expected)
                    terms["style"] = terms["style"] + F.l1_loss(_gram(layer), target_gram)
            total = sum((getattr(self.weights, name) * term for name, term in terms.items()), error.new_zeros(()))
        values = torch.stack(list(terms.values())).detach().tolist()
        return total, dict(zip(terms, values, strict=True))

    def _pools(self, images: Tensor) -> list[Tensor]:
        """VGG16's pool1, pool2 and pool3 features of ``images``."""
        taps = self.features(images)
        return [F.max_pool2d(taps[name], 2) for name in POOLED_TAPS]


def _gram(features: Tensor) -> Tensor:
    """Gram matrices (N, C, C) normalised by C·H·W, as the paper's style loss."""
    return gram_matrix(features) / features.shape[1]


def _total_variation(image: Tensor, hole: Tensor) -> Tensor:
    """The L1 differences of neighbouring pixels that both lie in the hole's 1-pixel dilation, over the image's size."""
    region = F.max_pool2d(hole, 3, stride=1, padding=1)
    across = region[..., :, 1:] * region[..., :, :-1] * (image[..., :, 1:] - image[..., :, :-1]).abs()
    down = region[..., 1:, :] * region[..., :-1, :] * (image[..., 1:, :] - image[..., :-1, :]).abs()
    return (across.sum() + down.sum()) / image.numel()
