"""The ONNX style networks (magenta_arbitrary, multistyle26) with the real weights when installed."""

import numpy as np
import pytest

from studio.core.models.store import ModelStatus, ModelStore


def installed(model_id):
    store = ModelStore()
    if store.status(model_id) is not ModelStatus.INSTALLED:
        pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
    return store.load(model_id)


def photo(height=120, width=200):
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.chelsea()
    return np.ascontiguousarray(image[: height * 2 : 2, : width * 2 : 2])


def difference(a, b):
    """Mean difference in 8-bit levels of float (0..1) or uint8 pictures."""
    a, b = (x * 255 if x.dtype == np.float32 else x.astype(np.float32) for x in (a, b))
    return float(np.abs(a - b).mean())


def test_arbitrary_style_paints_the_content_in_the_style(tmp_path):
    model = installed("magenta_arbitrary")
    content = photo()
    skimage_data = pytest.importorskip("skimage.data")
    style = skimage_data.coffee()
    out = model.stylize(content, style)
    assert out.shape == content.shape and out.dtype == np.float32
    assert difference(out, content) > 10
    weak = model.stylize(content, style, strength=0.1)
    assert difference(weak, content) < difference(out, content)
    vector = model.style_vector(style)
    assert vector.shape == (1, 1, 1, 100) and np.isfinite(vector).all()


def test_multistyle_presets_blend_and_keep_the_size():
    model = installed("multistyle26")
    content = photo(96, 128)
    first, second = np.eye(26)[0], np.eye(26)[7]
    a, b = model.stylize(content, first), model.stylize(content, second)
    assert a.shape == content.shape and difference(a, content) > 10
    assert difference(a, b) > 5, "different presets give different pictures"
    halfway = model.stylize(content, (first + second) / 2)
    assert not np.array_equal(halfway, a) and not np.array_equal(halfway, b)
    with pytest.raises(ValueError, match="26 non-negative"):
        model.stylize(content, [1.0] * 3)
