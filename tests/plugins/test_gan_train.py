"""The style-based generator and its trainer: styles per level, re-rendering, the generative-rules training set,
training that checkpoints and resumes, R1 on its schedule, and the weights the store builds.

The networks are tiny (16 or 32 px, 8 to 16 channels) and train a handful of steps on a few rules pictures.
"""

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from PIL import Image
from studio_plugins.gan_breeding import models
from studio_plugins.gan_breeding.models import MODEL_ID, SPECS, build, checkpoint_weights, weights_bytes, write_release
from studio_plugins.gan_breeding.rules_data import HELDOUT_SEED, LICENSE, recipe, render, write_rules_data
from studio_plugins.gan_breeding.stylegan import Discriminator, GeneratorConfig, StyleGenerator, diff_augment
from studio_plugins.gan_breeding.train import TrainParams, load_pictures, sliced_wasserstein, train
from training_runs import context, resumed_as_unbroken

from studio.core.models import ModelError, ModelStatus, ModelStore
from studio.core.models.spec import BundledFile
from studio.core.params import ParamError, make_params
from studio.core.training import (
    TrainingError,
    load_checkpoint,
    new_run,
    train_plugin,
)

TINY32 = GeneratorConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channels=16, fine_channels=8)
TINY16 = dataclasses.replace(TINY32, resolution=16)  # its layers all have 16 channels
TINY_TRAINING = {
    "batch": 4,
    "resolution": 16,
    "z_dim": 16,
    "w_dim": 16,
    "mapping_layers": 2,
    "channels": 16,
    "fine_channels": 8,
    "r1_every": 3,
    "sample_every": 4,
    "precision": "float32",
}


class GanBreeding:
    """What the plugin's manifest declares for training: its trainer and train params."""

    id = "gan_breeding"
    title = "GAN breeding"
    accelerated = True
    device = "cpu"

    def trainer_function(self):
        return train

    def train_params_class(self):
        return TrainParams


PLUGIN = GanBreeding()


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny networks run fastest so, and the shared cores stay free."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """Six training and two held-out rules pictures at 16 px."""
    folder = tmp_path_factory.mktemp("rules")
    write_rules_data(folder, count=6, size=16, heldout=2)
    return folder


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "store", {MODEL_ID: SPECS[0]})


def generator(config=TINY32, seed=0, noise_strength=0.0) -> StyleGenerator:
    torch.manual_seed(seed)
    net = StyleGenerator(config).eval()
    for layer in net.layers:
        layer.noise_strength.data.fill_(noise_strength)
    return net


def tiny_run(tmp_path, pictures, name="run", **values):
    return new_run(PLUGIN, TrainParams(**{**TINY_TRAINING, **values}), pictures, tmp_path / name)


def install_as_shipped(store, net, folder):
    """Install ``net``'s weights in ``store`` as the shipped model, at their own sha256."""
    weights = folder / "shipped.safetensors"
    weights.write_bytes(weights_bytes(net))
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    store.specs[MODEL_ID] = dataclasses.replace(SPECS[0], sources=(BundledFile(str(weights), sha256),))
    store.install(MODEL_ID)


def low_share(difference: torch.Tensor) -> float:
    """The share of the energy of difference images (N, 3, H, W) below a quarter of their resolution (a 4 x 4 box
    low-pass), the mean over the images."""
    low = F.interpolate(F.avg_pool2d(difference, 4), scale_factor=4.0, mode="bilinear", align_corners=False)
    return (low.square().sum((1, 2, 3)) / difference.square().sum((1, 2, 3))).mean().item()


# -- the networks ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "num_ws", "levels"),
    [
        (TINY16, 5, {"coarse": (0, 3), "middle": (3, 3), "fine": (3, 5)}),
        (TINY32, 7, {"coarse": (0, 3), "middle": (3, 5), "fine": (5, 7)}),
        (GeneratorConfig(), 9, {"coarse": (0, 3), "middle": (3, 7), "fine": (7, 9)}),
    ],
)
def test_one_style_per_layer_grouped_in_coarse_middle_and_fine_levels(config, num_ws, levels):
    net = StyleGenerator(config)
    assert net.num_ws == num_ws
    assert {name: (part.start, part.stop) for name, part in net.level_slices().items()} == levels
    if config.resolution > 32:
        return
    ws = net.mapping(torch.randn(3, config.z_dim)).unsqueeze(1).repeat(1, num_ws, 1)
    images = net(ws)
    assert images.shape == (3, 3, config.resolution, config.resolution) and images.dtype == torch.float32
    with torch.autocast("cpu", torch.bfloat16):
        logits = Discriminator(config)(images)
    assert logits.shape == (3,) and logits.dtype == torch.float32
    with pytest.raises(ValueError, match=rf"\(N, {num_ws}, 16\)"):
        net(ws[:, 1:])


def test_coarse_styles_move_the_structure_and_fine_styles_the_detail():
    net = generator(noise_strength=1.0)  # as training leaves it: the noise feeds the fine detail
    latents = torch.randn(16, TINY32.z_dim)
    with torch.no_grad():
        first, second = net.mapping(latents[:8]), net.mapping(latents[8:])
        ws = first.unsqueeze(1).repeat(1, net.num_ws, 1)
        rgb_by_block = []
        hooks = [block.register_forward_hook(lambda _m, _i, out: rgb_by_block.append(out[1])) for block in net.blocks]
        parent = net(ws, noise_seed=1)
        parent_blocks = list(rgb_by_block)
        shares, unchanged_blocks = {}, {}
        for level, part in net.level_slices().items():
            mixed = ws.clone()
            mixed[:, part] = second.unsqueeze(1)
            rgb_by_block.clear()
            shares[level] = low_share(net(mixed, noise_seed=1) - parent)
            unchanged_blocks[level] = sum(torch.equal(a, b) for a, b in zip(parent_blocks, rgb_by_block, strict=True))
        for hook in hooks:
            hook.remove()
    assert unchanged_blocks == {"coarse": 0, "middle": 2, "fine": 3}  # blocks of 4, 8, 16 and 32 px
    assert shares["coarse"] > 0.6, "a coarse mix changes mostly the large forms"
    assert shares["fine"] < shares["coarse"] - 0.15, "a fine mix changes a larger share of the detail"


def test_the_same_styles_and_noise_seed_give_the_same_pixels_and_noise_can_be_switched_off():
    net = generator(noise_strength=0.5)
    ws = net.mapping(torch.randn(3, TINY32.z_dim))
    with torch.no_grad():
        once = net(ws, noise_seed=7)
        assert torch.equal(once, net(ws, noise_seed=7))
        assert torch.allclose(once[1:2], net(ws[1:2], noise_seed=7), atol=1e-5), (
            "the noise does not depend on the batch"
        )
        assert not torch.allclose(once, net(ws, noise_seed=8))
        quiet = net(ws, noise_seed=7, noise=0.0)
        assert torch.equal(quiet, net(ws, noise_seed=8, noise=0.0))
        for layer in net.layers:
            layer.noise_strength.data.zero_()
        assert torch.allclose(quiet, net(ws, noise_seed=7), atol=1e-6)


def test_truncation_pulls_styles_to_the_tracked_mean_and_zero_gives_its_picture():
    net = generator()
    for _ in range(3):
        net.update_w_avg(net.mapping(torch.randn(8, TINY32.z_dim)), beta=0.5)
    assert net.w_avg.abs().sum() > 0
    latents = torch.randn(4, TINY32.z_dim)
    with torch.no_grad():
        assert torch.allclose(net.mapping(latents, truncation=0.0), net.w_avg.expand(4, -1))
        half = net.mapping(latents, truncation=0.5)
        assert torch.allclose(half, (net.mapping(latents) + net.w_avg) / 2, atol=1e-6)
        mean_picture = net(net.w_avg.expand(1, -1), noise_seed=3)
        at_mean = net(net.mapping(latents, truncation=0.0), noise_seed=3)
        assert torch.allclose(at_mean, mean_picture.expand(4, -1, -1, -1), atol=1e-5)


# -- the training set --------------------------------------------------------------------------------------------------


def test_the_rules_pictures_follow_from_their_seeds_and_record_their_sources(pictures):
    sources = json.loads((pictures / "SOURCES.json").read_text())
    assert sources["license"] == LICENSE and (sources["count"], sources["heldout"], sources["size"]) == (6, 2, 16)
    entries = sources["pictures"]
    assert [entry["file"] for entry in entries[-3:]] == ["train/00000005.png", "heldout/00000000.png",
                                                         "heldout/00000001.png"]  # fmt: skip
    assert [entry["seed"] for entry in entries] == [0, 1, 2, 3, 4, 5, HELDOUT_SEED, HELDOUT_SEED + 1]
    for entry in entries[:2] + entries[-1:]:
        params = recipe(entry["seed"])
        assert entry["params"] == dataclasses.asdict(params) and entry["rule"] == params.rule
        saved = np.asarray(Image.open(pictures / entry["file"]))
        assert saved.shape == (16, 16, 3) and np.array_equal(saved, render(params, 16))
    assert len({entry["rule"] for entry in entries}) > 1, "the seeds choose among the rules"


def test_training_reads_the_train_split_only_cropped_square(tmp_path, pictures):
    loaded = load_pictures(pictures, 16)
    assert loaded.shape == (6, 16, 16, 3) and loaded.dtype == np.uint8
    wide = np.zeros((40, 80, 4), np.uint8)
    wide[:, 20:60] = (255, 0, 0, 255)  # the centre square is red; the sides are transparent
    Image.fromarray(wide).save(tmp_path / "wide.png")
    (tmp_path / "notes.png").write_bytes(b"not a picture")
    square = load_pictures(tmp_path, 8)
    assert square.shape == (1, 8, 8, 3) and (square == (255, 0, 0)).all()


def test_the_quality_number_tells_a_set_from_noise():
    rules = torch.from_numpy(np.stack([render(recipe(seed), 32) for seed in range(8)])).permute(0, 3, 1, 2)
    rules = rules.float() / 127.5 - 1.0
    same = sliced_wasserstein(rules, rules.flip(3))
    noise = sliced_wasserstein(rules, torch.rand_like(rules) * 2 - 1)
    assert 0 <= same < noise / 3


def test_the_quality_number_sees_pictures_as_they_are_shown():
    """A generator's output is not bounded; values beyond -1..1 are shown and saved as the range's ends, and count as
    those, so a few blown-out pictures do not swamp the number."""
    rules = torch.from_numpy(np.stack([render(recipe(seed), 32) for seed in range(8)])).permute(0, 3, 1, 2)
    rules = rules.float() / 127.5 - 1.0
    white, blown = rules.clone(), rules.clone()
    white[:2], blown[:2] = 1.0, 8.0
    assert sliced_wasserstein(rules, blown) == sliced_wasserstein(rules, white) > sliced_wasserstein(rules, rules)


# -- training ----------------------------------------------------------------------------------------------------------


def test_training_applies_r1_on_its_schedule_and_ends_with_a_float16_model_build_loads(tmp_path, pictures, store):
    run = tiny_run(tmp_path, pictures, steps=8)
    frames = []
    trained = train_plugin(PLUGIN, run, context(run, store), frames.append)
    by_step = {frame.info["step"]: frame.info for frame in frames}
    assert sorted(by_step) == list(range(9))
    assert [step for step, info in by_step.items() if "r1" in info["losses"]] == [3, 6]
    assert all(np.isfinite(list(info["losses"].values())).all() for info in by_step.values())
    assert [step for step, info in by_step.items() if "swd" in info] == [0, 4, 8]
    assert any("images_per_s" in info for info in by_step.values())
    samples = sorted(p.name for p in (run.run_dir / "samples").iterdir())
    assert samples == ["step-000000.png", "step-000004.png", "step-000008.png"]
    assert Image.open(run.run_dir / "samples" / samples[0]).size == (8 * 16, 4 * 16)
    assert trained.model_id == f"{MODEL_ID}-run" and trained.steps == 8

    path = Path(store.spec(trained.model_id).sources[0].path)
    tensors = safetensors.torch.load_file(path)
    with safetensors.safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["resolution"] == "16" and metadata["channels"] == "16" and metadata["steps"] == "8"
    assert tensors["const"].dtype == torch.float16 and tensors["w_avg"].dtype == torch.float32
    net = build()
    net.load_state_dict(tensors)
    assert net.config == TINY16
    average = StyleGenerator(TINY16)
    average.load_state_dict({k.removeprefix("G_ema."): v for k, v in load_checkpoint(run.run_dir).tensors.items()
                             if k.startswith("G_ema.")})  # fmt: skip
    assert torch.equal(net.w_avg, average.w_avg) and average.w_avg.abs().sum() > 0
    ws = average.mapping(torch.randn(2, 16))
    with torch.no_grad():
        torch.testing.assert_close(net(ws, noise_seed=1), average(ws, noise_seed=1), atol=2e-2, rtol=0)
    assert store.load(trained.model_id).config == TINY16
    released = safetensors.torch.load(checkpoint_weights(run.run_dir))  # a release of the run's last checkpoint
    assert released.keys() == tensors.keys() and all(torch.equal(released[k], tensors[k]) for k in tensors)


@pytest.mark.parametrize("augment", [False, True])
def test_a_cancelled_run_resumes_from_its_checkpoint_and_ends_as_an_unbroken_run(tmp_path, pictures, store, augment):
    def make_run(name):
        return tiny_run(tmp_path, pictures, name, steps=7, augment=augment)

    end = resumed_as_unbroken(PLUGIN, make_run, store, 4, "losses")
    assert any(k.startswith("d_optimizer.") for k in end) and any(k.startswith("G_ema.") for k in end)


def test_augment_puts_diffaugment_between_the_pictures_and_the_discriminator(tmp_path, pictures, store, monkeypatch):
    judged = []
    forward = Discriminator.forward
    monkeypatch.setattr(
        Discriminator, "forward", lambda net, images: judged.append(images.detach()) or forward(net, images)
    )
    for augment in (False, True):
        run = tiny_run(tmp_path, pictures, f"augment-{augment}", steps=1, r1_every=1000, augment=augment)
        train_plugin(PLUGIN, run, context(run, store))
    plain_real, augmented_real = judged[0], judged[3]  # each run: real, fake, then fake for the generator's loss
    assert plain_real.shape == augmented_real.shape and plain_real.min() >= -1 and plain_real.max() <= 1
    assert not torch.equal(plain_real, augmented_real)
    assert ((augmented_real == 0).all(dim=1).sum(dim=(1, 2)) >= 8 * 8).all(), "cut-outs in what the judge saw"


def test_diffaugment_changes_each_picture_its_own_way_from_its_seed_and_lets_gradients_through():
    images = (torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_(True)
    augmented = diff_augment(images, torch.Generator().manual_seed(5))
    assert augmented.shape == images.shape and augmented.dtype == images.dtype
    assert torch.equal(augmented, diff_augment(images, torch.Generator().manual_seed(5)))
    assert not torch.equal(augmented, diff_augment(images, torch.Generator().manual_seed(6)))
    same = diff_augment(images[:1].expand(6, -1, -1, -1), torch.Generator().manual_seed(5))
    assert all(not torch.equal(same[0], other) for other in same[1:]), "each picture draws its own"
    augmented.square().sum().backward()
    assert images.grad.isfinite().all() and images.grad.abs().sum() > 0

    flat = diff_augment(torch.full((6, 3, 32, 32), 0.5), torch.Generator().manual_seed(7))  # colour keeps it flat
    assert ((flat == 0).all(dim=1).sum(dim=(1, 2)) >= 16 * 16).all(), "each picture loses a square of half its side"
    columns, rows = ((flat == 0).all(dim=dims).sum(dim=1) for dims in ((1, 2), (1, 3)))
    assert (columns <= 4).all() and (rows <= 4).all() and (columns + rows).max() > 0, "moved by up to 1/8 of it"


def test_fine_tuning_a_base_generator_keeps_its_shape_and_weights_and_refuses_other_networks(tmp_path, pictures, store):
    install_as_shipped(store, generator(TINY16, seed=3), tmp_path)
    store.specs["other"] = dataclasses.replace(SPECS[0], id="other", builder="test_gan_train:generator")
    run = tiny_run(tmp_path, pictures, "tune", steps=1, base=MODEL_ID, channels=32, z_dim=64)
    trained = train_plugin(PLUGIN, run, context(run, store))
    end = load_checkpoint(run.run_dir)
    assert end.meta["config"] == dataclasses.asdict(TINY16) and end.meta["base"] == MODEL_ID
    start = {f"G.{k}": v.float() for k, v in store.load(MODEL_ID).state_dict().items()}
    changes = [(end.tensors[k] - v).abs().max().item() for k, v in start.items() if k.endswith("weight")]
    assert 0 < max(changes) < 0.1, "one step moves the base's weights a little"
    assert store.spec(trained.model_id).base == MODEL_ID
    refused = tiny_run(tmp_path, pictures, "refused", base="other")
    with pytest.raises(TrainingError, match="other is not a style-based generator"):
        train_plugin(PLUGIN, refused, context(refused, store))


def test_without_noise_a_noisy_base_trains_on_with_its_noise_off_for_good(tmp_path, pictures, store):
    noisy = generator(TINY16, seed=3)
    with torch.no_grad():
        for layer in noisy.layers:
            layer.noise_strength.fill_(0.3)
    install_as_shipped(store, noisy, tmp_path)
    run = tiny_run(tmp_path, pictures, "quiet", steps=3, base=MODEL_ID, noise=False)
    trained = store.load(train_plugin(PLUGIN, run, context(run, store)).model_id)
    end = load_checkpoint(run.run_dir)
    strengths = {name: value for name, value in end.tensors.items() if name.endswith("noise_strength")}
    assert {name.split(".")[0] for name in strengths} == {"G", "G_ema"} and not any(v.any() for v in strengths.values())
    changes = [(end.tensors[f"G.{k}"] - v).abs().max().item() for k, v in noisy.state_dict().items() if "conv" in k]
    assert max(changes) > 0, "the rest of the generator trained"
    ws = trained.mapping(torch.randn(2, trained.config.z_dim, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        torch.testing.assert_close(trained(ws, noise_seed=1), trained(ws, noise_seed=2), rtol=0, atol=0)


def test_params_the_networks_cannot_have_are_refused_and_the_recorded_configuration_is_the_defaults():
    with pytest.raises(ParamError, match="resolution must be a power of two"):
        make_params(TrainParams, {**TINY_TRAINING, "resolution": 48})
    recorded = tomllib.loads(Path(models.__file__).with_name("training.toml").read_text(encoding="utf-8"))
    assert make_params(TrainParams, recorded) == TrainParams()


# -- the shipped model -------------------------------------------------------------------------------------------------


def test_a_release_copies_the_weights_and_the_store_installs_them_only_at_the_pinned_hash(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    monkeypatch.setattr(models, "WEIGHTS", assets / "rules_gan64.safetensors")
    trained = tmp_path / "model.safetensors"
    trained.write_bytes(weights_bytes(StyleGenerator(TINY16), {"steps": "5"}))
    release = write_release(trained)
    assert release.sha256 == hashlib.sha256(trained.read_bytes()).hexdigest() and release.config == TINY16
    pinned = dataclasses.replace(SPECS[0], sources=(BundledFile(str(models.WEIGHTS), release.sha256),))
    store = ModelStore(tmp_path / "pinned", {MODEL_ID: pinned})
    store.install(MODEL_ID)
    assert store.status(MODEL_ID) == ModelStatus.INSTALLED and store.load(MODEL_ID).config == TINY16
    other = dataclasses.replace(SPECS[0], sources=(BundledFile(str(models.WEIGHTS), "0" * 64),))
    with pytest.raises(ModelError, match="sha256"):
        ModelStore(tmp_path / "other", {MODEL_ID: other}).install(MODEL_ID)
    mislabelled = tmp_path / "mislabelled.safetensors"
    mislabelled.write_bytes(safetensors.torch.save(safetensors.torch.load(trained.read_bytes()), {"resolution": "64"}))
    with pytest.raises(ValueError, match="does not describe"):
        write_release(mislabelled)


@pytest.mark.skipif(not models.WEIGHTS.is_file(), reason="rules_gan64 is not released yet (scripts/release_model.py)")
def test_the_shipped_generator_installs_at_its_pinned_hash_and_draws_closer_to_rules_art_than_an_untrained_one(
    tmp_path,
):
    """The weights in assets/ (24,084 steps: the gan-v2 run, then gan-v3 and gan-v3-quiet) load through the store,
    which checks their sha256, in the recorded configuration; their pictures are far closer (sliced Wasserstein
    distance) to held-out rules pictures than an untrained generator's of the same shape."""
    store = ModelStore(tmp_path, {MODEL_ID: SPECS[0]})
    store.install(MODEL_ID)
    assert store.status(MODEL_ID) == ModelStatus.INSTALLED
    shipped = store.load(MODEL_ID)
    recorded = tomllib.loads(Path(models.__file__).with_name("training.toml").read_text(encoding="utf-8"))
    assert shipped.config == make_params(TrainParams, recorded).config() and not shipped.training
    heldout = np.stack([render(recipe(HELDOUT_SEED + index)) for index in range(48)])
    real = torch.from_numpy(heldout).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    torch.manual_seed(0)
    distances = []
    for generator in (shipped, StyleGenerator(shipped.config).eval()):
        latents = torch.randn(len(real), generator.config.z_dim, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            drawn = generator(generator.mapping(latents, truncation=0.7), noise_seed=0).float()
        distances.append(sliced_wasserstein(real, drawn))
    assert distances[0] < distances[1] / 2, distances
