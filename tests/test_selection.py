"""The document's selection: shapes, the magic wand, Select All/Deselect/Invert, copy, cut, paste, selection to
mask, and jobs working inside the selection; every change one undo step."""

import numpy as np
import pytest
from probe_plugin import MANIFEST as PROBE

from studio.core.document import Document, Layer, LayerKind
from studio.core.paint import Brush, Stroke, fill, rectangle_mask
from studio.core.run import inputs_from_document
from studio.core.selection import (
    Combine,
    copy_pixels,
    cut_pixels,
    deselect,
    ellipse_mask,
    invert_selection,
    magic_wand,
    outline,
    paste_layer,
    select,
    select_all,
    selection_to_mask,
)


def tiny() -> Document:
    """A 6x4 picture: left half red, right half blue, one green pixel at (1, 1)."""
    pixels = np.zeros((4, 6, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[:, :3, 0] = 200
    pixels[:, 3:, 2] = 200
    pixels[1, 1] = (0, 200, 0, 255)
    return Document.from_pixels(pixels)


def test_an_ellipse_holds_the_pixels_whose_centres_are_inside():
    expected = np.array(
        [
            [0, 1, 1, 0],
            [1, 1, 1, 1],
            [1, 1, 1, 1],
            [0, 1, 1, 0],
            [0, 0, 0, 0],
        ],
        bool,
    )
    np.testing.assert_array_equal(ellipse_mask((4.0, 4.0), (0.0, 0.0), 4, 5), expected)
    assert not ellipse_mask((1.0, 1.0), (1.0, 3.0), 4, 5).any(), "an ellipse with no width selects nothing"


def test_the_magic_wand_selects_only_the_touching_pixels_of_a_similar_colour():
    pixels = np.zeros((3, 5, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[:, 2] = (250, 250, 250, 255)  # a white wall splits the black in two
    pixels[0, 0] = (10, 0, 0, 255)  # near black
    wand = magic_wand(pixels, 1, 1, tolerance=16)
    expected = np.zeros((3, 5), bool)
    expected[:, :2] = True
    np.testing.assert_array_equal(wand, expected)
    assert not magic_wand(pixels, 1, 1, tolerance=5)[0, 0], "past the tolerance"
    assert magic_wand(pixels, 2, 0, tolerance=0).sum() == 3
    assert not magic_wand(pixels, 9, 0, tolerance=0).any(), "a click outside selects nothing"


def test_shapes_replace_add_and_subtract_and_undo_restores_each_selection():
    doc = tiny()
    left = rectangle_mask((0, 0), (3, 4), 6, 4)
    top = rectangle_mask((0, 0), (6, 1), 6, 4)
    doc.history.push(select(doc, left))
    assert doc.selection is not None and (doc.selection[:, :3] == 255).all() and doc.selection[:, 3:].max() == 0
    doc.history.push(select(doc, top, Combine.ADD))
    assert doc.selection[0].min() == 255
    doc.history.push(select(doc, top, Combine.SUBTRACT))
    assert doc.selection[0].max() == 0 and doc.selection[1:, :3].min() == 255
    assert select(doc, top, Combine.SUBTRACT) is None, "nothing changes"
    doc.history.push(invert_selection(doc))
    assert doc.selection[0].min() == 255 and doc.selection[1:, :3].max() == 0
    doc.history.push(deselect(doc))
    assert doc.selection is None and deselect(doc) is None
    doc.history.push(select_all(doc))
    assert doc.selection.min() == 255
    assert doc.history.texts() == ["Select"] * 3 + ["Invert selection", "Deselect", "Select all"]
    for _ in range(3):
        doc.history.undo()
    assert doc.selection[0].max() == 0 and doc.selection[1:, :3].min() == 255
    doc.history.go_to(0)
    assert doc.selection is None


def test_a_selection_must_have_the_documents_size():
    with pytest.raises(ValueError, match="uint8 of shape"):
        tiny().set_selection(np.zeros((3, 3), np.uint8))


def test_copy_cut_and_paste_as_a_new_layer():
    doc = tiny()
    background = doc.layers[0]
    original = background.pixels.copy()
    doc.history.push(select(doc, rectangle_mask((1, 1), (3, 3), 6, 4)))
    copied, at = copy_pixels(doc, background)
    assert at == (1, 1)
    np.testing.assert_array_equal(copied, original[1:3, 1:3])
    doc.history.push(cut_pixels(doc, background))
    assert background.pixels[1:3, 1:3, 3].max() == 0
    assert background.pixels[0, :, 3].min() == 255 and background.pixels[3, :, 3].min() == 255
    doc.history.push(paste_layer(doc, copied, (4, 2)))
    pasted = doc.active_layer
    assert pasted.name == "Pasted" and doc.layers == [background, pasted]
    np.testing.assert_array_equal(pasted.pixels[2:4, 4:6], copied)
    assert pasted.pixels[:2, :, 3].max() == 0 and pasted.pixels[:, :4, 3].max() == 0
    clipped = paste_layer(doc, copied, (5, 3)).layer
    np.testing.assert_array_equal(clipped.pixels[3:, 5:], copied[:1, :1])
    doc.history.undo()
    doc.history.undo()
    np.testing.assert_array_equal(background.pixels, original)
    assert doc.layers == [background]


def test_selection_to_mask_and_jobs_use_the_selection_only_without_a_mask():
    doc = tiny()
    assert doc.job_mask() is None and selection_to_mask(doc) is None
    doc.history.push(select(doc, rectangle_mask((0, 0), (2, 2), 6, 4)))
    name, pixels = doc.job_mask()
    assert name == "the selection" and pixels is doc.selection
    doc.history.push(selection_to_mask(doc))
    mask = doc.active_mask()
    assert mask is not None and mask.name == "Mask" and mask.kind is LayerKind.MASK
    np.testing.assert_array_equal(mask.pixels, doc.selection)
    assert doc.job_mask()[0] == "“Mask”"
    doc.set_layer_properties(mask.id, visible=False)
    assert doc.job_mask()[0] == "the selection", "a hidden mask is not in use"


def test_a_job_reads_the_selection_as_its_mask():
    doc = tiny()
    doc.insert_layer(Layer("Other", LayerKind.RASTER, np.zeros((4, 6, 4), np.uint8)))
    doc.history.push(select(doc, rectangle_mask((0, 0), (2, 2), 6, 4)))
    inputs = inputs_from_document(doc, PROBE)
    expected = np.zeros((4, 6), np.float32)
    expected[:2, :2] = 1.0
    np.testing.assert_array_equal(inputs.mask, expected)


def test_the_outline_runs_along_pixel_edges():
    selection = np.zeros((3, 4), np.uint8)
    selection[1, 1:3] = 255
    selection[2, 2] = 255
    segments = sorted(map(tuple, outline(selection).astype(int).tolist()))
    assert segments == sorted([(1, 1, 3, 1), (1, 2, 2, 2), (2, 3, 3, 3), (1, 1, 1, 2), (2, 2, 2, 3), (3, 1, 3, 3)])
    assert outline(np.zeros((2, 2), np.uint8)).shape == (0, 4)


def test_fill_and_clear_keep_to_the_selection():
    doc = tiny()
    layer = doc.layers[0]
    before = layer.pixels.copy()
    doc.history.push(select(doc, rectangle_mask((0, 0), (2, 1), 6, 4)))
    doc.history.push(fill(doc, layer, Brush(color=(1, 2, 3))))
    assert (layer.pixels[0, :2, :3] == (1, 2, 3)).all()
    np.testing.assert_array_equal(layer.pixels[1:], before[1:])
    np.testing.assert_array_equal(layer.pixels[0, 2:], before[0, 2:])


def test_a_brush_stroke_keeps_to_the_selection():
    doc = tiny()
    layer = doc.layers[0]
    before = layer.pixels.copy()
    doc.history.push(select(doc, rectangle_mask((0, 0), (3, 4), 6, 4)))
    stroke = Stroke(doc, layer, Brush(size=20, hardness=1.0, color=(1, 2, 3)))
    stroke.add_point(3.0, 2.0)
    doc.history.push(stroke.finish(), applied=True)
    assert (layer.pixels[:, :3, :3] == (1, 2, 3)).all()
    np.testing.assert_array_equal(layer.pixels[:, 3:], before[:, 3:])
