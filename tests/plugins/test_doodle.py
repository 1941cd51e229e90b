"""Neural doodle: regions textured from the matching style regions (Gram and patch methods), locality, snapping,
refused labels, cancel, the manifest and the command line.

Most tests use the tiny VGG-like network of the style tests with fixed random weights, installed as "vgg16" in a
temporary model store; the last ones use the real vgg16 where installed.
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from studio_plugins.doodle import MANIFEST
from studio_plugins.doodle.engine import PatchLoss, _region_grams, nearest_patches, run
from studio_plugins.doodle.params import DoodleParams
from test_style_optimise import TAPS, real_vgg16_store, tiny_vgg
from tiny_store import tiny_store

from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.image import to_uint8
from studio.core.inputs import Inputs, label_colours
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.nets.features import feature_extractor, image_to_tensor, masked_gram_matrix
from studio.core.params import ParamError, make_params
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
    final = drive(run(params, doodle_inputs(doodle, style_labels), ctx), ctx, on_frame)
    assert final.image.dtype == np.uint16, "a result keeps 16 bits"
    return dataclasses.replace(final, image=to_uint8(final.image))  # in 8 bits, the tests' units


LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def region_of(labels: np.ndarray, colour) -> torch.Tensor:
    return torch.from_numpy((labels == colour).all(axis=2).astype(np.float32))[None, None]


@torch.no_grad()
def gram_distance(net, image, mask, picture, picture_mask) -> float:
    """Relative Gram distance of ``image`` in ``mask`` to ``picture`` in ``picture_mask``, summed over layers."""

    def grams(pixels, region):
        features = net(image_to_tensor(pixels))
        return [
            masked_gram_matrix(f, torch.nn.functional.interpolate(region, f.shape[-2:], mode="area"))
            for f in features.values()
        ]

    pairs = zip(grams(image, mask), grams(picture, picture_mask), strict=True)
    return sum(float((ours - target).square().mean() / target.square().mean()) for ours, target in pairs)


def region_gram_distances(models, image, doodle, layers=LAYERS):
    """distance[i][j]: relative Gram distance of the output's region i (of the doodle) to the style's region j."""
    net = feature_extractor(models, "vgg16", layers, "cpu")
    distance = np.zeros((2, 2))
    for i, colour in enumerate((RED, BLUE)):
        for j, style_colour in enumerate((RED, BLUE)):
            style_mask = region_of(STYLE_LABELS, style_colour)
            distance[i, j] = gram_distance(net, image, region_of(doodle, colour), two_textures(), style_mask)
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


def checks(size: int = SIZE) -> np.ndarray:
    """A third texture: a coarse yellow and purple checkerboard."""
    y, x = np.mgrid[0:size, 0:size]
    return np.where((((x // 6) + (y // 6)) % 2 == 0)[..., None], (240, 220, 30), (90, 20, 120)).astype(np.uint8)


GREEN = (0, 255, 0)
THREE = SWAPPED.copy()
THREE[SIZE // 2 :, SIZE // 2 :] = GREEN  # dots on top, stripes bottom left, a region textured elsewhere bottom right


@pytest.mark.parametrize("method", ["gram", "patch"])
def test_real_vgg16_a_region_takes_its_texture_from_its_own_picture(method):
    """With the real vgg16 (the tiny random network's patch matching is too weak to tell the textures apart)."""
    models = real_vgg16_store()
    params = make_params(
        DoodleParams, {"iterations": 60, "scales": 1, "method": method, "region_textures": "#00FF00 = texture_1"}
    )
    inputs = doodle_inputs(THREE)
    inputs.extras["texture_1"] = checks()
    ctx = RunContext(preview_interval_s=1e9, models=models, device="cpu")
    final = drive(run(params, inputs, ctx), ctx)
    net = feature_extractor(models, "vgg16", LAYERS, "cpu")
    green = region_of(THREE, GREEN)
    everywhere = torch.ones(1, 1, SIZE, SIZE)
    to_checks = gram_distance(net, final.image, green, checks(), everywhere)
    to_style = [gram_distance(net, final.image, green, two_textures(), region_of(STYLE_LABELS, c)) for c in (RED, BLUE)]
    assert to_checks < min(to_style), (to_checks, to_style)
    if method == "gram":  # sixty steps of the patch method from noise leave every region's colours too rough
        stripes = region_of(THREE, RED)
        own = gram_distance(net, final.image, stripes, two_textures(), region_of(STYLE_LABELS, RED))
        assert own < gram_distance(net, final.image, stripes, checks(), everywhere)  # the checks stay out
    assert final.info["region_sources"] == {"#00ff00": {"texture_1": 1.0}}


def test_a_blend_of_sources_lands_between_them(store):
    """Half the style's stripes, half the checks: the region's Gram matrices lie between those of the two."""
    net = feature_extractor(store, "vgg16", LAYERS, "cpu")
    stripes, everywhere = region_of(STYLE_LABELS, RED), torch.ones(1, 1, SIZE, SIZE)
    distances = {}
    for blend in ("style", "style*0.5+texture_1*0.5", "texture_1"):
        params = make_params(DoodleParams, {"iterations": 40, "scales": 1, "region_textures": f"#ff0000={blend}"})
        inputs = doodle_inputs()
        inputs.extras["texture_1"] = checks()
        ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
        image = drive(run(params, inputs, ctx), ctx).image
        red = region_of(SWAPPED, RED)
        distances[blend] = (
            gram_distance(net, image, red, two_textures(), stripes),
            gram_distance(net, image, red, checks(), everywhere),
        )
    pure_style, blended, pure_checks = distances.values()
    assert pure_style[0] < blended[0] < pure_checks[0], distances
    assert pure_checks[1] < blended[1] < pure_style[1], distances


def test_a_texture_assigned_but_not_given_is_named(store):
    with pytest.raises(ValueError, match=r"#00ff00 takes its texture from texture_2, which was not given.*--extra"):
        paint(store, {"iterations": 2, "region_textures": "#00ff00=texture_2"}, doodle=THREE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("green=texture_1", "write the region's colour as #rrggbb"),
        ("#00ff00=texture_9", "'texture_9' .for #00ff00. is no texture source"),
        ("#00ff00=texture_1*0", "add up to nothing"),
        ("#00ff00=texture_1*nan", "must be a number >= 0"),
    ],
)
def test_region_textures_mistakes_are_explained(text, message):
    with pytest.raises(ParamError, match=message):
        make_params(DoodleParams, {"region_textures": text})


def test_the_patch_method_keeps_style_patches_within_its_budget():
    torch.manual_seed(1)
    features = {"a": torch.randn(1, 8, 40, 40)}
    masks = torch.zeros(1, 2, 40, 40)
    masks[:, 0, :, :20], masks[:, 1, :, 20:] = 1, 1
    full = PatchLoss([(features, masks)], patch_size=3, semantic_weight=1.0)
    assert full.layers["a"].kernels.shape == (38 * 38, 10, 3, 3)
    budget = 10 * 9 * 400
    bounded = PatchLoss([(features, masks)], patch_size=3, semantic_weight=1.0, budget=budget)
    assert bounded.layers["a"].kernels.numel() <= budget
    assert bounded.layers["a"].kernels.shape[0] > 200  # a coarser grid, not a handful of patches
    masks[:, 1] = 0  # patches in no region are no candidates
    right_unused = PatchLoss([(features, masks)], patch_size=3, semantic_weight=1.0)
    assert right_unused.layers["a"].kernels.shape[0] == 38 * 20


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
    assert required == {
        "labels": True,
        "image": False,
        "style": True,
        "style_labels": True,
        **{f"texture_{n}": False for n in range(1, 5)},
    }
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
    distance = region_gram_distances(models, final.image, SWAPPED)
    assert distance[0, 0] < distance[0, 1] and distance[1, 1] < distance[1, 0], distance


def test_studio_run_doodle_on_the_command_line(tmp_path):
    """The third region of the doodle is textured from a picture given as texture_1."""
    real_vgg16_store()
    paths = write_pictures(tmp_path)
    cv2.imwrite(str(paths["doodle"]), cv2.cvtColor(THREE, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "checks.png"), checks())
    out = tmp_path / "out.png"
    result = subprocess.run(
        [str(STUDIO), "run", "doodle", "--labels", str(paths["doodle"]), "--extra", f"style={paths['style']}",
         "--extra", f"style_labels={paths['style_labels']}", "--extra", f"texture_1={tmp_path / 'checks.png'}",
         "--set", "region_textures=#00ff00=texture_1", "--set", "iterations=10", "--set", "scales=1",
         "--device", "cpu", "-o", str(out)],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = cv2.imread(str(out))
    assert written is not None and written.shape[:2] == (SIZE, SIZE)


def test_region_grams_match_masked_grams_in_value_and_gradient():
    torch.manual_seed(2)
    features = torch.randn(1, 5, 6, 7, dtype=torch.float64, requires_grad=True)
    masks = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    masks[:, 2] = 0  # a region with no area: zeros, no NaN
    ours = _region_grams(features, masks)
    reference = masked_gram_matrix(features.expand(3, -1, -1, -1), masks.transpose(0, 1))
    assert torch.allclose(ours, reference) and not ours[2].any()
    weights = torch.randn(3, 5, 5, dtype=torch.float64)
    (grad,) = torch.autograd.grad((ours * weights).sum(), features)
    (expected,) = torch.autograd.grad((reference * weights).sum(), features)
    assert torch.allclose(grad, expected)
    assert torch.autograd.gradcheck(lambda f: _region_grams(f, masks), (features,))
