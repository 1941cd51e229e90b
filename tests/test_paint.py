"""Brush strokes, fills and the colour picker."""

import numpy as np

from studio.core.document import Document, Layer, LayerKind
from studio.core.paint import Brush, Stroke, fill, pick_color


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
