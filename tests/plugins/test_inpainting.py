"""Inpainting: only the holes (and the feather) change, crops land where their holes are on pictures far larger
than the network's size and at the border, coarse to fine for large holes, clear messages for bad masks, cancel,
and the command line. The network is a tiny random partial-convolution U-Net in a temporary store."""

import dataclasses
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from studio_plugins.inpainting import MANIFEST
from studio_plugins.inpainting.engine import BORDER_MIRROR, TRAINED_DEPTH, InpaintError, crop_boxes, mirror_widths, run
from studio_plugins.inpainting.net import NetConfig, PConvUNet
from studio_plugins.inpainting.params import InpaintParams
from tiny_store import tiny_store

from studio.core.cancel import Cancelled
from studio.core.image import to_uint8
from studio.core.inputs import InputError, Inputs
from studio.core.jobs import RunContext, drive
from studio.core.params import make_params
from studio.core.run import build_inputs, grow, result_picture, run_plugin

STUDIO = f"{sys.prefix}/bin/studio"


def tiny_pconv() -> PConvUNet:
    return PConvUNet(NetConfig(levels=3, width=8))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inpainting-store")
    return tiny_store(folder, "test_inpainting:tiny_pconv", tiny_pconv, {}, model_id="pconv_inpaint")


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGBA picture with texture everywhere (so any change shows)."""
    rng = np.random.default_rng(seed)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (5, 5), 1.5)
    return np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], axis=2)


def fill(store, picture, mask, **values):
    params = make_params(InpaintParams, values)
    ctx = RunContext(preview_interval_s=1e9, models=store, device="cpu")
    inputs = Inputs(picture.shape[1], picture.shape[0], picture, mask)
    final = drive(run(params, inputs, ctx), ctx)
    assert final.image.dtype == (np.uint16 if params.method == "network" else np.uint8), "the network's fill: 16 bits"
    return dataclasses.replace(final, image=to_uint8(final.image)), inputs, params  # 8 bits, as the picture


def blob_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    cv2.circle(mask, (30, 30), 9, 1.0, -1)
    cv2.line(mask, (50, 60), (90, 70), 1.0, 3)
    return mask


@pytest.mark.parametrize("method", ["network", "telea", "navier_stokes"])
def test_only_the_holes_and_the_feather_change(store, method):
    picture = photo(112, 96)
    mask = blob_mask(96, 112)
    final, inputs, _ = fill(store, picture, mask, method=method, feather=3)
    out = result_picture(final.image, inputs, 3)
    reach = grow(mask > 0, 3 if method == "network" else 0)
    assert np.array_equal(out[~reach], picture[~reach])
    assert (np.abs(out[mask > 0].astype(int) - picture[mask > 0]).sum(axis=1) > 0).mean() > 0.9
    assert final.info["holes"] == 2 and final.info["method"] == method


def test_holes_far_apart_are_filled_in_their_own_crops_at_their_own_place(store):
    """A 3000 x 2000 picture of four flat colours with a small hole in each quadrant (one on the border): each is
    filled with its quadrant's colour, so every crop was pasted back where it was cut."""
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 40]], np.uint8)
    picture = np.zeros((2000, 3000, 4), np.uint8)
    picture[..., 3] = 255
    picture[:1000, :1500, :3], picture[:1000, 1500:, :3] = colours[0], colours[1]
    picture[1000:, :1500, :3], picture[1000:, 1500:, :3] = colours[2], colours[3]
    mask = np.zeros((2000, 3000), np.float32)
    centres = [(400, 300), (2600, 700), (700, 1995), (2200, 1400)]  # the third touches the bottom border
    for x, y in centres:
        cv2.circle(mask, (x, y), 12, 1.0, -1)
    boxes, count = crop_boxes(mask > 0, 1.0)
    assert count == 4
    assert len(boxes) == 4
    assert all(x1 - x0 <= 25 * 3 + 2 and y1 - y0 <= 25 * 3 + 2 for x0, y0, x1, y1 in boxes)
    assert any(y1 == 2000 for _, _, _, y1 in boxes)
    final, _, _ = fill(store, picture, mask, method="telea")
    for (x, y), colour in zip(centres, (colours[0], colours[1], colours[2], colours[3]), strict=True):
        hole = np.zeros(mask.shape, bool)
        cv2.circle(hole.view(np.uint8), (x, y), 12, 1, -1)
        error = np.abs(final.image[hole, :3].astype(int) - colour.astype(int))
        assert error.mean() < 1 and error.max() < 12, (x, y, error.max())
    assert final.info["crops"] == [list(b) for b in boxes]


def test_touching_holes_share_one_crop_and_boxes_never_overlap():
    hole = np.zeros((200, 300), bool)
    hole[50:60, 50:60] = hole[50:60, 75:85] = True  # near: their context boxes overlap
    hole[150:155, 250:255] = True
    boxes, count = crop_boxes(hole, 1.0)
    assert count == 3
    assert len(boxes) == 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert (
        all(hole[y0:y1, x0:x1].sum() for x0, y0, x1, y1 in boxes)
        and sum(hole[y0:y1, x0:x1].sum() for x0, y0, x1, y1 in boxes) == hole.sum()
    )


def test_a_hole_larger_than_the_working_size_is_filled_coarse_to_fine(store):
    picture = photo(320, 240, seed=2)
    mask = np.zeros((240, 320), np.float32)
    mask[60:190, 80:250] = 1.0
    final, _, _ = fill(store, picture, mask, working_size=64, feather=0)
    assert final.info["coarse_to_fine"] == 1
    out = final.image
    assert np.array_equal(out[mask == 0], picture[mask == 0])
    assert np.isfinite(out.astype(float)).all() and out[mask > 0, :3].std() > 0


def test_a_hole_deeper_than_the_network_learnt_is_filled_coarse_to_fine_in_a_small_crop(store):
    picture = photo(160, 160, seed=3)
    mask = np.zeros((160, 160), np.float32)
    cv2.circle(mask, (80, 80), int(TRAINED_DEPTH) + 8, 1.0, -1)  # deeper than TRAINED_DEPTH at its centre
    final, _, _ = fill(store, picture, mask, feather=0)
    assert final.info["crops"] == [[0, 0, 160, 160]] and final.info["coarse_to_fine"] == 1
    assert np.array_equal(final.image[mask == 0], picture[mask == 0])
    shallow = np.zeros((160, 160), np.float32)
    cv2.circle(shallow, (80, 80), int(TRAINED_DEPTH) - 4, 1.0, -1)
    assert fill(store, picture, shallow, feather=0)[0].info["coarse_to_fine"] == 0


def test_a_thin_scratch_across_a_crop_larger_than_the_working_size_is_filled_at_full_size(store):
    """No pixel of the scratch is deeper than the network learnt, so no coarse pass: tiles at full size only."""
    picture = photo(400, 120, seed=4)
    mask = np.zeros((120, 400), np.float32)
    cv2.line(mask, (10, 60), (390, 64), 1.0, 5)
    final, _, _ = fill(store, picture, mask, working_size=128, feather=0)
    assert final.info["coarse_to_fine"] == 0
    out = final.image
    assert np.array_equal(out[mask == 0], picture[mask == 0])
    assert (np.abs(out[mask > 0, :3].astype(int) - picture[mask > 0, :3]).sum(axis=1) > 0).mean() > 0.9


def test_a_crop_that_meets_the_picture_edge_is_mirrored_there_before_the_network_fills_it(store, monkeypatch):
    seen = []
    forward = PConvUNet.forward

    def spy(self, image, valid):
        seen.append((image.clone(), valid.clone()))
        return forward(self, image, valid)

    monkeypatch.setattr(PConvUNet, "forward", spy)
    picture = photo(120, 100, seed=5)
    mask = np.zeros((100, 120), np.float32)
    mask[:10, 50:62] = 1.0  # on the top edge only
    final, _, _ = fill(store, picture, mask, feather=0)
    ((x0, y0, x1, y1),) = final.info["crops"]
    assert y0 == 0 and x0 > 0 and x1 < 120 and y1 < 100
    top, *others = mirror_widths((x0, y0, x1, y1), (100, 120))
    assert top == min(BORDER_MIRROR, y1 - 1) and others == [0, 0, 0]
    ((image, valid),) = seen
    assert image.shape[-2] >= top + y1 and image.shape[-1] >= x1 - x0
    columns = slice(None, x1 - x0)
    for tensor in (image, valid):  # the mirror image of the crop's first rows, the edge row not repeated
        assert torch.equal(tensor[0, :, :top, columns].flip(1), tensor[0, :, top + 1 : 2 * top + 1, columns])
    assert np.array_equal(final.image[mask == 0], picture[mask == 0])
    assert (np.abs(final.image[mask > 0, :3].astype(int) - picture[mask > 0, :3]).sum(axis=1) > 0).mean() > 0.9


def test_empty_and_all_covering_masks_and_a_mask_of_another_size_are_explained(store, tmp_path):
    picture = photo(64, 48)
    with pytest.raises(InpaintError, match="the mask is empty: paint over what should go"):
        fill(store, picture, np.zeros((48, 64), np.float32))
    with pytest.raises(InpaintError, match="covers the whole picture"):
        fill(store, picture, np.ones((48, 64), np.float32))
    cv2.imwrite(str(tmp_path / "photo.png"), picture)
    cv2.imwrite(str(tmp_path / "mask.png"), np.zeros((20, 30), np.uint8))
    with pytest.raises(InputError, match=r"mask.png.*30x20"):
        build_inputs(MANIFEST, {"image": tmp_path / "photo.png", "mask": tmp_path / "mask.png"})


def test_cancel_mid_job_raises_and_returns_nothing(store):
    picture = photo(400, 300)
    mask = np.zeros((300, 400), np.float32)
    for x in (50, 200, 350):
        cv2.circle(mask, (x, 150), 8, 1.0, -1)
    inputs = Inputs(400, 300, picture.copy(), mask)
    ctx = RunContext(preview_interval_s=0.0, models=store, device="cpu")
    seen = []

    def on_frame(frame):
        seen.append(frame)
        ctx.cancel()

    with pytest.raises(Cancelled):
        run_plugin(MANIFEST, make_params(InpaintParams, {}), inputs, ctx, on_frame)
    assert len(seen) == 1 and "filled 1 of 3 crops" in seen[0].message
    assert np.array_equal(inputs.image, picture)


def test_a_quick_fill_of_a_large_picture_goes_straight_to_its_result(store):
    """No 8-bit preview of the whole picture for a job shorter than a preview interval, nor after the last crop."""
    picture = photo(1200, 900)
    mask = np.zeros((900, 1200), np.float32)
    for x in (100, 600, 1100):
        cv2.circle(mask, (x, 450), 6, 1.0, -1)
    inputs = Inputs(1200, 900, picture, mask)
    params = make_params(InpaintParams, {})
    quick = list(run(params, inputs, RunContext(preview_interval_s=60.0, models=store, device="cpu")))
    assert [frame.final for frame in quick] == [True]
    streamed = list(run(params, inputs, RunContext(preview_interval_s=0.0, models=store, device="cpu")))
    assert [frame.final for frame in streamed] == [False, False, True]


def test_studio_run_inpainting_with_a_mask_file(tmp_path):
    picture = photo(120, 90)[..., :3]
    mask = np.zeros((90, 120), np.uint8)
    mask[40:50, 20:100] = 255  # white = fill, as IOPaint and LaMa read masks
    cv2.imwrite(str(tmp_path / "photo.png"), picture)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    out = tmp_path / "out.png"
    result = subprocess.run(
        [STUDIO, "run", "inpainting", "--input", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"),
         "--set", "method=telea", "-o", str(out)],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = cv2.imread(str(out))
    assert np.array_equal(written[mask == 0], picture[mask == 0])
    assert not np.array_equal(written[mask > 0], picture[mask > 0])


def test_a_batch_job_fills_each_photo_with_its_own_mask(tmp_path):
    """Two photos, each with its own mask file named after it; only each photo's holes change."""
    masks = {}
    for seed, name in enumerate(("harbour", "market")):
        picture = photo(96, 64, seed)[..., :3]
        mask = np.zeros((64, 96), np.uint8)
        cv2.circle(mask, (20 + 40 * seed, 30), 8, 255, -1)
        cv2.imwrite(str(tmp_path / f"{name}.png"), picture)
        cv2.imwrite(str(tmp_path / f"{name}-mask.png"), mask)
        masks[name] = (picture, mask)
    job = tmp_path / "fill.toml"
    job.write_text(
        'inputs = ["harbour.png", "market.png"]\noutput_dir = "out"\noutput = "{stem}-filled.png"\n'
        '[[steps]]\nplugin = "inpainting"\nmethod = "telea"\nmask = "{stem}-mask.png"\n'
    )
    result = subprocess.run([STUDIO, "render", str(job)], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name, (picture, mask) in masks.items():
        written = cv2.imread(str(tmp_path / "out" / f"{name}-filled.png"))
        assert np.array_equal(written[mask == 0], picture[mask == 0])
        assert not np.array_equal(written[mask > 0], picture[mask > 0])
