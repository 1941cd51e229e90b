"""Blend modes against pixels worked out by hand from the W3C formulas, the composite that uses them, merge down,
flatten and locked layers."""

import numpy as np
import pytest

from studio.core.blend import BlendMode, over
from studio.core.document import Document, Layer, LayerKind, LayerLockedError
from studio.core.layer_ops import MergeError, flatten, merge_down

# Channel values that are exact fifths: 51 = 0.2, 102 = 0.4, 153 = 0.6, 204 = 0.8.
BACKDROP = (204, 51, 153)  # Cb = 0.8, 0.2, 0.6
SOURCE = (102, 153, 51)  # Cs = 0.4, 0.6, 0.2

# Both opaque, so the result is B(Cb, Cs) * 255, rounded.
OPAQUE = {
    BlendMode.NORMAL: (102, 153, 51),
    # Cb * Cs = 0.32, 0.12, 0.12
    BlendMode.MULTIPLY: (82, 31, 31),
    # Cb + Cs - Cb Cs = 0.88, 0.68, 0.68
    BlendMode.SCREEN: (224, 173, 173),
    # Cb > 0.5: Screen(Cs, 2 Cb - 1) = 0.4 + 0.6 - 0.24 = 0.76; Cb <= 0.5: 2 Cs Cb = 0.24;
    # Screen(0.2, 0.2) = 0.36
    BlendMode.OVERLAY: (194, 61, 92),
    # Cs <= 0.5: Cb - (1 - 2 Cs) Cb (1 - Cb) = 0.8 - 0.2 * 0.16 = 0.768; Cs > 0.5 with Cb <= 0.25:
    # D = ((16 Cb - 12) Cb + 4) Cb = 0.448, Cb + (2 Cs - 1)(D - Cb) = 0.2496; 0.6 - 0.6 * 0.24 = 0.456
    BlendMode.SOFT_LIGHT: (196, 64, 116),
}


def pixel(rgb: tuple[int, int, int], alpha: int = 255) -> np.ndarray:
    return np.array([[[*rgb, alpha]]], np.uint8)


@pytest.mark.parametrize("mode", list(BlendMode))
def test_opaque_layers_blend_as_the_w3c_formulas_say(mode):
    np.testing.assert_array_equal(over(pixel(BACKDROP), pixel(SOURCE), mode)[0, 0], (*OPAQUE[mode], 255))


def test_a_partly_transparent_source_mixes_with_the_backdrop():
    # as = 0.6: Co = 0.6 B + 0.4 Cb; multiply's red is 0.6 * 0.32 + 0.4 * 0.8 = 0.512
    out = over(pixel(BACKDROP), pixel(SOURCE, 153), BlendMode.MULTIPLY)
    assert tuple(out[0, 0]) == (131, 39, 80, 255)
    # the same through the layer's opacity instead of its alpha
    np.testing.assert_array_equal(over(pixel(BACKDROP), pixel(SOURCE), BlendMode.MULTIPLY, 0.6), out)


def test_a_partly_transparent_backdrop_shows_the_source_more():
    # ab = 0.4, as = 1: Cs' = 0.6 Cs + 0.4 B; multiply's red is 0.24 + 0.128 = 0.368
    assert tuple(over(pixel(BACKDROP, 102), pixel(SOURCE), BlendMode.MULTIPLY)[0, 0]) == (94, 104, 43, 255)
    # ab = 0.4, as = 0.6: ao = 0.76; red co = 0.6 * 0.368 + 0.4 * 0.8 * 0.4 = 0.3488, Co = 0.3488 / 0.76
    assert tuple(over(pixel(BACKDROP, 102), pixel(SOURCE, 153), BlendMode.MULTIPLY)[0, 0]) == (117, 93, 66, 194)


@pytest.mark.parametrize("mode", list(BlendMode))
def test_over_nothing_every_mode_is_the_layer_itself(mode):
    np.testing.assert_array_equal(over(pixel((0, 0, 0), 0), pixel(SOURCE, 153), mode), pixel(SOURCE, 153))


def test_normal_is_the_general_formula_with_b_equal_to_cs():
    rng = np.random.default_rng(5)
    below = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    above = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    b, s = below / 255.0, above / 255.0
    ab, as_ = b[..., 3:], s[..., 3:]
    ao = as_ + ab * (1 - as_)
    co = (as_ * s[..., :3] + ab * b[..., :3] * (1 - as_)) / np.where(ao > 0, ao, 1)
    got = over(below, above, BlendMode.NORMAL).astype(float)
    assert np.abs(got[..., 3] - ao[..., 0] * 255).max() <= 1
    shown = ao[..., 0] > 0.05  # colour under near-zero alpha is not meaningful after 8-bit rounding
    assert np.abs(got[..., :3] - co * 255)[shown].max() <= 1.5


def stack(*layers: Layer) -> Document:
    doc = Document(1, 1)
    for layer in layers:
        doc.insert_layer(layer)
    return doc


def test_the_composite_uses_each_layers_blend_mode_even_over_an_opaque_layer():
    doc = stack(
        Layer("photo", LayerKind.RASTER, pixel(BACKDROP)),
        Layer("shade", LayerKind.RASTER, pixel(SOURCE), blend_mode=BlendMode.MULTIPLY),
    )
    assert tuple(doc.composite()[0, 0]) == (*OPAQUE[BlendMode.MULTIPLY], 255)
    # an opaque layer in a blend mode does not hide what is under it; an opaque normal one does
    doc.insert_layer(Layer("light", LayerKind.RASTER, pixel(SOURCE), blend_mode=BlendMode.SCREEN))
    np.testing.assert_array_equal(
        doc.composite(), over(pixel(OPAQUE[BlendMode.MULTIPLY]), pixel(SOURCE), BlendMode.SCREEN)
    )
    doc.set_layer_properties(doc.layers[1].id, blend_mode="normal")
    # the shade now hides the photo: screen of the source over itself, 2 Cs - Cs^2 = 0.64, 0.84, 0.36
    assert tuple(doc.composite()[0, 0]) == (163, 214, 92, 255)


def test_an_unknown_blend_mode_is_refused():
    with pytest.raises(ValueError, match="dissolve"):
        Layer("x", LayerKind.RASTER, pixel(SOURCE), blend_mode="dissolve")  # type: ignore[arg-type]


def test_merge_down_keeps_the_picture_and_is_one_undo_step():
    doc = stack(
        Layer("photo", LayerKind.RASTER, pixel(BACKDROP)),
        Layer("shade", LayerKind.RASTER, pixel(SOURCE), opacity=0.6, blend_mode=BlendMode.MULTIPLY),
    )
    before = [(la.id, la.name) for la in doc.layers]
    shown = doc.composite()
    doc.history.push(merge_down(doc, doc.layers[1].id))
    assert [la.name for la in doc.layers] == ["photo"]
    merged = doc.layers[0]
    assert (merged.blend_mode, merged.opacity, doc.active_id) == (BlendMode.NORMAL, 1.0, merged.id)
    assert tuple(merged.pixels[0, 0]) == (131, 39, 80, 255)
    np.testing.assert_array_equal(doc.composite(), shown)
    assert doc.history.texts() == ["Merge shade down"]
    doc.history.undo()
    assert [(la.id, la.name) for la in doc.layers] == before
    assert doc.layers[1].blend_mode is BlendMode.MULTIPLY
    doc.history.redo()
    assert len(doc.layers) == 1


def test_merge_down_needs_a_visible_unlocked_image_layer_below():
    doc = stack(Layer("photo", LayerKind.RASTER, pixel(BACKDROP)), Layer("top", LayerKind.RASTER, pixel(SOURCE)))
    with pytest.raises(MergeError, match="'photo' has no image layer"):
        merge_down(doc, doc.layers[0].id)
    doc.layers[0].visible = False
    with pytest.raises(MergeError, match="'photo' is hidden"):
        merge_down(doc, doc.layers[1].id)
    doc.layers[0].visible = True
    doc.layers[0].locked = True
    with pytest.raises(LayerLockedError, match="'photo' is locked: unlock it in the Layers panel to merge it"):
        merge_down(doc, doc.layers[1].id)
    doc.insert_layer(Layer("mask", LayerKind.MASK, np.zeros((1, 1), np.uint8)))
    doc.insert_layer(Layer("over mask", LayerKind.RASTER, pixel(SOURCE)))
    with pytest.raises(MergeError, match="'over mask' has no image layer directly below"):
        merge_down(doc, doc.layers[-1].id)


def test_flatten_keeps_the_picture_and_the_masks_and_drops_hidden_layers():
    doc = stack(
        Layer("photo", LayerKind.RASTER, pixel(BACKDROP)),
        Layer("mask", LayerKind.MASK, np.full((1, 1), 255, np.uint8)),
        Layer("glow", LayerKind.RASTER, pixel(SOURCE), opacity=0.5, blend_mode=BlendMode.SOFT_LIGHT),
        Layer("hidden", LayerKind.RASTER, pixel((255, 0, 0)), visible=False),
    )
    before = [la.id for la in doc.layers]
    shown = doc.composite()
    doc.history.push(flatten(doc))
    assert [(la.name, la.kind) for la in doc.layers] == [("photo", LayerKind.RASTER), ("mask", LayerKind.MASK)]
    np.testing.assert_array_equal(doc.layers[0].pixels, shown)
    assert doc.history.texts() == ["Flatten image"]
    doc.history.undo()
    assert [la.id for la in doc.layers] == before


def test_flatten_refuses_a_locked_layer():
    doc = stack(Layer("photo", LayerKind.RASTER, pixel(BACKDROP), locked=True))
    with pytest.raises(LayerLockedError, match="'photo' is locked: unlock it in the Layers panel to flatten"):
        flatten(doc)
    with pytest.raises(MergeError, match="no image layer"):
        flatten(stack(Layer("mask", LayerKind.MASK, np.zeros((1, 1), np.uint8))))
