"""The Image menu's operations: colour adjustments of a layer and geometry of the whole document, each one undo
step that undo restores exactly."""

import numpy as np
import pytest

from studio.core.adjust import (
    Anchor,
    BrightnessContrast,
    HueSaturation,
    Levels,
    adjust_step,
    adjusted,
    canvas_size,
    crop,
    crop_to_selection,
    flip,
    resize_image,
    rotate,
)
from studio.core.document import Document, Layer, LayerKind
from studio.core.paint import rectangle_mask
from studio.core.print_size import PrintSpec
from studio.core.selection import select


def pixel(r: int, g: int, b: int, a: int = 255) -> np.ndarray:
    return np.array([[[r, g, b, a]]], np.uint8)


def layered() -> Document:
    """A 4x2 document: a picture counting 0..7 in red, a mask on its left half, label 3 on its top row."""
    picture = np.zeros((2, 4, 4), np.uint8)
    picture[..., 0] = np.arange(8).reshape(2, 4) * 30
    picture[..., 3] = 255
    doc = Document.from_pixels(picture)
    mask = np.zeros((2, 4), np.uint8)
    mask[:, :2] = 255
    labels = np.zeros((2, 4), np.uint8)
    labels[0] = 3
    doc.insert_layer(Layer("Mask", LayerKind.MASK, mask))
    doc.insert_layer(Layer("Labels", LayerKind.LABELS, labels))
    return doc


def test_levels_brightness_contrast_and_hue_saturation_on_single_pixels():
    np.testing.assert_array_equal(Levels(black=50, white=150).apply(pixel(50, 100, 200, 7)), pixel(0, 128, 255, 7))
    np.testing.assert_array_equal(Levels(gamma=2.0).apply(pixel(64, 0, 255)), pixel(128, 0, 255))
    np.testing.assert_array_equal(BrightnessContrast(brightness=0.2).apply(pixel(10, 250, 0)), pixel(61, 255, 51))
    np.testing.assert_array_equal(BrightnessContrast(contrast=0.5).apply(pixel(100, 128, 200)), pixel(45, 129, 255))
    np.testing.assert_array_equal(BrightnessContrast(contrast=-1.0).apply(pixel(0, 255, 9)), pixel(128, 128, 128))
    np.testing.assert_array_equal(HueSaturation(hue=120).apply(pixel(200, 0, 0)), pixel(0, 200, 0))
    np.testing.assert_array_equal(HueSaturation(saturation=-1).apply(pixel(200, 0, 0)), pixel(100, 100, 100))
    np.testing.assert_array_equal(HueSaturation(lightness=1).apply(pixel(200, 0, 0, 9)), pixel(255, 255, 255, 9))
    every = np.random.default_rng(0).integers(0, 256, (8, 8, 4), np.uint8)
    for identity in (Levels(), BrightnessContrast(), HueSaturation()):
        np.testing.assert_array_equal(identity.apply(every), every)


def test_an_adjustment_changes_only_the_selection_and_undo_restores_it():
    doc = layered()
    layer = doc.layers[0]
    snapshot = layer.image.snapshot()
    before = layer.pixels.copy()
    doc.history.push(select(doc, rectangle_mask((0, 0), (1, 2), 4, 2)))
    after = adjusted(doc, layer, BrightnessContrast(brightness=0.1), before)
    np.testing.assert_array_equal(after[:, 0, 0], before[:, 0, 0] + 26)
    np.testing.assert_array_equal(after[:, 1:], before[:, 1:])
    layer.write(0, 0, after)
    doc.history.push(adjust_step(doc, layer, "Brightness/contrast", snapshot), applied=True)
    assert doc.history.texts()[-1] == "Brightness/contrast Background"
    np.testing.assert_array_equal(layer.pixels, after)
    doc.history.undo()
    np.testing.assert_array_equal(layer.pixels, before)
    with pytest.raises(ValueError, match="adjustments change pictures"):
        adjusted(doc, doc.layers[1], Levels(), doc.layers[1].pixels)


def test_rotate_and_flip_turn_every_layer_and_the_selection_alike():
    doc = layered()
    doc.history.push(select(doc, rectangle_mask((0, 0), (1, 1), 4, 2)))
    originals = [layer.pixels.copy() for layer in doc.layers]
    doc.history.push(rotate(doc, 1))
    assert (doc.width, doc.height) == (2, 4)
    picture, mask, labels = (layer.pixels for layer in doc.layers)
    np.testing.assert_array_equal(picture[..., 0], [[120, 0], [150, 30], [180, 60], [210, 90]])
    np.testing.assert_array_equal(mask, [[255, 255], [255, 255], [0, 0], [0, 0]])
    np.testing.assert_array_equal(labels, [[0, 3], [0, 3], [0, 3], [0, 3]])
    np.testing.assert_array_equal(doc.selection, [[0, 255], [0, 0], [0, 0], [0, 0]])
    doc.history.push(flip(doc, horizontal=True))
    np.testing.assert_array_equal(doc.layers[2].pixels, [[3, 0]] * 4)
    doc.history.push(flip(doc, horizontal=False))
    np.testing.assert_array_equal(doc.layers[0].pixels[..., 0], [[90, 210], [60, 180], [30, 150], [0, 120]])
    doc.history.push(rotate(doc, -1))
    np.testing.assert_array_equal(doc.layers[0].pixels[..., 0], [[210, 180, 150, 120], [90, 60, 30, 0]])
    doc.history.go_to(1)
    assert (doc.width, doc.height) == (4, 2)
    for layer, original in zip(doc.layers, originals, strict=True):
        np.testing.assert_array_equal(layer.pixels, original)
    np.testing.assert_array_equal(doc.selection, rectangle_mask((0, 0), (1, 1), 4, 2) * np.uint8(255))


def test_resize_keeps_labels_exact_and_the_print_size_with_a_new_ppi():
    doc = layered()
    doc.print_spec = PrintSpec(4, 2, ppi=1, safe_in=0)
    doc.history.push(resize_image(doc, 8, 4))
    assert (doc.width, doc.height) == (8, 4)
    assert doc.print_spec == PrintSpec(4, 2, ppi=2, safe_in=0), "the same print at twice the resolution"
    labels = doc.layers[2].pixels
    np.testing.assert_array_equal(labels, np.repeat(np.repeat([[3, 3, 3, 3], [0, 0, 0, 0]], 2, 0), 2, 1))
    assert set(np.unique(doc.layers[1].pixels)) <= set(range(256)) and doc.layers[1].pixels[:, :3].min() == 255
    doc.history.undo()
    assert (doc.width, doc.height) == (4, 2) and doc.print_spec == PrintSpec(4, 2, ppi=1, safe_in=0)


def test_resizing_a_transparent_edge_keeps_its_colour():
    doc = Document.from_pixels(np.concatenate([pixel(255, 0, 0), pixel(0, 255, 0, 0)], axis=1))
    doc.history.push(resize_image(doc, 1, 1))
    np.testing.assert_array_equal(doc.layers[0].pixels, pixel(255, 0, 0, 128)), "no green from the clear pixel"


def test_canvas_size_places_the_picture_and_grows_the_print():
    doc = layered()
    doc.print_spec = PrintSpec(4, 2, ppi=1, safe_in=0)
    before = doc.layers[0].pixels.copy()
    doc.history.push(canvas_size(doc, 6, 3, Anchor.TOP_RIGHT))
    picture = doc.layers[0].pixels
    np.testing.assert_array_equal(picture[:2, 2:], before)
    assert picture[2, :, 3].max() == 0 and picture[:, :2, 3].max() == 0, "added pixels are transparent"
    assert doc.layers[2].pixels[0, :2].max() == 0 and doc.print_spec == PrintSpec(6, 3, ppi=1, safe_in=0)
    doc.history.push(canvas_size(doc, 2, 1))
    np.testing.assert_array_equal(doc.layers[0].pixels[0, :, 0], [120, 150]), "centred: the middle of the 6x3"
    doc.history.go_to(0)
    np.testing.assert_array_equal(doc.layers[0].pixels, before)


def test_crop_to_selection_keeps_its_bounds_and_drops_the_selection():
    doc = layered()
    assert crop_to_selection(doc) is None
    doc.history.push(select(doc, rectangle_mask((1, 0), (3, 1), 4, 2)))
    doc.history.push(crop_to_selection(doc))
    assert (doc.width, doc.height) == (2, 1) and doc.selection is None
    np.testing.assert_array_equal(doc.layers[0].pixels[..., 0], [[30, 60]])
    np.testing.assert_array_equal(doc.layers[2].pixels, [[3, 3]])
    doc.history.undo()
    assert (doc.width, doc.height) == (4, 2) and doc.selection is not None and doc.selection[0, 1:3].min() == 255
    with pytest.raises(ValueError, match="leaves nothing"):
        crop(doc, (4, 0, 9, 2))
