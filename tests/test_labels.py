"""Label maps: region colours, snapping anti-aliased edges to a palette, matching a doodle's regions to a style's."""

import cv2
import numpy as np
import pytest

from studio.core.inputs import label_colours
from studio.core.labels import (
    colour_hex,
    from_indices,
    match_by_likeness,
    match_regions,
    one_hot,
    palette_of,
    region_colours,
    region_signatures,
    segment,
    snap_to_palette,
    to_indices,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def halves(left, right, size=32, vertical=True) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    first = (x if vertical else y) < size // 2
    return np.where(first[..., None], np.array(left, np.uint8), np.array(right, np.uint8)).astype(np.uint8)


def anti_aliased(labels: np.ndarray) -> np.ndarray:
    """``labels`` drawn as another program would: blurred edges of in-between colours."""
    return cv2.GaussianBlur(labels, (5, 5), 1.0)


def test_region_colours_are_the_distinct_colours_with_counts():
    colours, counts = region_colours(halves(RED, BLUE))
    assert [colour_hex(c) for c in colours] == ["#0000ff", "#ff0000"]
    assert counts.tolist() == [512, 512]


def test_palette_leaves_out_rare_edge_colours():
    blurred = anti_aliased(halves(RED, BLUE, 64))
    assert len(region_colours(blurred)[0]) > 2
    assert sorted(colour_hex(c) for c in palette_of(blurred, min_share=0.05)) == ["#0000ff", "#ff0000"]


def test_snapping_moves_edge_pixels_to_the_palette_and_counts_them():
    sharp = halves(RED, BLUE)
    blurred = anti_aliased(sharp)
    changed = int((blurred != sharp).any(axis=2).sum())
    snapped, moved = snap_to_palette(blurred, np.array([RED, BLUE], np.uint8), max_distance=300)
    assert moved == changed > 0
    assert len(region_colours(snapped)[0]) == 2
    assert np.array_equal(snapped, sharp)


def test_colours_beyond_the_snap_distance_stay():
    labels = halves(RED, (128, 0, 128))
    snapped, moved = snap_to_palette(labels, np.array([RED, BLUE], np.uint8), max_distance=50)
    assert moved == 0 and np.array_equal(snapped, labels)
    snapped, moved = snap_to_palette(labels, np.array([RED, BLUE], np.uint8), max_distance=200)
    assert moved == 512 and colour_hex(snapped[0, -1]) in ("#ff0000", "#0000ff")


def test_matching_regions_by_colour_after_snapping():
    style = anti_aliased(halves(RED, BLUE, 64))
    doodle = anti_aliased(halves(BLUE, RED, 64, vertical=False))
    match = match_regions(doodle, style, max_distance=200)
    assert [colour_hex(c) for c in match.colours] == ["#0000ff", "#ff0000"]
    assert match.snapped_doodle > 0 and match.snapped_style > 0
    assert (match.doodle[:20] == 0).all() and (match.doodle[44:] == 1).all()
    assert (match.style[:, :20] == 1).all() and (match.style[:, 44:] == 0).all()
    summary = match.summary()
    assert summary["snapped_pixels"] == {"doodle": match.snapped_doodle, "style_labels": match.snapped_style}
    assert [r["colour"] for r in summary["regions"]] == ["#0000ff", "#ff0000"]


def test_style_regions_the_doodle_does_not_use_are_listed_and_indexed_minus_one():
    style = np.concatenate([halves(RED, BLUE), halves(GREEN, GREEN)], axis=0)
    match = match_regions(halves(RED, RED), style, max_distance=0)
    assert match.count == 1 and match.unused_style_colours == ("#0000ff", "#00ff00")
    assert set(np.unique(match.style).tolist()) == {-1, 0}


def test_doodle_colours_missing_from_the_style_are_refused_by_name():
    with pytest.raises(ValueError, match=r"#00ff00 is in the doodle but not in the style's label map"):
        match_regions(halves(RED, GREEN), halves(RED, BLUE), max_distance=10)
    with pytest.raises(ValueError, match=r"#00ff00, #ffff00 are in the doodle but not in the style's label map"):
        match_regions(halves(GREEN, (255, 255, 0)), halves(RED, BLUE), max_distance=10)


def test_one_hot_masks():
    masks = one_hot(np.array([[0, 1], [-1, 1]]), 2)
    assert masks.shape == (2, 2, 2) and masks.dtype == np.float32
    assert masks[0].tolist() == [[1, 0], [0, 0]] and masks[1].tolist() == [[0, 1], [0, 1]]


def two_textures(size: int = 48) -> np.ndarray:
    """Red stripes on white on the left, blue dots on green on the right."""
    y, x = np.mgrid[0:size, 0:size]
    stripes = np.where(((x // 2) % 2 == 0)[..., None], (230, 40, 40), (250, 250, 250))
    dots = np.where(((x % 8 - 4) ** 2 + (y % 8 - 4) ** 2 < 5)[..., None], (20, 20, 160), (200, 230, 120))
    return np.where((x < size // 2)[..., None], stripes, dots).astype(np.uint8)


def test_segment_splits_two_different_halves_at_the_middle():
    labels = segment(two_textures(), 2)
    assert labels.dtype == np.uint8 and labels.shape == (48, 48)
    assert (labels[:, :21] == 1).all() and (labels[:, 24:] == 2).all()  # the blurred border strays a pixel or two
    assert (np.diff(labels.astype(int), axis=1) >= 0).all()  # each row: one split, left to right


def test_segment_is_deterministic_and_numbers_regions_from_one():
    picture = np.random.default_rng(1).integers(0, 256, (40, 50, 4), dtype=np.uint8)
    first = segment(picture, 5)
    assert np.array_equal(first, segment(picture, 5))
    assert set(np.unique(first)) == {1, 2, 3, 4, 5} and first[0, 0] == 1
    with pytest.raises(ValueError, match="1 to 255 regions"):
        segment(picture, 0)


def test_indices_and_colours_round_trip_with_the_document_palette():
    palette = label_colours(np.arange(256, dtype=np.uint8))
    indices = np.random.default_rng(2).integers(0, 256, (16, 16), dtype=np.uint8)
    colours = from_indices(indices, palette)
    assert np.array_equal(colours, label_colours(indices))
    back, moved = to_indices(colours, palette)
    assert np.array_equal(back, indices) and moved == 0


def test_to_indices_snaps_anti_aliased_edges_and_counts_them():
    labels = anti_aliased(halves(RED, BLUE))
    palette = palette_of(labels)
    indices, moved = to_indices(labels, palette)
    snapped, expected = snap_to_palette(labels, palette, 442.0)
    assert moved == expected > 0
    assert np.array_equal(from_indices(indices, palette), snapped)
    assert set(np.unique(indices)) == {0, 1}


def test_segments_are_matched_to_the_style_region_they_resemble_in_colour_first_then_place():
    sky, grass, sand = (90, 150, 230), (40, 160, 50), (220, 200, 140)
    style = np.zeros((60, 60, 3), np.uint8)
    style[:20], style[20:40], style[40:] = sky, sand, grass  # the painting: sky, a beach, grass below
    style_regions = np.repeat(np.array([2, 0, 1]), 20)[:, None].repeat(60, axis=1)  # its map numbers them 2, 0, 1
    photo = np.zeros((40, 80, 3), np.uint8)
    photo[:, :40], photo[:, 40:] = grass, sky  # the photo: grass on the left, sky on the right
    photo[30:] = (225, 195, 150)  # a sandy strip along the bottom
    segments = np.zeros((40, 80), np.int64)
    segments[:, 40:], segments[30:] = 1, 2  # reading order: grass 0, sky 1, sand 2
    match = match_by_likeness(photo, segments, style, style_regions, 3)
    assert list(match) == [1, 2, 0]  # grass -> the style's grass (1), sky -> sky (2), sand -> beach (0)
    signatures = region_signatures(style, style_regions, 4)
    assert np.isnan(signatures[3]).all() and np.allclose(signatures[2, 3:], (29.5 / 60, 9.5 / 60))
