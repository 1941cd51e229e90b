"""Training the inpainting network: photographs in, a model in the store out, resumable, in the paper's two stages.

The networks are tiny (3 levels, width 8, 32 px crops) and the loss reads test_inpainting_net's tiny VGG16-shaped
network with fixed random weights, installed as "vgg16" in a temporary store beside the shipped model's entry.
"""

import dataclasses
import hashlib
import logging
import tomllib
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from PIL import Image
from studio_plugins.inpainting import models
from studio_plugins.inpainting.models import (
    MODEL_ID,
    SPECS,
    WEIGHTS,
    build,
    checkpoint_weights,
    weights_bytes,
    write_release,
)
from studio_plugins.inpainting.net import NetConfig, PConvUNet
from studio_plugins.inpainting.photos import KEPT_CROPS, SCALES, load_photos
from studio_plugins.inpainting.train import TrainParams, train, training_batch
from test_inpainting_net import tiny_vgg16
from tiny_store import tiny_store
from training_runs import context, resumed_as_unbroken

from studio.core.models import ModelError, ModelStatus, ModelStore
from studio.core.models.catalog import VGG16_TAPS
from studio.core.models.spec import BundledFile
from studio.core.params import ParamError, make_params
from studio.core.training import (
    TrainingError,
    load_checkpoint,
    new_run,
    train_plugin,
)

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
TINY = {"batch": 4, "crop": 32, "levels": 3, "width": 8, "learning_rate": 2e-3, "precision": "float32", "loss_size": 0}
ENCODER_NORM = ".norm."  # batch-norm entries of a state dict; the encoder's start with "encoder."


class Inpainting:
    """What the plugin's manifest declares for training: its trainer and train params."""

    id = "inpainting"
    title = "Inpainting"
    accelerated = True
    device = "cpu"

    def trainer_function(self):
        return train

    def train_params_class(self):
        return TrainParams


PLUGIN = Inpainting()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six photographs of skimage.data at half size, one of them a PNG."""
    skimage_data = pytest.importorskip("skimage.data")
    folder = tmp_path_factory.mktemp("photos")
    for index, name in enumerate(PHOTOS):
        picture = Image.fromarray(getattr(skimage_data, name)()[::2, ::2])
        picture.save(folder / (f"{name}.png" if index == 0 else f"{name}.jpg"))
    return folder


@pytest.fixture
def store(tmp_path) -> ModelStore:
    (tmp_path / "vgg").mkdir()
    vgg = tiny_store(tmp_path / "vgg", "test_inpainting_net:tiny_vgg16", tiny_vgg16, VGG16_TAPS, seed=5)
    return ModelStore(vgg.root, {**vgg.specs, MODEL_ID: SPECS[0]})


def tiny_run(tmp_path, photos, name="run", **values):
    return new_run(PLUGIN, TrainParams(**{**TINY, **values}), photos, tmp_path / name)


def trained_file(store, model_id) -> Path:
    """The weights file the trainer emitted, as the store keeps it."""
    return Path(store.spec(model_id).sources[0].path)


def norm_entries(state, part):
    return {k: v for k, v in state.items() if k.startswith(f"net.{part}.") and ENCODER_NORM in k}


# -- the photographs ---------------------------------------------------------------------------------------------------


def test_a_plain_folder_is_split_by_file_name_and_decoded_small(photos):
    split = load_photos(photos, 32)
    assert len(split.train) + len(split.validation) == len(PHOTOS) and len(split.validation) >= 1
    again = load_photos(photos, 32)
    assert [p.shape for p in again.validation] == [p.shape for p in split.validation]
    assert all(min(p.shape[:2]) <= KEPT_CROPS * 32 / SCALES[0] and p.dtype == np.uint8 for p in split.train)
    crops = split.crops(np.random.default_rng(3), 5)
    assert crops.shape == (5, 32, 32, 3) and np.array_equal(crops, split.crops(np.random.default_rng(3), 5))


def test_train_and_validation_subfolders_are_used_as_they_are(tmp_path, photos):
    for part, names in (("train", PHOTOS[1:4]), ("validation", PHOTOS[4:])):
        (tmp_path / part).mkdir()
        for name in names:
            (tmp_path / part / f"{name}.jpg").write_bytes((photos / f"{name}.jpg").read_bytes())
    split = load_photos(tmp_path, 32)
    assert (len(split.train), len(split.validation)) == (3, 2)


def test_a_folder_without_usable_pictures_is_a_training_error_naming_it(tmp_path, store, caplog):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "scan.jpg").write_bytes(b"not a picture")
    Image.new("RGB", (20, 20)).save(folder / "icon.png")
    run = new_run(PLUGIN, TrainParams(**TINY), folder, tmp_path / "run")
    with caplog.at_level(logging.WARNING), pytest.raises(TrainingError, match=f"{folder} holds no picture to train"):
        train_plugin(PLUGIN, run, context(run, store))
    assert "skipping" in caplog.text and "scan.jpg" in caplog.text and "icon.png" in caplog.text


def test_a_step_s_batch_follows_from_the_seed_and_the_step(photos):
    split, params = load_photos(photos, 32), TrainParams(**TINY)
    images, holes = training_batch(split, params, 7)
    assert images.shape == (4, 32, 32, 3) and holes.shape == (4, 32, 32) and holes.any(axis=(1, 2)).all()
    again = training_batch(split, params, 7)
    assert np.array_equal(images, again[0]) and np.array_equal(holes, again[1])
    assert not np.array_equal(holes, training_batch(split, params, 8)[1])


# -- training ----------------------------------------------------------------------------------------------------------


def test_training_lowers_the_validation_loss_and_ends_with_a_float16_model_build_loads(tmp_path, photos, store):
    run = tiny_run(tmp_path, photos, steps=60, validate_every=30)
    frames = []
    trained = train_plugin(PLUGIN, run, context(run, store), frames.append)
    checked = [frame.info["validation"] for frame in frames if "validation" in frame.info]
    assert [frame.info["step"] for frame in frames if "validation" in frame.info] == [0, 30, 60]
    assert len(checked[0]["hole_l1"]) == len(checked[0]["loss_by_hole"]) == 5
    assert checked[2]["loss"] < 0.8 * checked[1]["loss"] < 0.8 * checked[0]["loss"]
    assert any("images_per_s" in frame.info for frame in frames)
    samples = sorted((run.run_dir / "samples").iterdir())
    assert [p.name for p in samples] == ["step-000000.png", "step-000030.png", "step-000060.png"]
    assert Image.open(samples[0]).size == (3 * 32, 5 * 32)
    assert trained.model_id == f"{MODEL_ID}-run" and trained.steps == 60

    path = trained_file(store, trained.model_id)
    tensors = safetensors.torch.load_file(path)
    with safetensors.safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["levels"] == "3" and metadata["width"] == "8" and metadata["steps"] == "60"
    assert tensors["encoder.0.conv.conv.weight"].dtype == torch.float16
    assert tensors["encoder.1.norm.running_var"].dtype == torch.float32
    net = build()
    net.load_state_dict(tensors)
    reference = PConvUNet(NetConfig(3, 8))
    reference.load_state_dict({k.removeprefix("net."): v for k, v in load_checkpoint(run.run_dir).tensors.items()
                               if k.startswith("net.")})  # fmt: skip
    image, valid = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(image, valid), reference.eval()(image, valid), atol=2e-2, rtol=0)
    assert isinstance(store.load(trained.model_id), PConvUNet)
    released = safetensors.torch.load(checkpoint_weights(run.run_dir))  # a release of the run's last checkpoint
    assert released.keys() == tensors.keys() and all(torch.equal(released[k], tensors[k]) for k in tensors)


def test_a_cancelled_run_resumes_from_its_checkpoint_and_ends_as_an_unbroken_run(tmp_path, photos, store):
    resumed_as_unbroken(PLUGIN, lambda name: tiny_run(tmp_path, photos, name, steps=10), store, 6, "loss")


def test_the_second_stage_freezes_the_encoder_batch_norms_and_lowers_the_rate(tmp_path, photos, store):
    run = tiny_run(tmp_path, photos, steps=8, finetune_from_step=4, finetune_learning_rate=1e-4)
    at_switch, stages = {}, {}

    def record(frame):
        stages[frame.info["step"]] = frame.info["stage"]
        if frame.info["step"] == 4:
            at_switch.update(load_checkpoint(run.run_dir).tensors)

    train_plugin(PLUGIN, run, context(run, store, checkpoint_interval_s=0), record)
    end = load_checkpoint(run.run_dir)
    assert [stages[step] for step in range(1, 9)] == ["train"] * 4 + ["finetune"] * 4
    assert end.meta["stage"] == "finetune" and end.meta["optimizer"]["groups"][0]["lr"] == 1e-4
    frozen, learning = norm_entries(end.tensors, "encoder"), norm_entries(end.tensors, "decoder")
    assert frozen and all(torch.equal(v, at_switch[k]) for k, v in frozen.items())
    assert not all(torch.equal(v, at_switch[k]) for k, v in learning.items())


def test_fine_tuning_a_base_model_keeps_its_shape_and_starts_in_the_second_stage(tmp_path, photos, store):
    torch.manual_seed(1)
    shipped = PConvUNet(NetConfig(3, 8))
    for norm in shipped.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
    weights = tmp_path / "shipped.safetensors"
    weights.write_bytes(weights_bytes(shipped))
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    store.specs[MODEL_ID] = dataclasses.replace(SPECS[0], sources=(BundledFile(str(weights), sha256),))
    store.install(MODEL_ID)
    run = tiny_run(tmp_path, photos, "tune", steps=3, base=MODEL_ID, levels=6, width=32, loss_size=16)
    frames = []
    trained = train_plugin(PLUGIN, run, context(run, store), frames.append)
    assert {frame.info["stage"] for frame in frames} == {"finetune"}
    base = {f"net.{k}": v for k, v in store.load(MODEL_ID).state_dict().items()}
    end = load_checkpoint(run.run_dir)
    assert end.meta["net"] == {"levels": 3, "width": 8}
    assert all(torch.equal(v, base[k]) for k, v in norm_entries(end.tensors, "encoder").items())
    assert not torch.equal(end.tensors["net.encoder.0.conv.conv.weight"], base["net.encoder.0.conv.conv.weight"])
    assert trained.model_id == f"{MODEL_ID}-tune" and store.spec(trained.model_id).base == MODEL_ID


def test_a_base_that_is_no_inpainting_network_is_refused(tmp_path, photos, store):
    run = tiny_run(tmp_path, photos, base="vgg16")
    with pytest.raises(TrainingError, match="vgg16 is not an inpainting network"):
        train_plugin(PLUGIN, run, context(run, store))


@pytest.mark.parametrize(
    ("values", "message"),
    [({"crop": 36}, "crop: 36 is not a multiple of 8, .* use 32"), ({"loss_size": 64}, "loss_size: 64 is larger")],
)
def test_params_the_network_cannot_train_with_are_refused(values, message):
    with pytest.raises(ParamError, match=message):
        make_params(TrainParams, {**TINY, **values})


def test_the_recorded_configuration_is_the_defaults():
    recorded = tomllib.loads(Path(models.__file__).with_name("training.toml").read_text(encoding="utf-8"))
    assert make_params(TrainParams, recorded) == TrainParams()


# -- the shipped model -------------------------------------------------------------------------------------------------


def test_the_shipped_model_is_listed_and_refuses_to_load_until_installed(tmp_path):
    store = ModelStore(tmp_path, {MODEL_ID: SPECS[0]})
    if not WEIGHTS.is_file():  # before the first release
        assert store.status(MODEL_ID) == ModelStatus.NEEDS_IMPORT
    with pytest.raises(ModelError, match=f"{MODEL_ID} is not installed"):
        store.load(MODEL_ID)


def test_a_release_copies_the_weights_and_the_store_installs_them_only_at_the_pinned_hash(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    monkeypatch.setattr(models, "ASSETS", assets)
    monkeypatch.setattr(models, "WEIGHTS", assets / "pconv_inpaint.safetensors")
    monkeypatch.setattr(models, "PHOTO_LICENSES", assets / "pconv_inpaint-photos.md")
    trained = tmp_path / "model.safetensors"
    trained.write_bytes(weights_bytes(PConvUNet(NetConfig(2, 4)), {"steps": "5"}))
    licenses = tmp_path / "LICENSES.md"
    licenses.write_text("astronaut.png: public domain\n")
    release = write_release(trained, licenses)
    assert release.sha256 == hashlib.sha256(trained.read_bytes()).hexdigest() and release.config == NetConfig(2, 4)
    assert (assets / "pconv_inpaint-photos.md").read_text() == licenses.read_text()
    pinned = dataclasses.replace(SPECS[0], sources=(BundledFile(str(models.WEIGHTS), release.sha256),))
    store = ModelStore(tmp_path / "pinned", {MODEL_ID: pinned})
    store.install(MODEL_ID)
    assert store.status(MODEL_ID) == ModelStatus.INSTALLED and store.load(MODEL_ID).config == NetConfig(2, 4)
    other = dataclasses.replace(SPECS[0], sources=(BundledFile(str(models.WEIGHTS), "0" * 64),))
    with pytest.raises(ModelError, match="sha256"):
        ModelStore(tmp_path / "other", {MODEL_ID: other}).install(MODEL_ID)


def test_the_shipped_weights_install_at_their_pinned_hash_and_fill_a_hole_with_its_surroundings(tmp_path):
    """The weights in assets/ (a release of the inpainting-v1 run) load through the store, which checks their
    sha256, and continue a picture's gradients into a hole: far closer to the original than a flat grey fill."""
    store = ModelStore(tmp_path, {MODEL_ID: SPECS[0]})
    store.install(MODEL_ID)
    assert store.status(MODEL_ID) == ModelStatus.INSTALLED
    net = store.load(MODEL_ID)
    assert net.config == NetConfig(levels=6, width=32) and not net.training
    y, x = np.mgrid[0:128, 0:128].astype(np.float32) / 127.0
    picture = torch.from_numpy(np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.8 - 0.5 * x * y]))[None]
    valid = torch.ones(1, 1, 128, 128)
    valid[..., 48:80, 40:88] = 0.0
    with torch.no_grad():
        output = net(picture * valid, valid).clamp(0.0, 1.0)
    hole = valid[0, 0] == 0
    error = (output[0][:, hole] - picture[0][:, hole]).abs().mean().item()
    grey = (0.5 - picture[0][:, hole]).abs().mean().item()
    assert error < grey / 4, (error, grey)
