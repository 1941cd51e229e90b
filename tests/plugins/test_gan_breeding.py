"""GAN breeding: generators behind one interface (the catalog DCGAN, the style-based generator, an artist's
TorchScript or ONNX file with its sidecar), children, crossbreeds, level mixes, genes, walks, and the lineage
with its recipes. The networks are tiny and random; one is built by hand so that its levels are known."""

import dataclasses
import itertools
import json
import math
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from studio_plugins.gan_breeding.breeding import (
    apply_genes,
    children,
    crossbreed,
    gene_directions,
    loop,
    mix_levels,
    truncate,
    walk,
)
from studio_plugins.gan_breeding.generators import Generator, Sidecar, from_store, open_file, read_sidecar
from studio_plugins.gan_breeding.lineage import Lineage, LineageError, Node, recipe_for, render_recipe
from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator
from torch import nn

from studio.core.models.catalog import catalog
from studio.core.models.errors import ModelError
from studio.core.models.spec import UserFile
from studio.core.models.store import ModelStore
from studio.core.nets.dcgan import DCGANGenerator

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIDE = 32  # KnownLevels' pictures


def tiny_dcgan() -> DCGANGenerator:
    return DCGANGenerator(nz=8, ngf=4)


def tiny_style() -> StyleGenerator:
    return StyleGenerator(GeneratorConfig(resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channels=8,
                                          fine_channels=4))  # fmt: skip


class KnownLevels(nn.Module):
    """A stand-in style generator whose levels are known: its coarse styles weigh four smooth patterns (one
    cycle across the picture), its fine styles four fine ones (eight cycles), its middle styles the colour."""

    num_ws = 6

    def __init__(self) -> None:
        super().__init__()
        self.config = GeneratorConfig(z_dim=4, w_dim=4)
        self.affine = nn.Linear(4, 4)
        self.register_buffer("w_avg", torch.zeros(4))
        y, x = torch.meshgrid(*(torch.arange(SIDE) * (2 * math.pi / SIDE),) * 2, indexing="ij")
        self.register_buffer("coarse", torch.stack([x.cos(), x.sin(), y.cos(), y.sin()]), persistent=False)
        self.register_buffer("fine", torch.stack([(8 * x).cos(), (8 * x).sin(), (8 * y).cos(), (8 * y).sin()]),
                             persistent=False)  # fmt: skip

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return torch.lerp(self.w_avg, self.affine(z), truncation)

    def level_slices(self) -> dict[str, slice]:
        return {"coarse": slice(0, 2), "middle": slice(2, 4), "fine": slice(4, 6)}

    def forward(self, ws: torch.Tensor, noise_seed: int | None = None) -> torch.Tensor:
        low = torch.einsum("nk,khw->nhw", ws[:, 0:2].mean(1), self.coarse)
        high = torch.einsum("nk,khw->nhw", ws[:, 4:6].mean(1), self.fine)
        colour = 0.2 * torch.tanh(ws[:, 2:4].mean(1)[:, :3])
        noise = torch.randn(1, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(noise_seed or 0))
        return torch.tanh(0.4 * (low + high)[:, None] + colour[:, :, None, None] + 0.02 * noise)


def install(models: ModelStore, folder: Path, model_id: str, build) -> None:
    torch.manual_seed(0)
    weights = folder / f"{model_id}.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in build().state_dict().items()}, weights)
    models.import_file(model_id, weights)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gan-store")
    test_file = (UserFile("tiny.safetensors", "tiny test weights"),)
    dcgan = dataclasses.replace(catalog()["dcgan_faces64"], builder="test_gan_breeding:tiny_dcgan", sources=test_file)
    plain = dataclasses.replace(dcgan, notice="", license="MIT (test weights)")
    specs = {
        "dcgan_faces64": dcgan,
        "style": dataclasses.replace(plain, id="style", builder="test_gan_breeding:tiny_style"),
        "known": dataclasses.replace(plain, id="known", builder="test_gan_breeding:KnownLevels"),
    }
    models = ModelStore(folder / "models", specs=specs)
    for model_id, build in (("dcgan_faces64", tiny_dcgan), ("style", tiny_style), ("known", KnownLevels)):
        install(models, folder, model_id, build)
    return models


@pytest.fixture(scope="module")
def dcgan(store) -> Generator:
    return from_store(store, "dcgan_faces64")


@pytest.fixture(scope="module")
def style(store) -> Generator:
    return from_store(store, "style")


@pytest.fixture(scope="module")
def known(store) -> Generator:
    return from_store(store, "known")


@pytest.fixture(params=["dcgan", "style"])
def generator(request) -> Generator:
    return request.getfixturevalue(request.param)


def sample(gen: Generator, seed: int, n: int = 1) -> np.ndarray:
    return gen.styles(gen.sample_latents(np.random.default_rng(seed), n))


# -- the generators ----------------------------------------------------------------------------------------------


def test_the_three_kinds_share_one_interface(dcgan, style, known, store):
    assert (dcgan.space, dcgan.num_ws, dcgan.w_dim, dcgan.levels, dcgan.size) == ("z", 1, 8, None, (64, 64))
    assert "research use only" in dcgan.notice and dcgan.notice == catalog()["dcgan_faces64"].notice
    assert (style.space, style.num_ws, style.w_dim, style.size, style.notice) == ("w", 5, 8, (16, 16), "")
    assert style.levels == {"coarse": slice(0, 3), "middle": slice(3, 3), "fine": slice(3, 5)}
    assert dcgan.hash == store.record("dcgan_faces64").files["model.safetensors"]
    ws = sample(style, 0, 3)
    assert ws.shape == (3, 5, 8) and (ws == ws[:, :1]).all()  # one w per picture, repeated for each layer
    pictures = style.render(ws, noise_seed=1)
    assert pictures.shape == (3, 16, 16, 3) and pictures.dtype == np.uint8 and pictures.std() > 0
    assert (style.render(ws, noise_seed=1) == pictures).all()


def test_styles_are_truncated_towards_the_mean(style):
    ws = sample(style, 2, 2)
    assert np.allclose(style.styles(style.sample_latents(np.random.default_rng(2), 2), 0.0), style.w_avg)
    half = truncate(ws, style.w_avg, 0.5)
    assert np.allclose(half, (ws + style.w_avg) / 2, atol=1e-6) and (truncate(ws, style.w_avg, 1.0) == ws).all()
    assert (style.render(ws, 3, truncation=0.5) == style.render(half, 3)).all()


# -- breeding ----------------------------------------------------------------------------------------------------


def test_children_move_further_from_the_parent_as_mutation_grows(generator):
    parent = sample(generator, 1)[0]
    distances, pixel_changes = [], []
    for mutation in (0.0, 0.05, 0.2, 0.5, 1.0):
        kids = children(parent, np.random.default_rng(7), 4, mutation, space=generator.space, scale=generator.spread)
        assert kids.shape == (4, *parent.shape)
        distances.append(np.linalg.norm(kids - parent, axis=(1, 2)).mean())
        pixels = generator.render(kids, 0).astype(float)
        pixel_changes.append(np.abs(pixels - generator.render(parent[None], 0).astype(float)).mean())
        if generator.space == "z":  # turned on the sphere: every child keeps the parent's norm
            assert np.allclose(np.linalg.norm(kids, axis=-1), np.linalg.norm(parent), rtol=1e-5)
    assert distances[0] < 1e-5 and all(a < b for a, b in itertools.pairwise(distances))
    assert pixel_changes[0] == 0 and all(a < b for a, b in itertools.pairwise(pixel_changes))


def test_a_crossbreed_with_all_weight_on_one_parent_is_that_parent(generator):
    parents = sample(generator, 3, 3)
    for weights in ([0, 1, 0], [0, 0, 5.0]):
        chosen = parents[int(np.argmax(weights))]
        child = crossbreed(parents, weights, space=generator.space)
        assert child.dtype == np.float32 and (child == chosen).all()
        assert (generator.render(child[None], 4) == generator.render(chosen[None], 4)).all()
    blend = crossbreed(parents[:2], [1, 3], space=generator.space)
    assert not np.allclose(blend, parents[0]) and not np.allclose(blend, parents[1])
    if generator.space == "z":  # a blend of samples keeps the norm of a sample
        norms = np.linalg.norm(parents[:2], axis=-1)
        assert np.allclose(np.linalg.norm(blend, axis=-1), 0.25 * norms[0] + 0.75 * norms[1], rtol=1e-5)
    else:
        assert np.allclose(blend, 0.25 * parents[0] + 0.75 * parents[1], atol=1e-6)
    with pytest.raises(ValueError, match="weight"):
        crossbreed(parents, [1, 1])


def _bands(pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smooth part (up to 2 cycles across) and the fine part (6 cycles and more) of grey pictures."""
    grey = pictures.astype(float).mean(axis=-1)
    spectrum = np.fft.fft2(grey - grey.mean(axis=(1, 2), keepdims=True))
    cycles = np.hypot(*np.meshgrid(np.fft.fftfreq(SIDE, 1 / SIDE), np.fft.fftfreq(SIDE, 1 / SIDE)))
    return np.fft.ifft2(spectrum * (cycles <= 2)).real, np.fft.ifft2(spectrum * (cycles >= 6)).real


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_a_level_mix_takes_coarse_structure_from_one_parent_and_fine_texture_from_another(known):
    a, b, c = sample(known, 11, 3)
    mixed = mix_levels({"coarse": a, "middle": c, "fine": b}, known.levels)
    assert (mixed[0:2] == a[0:2]).all() and (mixed[2:4] == c[2:4]).all() and (mixed[4:] == b[4:]).all()
    (low_mix, low_a, low_b), (high_mix, high_a, high_b) = _bands(known.render(np.stack([mixed, a, b]), 0))
    assert _correlation(low_mix, low_a) > 0.95 > _correlation(low_mix, low_b) + 0.3
    assert _correlation(high_mix, high_b) > 0.95 > _correlation(high_mix, high_a) + 0.3
    with pytest.raises(ValueError, match="one parent for each level"):
        mix_levels({"coarse": a, "fine": b}, known.levels)


def test_a_level_mix_of_the_style_based_generator_takes_each_level_s_rows(style):
    a, b = sample(style, 13, 2)
    mixed = mix_levels({"coarse": a, "middle": a, "fine": b}, style.levels)  # its middle level is empty at 16 px
    assert (mixed[:3] == a[:3]).all() and (mixed[3:] == b[3:]).all()
    pictures = style.render(np.stack([mixed, a, b]), 0)
    assert not (pictures[0] == pictures[1]).all() and not (pictures[0] == pictures[2]).all()


def test_walks_start_and_end_at_the_parents_spherical_in_z_linear_in_w(dcgan, style):
    a, b = sample(dcgan, 5, 2)
    b = b * (np.linalg.norm(a) / np.linalg.norm(b))
    frames = walk(a, b, 9, space="z")
    assert frames.shape == (9, 1, 8) and (frames[0] == a).all() and (frames[-1] == b.astype(np.float32)).all()
    assert np.allclose(np.linalg.norm(frames, axis=-1), np.linalg.norm(a), rtol=1e-5)
    angles = [
        math.acos(np.clip(np.dot(f[0], g[0]) / np.linalg.norm(a) ** 2, -1, 1)) for f, g in itertools.pairwise(frames)
    ]
    assert np.allclose(angles, angles[0], rtol=1e-3)  # an even angular pace

    c, d = sample(style, 6, 2)
    linear, eased = walk(c, d, 5, space="w"), walk(c, d, 5, "ease-in-out", space="w")
    assert (linear[0] == c).all() and (linear[-1] == d).all() and np.allclose(linear[2], (c + d) / 2, atol=1e-6)
    assert np.allclose(eased[2], (c + d) / 2, atol=1e-6)
    assert np.linalg.norm(eased[1] - c) < np.linalg.norm(linear[1] - c)  # slower at the start

    favourites = sample(style, 8, 3)
    frames = loop(favourites, 4, space="w")
    assert frames.shape == (12, 5, 8)
    assert all((frames[4 * k] == favourites[k]).all() for k in range(3))
    assert np.allclose(frames[-1], favourites[2] + 0.75 * (favourites[0] - favourites[2]), atol=1e-6)


def test_gene_directions_are_orthonormal_and_ordered_by_variance(generator):
    genes = gene_directions(generator, 400, 4, seed=3)
    directions = genes.directions.astype(float)
    assert directions.shape == (4, generator.w_dim)
    assert np.allclose(directions @ directions.T, np.eye(4), atol=1e-5)
    assert all(a >= b for a, b in zip(genes.spreads, genes.spreads[1:], strict=False))
    sampled = sample(generator, 3, 400)[:, 0].astype(float)
    assert np.allclose((sampled @ directions.T).std(axis=0, ddof=1), genes.spreads, rtol=1e-4)
    if generator.space == "w":  # styles are not isotropic: the order holds for fresh samples too
        fresh = (sample(generator, 9, 2000)[:, 0] @ directions.T).std(axis=0)
        assert fresh[0] > 1.5 * fresh[-1] and np.allclose(fresh, genes.spreads, rtol=0.25)
    ws = sample(generator, 4)[0]
    moved = apply_genes(ws, genes.directions, [2.0, 0, 0, -1.0])
    assert np.allclose((moved - ws) @ directions.T, [[2.0, 0, 0, -1.0]] * len(ws), atol=1e-5)
    assert (gene_directions(generator, 400, 4, seed=3).directions == genes.directions).all()


# -- lineage and recipes -----------------------------------------------------------------------------------------


def bred_lineage(gen: Generator) -> Lineage:
    lineage = Lineage()
    first, second = (lineage.add(Node((), "sample", {"seed": s}, gen.hash, w, 0.8, 11)) for s, w in
                     enumerate(sample(gen, 12, 2)))  # fmt: skip
    kid_ws = children(first.ws, np.random.default_rng(0), 4, 0.3, space=gen.space, scale=gen.spread)[2]
    kid = lineage.add(Node((first.id,), "child", {"mutation": 0.3, "index": 2}, gen.hash, kid_ws, 0.8, 11))
    blend = crossbreed([kid.ws, second.ws], [0.5, 0.5], space=gen.space)
    lineage.add(Node((kid.id, second.id), "crossbreed", {"weights": [0.5, 0.5]}, gen.hash, blend, 0.7, 12))
    lineage.set_favourite(kid.id)
    return lineage


def test_the_lineage_survives_saving_and_reopening(style):
    lineage = bred_lineage(style)
    first, second, kid, blend = lineage
    assert [n.id for n in lineage.ancestors(blend.id)] == [kid.id, second.id, first.id]
    assert lineage.children_of(first.id) == [kid] and lineage.favourites() == [kid]
    reopened = Lineage.from_dict(json.loads(json.dumps(lineage.to_dict())))
    assert len(reopened) == 4
    for old, new in zip(lineage, reopened, strict=True):
        assert (new.id, new.parents, new.operation, new.params, new.generator) == (
            old.id, old.parents, old.operation, old.params, old.generator)  # fmt: skip
        assert (new.truncation, new.noise_seed, new.favourite, new.created) == (
            old.truncation, old.noise_seed, old.favourite, old.created)  # fmt: skip
        assert new.ws.dtype == np.float32 and (new.ws == old.ws).all()
    assert reopened.to_dict() == lineage.to_dict()


def _broken(change):
    def apply(data: dict) -> dict:
        change(data)
        return data

    return apply


BROKEN = {
    "an unknown parent": (_broken(lambda d: d["nodes"][2]["parents"].__setitem__(0, "f" * 32)), "not in the lineage"),
    "a child before its parent": (_broken(lambda d: d["nodes"].reverse()), "not in the lineage"),
    "a repeated node": (_broken(lambda d: d["nodes"].append(d["nodes"][0])), "already has a node"),
    "ragged styles": (_broken(lambda d: d["nodes"][1]["ws"][0].pop()), "styles are not a table"),
    "a style that is not finite": (_broken(lambda d: d["nodes"][1]["ws"][0].__setitem__(0, math.inf)), "ws"),
    "a style as text": (_broken(lambda d: d["nodes"][1]["ws"][0].__setitem__(0, "0.5")), "ws"),
    "a bad generator hash": (_broken(lambda d: d["nodes"][0].__setitem__("generator", "x")), "generator"),
    "an extra field": (_broken(lambda d: d["nodes"][0].__setitem__("code", "rm -rf /")), "code"),
    "a newer Studio": (_broken(lambda d: d.__setitem__("version", 2)), "newer Studio"),
    "not a lineage": (lambda d: [d], "damaged"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_lineage_is_refused_with_a_message(style, case):
    change, expected = BROKEN[case]
    data = change(json.loads(json.dumps(bred_lineage(style).to_dict())))
    with pytest.raises(LineageError, match=expected):
        Lineage.from_dict(data)


GOOD_LINEAGE = {
    "format": "studio-gan-lineage",
    "version": 1,
    "nodes": [{"id": "a" * 32, "parents": [], "operation": "sample", "params": {"seed": 1}, "generator": "0" * 64,
               "ws": [[0.5, -1.0]], "truncation": 1.0, "noise_seed": 0, "favourite": False, "created": ""}],
}  # fmt: skip
TRICKY = [math.inf, math.nan, -1, 0, 2**70, "", "a" * 32, [], {}, None, True, [[0.5]], [[1, 2], [3]]]
json_values = st.recursive(
    st.sampled_from(TRICKY) | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def damaged_lineages(draw):
    data = json.loads(json.dumps(GOOD_LINEAGE))
    node = data["nodes"][0]
    for key in draw(st.lists(st.sampled_from(sorted(node)), max_size=3, unique=True)):
        if draw(st.booleans()):
            node[key] = draw(json_values)
        else:
            del node[key]
    if draw(st.booleans()):
        data["nodes"].append(
            dict(
                node,
                id=draw(st.sampled_from(["a" * 32, "b" * 32, "B" * 32])),
                parents=draw(st.lists(st.sampled_from(["a" * 32, "b" * 32]), max_size=2)),
            )
        )
    return data  # fmt: skip


@FAST
@given(data=json_values | damaged_lineages())
def test_any_lineage_loads_or_is_refused_with_a_lineage_error(data):
    try:
        lineage = Lineage.from_dict(data)
    except LineageError as exc:
        assert str(exc)
    else:
        assert Lineage.from_dict(lineage.to_dict()).to_dict() == lineage.to_dict()


@pytest.mark.parametrize("kind", ["dcgan", "style", "known"])
def test_a_recipe_re_renders_the_same_pixels(store, kind, request):
    gen = request.getfixturevalue(kind)
    lineage = bred_lineage(gen)
    reopened = from_store(ModelStore(store.root, specs=store.specs), {"dcgan": "dcgan_faces64"}.get(kind, kind))
    for node in lineage:
        again = render_recipe(reopened, json.loads(json.dumps(recipe_for(node))))
        assert again.dtype == np.uint8
        assert (again == gen.render(node.ws[None], node.noise_seed, node.truncation)[0]).all()
    _, _, kid, _ = lineage
    in_a_grid = gen.render(np.stack([kid.ws] * 3), kid.noise_seed, kid.truncation)
    assert (in_a_grid == render_recipe(gen, recipe_for(kid))).all()


def test_a_recipe_refuses_another_generator(style, known):
    node = next(iter(bred_lineage(style)))
    with pytest.raises(LineageError, match="choose the generator it was bred with"):
        render_recipe(known, recipe_for(node))
    with pytest.raises(LineageError, match="damaged"):
        render_recipe(style, dict(recipe_for(node), ws=[[math.nan] * 8] * 5))


# -- generators an artist brings ---------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: an int as a varint, text and bytes length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def onnx_generator(path: Path, weight: np.ndarray, side: int) -> None:
    """An ONNX model of tanh(z @ weight) as (N, 3, side, side), written as protobuf without the onnx package
    (which Studio does not depend on)."""

    def tensor(name: str, array: np.ndarray) -> bytes:  # TensorProto: dims, data_type, name, raw_data
        kind = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[array.dtype]
        return b"".join(pb(1, d) for d in array.shape) + pb(2, kind) + pb(8, name) + pb(9, array.tobytes())

    def value(name: str, dims: list) -> bytes:  # ValueInfoProto: name, TypeProto.tensor_type(elem_type, shape)
        shape = b"".join(pb(1, pb(2, d) if isinstance(d, str) else pb(1, d)) for d in dims)
        return pb(1, name) + pb(2, pb(1, pb(1, 1) + pb(2, shape)))

    def node(op: str, inputs: list[str], output: str) -> bytes:  # NodeProto: input, output, op_type
        return pb(1, b"".join(pb(1, i) for i in inputs) + pb(2, output) + pb(4, op))

    graph = (node("MatMul", ["z", "W"], "h") + node("Tanh", ["h"], "t") + node("Reshape", ["t", "shape"], "image")
             + pb(2, "generator") + pb(5, tensor("W", weight.astype(np.float32)))
             + pb(5, tensor("shape", np.array([-1, 3, side, side], np.int64)))
             + pb(11, value("z", ["N", weight.shape[0]])) + pb(12, value("image", ["N", 3, side, side])))  # fmt: skip
    path.write_bytes(pb(1, 8) + pb(7, graph) + pb(8, pb(2, 13)))  # ir_version 8, opset 13


@pytest.fixture
def onnx_file(tmp_path) -> tuple[Path, np.ndarray]:
    weight = np.random.default_rng(0).standard_normal((4, 3 * 6 * 6)).astype(np.float32)
    path = tmp_path / "artist.onnx"
    onnx_generator(path, weight, 6)
    return path, weight


def test_an_onnx_generator_with_its_sidecar_breeds(onnx_file):
    path, weight = onnx_file
    path.with_suffix(".json").write_text('{"latent_size": 4, "output_range": [-1, 1]}')
    gen = open_file(path)
    assert (gen.space, gen.num_ws, gen.w_dim, gen.size, gen.levels) == ("z", 1, 4, (6, 6), None)
    z = gen.sample_latents(np.random.default_rng(0), 2)
    expected = np.tanh(z @ weight).reshape(2, 3, 6, 6).transpose(0, 2, 3, 1)
    assert np.abs(gen.render(gen.styles(z)).astype(float) - (expected + 1) * 127.5).max() <= 1.0
    path.with_suffix(".json").write_text('{"latent_size": 4, "output_range": [0, 1]}')
    assert open_file(path).hash != gen.hash  # the sidecar changes the pictures: it is part of the hash


@pytest.mark.parametrize(
    ("sidecar", "expected"),
    [
        ('{"latent_size": 5, "output_range": [-1, 1]}', r"\['N', 4\].*correct latent_size"),
        ('{"latent_size": 4, "output_range": [0, 255]}', "output_range must be"),
        ('{"latent_size": "4", "output_range": [-1, 1]}', "latent_size: Input should be a valid integer"),
        ('{"latent_size": 4}', "output_range: Field required"),
        ('{"latent_size": 4, "output_range": [-1, 1], "num_ws": 3}', "num_ws and w_dim go together"),
        ('{"latent_size": 4, "output_range": [-1, 1], "num_ws": 3, "w_dim": 4}', r"\['N', 4\].*num_ws and w_dim"),
        ('{"latent_size": 4, "output_range": [-1.0, 1.0], "num_ws": 1, "w_dim": 4}', "correct num_ws and w_dim"),
        ('{"latent_size": 4, "output_range": [-1, 1], "mapping": "m.onnx"}', "mapping needs num_ws"),
        ('{"latent_size": 4, "output_range": [-1, 1], "mapping": "../m.onnx", "num_ws": 2, "w_dim": 4}', "mapping"),
        ('{"latent_size": 4, "output_range": [-1, 1], "seed": 1}', "seed: Extra inputs are not permitted"),
        ("{latent_size: 4}", "not valid JSON|Invalid JSON"),
        (None, "cannot read the generator sidecar"),
    ],
)
def test_an_onnx_generator_with_a_wrong_sidecar_is_refused_clearly(onnx_file, sidecar, expected):
    path, _ = onnx_file
    if sidecar is not None:
        path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ModelError, match=expected) as refused:
        open_file(path)
    assert "artist.json" in str(refused.value)


class Synthesis(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 5, 3 * 6 * 6)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(ws.flatten(1))).reshape(-1, 3, 6, 6)


class Saver(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        torch.save(z, "stolen.pt")
        return z


def test_a_torchscript_generator_with_a_mapping_has_levels(tmp_path):
    torch.manual_seed(0)
    torch.jit.script(Synthesis()).save(tmp_path / "synthesis.pt")
    torch.jit.script(nn.Linear(4, 5)).save(tmp_path / "mapping.pt")
    (tmp_path / "synthesis.json").write_text(
        '{"latent_size": 4, "output_range": [0, 1], "num_ws": 3, "w_dim": 5, "mapping": "mapping.pt"}'
    )
    gen = open_file(tmp_path / "synthesis.pt")
    assert (gen.space, gen.num_ws, gen.w_dim, gen.z_dim, gen.size) == ("w", 3, 5, 4, (6, 6))
    assert gen.levels == {"coarse": slice(0, 1), "middle": slice(1, 2), "fine": slice(2, 3)}
    a, b = sample(gen, 0, 2)
    assert np.abs(gen.w_avg).max() > 0  # estimated through the mapping
    mixed = mix_levels({"coarse": a, "middle": b, "fine": a}, gen.levels)
    assert not (gen.render(mixed[None]) == gen.render(a[None])).all()


def test_torchscript_that_could_run_code_or_touch_files_is_refused(tmp_path):
    sidecar = '{"latent_size": 4, "output_range": [-1, 1]}'
    for name in ("pickled", "saver", "evil", "evil4"):
        (tmp_path / f"{name}.json").write_text(sidecar)
    torch.save(nn.Linear(4, 4), tmp_path / "pickled.pt")
    torch.jit.script(Saver()).save(tmp_path / "saver.pt")
    for name, payload in (("evil", b"cos\nsystem\n(S'echo hi'\ntR."), ("evil4", pickle.dumps(print, protocol=4))):
        with zipfile.ZipFile(tmp_path / f"{name}.pt", "w") as archive:
            archive.writestr(f"{name}/data.pkl", payload)
            archive.writestr(f"{name}/code/__torch__.py", "class G(Module):\n  pass\n")
    with pytest.raises(ModelError, match=r"not a TorchScript file.*torch\.jit\.save"):
        open_file(tmp_path / "pickled.pt")
    with pytest.raises(ModelError, match="uses save"):
        open_file(tmp_path / "saver.pt")
    with pytest.raises(ModelError, match=r"asks for os\.system"):
        open_file(tmp_path / "evil.pt")
    with pytest.raises(ModelError, match="asks for a global by STACK_GLOBAL"):
        open_file(tmp_path / "evil4.pt")
    assert not (tmp_path / "stolen.pt").exists()


SIDECAR_FIELDS = {"latent_size": st.integers(-2, 5000), "output_range": st.sampled_from([[-1, 1], [0, 1], [0, 255]]),
                  "num_ws": st.integers(0, 70), "w_dim": st.integers(0, 5000), "mapping": st.sampled_from(
                      ["m.onnx", "..", "a/b", "", "\x00"])}  # fmt: skip
sidecar_dicts = st.fixed_dictionaries({}, optional={k: v | json_values for k, v in SIDECAR_FIELDS.items()})


@FAST
@given(content=st.binary(max_size=40) | json_values.map(json.dumps) | sidecar_dicts.map(json.dumps))
def test_any_sidecar_loads_or_is_refused_with_a_model_error(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        try:
            spec = read_sidecar(path)
        except ModelError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(spec, Sidecar) and spec.output_range in ((-1, 1), (0, 1))
