"""Brush strokes, fills, mask selections and the colour picker."""

import tracemalloc

import numpy as np
import pytest

from studio.core.adjust import BrightnessContrast, adjust_step, adjusted
from studio.core.document import Document, Layer, LayerKind, blank_image
from studio.core.history import PixelEdit
from studio.core.paint import Brush, Stroke, fill, pick_color, polygon_mask, rectangle_mask
from studio.core.selection import cut_pixels, deselect, fill_shape, select
from studio.core.tiles import TILE_SIZE


def white_doc(width=64, height=48):
    pixels = np.full((height, width, 4), 255, np.uint8)
    return Document.from_pixels(pixels)


def test_stroke_paints_along_its_path_and_nowhere_else():
    doc = white_doc()
    layer = doc.layers[0]
    stroke = Stroke(doc, layer, Brush(size=6, hardness=1.0, color=(255, 0, 0)))
    stroke.add_point(10, 20)
    stroke.add_point(50, 20)
    command = stroke.finish()
    assert command is not None
    doc.history.push(command, applied=True)
    on_path = layer.pixels[20, 10:51]
    assert (on_path[:, 0] == 255).all() and (on_path[:, 1] < 10).all()
    untouched = np.ones(layer.pixels.shape[:2], bool)
    x0, y0, x1, y1 = command.region
    untouched[y0:y1, x0:x1] = False
    assert (layer.pixels[untouched] == 255).all()
    assert (layer.pixels[:15] == 255).all() and (layer.pixels[26:] == 255).all()
    doc.history.undo()
    assert (layer.pixels == 255).all()
    doc.history.redo()
    assert layer.pixels[20, 30, 1] < 10


def test_overlapping_dabs_do_not_build_up_opacity():
    doc = white_doc()
    layer = doc.layers[0]
    stroke = Stroke(doc, layer, Brush(size=10, hardness=1.0, opacity=0.5, color=(0, 0, 0)))
    for x in range(10, 40):
        stroke.add_point(x, 20)
    value = int(layer.pixels[20, 25, 0])
    assert 120 <= value <= 135


def test_pressure_changes_size_and_soft_brush_falls_off():
    doc = white_doc()
    layer = doc.layers[0]
    Stroke(doc, layer, Brush(size=20, hardness=0.0, color=(0, 0, 0))).add_point(20, 20, pressure=1.0)
    centre, edge = layer.pixels[20, 20, 0], layer.pixels[20, 28, 0]
    assert centre < 30 and centre < edge < 255
    Stroke(doc, layer, Brush(size=20, hardness=1.0, color=(0, 0, 0))).add_point(50, 20, pressure=0.1)
    light = int(layer.pixels[20, 50, 0])
    assert centre < light < 255, "low pressure paints fainter"
    assert layer.pixels[20, 55, 0] == 255, "low pressure paints a smaller dab"
    assert layer.pixels[20, 25, 0] < 255, "full pressure reaches 5 px from the centre"


def test_eraser_clears_alpha_and_mask_brush_selects():
    doc = white_doc()
    layer = doc.layers[0]
    Stroke(doc, layer, Brush(size=8, hardness=1.0, erase=True)).add_point(30, 30)
    assert layer.pixels[30, 30, 3] == 0 and layer.pixels[10, 10, 3] == 255
    mask = Layer("mask", LayerKind.MASK, np.zeros((48, 64), np.uint8))
    doc.insert_layer(mask)
    Stroke(doc, mask, Brush(size=8, hardness=1.0)).add_point(30, 30)
    assert mask.pixels[30, 30] == 255 and mask.pixels[0, 0] == 0
    labels = Layer("labels", LayerKind.LABELS, np.zeros((48, 64), np.uint8))
    doc.insert_layer(labels)
    Stroke(doc, labels, Brush(size=8, hardness=1.0, label=3)).add_point(30, 30)
    assert labels.pixels[30, 30] == 3 and set(np.unique(labels.pixels)) == {0, 3}


def test_fill_clear_and_picker():
    doc = white_doc(8, 8)
    layer = doc.layers[0]
    doc.history.push(fill(doc, layer, Brush(color=(10, 20, 30))))
    assert pick_color(doc, 3, 3) == (10, 20, 30)
    doc.history.push(fill(doc, layer, Brush(erase=True)))
    assert pick_color(doc, 3, 3) is None
    assert pick_color(doc, 99, 3) is None
    doc.history.undo()
    assert pick_color(doc, 0, 7) == (10, 20, 30)


def test_a_rectangle_covers_the_pixels_whose_centres_are_inside_it_clipped_to_the_image():
    mask = rectangle_mask((30.2, 20.0), (10.0, 5.4), 64, 48)  # corners in either order
    expected = np.zeros((48, 64), bool)
    expected[5:20, 10:30] = True
    np.testing.assert_array_equal(mask, expected)
    clipped = rectangle_mask((-10.0, 40.0), (8.0, 90.0), 64, 48)
    assert clipped.shape == (48, 64) and clipped[40:, :8].all() and clipped.sum() == 8 * 8
    assert not rectangle_mask((70.0, 0.0), (90.0, 48.0), 64, 48).any()
    assert not rectangle_mask((5.0, 5.0), (5.0, 30.0), 64, 48).any(), "a rectangle with no width selects nothing"


def test_a_polygon_fills_its_inside_with_the_even_odd_rule():
    triangle = polygon_mask([(0.0, 0.0), (40.0, 0.0), (0.0, 40.0)], 64, 48)
    ys, xs = np.mgrid[0:48, 0:64] + 0.5
    np.testing.assert_array_equal(triangle, xs + ys < 40)
    bow_tie = polygon_mask([(0, 0), (20, 20), (20, 0), (0, 20)], 64, 48)
    assert bow_tie[10, 2] and bow_tie[10, 17] and not bow_tie[2, 10] and not bow_tie[17, 10]
    assert not polygon_mask([(1.0, 1.0), (30.0, 30.0)], 64, 48).any(), "two points enclose nothing"


def test_a_shape_adds_to_a_mask_or_subtracts_from_it_in_one_undo_step():
    doc = white_doc()
    mask = Layer("Holes", LayerKind.MASK, np.zeros((48, 64), np.uint8))
    doc.insert_layer(mask)
    mask.write(0, 0, np.full((1, 1), 100, np.uint8))
    doc.history.push(fill_shape(mask, rectangle_mask((10, 10), (20, 20), 64, 48)))
    assert (mask.pixels[10:20, 10:20] == 255).all() and mask.pixels.sum() == 100 * 255 + 100
    doc.history.push(fill_shape(mask, rectangle_mask((15, 10), (20, 20), 64, 48), subtract=True))
    assert (mask.pixels[10:20, 10:15] == 255).all() and (mask.pixels[10:20, 15:] == 0).all()
    assert fill_shape(mask, rectangle_mask((30, 30), (40, 40), 64, 48), subtract=True) is None, "nothing to clear"
    assert doc.history.texts()[-2:] == ["Add to Holes", "Subtract from Holes"]
    doc.history.undo()
    doc.history.undo()
    assert mask.pixels.sum() == 100 and len(doc.layers) == 2
    with pytest.raises(ValueError, match="fills a mask or a label map"):
        fill_shape(doc.layers[0], rectangle_mask((0, 0), (8, 8), 64, 48))


def test_a_shape_on_the_active_label_map_paints_the_current_label_with_hard_edges():
    doc = white_doc()
    doc.insert_layer(Layer("Holes", LayerKind.MASK, np.zeros((48, 64), np.uint8)))
    labels = Layer("Doodle", LayerKind.LABELS, np.ones((48, 64), np.uint8))
    doc.insert_layer(labels)
    triangle = polygon_mask([(4.0, 4.0), (40.0, 4.0), (4.0, 40.0)], 64, 48)
    doc.history.push(fill_shape(labels, triangle, label=3))
    assert set(np.unique(labels.pixels)) == {1, 3} and np.array_equal(labels.pixels == 3, triangle)
    assert not doc.layers[1].pixels.any(), "the mask is untouched"
    doc.history.push(fill_shape(labels, rectangle_mask((0, 0), (8, 8), 64, 48), subtract=True))
    assert (labels.pixels[:8, :8] == 0).all()
    doc.history.undo()
    doc.history.undo()
    assert (labels.pixels == 1).all()


def test_a_stroke_on_a_huge_layer_stores_only_the_tiles_it_crossed():
    side = 8192
    doc = Document(side, side)
    layer = Layer("Ink", LayerKind.RASTER, blank_image(LayerKind.RASTER, side, side))
    doc.insert_layer(layer)
    layer_bytes = side * side * 4
    tracemalloc.start()
    try:
        stroke = Stroke(doc, layer, Brush(size=24, color=(200, 10, 10)))
        for x, y in [(100, 100), (900, 130), (1000, 600)]:  # along the top row of tiles, then down column 3
            stroke.add_point(x, y)
        edit = stroke.finish()
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    crossed = {(0, 0), (0, 1), (0, 2), (0, 3), (1, 3), (2, 3)}
    assert set(edit.changes) == crossed
    assert {key for key in layer.image.tile_keys() if layer.image.stored(key)} == crossed
    tile_bytes = TILE_SIZE * TILE_SIZE * 4
    assert 0 < edit.nbytes < len(crossed) * tile_bytes, "the undo step holds at most the tiles crossed"
    assert peak < 8 * len(crossed) * tile_bytes < layer_bytes / 20, f"the stroke allocated {peak} bytes at its peak"
    painted = layer.read((0, 0, 1024, 768))
    assert painted[125:135, 895:905, 3].min() == 255
    doc.history.push(edit, applied=True)
    doc.history.undo()
    assert layer.image.nbytes == 0 and not layer.image.any(), "undo leaves no tile stored"
    doc.history.redo()
    assert layer.image.nbytes == len(crossed) * tile_bytes
    np.testing.assert_array_equal(layer.read((0, 0, 1024, 768)), painted)


def test_undo_and_redo_restore_every_pixel_after_strokes_fills_cuts_and_adjustments():
    rng = np.random.default_rng(2)
    width, height = TILE_SIZE + 90, TILE_SIZE + 30
    doc = Document.from_pixels(rng.integers(0, 256, (height, width, 4), dtype=np.uint8))
    picture = doc.layers[0]
    doc.insert_layer(Layer("mask", LayerKind.MASK, np.zeros((height, width), np.uint8)))
    mask = doc.layers[1]
    doc.insert_layer(Layer("deep", LayerKind.RASTER, blank_image(LayerKind.RASTER, width, height, 16)))
    deep = doc.layers[2]
    states = []

    def record():
        states.append(
            ([la.pixels.copy() for la in doc.layers], None if doc.selection is None else doc.selection.copy())
        )

    def paint(layer, points, brush):
        stroke = Stroke(doc, layer, brush)
        for point in points:
            stroke.add_point(*point)
        doc.history.push(stroke.finish(), applied=True)

    def adjust(layer):
        before = layer.image.snapshot()
        layer.write(0, 0, adjusted(doc, layer, BrightnessContrast(brightness=0.2, contrast=0.3), layer.read()))
        doc.history.push(adjust_step(doc, layer, "Brightness/contrast", before), applied=True)

    record()
    steps = [
        lambda: paint(picture, [(10, 10), (300, 270)], Brush(size=20, color=(0, 200, 0))),
        lambda: paint(deep, [(250, 5), (260, 280)], Brush(size=9, hardness=0.3, color=(9, 99, 199), opacity=0.6)),
        lambda: doc.history.push(select(doc, rectangle_mask((200, 200), (340, 280), width, height))),
        lambda: doc.history.push(fill(doc, picture, Brush(color=(255, 0, 255), opacity=0.5))),
        lambda: paint(picture, [(0, 250), (345, 250)], Brush(size=30, erase=True)),
        lambda: doc.history.push(cut_pixels(doc, picture)),
        lambda: adjust(picture),
        lambda: doc.history.push(deselect(doc)),
        lambda: doc.history.push(fill_shape(mask, rectangle_mask((240, 0), (270, 286), width, height))),
        lambda: paint(mask, [(5, 280), (340, 5)], Brush(size=12, erase=True)),
        lambda: doc.history.push(PixelEdit.writing("patch", deep, 250, 250, np.full((20, 20, 4), 40000, np.uint16))),
        lambda: doc.history.push(fill(doc, deep, Brush(erase=True))),
        lambda: adjust(picture),
    ]
    for step in steps:
        step()
        record()
    assert doc.history.index == len(steps)
    for changed, unchanged in zip(states[1:], states[:-1], strict=True):
        assert any(
            not np.array_equal(a, b) for a, b in zip(changed[0], unchanged[0], strict=True)
        ) or not np.array_equal(changed[1], unchanged[1]), "every step changes something"

    def assert_state(expected):
        layers, selection = expected
        for layer, pixels in zip(doc.layers, layers, strict=True):
            np.testing.assert_array_equal(layer.pixels, pixels)
        assert (doc.selection is None) == (selection is None)
        if selection is not None:
            np.testing.assert_array_equal(doc.selection, selection)

    for index in range(len(steps) - 1, -1, -1):
        doc.history.undo()
        assert_state(states[index])
    for index in range(1, len(steps) + 1):
        doc.history.redo()
        assert_state(states[index])
    doc.history.go_to(0)
    assert_state(states[0])
    doc.history.go_to(len(steps))
    assert_state(states[-1])


def test_a_stroke_on_a_16_bit_layer_paints_the_8_bit_colour_in_16_bits():
    eight = white_doc()
    sixteen = Document.from_pixels(np.full((48, 64, 4), 65535, np.uint16))
    brush = Brush(size=10, hardness=0.5, color=(255, 128, 0), opacity=0.7)
    for doc in (eight, sixteen):
        stroke = Stroke(doc, doc.layers[0], brush)
        stroke.add_point(10, 10)
        stroke.add_point(50, 30)
        doc.history.push(stroke.finish(), applied=True)
    deep = sixteen.layers[0].pixels
    assert deep.dtype == np.uint16 and (deep[..., 1] % 257 != 0).any(), "levels between the 8-bit ones"
    difference = np.abs((deep / 257.0) - eight.layers[0].pixels)
    assert difference.max() <= 1.0
