"""bench/gan_quality.py: the KID and diversity it reports, and its DCGAN baseline's training and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bench_script import bench_script

from studio.core.nets.lpips import LPIPS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench():
    with bench_script("gan_quality") as module:
        yield module


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift(bench):
    rng = np.random.default_rng(0)
    a, b = (np.abs(rng.normal(0.5, 0.3, (300, 64))) for _ in range(2))
    same, spread = bench.kid(a, b, 20, 100, np.random.default_rng(1))
    shifted, _ = bench.kid(a, b + 0.2, 20, 100, np.random.default_rng(1))
    farther, _ = bench.kid(a, b + 0.4, 20, 100, np.random.default_rng(1))
    assert abs(same) < 2 * spread + 1e-3, "unbiased: no distance between samples of one distribution"
    assert shifted > 10 * abs(same) and farther > shifted


def test_diversity_is_zero_for_copies_of_one_picture_and_positive_for_different_ones(bench):
    torch.manual_seed(0)
    lpips = LPIPS().eval()
    rng = np.random.default_rng(0)
    one = np.repeat(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), 8, axis=0)
    varied = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    assert bench.diversity(one, 20, lpips, np.random.default_rng(0), "cpu") == pytest.approx(0.0, abs=1e-6)
    assert bench.diversity(varied, 20, lpips, np.random.default_rng(0), "cpu") > 0.01


def test_the_dcgan_baseline_trains_checkpoints_and_resumes_as_an_unbroken_run(bench, tmp_path):
    pictures = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    unbroken = bench.train_dcgan(pictures, 3, 4, tmp_path / "unbroken", "cpu")
    bench.train_dcgan(pictures, 2, 4, tmp_path / "resumed", "cpu")
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["checkpoint-00000002.safetensors",
                                                                        "checkpoint.json"]  # fmt: skip
    resumed = bench.train_dcgan(pictures, 3, 4, tmp_path / "resumed", "cpu")
    for (name, kept), again in zip(unbroken.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(again, kept, msg=name)
    torch.manual_seed(bench.SEED)
    initial = bench.generator64()  # the weights training started from
    assert not torch.equal(initial.state_dict()["main.0.weight"], unbroken.state_dict()["main.0.weight"])
    made = bench.dcgan_pictures(unbroken, 5, 2, seed=1)
    assert made.shape == (5, 64, 64, 3) and made.dtype == np.uint8 and made.std() > 0


def test_kid_on_scaled_features_tells_apart_sets_with_one_mean_whatever_the_features_size(bench):
    rng = np.random.default_rng(0)
    reference = rng.exponential(1.0, (300, 256)) * (rng.random((300, 256)) < 0.1)  # sparse, as Inception's are
    flat = np.abs(rng.normal(reference.mean(), 0.02, (300, 256)))  # the same mean feature, none of the spread
    kids = {}
    for size in (1.0, 0.01):
        scale = bench.kernel_scale(reference * size)
        assert np.mean(np.sum((reference * size * scale) ** 2, axis=1)) / 256 == pytest.approx(1.0)
        kids[size] = bench.kid(flat * size * scale, reference * size * scale, 20, 100, np.random.default_rng(1))
    assert kids[0.01] == pytest.approx(kids[1.0])
    distance, spread = kids[0.01]
    assert distance > 3 * spread
    unscaled, _ = bench.kid(flat * 0.01, reference * 0.01, 20, 100, np.random.default_rng(1))
    assert abs(unscaled) < distance / 1000, "small features unscaled: the kernel is nearly linear, sees only means"


def test_rules_drawn_follow_the_nearest_held_out_picture_in_the_sources_order(bench, tmp_path):
    records = [{"file": f"heldout/{index:08d}.png", "rule": rule} for index, rule in [(1, "mondrian"), (0, "lsystem")]]
    records.append({"file": "train/00000000.png", "rule": "ridgelines"})
    (tmp_path / "SOURCES.json").write_text(json.dumps({"pictures": records}))
    rules = bench.heldout_rules(tmp_path)
    assert rules == ["lsystem", "mondrian"], "held-out pictures in file order, as load_pictures reads them"
    reference = np.array([[0.0, 0.0], [10.0, 0.0]])
    near_the_second = np.array([[9.0, 1.0], [11.0, 0.0], [12.0, -1.0], [1.0, 0.0]])
    assert bench.nearest_rules(near_the_second, reference, rules) == {"lsystem": 0.25, "mondrian": 0.75}
    assert bench.nearest_rules(near_the_second[:3], reference, rules) == {"lsystem": 0.0, "mondrian": 1.0}


def test_precision_and_recall_tell_unrealistic_pictures_from_missing_kinds(bench):
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 10.0, (4, 8))  # four kinds of picture, far apart
    reference = np.concatenate([centre + rng.normal(0.0, 1.0, (100, 8)) for centre in centres])
    every_kind = np.concatenate([centre + rng.normal(0.0, 1.0, (100, 8)) for centre in centres])
    two_kinds = np.concatenate([centre + rng.normal(0.0, 1.0, (200, 8)) for centre in centres[:2]])
    elsewhere = rng.normal(0.0, 1.0, (400, 8)) + 40.0
    precision, recall = bench.precision_recall(every_kind, reference, 3)
    assert precision > 0.8 and recall > 0.8
    precision, recall = bench.precision_recall(two_kinds, reference, 3)
    assert precision > 0.8 and 0.35 < recall < 0.55, "half of the kinds made: realistic, but half the recall"
    assert bench.precision_recall(elsewhere, reference, 3) == (0.0, 0.0)


def test_blurring_smooths_each_picture_and_keeps_its_shape(bench):
    pictures = np.zeros((2, 16, 16, 3), np.uint8)
    pictures[:, ::2] = 255  # stripes one pixel wide
    soft = bench.blurred(pictures, 1.0)
    assert soft.shape == pictures.shape and soft.dtype == np.uint8
    assert abs(int(soft[0, 8, 8, 0]) - 127) < 40, "stripes of one pixel blur to grey"
