"""Conversions between numpy arrays (the document's pixels) and Qt images."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_FORMATS: dict[int, QImage.Format] = {
    4: QImage.Format.Format_RGBA8888,
    3: QImage.Format.Format_RGB888,
}


def numpy_to_qimage(arr: np.ndarray) -> QImage:
    """Return a QImage holding a COPY of ``arr``; the array may be changed or freed afterwards.

    Accepted arrays are uint8: RGBA ``(H, W, 4)`` -> ``Format_RGBA8888`` (straight,
    not premultiplied alpha), RGB ``(H, W, 3)`` -> ``Format_RGB888`` and grey
    ``(H, W)`` -> ``Format_Grayscale8``. Non-contiguous arrays (slices, strides)
    are fine. Anything else raises ``ValueError``.
    """
    if arr.dtype != np.uint8:
        raise ValueError(f"numpy_to_qimage needs uint8 pixels, not {arr.dtype}")
    if arr.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif arr.ndim == 3 and arr.shape[2] in _FORMATS:
        fmt = _FORMATS[arr.shape[2]]
    else:
        raise ValueError(f"numpy_to_qimage needs an (H, W), (H, W, 3) or (H, W, 4) array, not {arr.shape}")
    height, width = arr.shape[:2]
    if width == 0 or height == 0:
        return QImage()
    data = np.ascontiguousarray(arr)
    bytes_per_line = data.strides[0]
    # QImage wraps ``data`` without owning it; ``copy()`` detaches into Qt-owned memory.
    return QImage(data.data, width, height, bytes_per_line, fmt).copy()


def qimage_to_numpy(image: QImage) -> np.ndarray:
    """Return a copy of ``image`` as RGBA uint8 ``(H, W, 4)`` (straight alpha)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height = rgba.width(), rgba.height()
    if width == 0 or height == 0:
        return np.zeros((height, width, 4), np.uint8)
    buffer = np.frombuffer(rgba.constBits(), np.uint8, count=rgba.sizeInBytes())
    rows = buffer.reshape(height, rgba.bytesPerLine())
    return rows[:, : width * 4].reshape(height, width, 4).copy()
