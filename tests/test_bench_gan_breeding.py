"""bench/gan_breeding.py's timings, on a tiny style-based generator in both weight layouts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from bench_script import bench_script
from studio_plugins.gan_breeding.generators import from_store
from studio_plugins.gan_breeding.models import MODEL_ID, weights_bytes
from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator

from studio.core.models.spec import ModelSpec
from studio.core.models.store import ModelStore
from studio.core.plugin import discover_plugins

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench():
    with bench_script("gan_breeding") as module:
        yield module


@pytest.fixture(scope="module")
def catalog() -> dict[str, ModelSpec]:
    return discover_plugins().model_catalog()


def test_both_layouts_are_timed_and_render_the_same_pictures(bench, catalog, tmp_path):
    store = ModelStore(tmp_path / "models", catalog)
    config = GeneratorConfig(resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channels=8, fine_channels=4)
    tiny = dataclasses.replace(catalog[MODEL_ID], id="tiny", title="Tiny", base=MODEL_ID)
    store.register_trained(tiny, weights_bytes(StyleGenerator(config)))
    layouts = {}
    for layout, memory_format in bench.LAYOUTS.items():
        own = ModelStore(store.root, catalog)
        layouts[layout] = from_store(own, "tiny")
        own.load("tiny").to(memory_format=memory_format)
    assert own.load("tiny").blocks[0].layers[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    results = bench.measure(layouts, repeat=1, walk_repeat=1)
    assert results.keys() == {"contiguous", "channels-last"}
    for row in results.values():
        assert row["side"] == 16 and min(row["children_s"], row["walk_s"], row["gene_s"]) > 0
        assert row["pixel_diff"] <= 1
