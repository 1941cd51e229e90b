"""Messages for hostile input say what is wrong and what to do: non-finite style weights, a device file
given as a picture or a profile, a canvas too large."""

from pathlib import Path

import numpy as np
import pytest

from plugins.style_transfer.common import load_styles
from plugins.style_transfer.params import StyleParams
from studio.core.colour import read_profile
from studio.core.image import ImageError, load_image
from studio.core.nets.onnx_styles import ArbitraryStyle
from studio.core.params import ParamError, make_params

DEVICE = Path("/dev/zero")
needs_dev_zero = pytest.mark.skipif(not DEVICE.exists(), reason="no /dev/zero on this system")


def test_style_weights_must_be_finite_numbers():
    with pytest.raises(ParamError, match=r"style_weights: 'nan' is not a finite number"):
        make_params(StyleParams, {"style_weights": "1, nan"})
    vector = np.full((1, 1, 1, 100), np.nan, np.float32)
    with pytest.raises(ValueError, match="style weights must be finite numbers") as info:
        ArbitraryStyle.stylize_vector(None, np.zeros((4, 4, 3), np.uint8), vector)  # checked before any network
    assert "shape" not in str(info.value)


@needs_dev_zero
def test_a_device_file_as_a_style_or_a_picture_is_not_a_regular_file():
    with pytest.raises(ImageError, match="is not a regular file") as info:
        load_styles(make_params(StyleParams, {"style": str(DEVICE)}))
    assert "does not exist" not in str(info.value)
    with pytest.raises(ImageError, match=r"not a regular file \(a device, pipe or socket\)"):
        load_image(DEVICE)


@needs_dev_zero
def test_a_device_file_as_an_icc_profile_is_refused_without_reading_it():
    with pytest.raises(ValueError, match="the ICC profile /dev/zero is not a regular file"):
        read_profile(DEVICE, "CMYK")
