"""What both modes share: reading the style images, output size, colour preservation and the strength mask."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from studio_plugins.style_transfer.params import StyleParams

from studio.core.image import ImageError, load_image, quantize, to_uint8
from studio.core.inputs import Inputs, resample
from studio.core.params import ParamError, numbers, split_list


@dataclass(frozen=True)
class Styles:
    """The style pictures (RGB uint8) with their blend weights, normalised to sum to 1."""

    images: tuple[np.ndarray, ...]
    weights: tuple[float, ...]
    paths: tuple[str, ...]


def blend_weights(text: str, count: int) -> tuple[float, ...]:
    """``count`` weights from ``style_weights`` (empty = equal), normalised to sum to 1."""
    values = numbers(text, "style_weights") if text.strip() else [1.0] * count
    if len(values) != count:
        raise ParamError(f"style_weights: {len(values)} weight(s) given for {count} style(s); give one per style")
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ParamError("style_weights: weights must be non-negative and not all zero")
    total = sum(values)
    return tuple(v / total for v in values)


def load_styles(params: StyleParams) -> Styles:
    """The style images named by ``params.style``; a clear error naming the file if one cannot be read."""
    paths = split_list(params.style)
    if not paths:
        raise ParamError("style: choose a style picture")
    images = []
    for path in paths:
        if not Path(path).exists():
            raise ImageError(path, "this style image does not exist; choose an existing picture")
        if not Path(path).is_file():
            raise ImageError(path, "this is not a regular file (a folder, device or pipe); choose a picture file")
        images.append(to_uint8(load_image(path).pixels)[:, :, :3].copy())
    return Styles(tuple(images), blend_weights(params.style_weights, len(images)), tuple(paths))


def content_rgb(inputs: Inputs) -> np.ndarray:
    """The document's picture as RGB uint8."""
    if inputs.image is None:
        raise ValueError("style transfer needs a picture: open an image first")
    return np.ascontiguousarray(inputs.image[:, :, :3])


_RGB_TO_YUV = np.array([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]], np.float32)
_YUV_TO_RGB = np.linalg.inv(_RGB_TO_YUV).astype(np.float32)


def unit(image: np.ndarray) -> np.ndarray:
    """RGB uint8 or uint16 (or float 0..1) as float32 in 0..1."""
    if image.dtype in (np.uint8, np.uint16):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    return image.astype(np.float32)


def rgb_to_yuv(image: np.ndarray) -> np.ndarray:
    """RGB uint8 or uint16 (or float 0..1) as float32 YUV (BT.601), Y in 0..1."""
    return unit(image) @ _RGB_TO_YUV.T


def yuv_to_rgb(yuv: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float YUV back to RGB of ``bit_depth`` bits (uint8 or uint16)."""
    return quantize(yuv @ _YUV_TO_RGB.T, bit_depth)


def keep_luminance_only(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's brightness with the content's chroma (Gatys et al. 2016, luminance-only transfer), in the
    result's bit depth."""
    yuv = rgb_to_yuv(result)
    yuv[..., 1:] = rgb_to_yuv(resample(content, (result.shape[1], result.shape[0])))[..., 1:]
    return yuv_to_rgb(yuv, result.dtype.itemsize * 8)


def match_colours(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``source`` recoloured so its RGB mean and covariance equal ``reference``'s (Gatys et al. 2016, colour matching).

    The linear map uses the symmetric square roots of the two covariance
    matrices (the "image analogies" colour transfer).
    """
    src = unit(source).reshape(-1, 3).astype(np.float64)
    ref = unit(reference).reshape(-1, 3).astype(np.float64)
    src_mean, ref_mean = src.mean(0), ref.mean(0)
    src_cov = np.cov(src - src_mean, rowvar=False) + np.eye(3) * 1e-5
    ref_cov = np.cov(ref - ref_mean, rowvar=False) + np.eye(3) * 1e-5
    transform = _sqrtm(ref_cov) @ np.linalg.inv(_sqrtm(src_cov))
    out = (src - src_mean) @ transform.T + ref_mean
    return quantize(out, source.dtype.itemsize * 8).reshape(source.shape)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def recolour_styles(styles: Styles, content: np.ndarray, mode: str) -> Styles:
    """With ``histogram`` colour preservation, the styles recoloured to the content's colours; otherwise as they are."""
    if mode != "histogram":
        return styles
    return Styles(tuple(match_colours(s, content) for s in styles.images), styles.weights, styles.paths)


def finish(result: np.ndarray, content: np.ndarray, mask: np.ndarray | None, params: StyleParams) -> np.ndarray:
    """Colour preservation, then the strength mask: where the mask is 0 the picture stays as it was."""
    if params.preserve_colour == "luminance":
        result = keep_luminance_only(result, content)
    return apply_strength(result, content, mask)


def apply_strength(result: np.ndarray, content: np.ndarray, strength: np.ndarray | float | None) -> np.ndarray:
    """``content`` blended towards ``result`` by ``strength`` (a number or an (H, W) map in 0..1), in the result's
    bit depth."""
    if strength is None:
        return result
    size = (result.shape[1], result.shape[0])
    base = unit(resample(content, size))
    if isinstance(strength, np.ndarray):
        amount = resample(strength.astype(np.float32), size)[..., None]
    else:
        amount = np.float32(strength)
    if np.all(amount >= 1.0):
        return result
    mixed = base + (unit(result) - base) * np.clip(amount, 0.0, 1.0)
    return quantize(mixed, result.dtype.itemsize * 8)
