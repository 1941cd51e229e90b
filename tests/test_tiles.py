"""TiledImage: pixels kept as tiles shared copy-on-write (issue 19)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.tiles import TILE_SIZE, TiledImage, clip_region

T = TILE_SIZE


def random_pixels(height, width, channels=4, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels else (height, width)
    return rng.integers(1, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def write_clipped(array, x, y, patch):
    """What ``TiledImage.write`` should do, on a plain array."""
    height, width = array.shape[:2]
    x0, y0, x1, y1 = clip_region((x, y, x + patch.shape[1], y + patch.shape[0]), width, height)
    array[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def tile_ids(image):
    return {key: id(tile) for key, tile in image.tiles().items()}


@pytest.mark.parametrize(
    ("width", "height", "channels", "dtype"),
    [
        (1, 1, 4, np.uint8),
        (T, T, 4, np.uint8),
        (T + 1, 3, 4, np.uint16),
        (601, 259, 0, np.uint8),
        (5, 700, 4, np.uint8),
    ],
)
def test_an_array_round_trips_whole_and_by_regions_across_tile_borders(width, height, channels, dtype):
    pixels = random_pixels(height, width, channels, dtype)
    image = TiledImage.from_array(pixels)
    assert image.shape == pixels.shape and image.dtype == dtype
    np.testing.assert_array_equal(image.read(), pixels)
    for region in [
        (0, 0, 1, 1),
        (T - 3, T - 2, T + 5, T + 7),
        (250, 3, 520, 260),
        (width - 1, height - 1, width, height),
    ]:
        x0, y0, x1, y1 = clip_region(region, width, height)
        np.testing.assert_array_equal(image.read(region), pixels[y0:y1, x0:x1])
    partly_outside = image.read((-10, -20, width + 30, 5))
    np.testing.assert_array_equal(partly_outside, pixels[:5])


def test_a_region_wholly_outside_reads_as_an_empty_array():
    image = TiledImage.from_array(random_pixels(10, 10))
    assert image.read((20, 20, 30, 30)).shape == (0, 0, 4)
    assert image.tile_keys((-30, -30, -1, -1)) == []


def test_a_view_is_a_read_only_window_into_one_tile_without_a_copy():
    pixels = random_pixels(300, 300)
    image = TiledImage.from_array(pixels)
    view = image.view((T + 2, 5, T + 9, 40))
    np.testing.assert_array_equal(view, pixels[5:40, T + 2 : T + 9])
    assert not view.flags.writeable
    assert np.shares_memory(view, image.view((T, 0, 300, T))), "a view of the same tile shares its memory"
    with pytest.raises(ValueError):
        image.view((T - 1, 0, T + 1, 1))  # across two tiles


@pytest.mark.parametrize(("x", "y"), [(0, 0), (T - 7, T - 3), (-5, 250), (-40, -40), (590, 250), (-300, 10)])
@pytest.mark.parametrize("channels", [4, 0])
def test_writes_at_any_offset_equal_the_same_writes_on_an_array(x, y, channels):
    expected = random_pixels(259, 601, channels, seed=1)
    image = TiledImage.from_array(expected)
    patch = random_pixels(37, 300, channels, seed=2)
    image.write(x, y, patch)
    write_clipped(expected, x, y, patch)
    np.testing.assert_array_equal(image.read(), expected)


def test_a_patch_of_the_wrong_shape_is_refused():
    image = TiledImage(10, 10, 4, np.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        image.write(0, 0, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="positive size"):
        TiledImage(0, 5, 4, np.uint8)


def test_blank_tiles_are_not_stored_and_read_as_zeros():
    blank = TiledImage(8192, 8192, 4, np.uint16)
    assert blank.nbytes == 0 and not blank.any()
    assert not blank.read((4000, 4000, 4300, 4100)).any()
    pixels = np.zeros((600, 700, 4), np.uint8)
    pixels[300, 650] = (1, 0, 0, 0)
    sparse = TiledImage.from_array(pixels)
    stored = [key for key in sparse.tile_keys() if sparse.stored(key)]
    assert stored == [(1, 2)] and sparse.nbytes == pixels[256:512, 512:700].nbytes
    assert sparse.any() and sparse.any((640, 290, 660, 310)) and not sparse.any((0, 0, 640, 600))
    np.testing.assert_array_equal(sparse.read(), pixels)
    patch_outside = TiledImage(600, 600, 0, np.uint8)
    patch_outside.write(-50, -50, np.ones((40, 40), np.uint8))
    assert patch_outside.nbytes == 0, "a patch wholly outside stores nothing"
    assert TiledImage.filled(5000, 5000, (0, 0, 0, 0), np.uint8).nbytes == 0


def test_a_filled_image_shares_one_tile_per_tile_shape_until_written():
    image = TiledImage.filled(600, 300, (10, 20, 30, 255), np.uint8)
    np.testing.assert_array_equal(image.read(), np.full((300, 600, 4), (10, 20, 30, 255), np.uint8))
    tiles = image.tiles()
    assert len(tiles) == 6 and len({id(tile) for tile in tiles.values()}) == 4, "256/88 rows x 256/88 columns"
    assert tiles[(0, 0)] is tiles[(0, 1)]
    image.write(3, 3, np.zeros((1, 1, 4), np.uint8))
    assert image.read()[3, 3].tolist() == [0, 0, 0, 0] and image.read()[3, 300].tolist() == [10, 20, 30, 255]
    assert tiles[(0, 0)][3, 3].tolist() == [10, 20, 30, 255], "the shared tile was copied, not written"
    assert image.tiles()[(0, 1)] is tiles[(0, 1)]
    grey = TiledImage.filled(300, 300, 7, np.uint8)
    assert grey.shape == (300, 300) and (grey.read() == 7).all()


def test_a_snapshot_never_changes_after_writes_to_the_original_nor_the_original_after_writes_to_it():
    pixels = random_pixels(300, 520)
    image = TiledImage.from_array(pixels)
    snapshot = image.snapshot()
    assert snapshot.nbytes == image.nbytes and tile_ids(snapshot) == tile_ids(image), "shares every tile"
    image.write(250, 250, np.zeros((20, 300, 4), np.uint8))
    image.write(0, 0, np.full((1, 1, 4), 9, np.uint8))
    np.testing.assert_array_equal(snapshot.read(), pixels)
    later = image.read()
    snapshot.write(100, 100, np.zeros((200, 200, 4), np.uint8))
    np.testing.assert_array_equal(image.read(), later)
    assert not snapshot.read()[100:300, 100:300].any()


def test_a_write_copies_only_the_tiles_it_writes_and_only_once():
    image = TiledImage.from_array(random_pixels(3 * T, 3 * T))
    snapshot = image.snapshot()
    before = tile_ids(image)
    image.write(T - 2, 10, np.zeros((5, 4, 4), np.uint8))  # crosses from tile (0, 0) into (0, 1)
    changed = {key for key, tile in image.tiles().items() if id(tile) != before[key]}
    assert changed == {(0, 0), (0, 1)}
    assert image.changed_keys(snapshot) == [(0, 0), (0, 1)]
    assert image.changed_keys(snapshot, (2 * T, 0, 3 * T, T)) == []
    assert all(tile is snapshot.tiles()[key] for key, tile in image.tiles().items() if key not in changed)
    fresh = TiledImage(T, T, 4, np.uint8)
    fresh.write(0, 0, np.ones((1, 1, 4), np.uint8))
    view = fresh.view((0, 0, T, T))
    fresh.write(1, 1, np.ones((1, 1, 4), np.uint8))
    assert np.shares_memory(view, fresh.view((0, 0, T, T))), "a tile no snapshot shares is written in place"
    assert view[1, 1].tolist() == [1, 1, 1, 1]


def test_put_tiles_shares_tiles_and_a_missing_tile_becomes_blank():
    source = TiledImage.from_array(random_pixels(300, 300))
    target = TiledImage(300, 300, 4, np.uint8)
    target.write(0, T, np.full((10, 10, 4), 3, np.uint8))
    target.put_tiles([(0, 0), (1, 0)], source.tiles([(0, 0)]))
    assert target.tiles()[(0, 0)] is source.tiles()[(0, 0)]
    assert not target.stored((1, 0)), "a key missing from the tiles given is blank"
    np.testing.assert_array_equal(target.read((0, 0, T, T)), source.read((0, 0, T, T)))
    assert not target.read((0, T, 300, 300)).any()
    target.write(0, 0, np.zeros((1, 1, 4), np.uint8))
    assert source.read((0, 0, 1, 1)).all(), "writing a put tile copies it"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 255, 256, 300])
@pytest.mark.parametrize(("width", "height", "channels"), [(601, 259, 4), (257, 514, 0), (3, 3, 4)])
def test_sample_takes_every_step_th_pixel_like_numpy_slicing(step, width, height, channels):
    pixels = random_pixels(height, width, channels, seed=step)
    pixels[: height // 2, : width // 2] = 0  # some tiles blank
    image = TiledImage.from_array(pixels)
    np.testing.assert_array_equal(image.sample(step), pixels[::step, ::step])


writes = st.lists(
    st.tuples(
        st.integers(-300, 700),  # x
        st.integers(-300, 600),  # y
        st.integers(1, 400),  # width
        st.integers(1, 300),  # height
        st.integers(0, 255),  # value
        st.booleans(),  # take a snapshot after this write
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=writes, width=st.integers(1, 600), height=st.integers(1, 520))
def test_random_writes_match_numpy_and_snapshots_keep_what_they_saw(writes, width, height):
    array = np.zeros((height, width, 2), np.uint8)
    image = TiledImage(width, height, 2, np.uint8)
    snapshots = []
    for i, (x, y, w, h, value, take) in enumerate(writes):
        patch = np.full((h, w, 2), (value, i), np.uint8)
        patch[::3, ::5, 1] = 255 - value  # not uniform, so misplaced pixels show
        image.write(x, y, patch)
        write_clipped(array, x, y, patch)
        if take:
            snapshots.append((image.snapshot(), array.copy()))
    np.testing.assert_array_equal(image.read(), array)
    assert image.any() == array.any()
    for snapshot, seen in snapshots:
        np.testing.assert_array_equal(snapshot.read(), seen)
