"""Document, layers, compositing and the undo history."""

import numpy as np
import pytest

from studio.core.document import Document, Layer, LayerKind, Recipe, blank_pixels
from studio.core.history import AddLayer, MoveLayer, PixelEdit, RemoveLayer, SetLayerProperties


def solid(width, height, rgba):
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[...] = rgba
    return pixels


def test_composite_blends_visible_layers_with_opacity():
    doc = Document.from_pixels(solid(4, 3, (0, 0, 255, 255)))
    top = Layer("red", LayerKind.RASTER, solid(4, 3, (255, 0, 0, 255)), opacity=0.25)
    doc.history.push(AddLayer("add", top))
    out = doc.composite()
    assert out.shape == (3, 4, 4)
    np.testing.assert_allclose(out[0, 0], (64, 0, 191, 255), atol=1)
    doc.history.push(SetLayerProperties("hide", top.id, {"visible": False}))
    np.testing.assert_array_equal(doc.composite()[0, 0], (0, 0, 255, 255))


def test_composite_keeps_transparency_and_ignores_masks():
    doc = Document(5, 5)
    doc.insert_layer(Layer("half", LayerKind.RASTER, solid(5, 5, (200, 100, 50, 128))))
    doc.insert_layer(Layer("mask", LayerKind.MASK, np.full((5, 5), 255, np.uint8)))
    np.testing.assert_array_equal(doc.composite()[2, 2], (200, 100, 50, 128))


def test_composite_of_a_region_matches_the_full_composite():
    rng = np.random.default_rng(1)
    doc = Document.from_pixels(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8))
    doc.insert_layer(Layer("b", LayerKind.RASTER, rng.integers(0, 256, (20, 30, 4), dtype=np.uint8), opacity=0.6))
    np.testing.assert_array_equal(doc.composite((5, 3, 17, 11)), doc.composite()[3:11, 5:17])


def test_layer_rejects_wrong_pixels_and_sizes():
    with pytest.raises(ValueError):
        Layer("bad", LayerKind.RASTER, np.zeros((4, 4), np.uint8))
    doc = Document(4, 4)
    with pytest.raises(ValueError, match="document"):
        doc.insert_layer(Layer("big", LayerKind.MASK, np.zeros((5, 5), np.uint8)))


def test_undo_redo_of_layer_commands():
    doc = Document.from_pixels(solid(2, 2, (1, 2, 3, 255)))
    base = doc.layers[0]
    extra = Layer("extra", LayerKind.RASTER, blank_pixels(LayerKind.RASTER, 2, 2))
    doc.history.push(AddLayer("add", extra))
    doc.history.push(MoveLayer("move", extra.id, 0))
    assert [la.name for la in doc.layers] == ["extra", "Background"]
    doc.history.push(RemoveLayer("remove", base.id))
    assert [la.name for la in doc.layers] == ["extra"]
    assert doc.history.undo() and doc.history.undo()
    assert [la.name for la in doc.layers] == ["Background", "extra"]
    doc.history.go_to(0)
    assert [la.name for la in doc.layers] == ["Background"]
    doc.history.go_to(3)
    assert [la.name for la in doc.layers] == ["extra"]
    assert not doc.history.can_redo


def test_property_edits_merge_into_one_undo_step():
    doc = Document.from_pixels(solid(2, 2, (0, 0, 0, 255)))
    layer_id = doc.layers[0].id
    for value in (0.9, 0.7, 0.5):
        doc.history.push(SetLayerProperties("opacity", layer_id, {"opacity": value}))
    assert doc.layers[0].opacity == 0.5
    assert doc.history.index == 1
    doc.history.undo()
    assert doc.layers[0].opacity == 1.0


def test_pixel_edit_and_clean_state():
    doc = Document.from_pixels(solid(3, 3, (0, 0, 0, 255)))
    layer = doc.layers[0]
    events = []
    doc.pixels_changed.connect(events.append)
    assert doc.history.is_clean
    edit = PixelEdit("paint", layer.id, (1, 1, 2, 2), layer.pixels[1:2, 1:2].copy(), solid(1, 1, (9, 9, 9, 255)))
    doc.history.push(edit)
    assert not doc.history.is_clean
    assert events[-1] == (1, 1, 2, 2)
    assert tuple(layer.pixels[1, 1]) == (9, 9, 9, 255)
    doc.history.undo()
    assert doc.history.is_clean
    assert tuple(layer.pixels[1, 1]) == (0, 0, 0, 255)


def test_new_command_after_undo_drops_redo_and_clean_marker():
    doc = Document(2, 2)
    doc.history.push(AddLayer("a", Layer("a", LayerKind.MASK, np.zeros((2, 2), np.uint8))))
    doc.history.set_clean()
    doc.history.undo()
    doc.history.push(AddLayer("b", Layer("b", LayerKind.MASK, np.zeros((2, 2), np.uint8))))
    assert doc.history.texts() == ["b"]
    assert not doc.history.is_clean


def test_history_limit_drops_oldest():
    doc = Document(2, 2)
    doc.history.limit = 3
    for i in range(5):
        doc.history.push(AddLayer(f"l{i}", Layer(f"l{i}", LayerKind.MASK, np.zeros((2, 2), np.uint8))))
    assert doc.history.texts() == ["l2", "l3", "l4"]
    doc.history.go_to(0)
    assert [la.name for la in doc.layers] == ["l0", "l1"]


def test_recipe_round_trips_through_dict():
    recipe = Recipe(
        "generative",
        {"rule": "mondrian"},
        seed=7,
        models=[{"id": "vgg16", "sha256": "ab"}],
        inputs={"image": "cd"},
        size=(64, 32),
    )
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_active_mask_prefers_active_layer():
    doc = Document(2, 2)
    first = Layer("m1", LayerKind.MASK, np.zeros((2, 2), np.uint8))
    second = Layer("m2", LayerKind.MASK, np.zeros((2, 2), np.uint8))
    doc.insert_layer(first)
    doc.insert_layer(second)
    doc.active_id = first.id
    assert doc.active_mask() is first
    doc.insert_layer(Layer("r", LayerKind.RASTER, blank_pixels(LayerKind.RASTER, 2, 2)))
    assert doc.active_mask() is second


def test_hidden_masks_and_label_maps_are_not_used():
    doc = Document(2, 2)
    mask = Layer("m", LayerKind.MASK, np.zeros((2, 2), np.uint8))
    labels = Layer("l", LayerKind.LABELS, blank_pixels(LayerKind.LABELS, 2, 2))
    doc.insert_layer(mask)
    doc.insert_layer(labels)
    doc.active_id = mask.id
    assert doc.active_mask() is mask and doc.active_labels() is labels
    mask.visible = labels.visible = False
    assert doc.active_mask() is None and doc.active_labels() is None


def reference_composite(layers):
    """Source-over in float64, straight from the definition."""
    rgb = np.zeros((*layers[0][0].shape[:2], 3))
    alpha = np.zeros((*layers[0][0].shape[:2], 1))
    for pixels, opacity in layers:
        a = pixels[..., 3:4] / 255.0 * opacity
        rgb = pixels[..., :3] * a + rgb * (1 - a)
        alpha = a + alpha * (1 - a)
    out = np.zeros((*rgb.shape[:2], 4))
    out[..., :3] = np.where(alpha > 0, rgb / np.where(alpha > 0, alpha, 1), 0)
    out[..., 3:] = alpha * 255
    return out


@pytest.mark.parametrize("opaque_at", [None, 0, 1, 2])
@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_composite_matches_the_definition_with_opaque_layers_anywhere(opaque_at, opacity):
    rng = np.random.default_rng(5)
    doc = Document(9, 7)
    stack = []
    for i in range(3):
        pixels = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)
        if i == opaque_at:
            pixels[..., 3] = 255
        layer_opacity = opacity if i == opaque_at else 0.8
        doc.insert_layer(Layer(f"l{i}", LayerKind.RASTER, pixels, opacity=layer_opacity))
        stack.append((pixels, layer_opacity))
    expected = reference_composite(stack)
    got = doc.composite().astype(float)
    visible = expected[..., 3] > 2  # colour under near-zero alpha is not meaningful after 8-bit rounding
    assert np.abs(got[..., 3] - expected[..., 3]).max() <= 1
    assert np.abs(got[visible][:, :3] - expected[visible][:, :3]).max() <= 1.5


def test_a_nan_opacity_is_refused():
    # NaN passed the 0..1 clamp and gave a blank composite (and a tooltip that raised).
    with pytest.raises(ValueError, match="NaN"):
        Layer("a", LayerKind.RASTER, np.zeros((2, 2, 4), np.uint8), opacity=float("nan"))
    doc = Document.from_pixels(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        doc.set_layer_properties(doc.layers[0].id, opacity=float("nan"))
    assert doc.layers[0].opacity == 1.0
