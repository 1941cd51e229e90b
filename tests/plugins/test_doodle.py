"""Neural doodle: regions textured from the matching style regions (Gram and patch methods), locality, snapping,
refused labels, cancel, the manifest and the command line.

Most tests use the tiny VGG-like network of the style tests with fixed random weights, installed as "vgg16" in a
temporary model store; the last ones use the real vgg16 where installed.
"""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from studio_plugins.doodle import MANIFEST
from studio_plugins.doodle.engine import nearest_patches, run
from studio_plugins.doodle.params import DoodleParams
from test_style_optimise import TAPS, real_vgg16_store, tiny_vgg
from tiny_store import tiny_store

from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.inputs import Inputs, label_colours
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.nets.features import feature_extractor, image_to_tensor, masked_gram_matrix
from studio.core.params import make_params
from studio.core.plugin import discover_plugins
from studio.core.run import build_inputs, inputs_from_document, run_plugin

SIZE = 64
RED, BLUE = (255, 0, 0), (0, 0, 255)
STUDIO = Path(sys.executable).parent / "studio"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    return tiny_store(tmp_path_factory.mktemp("doodle-store"), "test_style_optimise:tiny_vgg", tiny_vgg, TAPS, seed=3)


def two_textures(size: int = SIZE) -> np.ndarray:
    """A style painting: fine red stripes on white on the left, blue dots on green on the right."""
    y, x = np.mgrid[0:size, 0:size]
    stripes = np.where(((x // 2) % 2 == 0)[..., None], (230, 40, 40), (250, 250, 250))
    dots = np.where(((x % 8 - 4) ** 2 + (y % 8 - 4) ** 2 < 5)[..., None], (20, 20, 160), (200, 230, 120))
    return np.where((x < size // 2)[..., None], stripes, dots).astype(np.uint8)


def halves(first, second, size: int = SIZE, vertical: bool = True) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    split = (x if vertical else y) < size // 2
    return np.where(split[..., None], np.array(first, np.uint8), np.array(second, np.uint8)).astype(np.uint8)


STYLE_LABELS = halves(RED, BLUE)  # red = the stripes, blue = the dots
SWAPPED = halves(BLUE, RED, vertical=False)  # dots on top, stripes below


def doodle_inputs(doodle: np.ndarray = SWAPPED, style_labels: np.ndarray = STYLE_LABELS) -> Inputs:
    return Inputs(
        doodle.shape[1], doodle.shape[0], labels=doodle, extras={"style": two_textures(), "style_labels": style_labels}
    )


def paint(models, values, doodle=SWAPPED, style_labels=STYLE_LABELS, interval=1e9, on_frame=None):
    params = make_params(DoodleParams, {"iterations": 40, "scales": 1, **values})
    ctx = RunContext(preview_interval_s=interval, models=models, device="cpu")
    return drive(run(params, doodle_inputs(doodle, style_labels), ctx), ctx, on_frame)


def region_gram_distances(models, image, doodle, layers=("relu1_1", "relu2_1", "relu3_1")):
    """distance[i][j]: relative Gram distance of the output's region i (of the doodle) to the style's region j."""
    net = feature_extractor(models, "vgg16", layers, "cpu")
    masks = [torch.from_numpy((doodle == c).all(axis=2).astype(np.float32))[None, None] for c in (RED, BLUE)]
    style_masks = [
        torch.from_numpy((c == STYLE_LABELS).all(axis=2).astype(np.float32))[None, None] for c in (RED, BLUE)
    ]
    with torch.no_grad():
        ours, theirs = net(image_to_tensor(image)), net(image_to_tensor(two_textures()))

        def gram(features, mask):
            return masked_gram_matrix(features, torch.nn.functional.interpolate(mask, features.shape[-2:], mode="area"))

        distance = np.zeros((2, 2))
        for i, mask in enumerate(masks):
            for j, style_mask in enumerate(style_masks):
                for name in layers:
                    target = gram(theirs[name], style_mask)
                    error = (gram(ours[name], mask) - target).square().mean() / target.square().mean()
                    distance[i, j] += float(error)
    return distance


@pytest.mark.parametrize("method", ["gram", "patch"])
def test_each_region_takes_the_texture_of_its_own_style_region(store, method):
    final = paint(store, {"method": method})
    assert final.image.shape == (SIZE, SIZE, 3)
    distance = region_gram_distances(store, final.image, SWAPPED)
    assert distance[0, 0] < distance[0, 1] and distance[1, 1] < distance[1, 0], distance
    assert final.info["method"] == method
    assert [r["colour"] for r in final.info["regions"]] == ["#0000ff", "#ff0000"]
    assert final.info["loss"]["final"] < final.info["loss"]["first"]


def test_changing_the_doodle_changes_the_output_only_near_the_change(store):
    """Far from the change the pixels stay near those of the unchanged doodle (same seed); not equal, since the
    region's Gram matrix and L-BFGS's steps are computed over the whole picture."""
    changed = SWAPPED.copy()
    changed[44:60, 44:60] = BLUE  # a blue square inside the bottom (red) region, bottom right
    first = paint(store, {"iterations": 20}).image.astype(np.int16)
    second = paint(store, {"iterations": 20}, doodle=changed).image.astype(np.int16)
    other_seed = paint(store, {"iterations": 20, "seed": 5}).image.astype(np.int16)
    difference = np.abs(first - second).mean(axis=2)
    near, far = difference[44:60, 44:60].mean(), difference[:20, :20].mean()
    unrelated = np.abs(first - other_seed).mean(axis=2)[:20, :20].mean()
    assert near > 20, near
    assert far < 0.4 * near and far < 0.3 * unrelated, (far, near, unrelated)


def test_anti_aliased_label_maps_are_snapped_and_counted(store):
    blurred_doodle = cv2.GaussianBlur(SWAPPED, (5, 5), 1.0)
    blurred_style = cv2.GaussianBlur(STYLE_LABELS, (5, 5), 1.0)
    final = paint(store, {"iterations": 4, "snap_distance": 200}, blurred_doodle, blurred_style)
    expected = int((blurred_doodle != SWAPPED).any(axis=2).sum())
    assert final.info["snapped_pixels"] == {
        "doodle": expected,
        "style_labels": int((blurred_style != STYLE_LABELS).any(axis=2).sum()),
    }
    assert expected > 0
    assert len(final.info["regions"]) == 2


def test_doodle_labels_missing_from_the_style_map_are_refused_by_name(store):
    doodle = halves((0, 255, 0), (255, 255, 0))
    with pytest.raises(ValueError, match=r"#00ff00, #ffff00 are in the doodle but not in the style's label map"):
        paint(store, {"iterations": 2}, doodle=doodle)


def test_cancel_leaves_the_document_untouched(store, tmp_path):
    """The doodle comes from the document's label layer; the style map uses the colours the canvas shows."""
    doc = Document(SIZE, SIZE)
    indices = np.where((SWAPPED == RED).all(axis=2), 1, 2).astype(np.uint8)
    doc.insert_layer(Layer("Doodle", LayerKind.LABELS, indices))
    before = [layer.pixels.copy() for layer in doc.layers]
    style_labels = label_colours(np.where((STYLE_LABELS == RED).all(axis=2), 1, 2).astype(np.uint8))
    paths = write_pictures(tmp_path, style_labels)
    inputs = inputs_from_document(doc, MANIFEST, {"style": paths["style"], "style_labels": paths["style_labels"]})
    params = make_params(DoodleParams, {"iterations": 50, "scales": 1})
    ctx = RunContext(preview_interval_s=0.0, models=store, device="cpu")
    seen = []

    def on_frame(frame):
        seen.append(frame)
        ctx.cancel()

    with pytest.raises(Cancelled):
        run_plugin(MANIFEST, params, inputs, ctx, on_frame)
    assert len(seen) == 1 and "scale 1/1 (64x64), iteration 1/50" in seen[0].message and "ETA" in seen[0].message
    assert len(doc.layers) == len(before)
    assert all(np.array_equal(layer.pixels, old) for layer, old in zip(doc.layers, before, strict=True))


def test_same_seed_same_pixels_and_coarse_to_fine(store):
    values = {"iterations": 12, "scales": 2, "scale_factor": 2.0}
    first, second = paint(store, values), paint(store, values)
    assert np.array_equal(first.image, second.image)
    assert [s["size"] for s in first.info["scales"]] == [[32, 32], [64, 64]]


def test_patch_matching_finds_the_most_correlated_patch():
    torch.manual_seed(0)
    kernels = torch.randn(50, 4, 3, 3)
    kernels = kernels / kernels.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    features = torch.zeros(1, 4, 5, 5)
    features[0, :, 1:4, 1:4] = 2.0 * kernels[17]
    nearest = nearest_patches(features, kernels, budget=40)  # a chunk of 4 kernels at a time
    assert nearest.shape == (9,) and int(nearest[4]) == 17


def test_manifest_is_discovered_with_its_inputs():
    registry = discover_plugins()
    manifest = registry.get("doodle")
    assert manifest is MANIFEST
    required = {spec.name: spec.required for spec in manifest.inputs}
    assert required == {"labels": True, "image": False, "style": True, "style_labels": True}
    assert "vgg16" in manifest.models


def write_pictures(folder: Path, style_labels: np.ndarray = STYLE_LABELS) -> dict[str, Path]:
    """The doodle, the style painting and its label map as PNG files in ``folder``."""
    paths = {}
    for name, pixels in (("doodle", SWAPPED), ("style", two_textures()), ("style_labels", style_labels)):
        paths[name] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name]), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    return paths


def test_inputs_from_files_take_the_doodle_size(tmp_path):
    paths = write_pictures(tmp_path)
    provided = {"labels": paths["doodle"], "style": paths["style"], "style_labels": paths["style_labels"]}
    inputs = build_inputs(MANIFEST, provided)
    assert (inputs.width, inputs.height) == (SIZE, SIZE) and inputs.image is None
    assert np.array_equal(inputs.labels, SWAPPED) and np.array_equal(inputs.extra("style_labels"), STYLE_LABELS)


def test_real_vgg16_gram_method_textures_each_region_from_its_own(tmp_path):
    models = real_vgg16_store()
    final = paint(models, {"iterations": 40})
    distance = region_gram_distances(models, final.image, SWAPPED, layers=("relu1_1", "relu2_1", "relu3_1"))
    assert distance[0, 0] < distance[0, 1] and distance[1, 1] < distance[1, 0], distance


def test_studio_run_doodle_on_the_command_line(tmp_path):
    real_vgg16_store()
    paths = write_pictures(tmp_path)
    out = tmp_path / "out.png"
    result = subprocess.run(
        [str(STUDIO), "run", "doodle", "--labels", str(paths["doodle"]), "--extra", f"style={paths['style']}",
         "--extra", f"style_labels={paths['style_labels']}", "--set", "iterations=10", "--set", "scales=1",
         "--device", "cpu", "-o", str(out)],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = cv2.imread(str(out))
    assert written is not None and written.shape[:2] == (SIZE, SIZE)
