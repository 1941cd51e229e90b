"""Neural doodle at print size: the finest scales optimised in shifted tiles (both methods), no seams, cancel
inside a tiled scale; and the patch method with the real vgg16.

The tiny VGG-like network of the style tests stands in for vgg16 (see test_doodle.py); a small ``tile_size``
forces tiling at small sizes.
"""

import cv2
import numpy as np
import pytest
import torch
from studio_plugins.doodle import MANIFEST
from studio_plugins.doodle.engine import run
from studio_plugins.doodle.params import DoodleParams
from test_doodle import (
    RED,
    STYLE_LABELS,
    SWAPPED,
    doodle_inputs,
    paint,
    region_gram_distances,
    two_textures,
    write_pictures,
)
from test_style_optimise import TAPS, real_vgg16_store, tiny_vgg
from tiny_store import tiny_store

from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.inputs import label_colours
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.nets.features import feature_extractor, image_to_tensor, masked_gram_matrix
from studio.core.params import make_params
from studio.core.run import inputs_from_document, run_plugin
from studio.core.tiling import TileGrid, random_offset

BIG = 96
TILE = 32
BLUE = (0, 0, 255)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    return tiny_store(tmp_path_factory.mktemp("doodle-tiles"), "test_style_optimise:tiny_vgg", tiny_vgg, TAPS, seed=3)


def big(picture: np.ndarray, interpolation: int = cv2.INTER_NEAREST) -> np.ndarray:
    """``picture`` (64 px) at the size of the tiled renders."""
    return cv2.resize(picture, (BIG, BIG), interpolation=interpolation)


def paint_big(models, values: dict) -> object:
    """A 96 px doodle of the swapped halves: tiled when ``tile_size`` is below 96."""
    params = make_params(DoodleParams, {"iterations": 60, "scales": 1, "size": BIG, "precision": "float32", **values})
    ctx = RunContext(preview_interval_s=1e9, models=models, device="cpu")
    return drive(run(params, doodle_inputs(), ctx), ctx)


def distances(models, image: np.ndarray) -> np.ndarray:
    """distance[i][j]: relative Gram distance of the output's region i to the (enlarged) style's region j."""
    layers = ("relu1_1", "relu2_1", "relu3_1")
    net = feature_extractor(models, "vgg16", layers, "cpu")
    doodle, labels, style = big(SWAPPED), big(STYLE_LABELS), big(two_textures(), cv2.INTER_CUBIC)

    def masks(of: np.ndarray) -> list[torch.Tensor]:
        return [torch.from_numpy((of == c).all(axis=2).astype(np.float32))[None, None] for c in (RED, BLUE)]

    def gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_gram_matrix(features, torch.nn.functional.interpolate(mask, features.shape[-2:], mode="area"))

    distance = np.zeros((2, 2))
    with torch.no_grad():
        ours, theirs = net(image_to_tensor(image)), net(image_to_tensor(style))
        for i, mask in enumerate(masks(doodle)):
            for j, style_mask in enumerate(masks(labels)):
                for name in layers:
                    target = gram(theirs[name], style_mask)
                    distance[i, j] += float((gram(ours[name], mask) - target).square().mean() / target.square().mean())
    return distance


@pytest.mark.parametrize("method", ["gram", "patch"])
@pytest.mark.parametrize("tile", [TILE, 0])
def test_tiled_and_untiled_runs_lower_the_loss_and_texture_each_region(store, method, tile):
    final = paint_big(store, {"method": method, "tile_size": tile})
    assert final.image.shape == (BIG, BIG, 3)
    assert final.info["scales"] == [{"size": [BIG, BIG], "iterations": 60, "tiled": tile == TILE}]
    assert final.info["loss"]["final"] < 0.8 * final.info["loss"]["first"], final.info["loss"]
    distance = distances(store, final.image)
    assert distance[0, 0] < distance[0, 1] and distance[1, 1] < distance[1, 0], distance


def border_ratio(image: np.ndarray, grid: TileGrid) -> float:
    """Mean colour step across the grid's tile borders divided by the mean colour step anywhere."""
    pixels = image.astype(np.float32)
    across_x = np.abs(pixels[:, 1:] - pixels[:, :-1]).mean(axis=(0, 2))  # [k]: between columns k and k + 1
    across_y = np.abs(pixels[1:] - pixels[:-1]).mean(axis=(1, 2))
    xs = sorted({box[0] for box in grid} - {0})
    ys = sorted({box[1] for box in grid} - {0})
    border = np.concatenate([across_x[[x - 1 for x in xs]], across_y[[y - 1 for y in ys]]])
    return float(border.mean() / np.concatenate([across_x, across_y]).mean())


@pytest.mark.parametrize("method", ["gram", "patch"])
def test_no_seam_where_the_last_tile_grid_had_its_borders(store, method):
    final = paint_big(store, {"method": method, "tile_size": TILE})
    rng = np.random.default_rng(0)  # the seed's grid offsets, one per iteration of the (only, tiled) scale
    offsets = [random_offset(rng, TILE) for _ in range(60)]
    for offset in offsets[-3:]:
        ratio = border_ratio(final.image, TileGrid(BIG, BIG, TILE, offset))
        assert ratio < 1.3, (offset, ratio)


def test_cancel_during_a_tiled_scale_leaves_the_document_untouched(store, tmp_path):
    doc = Document(BIG, BIG)
    indices = np.where((big(SWAPPED) == RED).all(axis=2), 1, 2).astype(np.uint8)
    doc.insert_layer(Layer("Doodle", LayerKind.LABELS, indices))
    before = [layer.pixels.copy() for layer in doc.layers]
    style_labels = label_colours(np.where((STYLE_LABELS == RED).all(axis=2), 1, 2).astype(np.uint8))
    paths = write_pictures(tmp_path, style_labels)
    inputs = inputs_from_document(doc, MANIFEST, {"style": paths["style"], "style_labels": paths["style_labels"]})
    params = make_params(DoodleParams, {"iterations": 50, "scales": 1, "tile_size": TILE, "precision": "float32"})
    ctx = RunContext(preview_interval_s=0.0, models=store, device="cpu")
    seen = []

    def on_frame(frame):
        seen.append(frame)
        if "tiles" in frame.message:
            ctx.cancel()

    with pytest.raises(Cancelled):
        run_plugin(MANIFEST, params, inputs, ctx, on_frame)
    assert "tiles" in seen[-1].message and "iteration 1/50" in seen[-1].message, seen[-1].message
    assert not any(frame.final for frame in seen)
    assert len(doc.layers) == len(before)
    assert all(np.array_equal(layer.pixels, old) for layer, old in zip(doc.layers, before, strict=True))


def test_real_vgg16_patch_method_textures_each_region_from_its_own():
    models = real_vgg16_store()
    final = paint(models, {"method": "patch", "iterations": 40})
    distance = region_gram_distances(models, final.image, SWAPPED, layers=("relu1_1", "relu2_1", "relu3_1"))
    assert distance[0, 0] < distance[0, 1] and distance[1, 1] < distance[1, 0], distance
