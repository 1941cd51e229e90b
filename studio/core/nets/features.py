"""Reading named layers ("taps") of a network on images in 0..1, and the statistics losses are built from.

One implementation for every optimisation plugin (style transfer, Deep Dream,
doodles): :class:`FeatureExtractor` normalises the input as the network was
trained, runs the network only as far as the deepest tap it needs and returns
the tapped activations by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.image import quantize
from studio.core.nets.relu_max_pool import ReluMaxPool

if TYPE_CHECKING:
    from studio.core.models.spec import Normalization
    from studio.core.models.usage import ModelSource


class _Enough(Exception):
    """Raised by the last hook: the rest of the network is not needed."""


class FeatureExtractor(nn.Module):
    """The activations of ``layers`` (tap names) of ``net`` for a batch of RGB images in 0..1.

    ``taps`` maps tap names to submodule paths (a catalog entry's ``taps``).
    The network's weights are frozen; gradients flow to the input. With
    ``channels_last`` the network (converted in place) and its input use
    channels-last memory order, which makes convolutions faster on CPUs with
    oneDNN and on CUDA; the activations are the same up to rounding. Without
    it the network is put back in the default order, so its results do not
    depend on what used the (shared, cached) network before. A sequential
    network (VGG, AlexNet) runs each untapped ReLU after the max-pool that
    follows it, on a quarter of the values: the max of rectified values is the
    rectified max, so activations and gradients are exactly the same; the pair
    runs as one :class:`~studio.core.nets.relu_max_pool.ReluMaxPool`.
    """

    def __init__(
        self,
        net: nn.Module,
        taps: Mapping[str, str],
        layers: Sequence[str],
        normalization: Normalization | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in taps]
        if unknown:
            raise ValueError(f"unknown layer {unknown[0]!r}; this network has: {', '.join(taps)}")
        if not layers:
            raise ValueError("choose at least one layer")
        self.net = net.eval().requires_grad_(False)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.layers = tuple(dict.fromkeys(layers))
        self.normalization = normalization
        self._paths = {name: taps[name] for name in self.layers}
        if normalization is not None:
            self.register_buffer("_mean", torch.tensor(normalization.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("_std", torch.tensor(normalization.std).view(1, 3, 1, 1), persistent=False)
        self._modules_by_path = {path: net.get_submodule(path) for path in self._paths.values()}
        self._sequence = _pool_before_relu(net, set(self._paths.values()))
        _make_relus_out_of_place(net)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (N, 3, H, W) in 0..1 as the network's input."""
        norm = self.normalization
        if norm is None:
            return image
        if norm.bgr:
            image = image.flip(1)
        return (image * norm.scale - self._mean.to(image)) / self._std.to(image)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The tapped activations of ``image`` (N, 3, H, W) in 0..1, by layer name."""
        outputs: dict[str, torch.Tensor] = {}
        wanted = set(self._paths.values())
        handles = []

        def hook(path: str) -> Any:
            def record(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
                outputs[path] = output
                if wanted.issubset(outputs):
                    raise _Enough

            return record

        for path, module in self._modules_by_path.items():
            handles.append(module.register_forward_hook(hook(path)))
        try:
            activation = self.normalize(image).contiguous(memory_format=self.memory_format)
            if self._sequence is None:
                self.net(activation)
            else:
                for module in self._sequence:
                    activation = module(activation)
        except _Enough:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = wanted - set(outputs)
        if missing:
            raise RuntimeError(f"the network never ran layer {sorted(missing)[0]!r}")
        return {name: outputs[path] for name, path in self._paths.items()}


def _pool_before_relu(net: nn.Module, tapped: set[str]) -> list[nn.Module] | None:
    """The layers of a plain ``nn.Sequential`` in running order, each ReLU that is directly followed by a max-pool
    moved after it, as one :class:`ReluMaxPool`, when neither is tapped; None for other networks (they run their own
    forward)."""
    if type(net).forward is not nn.Sequential.forward:
        return None
    layers = list(net.named_children())
    order: list[nn.Module] = []
    index = 0
    while index < len(layers):
        name, module = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if (
            isinstance(module, nn.ReLU)
            and following is not None
            and isinstance(following[1], nn.MaxPool2d)
            and not {name, following[0]} & tapped
        ):
            order.append(ReluMaxPool(following[1], module))
            index += 2
        else:
            order.append(module)
            index += 1
    return order


def _make_relus_out_of_place(net: nn.Module) -> None:
    """In-place ReLUs would overwrite tapped activations that a later layer also reads: switch them off."""
    for module in net.modules():
        if isinstance(module, nn.ReLU | nn.ReLU6):
            module.inplace = False


def feature_extractor(
    store: ModelSource, model_id: str, layers: Sequence[str], device: str, channels_last: bool = False
) -> FeatureExtractor:
    """A :class:`FeatureExtractor` for catalog model ``model_id`` (verified and cached by ``store``)."""
    spec = store.spec(model_id)
    if spec.format != "torch" or not spec.taps:
        raise ValueError(f"{model_id} is not a network whose layers can be read")
    net = store.load(model_id, device)
    return FeatureExtractor(net, spec.taps, layers, spec.normalization, channels_last).to(device)


def fast_bfloat16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: CUDA from Ampere on, x86 CPUs with AVX512-BF16 or AMX."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if kind == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def use_bfloat16(precision: str, device: str) -> bool:
    """Whether a ``precision`` of "auto", "float32" or "bfloat16" runs the network's passes in bfloat16 on ``device``:
    "auto" where the device computes it in hardware (:func:`fast_bfloat16`)."""
    return precision == "bfloat16" or (precision == "auto" and fast_bfloat16(device))


def autocast(tensor: torch.Tensor, bfloat16: bool) -> AbstractContextManager[None]:
    """bfloat16 autocast on ``tensor``'s device when ``bfloat16``, else a no-op."""
    return torch.autocast(tensor.device.type, dtype=torch.bfloat16, enabled=bfloat16)


@torch.no_grad()
def target_activations(net: FeatureExtractor, image: torch.Tensor, bfloat16: bool) -> dict[str, torch.Tensor]:
    """``net``'s activations of ``image`` as float32 targets, without gradient (the passes in bfloat16 with
    ``bfloat16``): losses compare in float32, so targets are converted once here rather than at every step."""
    with autocast(image, bfloat16):
        return {name: feature.float() for name, feature in net(image).items()}


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """The (N, C, C) Gram matrices of (N, C, H, W) features, divided by the number of positions.

    Dividing by H*W (not C*H*W) keeps the statistic independent of image size, so
    a style analysed at one size can be matched at another and across tiles.
    """
    height, width = features.shape[-2:]
    return _Gram.apply(features) / (height * width)


def feature_mse(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean squared difference of (N, C, H, W) activations and their target, in float32, taken over the values
    in the activations' memory order: ``mse_loss``'s backward on channels-last tensors took seven times as long
    (9 ms against 1.3 ms for 512 x 64 x 64 values), and its gradient came back in the other order."""
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        features = features.permute(0, 2, 3, 1)
        target = target.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    return F.mse_loss(features.float().reshape(-1), target.float().reshape(-1))


def masked_gram_matrix(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Gram matrices over the positions weighted by ``weight`` (N, 1, H, W), normalised by the weight's sum."""
    n = features.shape[0]
    total = weight.reshape(n, -1).sum(dim=1).clamp_min(1e-8).view(n, 1, 1)
    return _Gram.apply(features * weight.sqrt()) / total


class _Gram(torch.autograd.Function):
    """``F Fᵀ`` of (N, C, H, W) features seen as (N, C, H*W) matrices ``F``, in their own memory order (a
    channels-last tensor is multiplied as its (H*W, C) rows), with the gradient ``(G + Gᵀ) F`` computed in that
    order too: autograd's own backward of the product adds two transposed gradients and copies the sum back, which
    took a fifth of an optimisation step at 512 px."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        rows, by_position = _matrix(features)
        ctx.save_for_backward(features)
        # torch.bmm, not @: matmul copies the transposed operand first (100 ms against 8 ms at 512 px, 64 channels)
        return torch.bmm(rows.mT, rows) if by_position else torch.bmm(rows, rows.mT)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        rows, by_position = _matrix(features)
        both = (grad + grad.mT).to(rows.dtype)
        # Written into a tensor of its own, not handed back as a view of the product: autograd then adds the
        # gradient that reaches these activations through the next layer into it in place.
        order = torch.channels_last if by_position else torch.contiguous_format
        result = torch.empty_like(features, dtype=rows.dtype, memory_format=order)
        out, _ = _matrix(result)
        if by_position:
            torch.bmm(rows, both, out=out)
        else:
            torch.bmm(both, rows, out=out)
        return result


def _matrix(features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(N, C, H, W) features as matrices, a view where the memory allows: (N, H*W, C) and True for channels-last
    memory, else (N, C, H*W) and False."""
    n, c, h, w = features.shape
    if not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last):
        return features.permute(0, 2, 3, 1).reshape(n, h * w, c), True
    return features.reshape(n, c, h * w), False


def image_to_tensor(image: Any, device: str = "cpu") -> torch.Tensor:
    """An (H, W, 3|4) uint8 or (H, W) array as a (1, 3, H, W) float32 tensor in 0..1 (alpha dropped)."""
    import numpy as np

    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB(A) picture, got an array of shape {array.shape}")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    tensor = torch.from_numpy(np.ascontiguousarray(array[:, :, :3])).to(device=device, dtype=torch.float32)
    return (tensor / scale).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(tensor: torch.Tensor, bit_depth: int = 8) -> Any:
    """A (1, 3, H, W) tensor in 0..1 as an owned (H, W, 3) CPU array of ``bit_depth`` bits: uint8 (previews), or
    uint16 for a result, so that its gradients keep their levels (see :func:`~studio.core.image.quantize`)."""
    if bit_depth == 16:
        return quantize(tensor.detach()[0].permute(1, 2, 0).float().cpu().numpy(), 16)
    pixels = tensor.detach()[0].clamp(0.0, 1.0).mul(255.0).add_(0.5).to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy().copy()
