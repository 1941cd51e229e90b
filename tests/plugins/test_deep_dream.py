"""The Deep Dream plugin with a tiny random network: objectives, mask, seams, cancel, seeds, animation, guide."""

import dataclasses
import hashlib
import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image
from studio_plugins.deep_dream import MANIFEST
from studio_plugins.deep_dream import engine as dream_engine
from studio_plugins.deep_dream.engine import Dreamer, from_picture, run, to_picture
from studio_plugins.deep_dream.params import DreamParams
from tiny_store import tiny_store
from torch import nn

from studio.core import tiling
from studio.core.batch import JobFileError, load_job, run_job
from studio.core.cancel import Cancelled
from studio.core.document import Document, Layer, LayerKind
from studio.core.image import to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.features import feature_extractor, image_to_tensor
from studio.core.outputs import OutputFolder
from studio.core.params import make_params
from studio.core.plugin import discover_plugins
from studio.core.run import inputs_from_document, run_plugin

TINY_TAPS = {"relu1_1": "1", "relu2_1": "3", "relu3_1": "5", "relu4_1": "7"}
LAYER = "relu3_1"
TEST_STEP = 0.012
"""A stronger step than the default, so a few iterations of a tiny network change the picture clearly."""


def tiny_net() -> nn.Sequential:
    """Four convolutions, two of them strided: a network with the shape of a small VGG."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 24, 3, stride=2, padding=1),
        nn.ReLU(),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    """A model store whose "vgg16" is the tiny network with fixed random weights."""
    return tiny_store(tmp_path_factory.mktemp("dream-store"), "test_deep_dream:tiny_net", tiny_net, TINY_TAPS, seed=0)


def picture(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth RGBA test picture: soft colour blobs with a little noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    noisy = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
    return np.concatenate([noisy, np.full((size, size, 1), 255, np.uint8)], axis=2)


def dream(store, values=None, image=None, mask=None, interval=0.0, size=64, outputs=None):
    image = picture(size) if image is None else image
    params = make_params(
        DreamParams,
        {"network": "vgg16", "layer": LAYER, "octaves": 2, "iterations": 4, "step_size": TEST_STEP, **(values or {})},
    )
    ctx = RunContext(preview_interval_s=interval, models=store, device="cpu", outputs=outputs)
    previews = []
    final = drive(run(params, Inputs(image.shape[1], image.shape[0], image, mask), ctx), ctx, previews.append)
    assert final.image.dtype == np.uint16, "a result keeps 16 bits"
    assert all(p.image is None or p.image.dtype == np.uint8 for p in previews)
    return dataclasses.replace(final, image=to_uint8(final.image)), previews  # 8 bits, to compare with the input


def activation(store, image: np.ndarray, layer: str = LAYER, channels=None) -> float:
    extractor = feature_extractor(store, "vgg16", [layer], "cpu")
    with torch.no_grad():
        features = extractor(image_to_tensor(image))[layer]
    if channels is not None:
        return float(features[:, channels].mean())
    return float(features.pow(2).mean())


def test_the_manifest_is_discovered_and_lists_the_networks():
    manifest = discover_plugins().get("deep_dream")
    assert manifest is MANIFEST
    assert [spec.name for spec in manifest.inputs] == ["image", "mask"]
    assert manifest.input("image").required and not manifest.input("mask").required
    assert set(manifest.models) == {"inception_v3", "vgg16", "alexnet", "efficientnet_lite0"}


def test_the_layer_objective_rises_over_the_run_and_previews_report_progress(store):
    image = picture()
    final, previews = dream(store, image=image)
    assert final.image.shape == image.shape and final.image.dtype == np.uint8
    last_octave = [activation(store, frame.image) for frame in previews[4:]]
    assert all(b > a for a, b in itertools.pairwise(last_octave)), last_octave
    assert activation(store, final.image) > 1.3 * activation(store, image)
    assert len(previews) == 2 * 4
    assert "octave 1/2, iteration 1/4" in previews[0].message and "left" in previews[1].message
    assert "octave 2/2, iteration 4/4" in previews[-1].message
    progress = [frame.progress for frame in previews]
    assert progress == sorted(progress) and progress[-1] <= 1.0
    assert final.info["seed"] == 0 and final.info["models"][0]["id"] == "vgg16"
    assert final.info["models"][0]["sha256"] == store.record("vgg16").files["model.safetensors"]


def test_a_channel_objective_raises_those_channels_most(store):
    image = picture()
    final, _ = dream(store, {"objective": "channels", "channels": "3, 5"}, image=image)
    gain = activation(store, final.image, channels=[3, 5]) - activation(store, image, channels=[3, 5])
    others = [c for c in range(16) if c not in (3, 5)]
    other_gain = activation(store, final.image, channels=others) - activation(store, image, channels=others)
    assert gain > 0 and gain > other_gain


def test_only_masked_pixels_change(store):
    image = picture()
    mask = np.zeros((64, 64), np.float32)
    mask[:, :32] = 1.0
    final, _ = dream(store, image=image, mask=mask)
    np.testing.assert_array_equal(final.image[:, 32:], image[:, 32:])
    changed = np.abs(final.image[:, :32, :3].astype(int) - image[:, :32, :3]).mean()
    assert changed > 5


def test_same_seed_same_pixels_other_seed_other_pixels(store):
    a, _ = dream(store, {"seed": 3})
    b, _ = dream(store, {"seed": 3}, interval=0.1)
    c, _ = dream(store, {"seed": 4})
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_bfloat16_passes_stay_near_float32_which_stays_exact(store):
    image = picture()
    exact, _ = dream(store, {"precision": "float32"}, image=image)
    low, _ = dream(store, {"precision": "bfloat16"}, image=image)
    weight = store.load("vgg16", "cpu")[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    again, _ = dream(store, {"precision": "float32"}, image=image)
    assert store.load("vgg16", "cpu")[0].weight.is_contiguous()  # the shared network is back in the default order
    assert (exact.info["precision"], low.info["precision"]) == ("float32", "bfloat16")
    np.testing.assert_array_equal(again.image, exact.image)
    difference = np.abs(exact.image[..., :3].astype(int) - low.image[..., :3].astype(int)).mean()
    dreamed = np.abs(exact.image[..., :3].astype(int) - image[..., :3].astype(int)).mean()
    assert 0 < difference < 0.25 * dreamed, (difference, dreamed)
    gain_exact = activation(store, exact.image) / activation(store, image)
    gain_low = activation(store, low.image) / activation(store, image)
    assert gain_low > 1.3 and abs(gain_low - gain_exact) < 0.05 * gain_exact, (gain_low, gain_exact)


def edge_ratio(change: np.ndarray, columns: set[int], rows: set[int]) -> float:
    """Mean jump of ``change`` across the given column and row boundaries, over the mean jump elsewhere."""
    across_columns = np.abs(np.diff(change, axis=1)).mean(axis=(0, 2))  # jump between column c-1 and c at c-1
    across_rows = np.abs(np.diff(change, axis=0)).mean(axis=(1, 2))
    on_col = [across_columns[c - 1] for c in columns if 0 < c < change.shape[1]]
    on_row = [across_rows[r - 1] for r in rows if 0 < r < change.shape[0]]
    off_col = [v for i, v in enumerate(across_columns) if i + 1 not in columns]
    off_row = [v for i, v in enumerate(across_rows) if i + 1 not in rows]
    return float(np.mean(on_col + on_row) / np.mean(off_col + off_row))


def tiled_dream(store, monkeypatch, *, shift_grid: bool, jitter: int, margin: int | None = None) -> tuple[float, int]:
    """A 256 px one-octave dream in 64 px tiles; the edge ratio along every tile border it used, and the tile count."""
    if margin is not None:
        monkeypatch.setattr(dream_engine, "MARGIN", margin)
    image = picture(256, seed=1)
    params = make_params(
        DreamParams,
        {"network": "vgg16", "layer": LAYER, "tile_size": 64, "iterations": 12, "jitter": jitter, "step_size": 0.02},
    )
    used_columns: set[int] = set()
    used_rows: set[int] = set()
    tiles = 0
    extractor = feature_extractor(store, "vgg16", [LAYER], "cpu")
    dreamer = Dreamer(extractor, LAYER, params, np.random.default_rng(0), lambda: None)
    dreamer.shift_grid = shift_grid
    real_grid = dreamer.grid

    def recording(width: int, height: int) -> tiling.TorusGrid:
        nonlocal tiles
        grid = real_grid(width, height)
        for tile in grid:
            tiles += 1
            used_columns.add(tile.x)
            used_rows.add(tile.y)
        return grid

    monkeypatch.setattr(dreamer, "grid", recording)
    x = to_picture(image_to_tensor(image))
    before = from_picture(x)
    for _ in range(params.iterations):
        dreamer.step(x)
    change = (from_picture(x) - before)[0].permute(1, 2, 0).numpy()
    return edge_ratio(change, used_columns - {0}, used_rows - {0}), tiles


def test_a_tiled_dream_has_no_stronger_edges_along_tile_borders(store, monkeypatch):
    ratio, tiles = tiled_dream(store, monkeypatch, shift_grid=True, jitter=32)
    assert tiles > 12 * 16, "the picture was dreamed in tiles"
    assert ratio < 1.15, f"edges along the tile borders are {ratio:.2f} times the others"


def test_the_seam_measure_sees_the_seams_of_a_grid_that_never_moves(store, monkeypatch):
    ratio, _ = tiled_dream(store, monkeypatch, shift_grid=False, jitter=0, margin=0)
    assert ratio > 1.3, f"a fixed grid should leave seams (ratio {ratio:.2f})"


def test_cancel_after_the_first_preview_leaves_the_document_untouched(store):
    doc = Document.from_pixels(picture())
    doc.insert_layer(Layer("Mask", LayerKind.MASK, np.full((64, 64), 255, np.uint8)))
    before = [(layer.id, layer.pixels.copy()) for layer in doc.layers]
    inputs = inputs_from_document(doc, MANIFEST)
    ctx = RunContext(preview_interval_s=0.0, models=store, device="cpu")
    seen = []

    def on_frame(frame):
        seen.append(frame)
        ctx.cancel()

    params = make_params(
        DreamParams, {"network": "vgg16", "layer": LAYER, "octaves": 2, "iterations": 20, "step_size": TEST_STEP}
    )
    with pytest.raises(Cancelled):
        run_plugin(MANIFEST, params, inputs, ctx, on_frame)
    assert len(seen) == 1
    assert len(doc.layers) == len(before)
    for layer, (layer_id, pixels) in zip(doc.layers, before, strict=True):
        assert layer.id == layer_id
        np.testing.assert_array_equal(layer.pixels, pixels)


def test_cancel_is_checked_inside_the_tile_loop(store):
    image = picture(256)
    params = make_params(DreamParams, {"network": "vgg16", "layer": LAYER, "tile_size": 64, "octaves": 1})
    ctx = RunContext(models=store, device="cpu")
    extractor = feature_extractor(store, "vgg16", [LAYER], "cpu")
    calls = 0

    def check():
        nonlocal calls
        calls += 1
        if calls == 3:
            ctx.cancel()
        ctx.check_cancelled()

    dreamer = Dreamer(extractor, LAYER, params, np.random.default_rng(0), check)
    x = to_picture(image_to_tensor(image))
    with pytest.raises(Cancelled):
        dreamer.step(x)
    assert calls == 3, "stopped at the third tile of one step"


def test_the_zoom_animation_emits_every_frame_then_the_gif_and_webp(store, tmp_path):
    folder = OutputFolder(tmp_path / "anim")
    final, previews = dream(
        store, {"frames": 3, "zoom": 1.1, "rotate": 5, "frame_iterations": 2}, interval=10.0, outputs=folder
    )
    names = [written.name for written in folder.written]
    assert names == [f"frames/frame_000{n}.png" for n in (1, 2, 3)] + ["dream.gif", "dream.webp"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        f"anim/{name}" for name in sorted(names)
    ]
    with Image.open(folder.folder / "dream.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (64, 64)
    with Image.open(folder.folder / "dream.webp") as webp:
        assert webp.n_frames == 3
    frames = [np.asarray(Image.open(w.path).convert("RGB")) for w in folder.written[:3]]
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    np.testing.assert_array_equal(final.image[..., :3], frames[-1])
    done = [f for f in previews if "frame done" in f.message]
    assert len(done) == 3 and "frame 3/3" in done[-1].message
    np.testing.assert_array_equal(done[1].image, frames[1])
    assert final.outputs == ()


def test_without_a_host_folder_the_animation_arrives_with_the_result(store):
    final, _ = dream(store, {"frames": 2, "frame_iterations": 1})
    assert [output.name for output in final.outputs] == [
        "frames/frame_0001.png",
        "frames/frame_0002.png",
        "dream.gif",
        "dream.webp",
    ]


def test_the_size_parameter_dreams_at_another_size(store):
    final, _ = dream(store, {"size": 48, "octaves": 1, "iterations": 1}, size=64)
    assert final.image.shape == (48, 48, 4)


def mean_feature_similarity(extractor, layer: str, image: np.ndarray, guide: np.ndarray) -> float:
    """Cosine similarity between the mean feature vectors of ``image`` and ``guide`` at ``layer``."""
    with torch.no_grad():
        a = extractor(image_to_tensor(image))[layer][0].flatten(1).mean(1)
        b = extractor(image_to_tensor(guide))[layer][0].flatten(1).mean(1)
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def two_guides(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Red-orange vertical stripes, and green horizontal stripes with white bars."""
    a = np.zeros((size, size, 3), np.uint8)
    a[:, ::8] = a[:, 1::8] = (255, 40, 0)
    a[::6, :] = (0, 90, 255)
    b = np.zeros((size, size, 3), np.uint8)
    b[::4, :] = b[1::4, :] = (0, 255, 60)
    b[:, ::16] = (255, 255, 255)
    return a, b


def guided_cross_check(tmp_path, dream_with, extractor, layer: str, size: int) -> None:
    """The dream guided by A ends nearer A than the dream guided by B does, and the other way round."""
    guides = two_guides(size)
    results = []
    for name, guide in zip("ab", guides, strict=True):
        Image.fromarray(guide).save(tmp_path / f"{name}.png")
        results.append(dream_with({"objective": "guide", "guide": str(tmp_path / f"{name}.png")}))
    for mine, guide in enumerate(guides):
        near = mean_feature_similarity(extractor, layer, results[mine], guide)
        other = mean_feature_similarity(extractor, layer, results[1 - mine], guide)
        assert near > other, f"guide {'ab'[mine]}: {near:.4f} <= {other:.4f}"


def test_a_guided_dream_moves_the_features_towards_its_guide(store, tmp_path):
    image = picture(seed=2)
    extractor = feature_extractor(store, "vgg16", [LAYER], "cpu")
    guided_cross_check(tmp_path, lambda values: dream(store, values, image=image)[0].image, extractor, LAYER, 64)


@pytest.mark.parametrize("content", [None, b"not an image at all"])
def test_a_bad_guide_file_is_an_error_naming_the_file(store, tmp_path, content):
    path = tmp_path / "my-guide.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"my-guide\.png"):
        dream(store, {"objective": "guide", "guide": str(path)})


def test_bad_choices_are_errors_that_say_what_to_choose(store):
    with pytest.raises(ValueError, match="does not go with network=vgg16; choose one of auto, relu1_1"):
        dream(store, {"layer": "Mixed_5b"})
    with pytest.raises(ValueError, match="not a layer of vgg16; choose one of: relu1_1"):
        dream(store, {"layer": "relu5_3"})  # a layer of the real vgg16 that the tiny one lacks
    with pytest.raises(ValueError, match="channels 0 to 15"):
        dream(store, {"objective": "channels", "channels": "16"})
    with pytest.raises(ValueError, match="needs channel numbers"):
        dream(store, {"objective": "channels"})
    with pytest.raises(ValueError, match="mask is empty"):
        dream(store, mask=np.zeros((64, 64), np.float32))


def test_auto_picks_an_installed_network_and_its_layer(store):
    final, _ = dream(store, {"network": "auto", "layer": "auto"})
    assert final.info["network"] == "vgg16" and final.info["layer"] in TINY_TAPS


def test_alpha_is_kept(store):
    image = picture()
    image[:8, :8, 3] = 0
    final, _ = dream(store, image=image)
    np.testing.assert_array_equal(final.image[..., 3], image[..., 3])


def real_store_with(model_id: str) -> ModelStore:
    models = ModelStore()
    if models.record(model_id) is None:
        pytest.skip(f"{model_id} is not installed in the user cache (studio models install {model_id})")
    return models


@pytest.mark.parametrize(
    ("model_id", "layer", "iterations"), [("inception_v3", "Mixed_5b", 20), ("vgg16", "relu4_2", 8)]
)
def test_real_weights_raise_the_chosen_layer_far_above_the_input(model_id, layer, iterations):
    models = real_store_with(model_id)
    image = np.asarray(_photo().convert("RGBA").resize((128, 128)))
    params = make_params(
        DreamParams,
        {"network": model_id, "layer": layer, "octaves": 2, "iterations": iterations, "step_size": TEST_STEP},
    )
    ctx = RunContext(models=models, device="cpu")
    final = drive(run(params, Inputs(128, 128, image), ctx), ctx)
    extractor = feature_extractor(models, model_id, [layer], "cpu")
    with torch.no_grad():
        before = float(extractor(image_to_tensor(image))[layer].pow(2).mean())
        after = float(extractor(image_to_tensor(final.image))[layer].pow(2).mean())
    assert after > 3 * before, f"{layer}: {before:.3g} -> {after:.3g}"


def _photo() -> Image.Image:
    skimage_data = pytest.importorskip("skimage.data")
    return Image.fromarray(skimage_data.astronaut())


def test_real_weights_guided_dream_moves_towards_its_guide(tmp_path):
    models = real_store_with("vgg16")
    image = np.asarray(_photo().convert("RGBA").resize((96, 96)))
    layer = "relu3_3"
    extractor = feature_extractor(models, "vgg16", [layer], "cpu")

    def dream_with(values):
        params = make_params(
            DreamParams,
            {"network": "vgg16", "layer": layer, "octaves": 1, "iterations": 10, "step_size": TEST_STEP, **values},
        )
        ctx = RunContext(models=models, device="cpu")
        return drive(run(params, Inputs(96, 96, image), ctx), ctx).image

    guided_cross_check(tmp_path, dream_with, extractor, layer, 96)


def test_params_round_trip_through_the_cli_syntax():
    params = make_params(
        DreamParams, {"layer": "Mixed_5b", "frames": "24", "zoom": "1.05", "objective": "channels", "channels": "1,2"}
    )
    assert params.layer == "Mixed_5b" and params.frames == 24 and params.zoom == 1.05
    assert dataclasses.asdict(params)["channels"] == "1,2"


def test_a_batch_zoom_animation_writes_only_in_the_items_folder_and_records_every_file(tmp_path):
    store = ModelStore()
    if store.status("vgg16") is not ModelStatus.INSTALLED:
        pytest.skip("needs the real vgg16 weights (make models)")
    Image.fromarray(picture(48)[..., :3]).save(tmp_path / "photo.png")
    job_file = tmp_path / "zoom.toml"
    job_file.write_text(
        'inputs = ["photo.png"]\noutput_dir = "out"\noutput = "{stem}-zoom.png"\n\n[[steps]]\nplugin = "deep_dream"\n'
        'network = "vgg16"\nlayer = "relu2_2"\noctaves = 1\niterations = 1\nframes = 2\nframe_iterations = 1\n'
    )
    before = set(tmp_path.parent.rglob("*"))
    job = load_job(job_file)
    assert run_job(job).exit_code == 0
    folder = tmp_path / "out" / "photo-zoom"
    entry = json.loads(job.manifest_path.read_text())["items"]["photo-zoom.png"]
    names = ["dream.gif", "dream.webp", "frames/frame_0001.png", "frames/frame_0002.png"]
    assert sorted(entry["outputs"]) == names
    for name, sha in entry["outputs"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
    made = {p for p in set(tmp_path.parent.rglob("*")) - before if p.is_file()}
    assert made == {job_file.parent / "out" / p for p in ("photo-zoom.png", "zoom.manifest.json")} | {
        folder / name for name in names
    }, "nothing is written outside the output folder"


def test_a_job_file_cannot_name_a_folder_for_the_animation(tmp_path):
    Image.fromarray(picture(16)[..., :3]).save(tmp_path / "photo.png")
    job_file = tmp_path / "escape.toml"
    job_file.write_text(
        'inputs = ["photo.png"]\noutput = "x.png"\n\n[[steps]]\nplugin = "deep_dream"\nframes = 3\n'
        'animation_output = "/tmp/elsewhere"\n'
    )
    with pytest.raises(JobFileError, match="unknown parameter 'animation_output'"):
        load_job(job_file)
