"""Style transfer, optimise mode (Gatys): losses, previews, cancel, determinism, colour, mask, blends, scales, tiles.

Most tests use a tiny VGG-like network with fixed random weights, installed as
"vgg16" in a temporary model store; one uses the real vgg16 where installed.
"""

import dataclasses
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from studio_plugins.style_transfer import MANIFEST
from studio_plugins.style_transfer import optimise as optimise_module
from studio_plugins.style_transfer.common import Styles, rgb_to_yuv
from studio_plugins.style_transfer.optimise import (
    Weights,
    build_objective,
    choose_layers,
    drain,
    gram_statistics,
    run,
)
from studio_plugins.style_transfer.params import StyleParams
from tiny_store import tiny_store
from torch import nn

from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.image import ImageError, to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models import ModelStatus
from studio.core.models.store import ModelStore
from studio.core.nets.features import feature_extractor, gram_matrix, image_to_tensor
from studio.core.params import ParamError, make_params
from studio.core.run import inputs_from_document, result_layer, run_plugin

TAPS = {"relu1_1": "1", "relu2_1": "4", "relu3_1": "7", "relu4_1": "10", "relu4_2": "12", "relu5_1": "15"}


def tiny_vgg() -> nn.Sequential:
    """A VGG-shaped network small enough for 32-96 px pictures: the taps of Gatys' layers, 4 poolings."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # 0-2
        nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # 3-5 (relu2_1 = 4)
        nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # 6-8 (relu3_1 = 7)
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),  # 9-10 (relu4_1 = 10)
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # 11-13 (relu4_2 = 12)
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),  # 14-15 (relu5_1 = 15)
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    """A model store whose "vgg16" is the tiny network with fixed random weights."""
    return tiny_store(tmp_path_factory.mktemp("style-store"), "test_style_optimise:tiny_vgg", tiny_vgg, TAPS, seed=3)


def picture(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth photo-like RGB picture: gradients and a disc."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 60 + 150 * x / width
    green = 80 + 100 * y / height
    blue = 120 + 80 * np.sin(x / 7.0 + seed)
    disc = ((x - width * 0.6) ** 2 + (y - height * 0.4) ** 2) < (min(width, height) * 0.25) ** 2
    rgb = np.stack([red, green, blue], axis=2)
    rgb[disc] = (230, 200, 60)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def stripes(path: Path, colours: tuple[tuple[int, int, int], tuple[int, int, int]], period: int, size: int = 64) -> str:
    """A style picture of diagonal stripes in two colours, written to ``path``."""
    y, x = np.mgrid[0:size, 0:size]
    on = ((x + y) // period) % 2 == 0
    rgb = np.where(on[..., None], np.array(colours[0], np.uint8), np.array(colours[1], np.uint8)).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(path)


@pytest.fixture(scope="module")
def style_a(tmp_path_factory) -> str:
    return stripes(tmp_path_factory.mktemp("styles") / "a.png", ((250, 30, 30), (20, 20, 200)), 4)


@pytest.fixture(scope="module")
def style_b(tmp_path_factory) -> str:
    return stripes(tmp_path_factory.mktemp("styles") / "b.png", ((240, 240, 240), (10, 120, 10)), 9)


def inputs_for(image: np.ndarray, mask: np.ndarray | None = None) -> Inputs:
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    return Inputs(image.shape[1], image.shape[0], rgba, mask)


FAST = {"iterations": 12, "scales": 1}


def stylise(store, values, image=None, mask=None, interval=0.0):
    """Run optimise mode to the end; the final frame (its 16-bit result in 8 bits, to compare with the 8-bit
    content) and the previews (8-bit)."""
    params = make_params(StyleParams, {**FAST, **values})
    ctx = RunContext(preview_interval_s=interval, models=store, device="cpu")
    previews = []
    final = drive(run(params, inputs_for(picture() if image is None else image, mask), ctx), ctx, previews.append)
    assert final.image.dtype == np.uint16, "a result keeps 16 bits"
    assert all(p.image is None or p.image.dtype == np.uint8 for p in previews)
    return dataclasses.replace(final, image=to_uint8(final.image)), previews


def gram_distance(store, image: np.ndarray, style: str, layers=("relu1_1", "relu2_1", "relu3_1")) -> float:
    """Relative distance between the Gram matrices of ``image`` and of the style picture, summed over ``layers``."""
    net = feature_extractor(store, "vgg16", list(layers), "cpu")
    style_pixels = cv2.cvtColor(cv2.imread(style), cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        ours, theirs = net(image_to_tensor(image)), net(image_to_tensor(style_pixels))
    total = 0.0
    for name in layers:
        target = gram_matrix(theirs[name])
        total += float((gram_matrix(ours[name]) - target).square().mean() / target.square().mean())
    return total


def test_total_loss_falls_and_the_result_has_the_document_size(store, style_a):
    final, _ = stylise(store, {"style": style_a, "iterations": 15})
    curve = final.info["loss_curve"]
    assert len(curve) == 15
    assert curve[-1][3] < 0.6 * curve[0][3], f"loss {curve[0][3]:.4g} -> {curve[-1][3]:.4g}"
    assert final.image.shape == (48, 64, 3)
    assert final.info["models"][0]["id"] == "vgg16"
    assert len(final.info["models"][0]["sha256"]) == 64
    assert final.info["seed"] == 0


def test_adam_lowers_the_loss_too(store, style_a):
    final, _ = stylise(store, {"style": style_a, "optimizer": "adam", "iterations": 20, "learning_rate": 0.03})
    curve = final.info["loss_curve"]
    assert curve[-1][3] < 0.7 * curve[0][3]


def test_previews_carry_monotone_progress_and_a_message(store, style_a):
    final, previews = stylise(store, {"style": style_a, "scales": 2, "scale_factor": 1.4, "iterations": 10})
    pictures = [p for p in previews if p.image is not None]
    assert len(pictures) >= 5
    progress = [p.progress for p in previews]
    assert all(a <= b for a, b in itertools.pairwise(progress))
    assert 0.0 < progress[-1] < 1.0 and final.progress == 1.0
    assert "scale 1/2" in pictures[0].message and "scale 2/2" in pictures[-1].message
    assert "iteration" in pictures[-1].message and "loss" in pictures[-1].message and "ETA" in pictures[-1].message
    assert pictures[-1].image.shape == (48, 64, 3)
    assert pictures[0].image.shape[1] < 64, "coarse scales preview at their own size"


def test_cancel_after_the_first_preview_leaves_the_document_untouched(store, style_a):
    doc = Document.from_pixels(inputs_for(picture()).image)
    before = [layer.pixels.copy() for layer in doc.layers]
    params = make_params(StyleParams, {"style": style_a, "iterations": 50, "scales": 1})
    ctx = RunContext(preview_interval_s=0.0, models=store, device="cpu")
    seen = []

    def on_frame(frame):
        seen.append(frame)
        ctx.cancel()

    with pytest.raises(Cancelled):
        run_plugin(MANIFEST, params, inputs_from_document(doc, MANIFEST), ctx, on_frame)
    assert len(seen) == 1
    assert len(doc.layers) == 1 and np.array_equal(doc.layers[0].pixels, before[0])


def test_cancel_inside_an_lbfgs_step_stops_the_run(store, style_a, monkeypatch):
    params = make_params(StyleParams, {"style": style_a, "iterations": 50, "scales": 1})
    ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
    calls = []
    original = optimise_module.Objective.__call__

    def counting(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            ctx.cancel()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(optimise_module.Objective, "__call__", counting)
    with pytest.raises(Cancelled):
        drive(run(params, inputs_for(picture()), ctx), ctx)
    assert len(calls) == 3, "the closure checks for cancel before every evaluation"


def test_result_becomes_a_layer_with_the_recipe(store, style_a):
    doc = Document.from_pixels(inputs_for(picture()).image)
    params = make_params(StyleParams, {"style": style_a, **FAST})
    inputs = inputs_from_document(doc, MANIFEST)
    ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
    final = run_plugin(MANIFEST, params, inputs, ctx)
    layer = result_layer(doc, MANIFEST, params, inputs, final)
    assert layer.recipe.models == [{"id": "vgg16", "sha256": store.record("vgg16").files["model.safetensors"]}]
    assert layer.recipe.seed == 0 and layer.recipe.params["style"] == style_a


@pytest.mark.parametrize("init", ["noise", "content"])
def test_same_seed_gives_the_same_pixels(store, style_a, init):
    values = {"style": style_a, "init": init, "seed": 5, "scales": 2, "iterations": 6}
    a, _ = stylise(store, values)
    b, _ = stylise(store, values, interval=0.05)
    np.testing.assert_array_equal(a.image, b.image)
    if init == "noise":
        c, _ = stylise(store, {**values, "seed": 6})
        assert not np.array_equal(a.image, c.image)


def test_colour_preservation_keeps_the_contents_chroma(store, style_a):
    content = picture()
    values = {"style": style_a, "style_weight": 1e5, "iterations": 30}
    plain, _ = stylise(store, values)
    kept, _ = stylise(store, {**values, "preserve_colour": "luminance"})
    matched, _ = stylise(store, {**values, "preserve_colour": "histogram"})
    chroma = rgb_to_yuv(content)[..., 1:]

    def chroma_error(image):
        return float(np.abs(rgb_to_yuv(image)[..., 1:] - chroma).mean())

    def mean_chroma_shift(image):
        return float(np.abs(rgb_to_yuv(image)[..., 1:].mean((0, 1)) - chroma.mean((0, 1))).max())

    # Only where the styled brightness pushes a colour out of gamut does the chroma move (clipped to 0..255).
    assert chroma_error(kept.image) < 0.02
    assert chroma_error(kept.image) < 0.25 * chroma_error(plain.image)
    assert np.abs(kept.image.astype(int) - content).mean() > 5, "the brightness is still styled"
    # Histogram matching recolours the style to the picture's colours first: the result's colours stay near.
    assert mean_chroma_shift(matched.image) < 0.5 * mean_chroma_shift(plain.image)


def test_pixels_outside_the_mask_stay_as_they_were(store, style_a):
    content = picture()
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, 32:] = 1.0
    final, previews = stylise(store, {"style": style_a, "style_weight": 1e5}, mask=mask)
    outside = np.abs(final.image[:, :28].astype(int) - content[:, :28].astype(int))
    inside = np.abs(final.image[:, 36:].astype(int) - content[:, 36:].astype(int))
    assert outside.max() <= 1
    assert inside.mean() > 10, "the style applies inside the mask"
    preview = next(p for p in reversed(previews) if p.image is not None)
    assert np.abs(preview.image[:, :28].astype(int) - content[:, :28].astype(int)).max() <= 1


def test_half_strength_mask_gives_half_the_change(store, style_a):
    content = picture()
    full, _ = stylise(store, {"style": style_a}, mask=np.ones(content.shape[:2], np.float32))
    half, _ = stylise(store, {"style": style_a}, mask=np.full(content.shape[:2], 0.5, np.float32))
    change_full = np.abs(full.image.astype(float) - content).mean()
    change_half = np.abs(half.image.astype(float) - content).mean()
    assert 0.35 * change_full < change_half < 0.65 * change_full


def test_blend_weights_move_the_result_monotonically_between_the_styles(store, style_a, style_b):
    distances = []
    for weight_a in (1.0, 0.7, 0.3, 0.0):
        final, _ = stylise(
            store,
            {
                "style": f"{style_a},{style_b}",
                "style_weights": f"{weight_a},{1 - weight_a}",
                "style_weight": 1e5,
                "iterations": 30,
            },
        )
        distances.append(gram_distance(store, final.image, style_a))
    assert all(a < b for a, b in itertools.pairwise(distances)), distances


def test_style_scale_changes_what_is_matched(store, style_a):
    small, _ = stylise(store, {"style": style_a, "style_scale": 0.5})
    large, _ = stylise(store, {"style": style_a, "style_scale": 2.0})
    assert np.abs(small.image.astype(int) - large.image.astype(int)).mean() > 3


def test_multi_scale_reaches_the_target_size(store, style_a):
    final, _ = stylise(store, {"style": style_a, "scales": 3, "scale_factor": 1.4, "iterations": 12, "size": 96})
    assert final.image.shape == (72, 96, 3)
    sizes = [tuple(s["size"]) for s in final.info["scales"]]
    assert len(sizes) == 3 and sizes[-1] == (96, 72)
    assert sizes[0][0] < sizes[1][0] < sizes[2][0]
    iterations = [s["iterations"] for s in final.info["scales"]]
    assert sum(iterations) == 12 and iterations[0] > iterations[-1], "most iterations at low resolution"


def test_finer_scales_keep_the_contents_detail(store, style_a):
    """Moving up a scale adds the content detail the coarser scale could not hold: without style, the content stays."""
    content = picture(96, 72)
    values = {"style": style_a, "style_weight": 0.0, "tv_weight": 0.0, "iterations": 6}
    values.update(scales=3, scale_factor=1.4)
    values["precision"] = "float32"  # exact arithmetic: the content's own loss is exactly zero
    final, _ = stylise(store, values, image=content)
    assert len(final.info["scales"]) == 3
    assert np.abs(final.image.astype(int) - content).max() <= 1


def test_bfloat16_passes_lower_the_loss_and_stay_near_the_float32_result(store, style_a):
    exact, _ = stylise(store, {"style": style_a, "precision": "float32"})
    low, _ = stylise(store, {"style": style_a, "precision": "bfloat16"})
    assert (exact.info["precision"], low.info["precision"]) == ("float32", "bfloat16")
    curve = low.info["loss_curve"]
    assert curve[-1][3] < 0.6 * curve[0][3]
    difference = np.abs(exact.image.astype(int) - low.image.astype(int))
    assert 0 < difference.mean() < 4, difference.mean()


def border_energy(image: np.ndarray, tile: int) -> tuple[float, float]:
    """Mean absolute step across the unshifted grid's tile borders, and across every other column and row."""
    grey = image.astype(np.float32).mean(axis=2)
    columns = np.abs(np.diff(grey, axis=1)).mean(axis=0)  # step between column j and j + 1
    rows = np.abs(np.diff(grey, axis=0)).mean(axis=1)
    border_cols = [j - 1 for j in range(tile, grey.shape[1], tile)]
    border_rows = [i - 1 for i in range(tile, grey.shape[0], tile)]
    borders = np.concatenate([columns[border_cols], rows[border_rows]])
    others = np.concatenate([np.delete(columns, border_cols), np.delete(rows, border_rows)])
    return float(borders.mean()), float(others.mean())


def test_tiled_path_runs_without_seams(store, style_a):
    content = picture(96, 80)
    final, previews = stylise(
        store, {"style": style_a, "tile_size": 32, "scales": 2, "iterations": 12, "learning_rate": 0.05}, image=content
    )
    assert final.image.shape == (80, 96, 3)
    assert all(s["tiled"] for s in final.info["scales"][-1:]), final.info["scales"]
    assert any("tiles" in p.message for p in previews)
    assert np.abs(final.image.astype(int) - content).mean() > 5, "the tiled scales change the picture"
    borders, others = border_energy(final.image, 32)
    assert borders <= 1.25 * others, (borders, others)
    curve = [c[3] for c in final.info["loss_curve"] if c[0] == 1]
    assert curve[-1] < curve[0]


def test_tiled_statistics_equal_the_whole_pictures(store):
    net = feature_extractor(store, "vgg16", ["relu1_1", "relu3_1"], "cpu")
    image = image_to_tensor(picture(96, 64))
    whole = drain(gram_statistics(net, image, ["relu1_1", "relu3_1"], 1 << 30))
    tiled = drain(gram_statistics(net, image, ["relu1_1", "relu3_1"], 32))
    for name in whole:
        error = (whole[name] - tiled[name]).abs().max() / whole[name].abs().max()
        assert error < 0.05, (name, float(error))


def test_objective_is_zero_for_the_content_with_its_own_statistics(store):
    layers = choose_layers("vgg16", list(TAPS))
    net = feature_extractor(store, "vgg16", layers.content + layers.style, "cpu")
    content_net = feature_extractor(store, "vgg16", layers.content, "cpu")
    content = picture()
    tensor = image_to_tensor(content)
    objective = drain(
        build_objective(net, content_net, layers, tensor, Styles((content,), (1.0,), ("x",)), Weights(1, 1, 0))
    )
    terms = objective(tensor, objective.content_targets(tensor))
    assert float(terms.content) == 0.0
    assert float(terms.style) < 1e-3
    noisy = (tensor + 0.2 * torch.randn_like(tensor)).clamp(0, 1)
    assert float(objective(noisy, objective.content_targets(tensor)).total) > 100 * float(terms.total)


def test_an_untiled_scale_runs_the_content_network_once_for_its_norms_and_targets(store):
    layers = choose_layers("vgg16", list(TAPS))
    net = feature_extractor(store, "vgg16", layers.content + layers.style, "cpu")
    content_net = feature_extractor(store, "vgg16", layers.content, "cpu")
    passes: list[int] = []
    content_net.register_forward_hook(lambda *_: passes.append(1))
    tensor = image_to_tensor(picture(96, 64))
    styles = Styles((picture(seed=1),), (1.0,), ("x",))
    whole = drain(build_objective(net, content_net, layers, tensor, styles, Weights(1, 1, 0)))
    targets = whole.whole_content_targets(tensor)
    assert len(passes) == 1
    tiled = drain(build_objective(net, content_net, layers, tensor, styles, Weights(1, 1, 0), tile=32))
    assert tiled.whole_content is None
    for name in layers.content:
        assert torch.equal(targets[name], tiled.whole_content_targets(tensor)[name])
        assert whole.content_norms[name] == pytest.approx(tiled.content_norms[name], rel=0.05)


def test_default_layers_per_network_and_bad_layer_names_list_the_valid_ones():
    assert choose_layers("vgg16", list(TAPS)).content == ("relu4_2",)
    assert choose_layers("vgg16", list(TAPS)).style == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert choose_layers("alexnet", ["relu1", "relu2", "relu3", "relu4", "relu5"]).content == ("relu3",)
    chosen = choose_layers("vgg16", list(TAPS), "relu3_1", "relu1_1, relu2_1")
    assert chosen.content == ("relu3_1",) and chosen.style == ("relu1_1", "relu2_1")
    with pytest.raises(ParamError, match=r"style_layers: 'conv9' is not a layer of vgg16; choose from: relu1_1, "):
        choose_layers("vgg16", list(TAPS), "", "relu1_1,conv9")


def test_bad_layer_name_fails_the_run_with_the_message(store, style_a):
    with pytest.raises(ParamError, match="content_layers: 'relu9_9'"):
        stylise(store, {"style": style_a, "content_layers": "relu9_9"})


def test_bad_style_path_names_the_file(store, tmp_path):
    missing = tmp_path / "no-such-painting.jpg"
    with pytest.raises(ImageError, match=r"no-such-painting\.jpg"):
        stylise(store, {"style": str(missing)})
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(ImageError, match=r"broken\.png"):
        stylise(store, {"style": str(broken)})


def test_output_size_follows_the_size_parameter(store, style_a):
    final, _ = stylise(store, {"style": style_a, "size": 40})
    assert final.image.shape == (30, 40, 3)


def test_cli_writes_a_result_of_another_size(store, style_a, tmp_path, monkeypatch, capsys):
    from studio import cli

    monkeypatch.setattr(cli, "_model_store", lambda registry=None: store)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(picture(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.png"
    code = cli.main(
        ["run", "style_transfer", "--input", str(photo), "--device", "cpu", "--set", f"style={style_a},{style_a}",
         "--set", "style_weights=0.7,0.3", "--set", "size=80", "--set", "iterations=4", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    written = cv2.imread(str(out))
    assert written.shape == (60, 80, 3)
    assert "(80x60)" in capsys.readouterr().out


def test_mask_layer_of_a_document_reaches_the_engine(store, style_a):
    content = picture()
    doc = Document.from_pixels(inputs_for(content).image)
    mask = np.zeros(content.shape[:2], np.uint8)
    mask[:, :20] = 255
    doc.insert_layer(Layer("Mask", LayerKind.MASK, mask))
    params = make_params(StyleParams, {"style": style_a, **FAST})
    ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
    result = to_uint8(run_plugin(MANIFEST, params, inputs_from_document(doc, MANIFEST), ctx).image)
    assert np.abs(result[:, 24:].astype(int) - content[:, 24:]).max() <= 1
    assert np.abs(result[:, :16].astype(int) - content[:, :16]).mean() > 5


def real_vgg16_store() -> ModelStore:
    models = ModelStore()
    status = models.status("vgg16")
    if status != ModelStatus.INSTALLED:
        pytest.skip(f"the real vgg16 is {status} in {models.root}; install it with `studio models install vgg16`")
    return models


def test_real_vgg16_moves_the_gram_matrices_to_the_style_at_a_bounded_content_loss(tmp_path):
    import skimage.data

    models = real_vgg16_store()
    content = cv2.resize(skimage.data.chelsea(), (128, 85), interpolation=cv2.INTER_AREA)
    style_pixels = cv2.resize(skimage.data.coffee(), (128, 85), interpolation=cv2.INTER_AREA)
    style_pixels = cv2.applyColorMap(cv2.cvtColor(style_pixels, cv2.COLOR_RGB2GRAY), cv2.COLORMAP_JET)
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), style_pixels)
    params = make_params(StyleParams, {"style": str(style), "iterations": 60, "scales": 1})
    ctx = RunContext(preview_interval_s=1e9, models=models, device="cpu")
    final = drive(run(params, inputs_for(content), ctx), ctx)

    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    net = feature_extractor(models, "vgg16", [*layers, "relu4_2"], "cpu")
    style_rgb = cv2.cvtColor(style_pixels, cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        of_content, of_result, of_style = (net(image_to_tensor(p)) for p in (content, final.image, style_rgb))

    def gram_distance(features):
        return sum(
            float((gram_matrix(features[n]) - gram_matrix(of_style[n])).square().mean())
            / float(gram_matrix(of_style[n]).square().mean())
            for n in layers
        )

    def content_distance(features):
        return float((features["relu4_2"] - of_content["relu4_2"]).square().mean())

    assert gram_distance(of_result) < 0.3 * gram_distance(of_content), (
        gram_distance(of_result),
        gram_distance(of_content),
    )
    # Bounded: the result stays much nearer the content than the style picture itself is.
    assert content_distance(of_result) < 0.6 * content_distance(of_style), (
        content_distance(of_result),
        content_distance(of_style),
    )


def test_params_keep_their_fields():
    fields = {f.name for f in dataclasses.fields(StyleParams)}
    assert {"network", "content_layers", "style_layers", "style_weight", "tile_size", "scales"} <= fields
