"""bench/inpainting.py's quality table and sheet, on generated photos with a tiny random network."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from bench_script import bench_script
from studio_plugins.inpainting.masks import RATIO_BINS
from studio_plugins.inpainting.net import NetConfig, PConvUNet
from tiny_store import tiny_store

from studio.core.nets.lpips import LPIPS

SIDE = 64


def tiny_pconv() -> PConvUNet:
    return PConvUNet(NetConfig(levels=3, width=8))


@pytest.fixture(scope="module")
def bench():
    with bench_script("inpainting") as module:
        yield module


@pytest.fixture(scope="module")
def fills(bench, tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    store = tiny_store(folder, "test_bench_inpainting:tiny_pconv", tiny_pconv, {}, model_id="pconv_inpaint")
    methods = {name: bench.engine_fill(name, store, "pconv_inpaint", "cpu") for name in bench.METHODS}
    return methods | {"identity": lambda rgb, hole: rgb}


def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [cv2.GaussianBlur(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8), (5, 5), s) for s in (1.0, 3.0)]


def test_quality_has_every_bin_and_method_and_an_exact_fill_scores_perfectly(bench, fills, capsys):
    torch.manual_seed(0)
    masks = bench.photo_masks(2, 2, SIDE)
    assert not np.array_equal(masks[0][RATIO_BINS[-1]][0], masks[1][RATIO_BINS[-1]][0]), "each photo its own masks"
    results = bench.quality(photos(), masks, fills, LPIPS().eval(), "cpu")
    labels = [bench.bin_label(b) for b in RATIO_BINS]
    assert list(results) == [*bench.METHODS, "identity"]
    assert all(list(bins) == labels for bins in results.values())
    for label in labels:
        exact = {"lpips": pytest.approx(0.0, abs=1e-6), "psnr": math.inf, "ssim": pytest.approx(1.0)}
        assert results["identity"][label] == exact
        for method in bench.METHODS:
            scores = results[method][label]
            assert scores["lpips"] > 0 and 5 < scores["psnr"] < math.inf and scores["ssim"] < 1, (method, scores)
    smallest, largest = labels[0], labels[-1]
    assert results["telea"][smallest]["psnr"] > results["telea"][largest]["psnr"]
    assert set(bench.network_wins(results)) == set(labels)
    for label in labels:
        better = min(results[method][label]["lpips"] for method in bench.OPENCV)
        net = results["network"][label]
        assert net["margin"] == pytest.approx(better - net["lpips"]) and net["margin_se"] > 0

    bench.print_quality(results, {})
    table = capsys.readouterr().out
    assert all(label in table for label in labels) and all(name[:13] in table for name in results)


def test_the_sheet_has_a_row_per_bin_from_10_percent_and_a_header(bench, fills, tmp_path):
    path = tmp_path / "sheet.png"
    masks = bench.photo_masks(2, 1, SIDE)
    bench.write_sheet(photos(), masks, fills["telea"], fills["network"], path)
    sheet = cv2.imread(str(path))
    assert sheet.shape == (28 + 2 * SIDE, 5 * SIDE, 3)
    top = masks[0][RATIO_BINS[1]][0][: SIDE // 2]  # the upper half: the row's label is at the bottom
    assert (sheet[28 : 28 + SIDE // 2, :SIDE][top] == 255).all()  # the hole shown in white
