"""Document, layers, compositing and the undo history."""

import numpy as np
import pytest

from studio.core.adjust import canvas_size
from studio.core.blend import BlendMode
from studio.core.document import Document, Layer, LayerKind, Recipe, blank_image
from studio.core.history import AddLayer, MoveLayer, PixelEdit, RemoveLayer, SetLayerProperties
from studio.core.image import to_uint8
from studio.core.paint import Brush, Stroke
from studio.core.tiles import TILE_SIZE


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
    extra = Layer("extra", LayerKind.RASTER, blank_image(LayerKind.RASTER, 2, 2))
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
    doc.history.push(PixelEdit.writing("paint", layer, 1, 1, solid(1, 1, (9, 9, 9, 255))))
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


def test_a_save_that_finishes_later_marks_the_state_it_started_from_as_saved():
    doc = Document(2, 2)
    mask = np.zeros((2, 2), np.uint8)
    doc.history.push(AddLayer("a", Layer("a", LayerKind.MASK, mask)))
    started_at = doc.history.index
    doc.history.push(AddLayer("b", Layer("b", LayerKind.MASK, mask)))  # made while the file was written
    doc.history.set_clean(started_at)
    assert not doc.history.is_clean
    doc.history.undo()
    assert doc.history.is_clean
    doc.history.undo()
    doc.history.push(AddLayer("c", Layer("c", LayerKind.MASK, mask)))
    doc.history.set_clean(2)  # that state is gone: nothing counts as saved
    assert not doc.history.is_clean
    doc.history.undo()
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
    doc.insert_layer(Layer("r", LayerKind.RASTER, blank_image(LayerKind.RASTER, 2, 2)))
    assert doc.active_mask() is second


def test_hidden_masks_and_label_maps_are_not_used():
    doc = Document(2, 2)
    mask = Layer("m", LayerKind.MASK, np.zeros((2, 2), np.uint8))
    labels = Layer("l", LayerKind.LABELS, blank_image(LayerKind.LABELS, 2, 2))
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


def state(doc):
    """Everything a snapshot must keep: the size and each layer's properties and pixels."""
    return (doc.width, doc.height), [
        (la.id, la.name, la.kind, la.visible, la.opacity, la.blend_mode, la.locked, la.pixels.copy())
        for la in doc.layers
    ]


def assert_same_state(got, expected):
    assert got[0] == expected[0]
    assert [item[:-1] for item in got[1]] == [item[:-1] for item in expected[1]]
    for got_layer, expected_layer in zip(got[1], expected[1], strict=True):
        np.testing.assert_array_equal(got_layer[-1], expected_layer[-1])


def test_a_document_snapshot_shares_the_tiles_and_no_later_edit_reaches_it():
    rng = np.random.default_rng(3)
    doc = Document.from_pixels(rng.integers(0, 256, (300, 600, 4), dtype=np.uint8))
    doc.insert_layer(Layer("mask", LayerKind.MASK, np.full((300, 600), 255, np.uint8)))
    doc.insert_layer(Layer("ink", LayerKind.RASTER, blank_image(LayerKind.RASTER, 600, 300, 16), opacity=0.5))
    snapshot = doc.snapshot()
    seen = state(snapshot)
    assert_same_state(seen, state(doc))
    for original, copy in zip(doc.layers, snapshot.layers, strict=True):
        tiles = copy.image.tiles()
        assert all(tile is tiles[key] for key, tile in original.image.tiles().items()), "no pixels copied"
    assert snapshot.history.texts() == []

    background, ink = doc.layers[0], doc.layers[2]
    for layer in (background, ink):
        stroke = Stroke(doc, layer, Brush(size=30, color=(0, 255, 0)))
        stroke.add_point(10, 10)
        stroke.add_point(590, 290)
        doc.history.push(stroke.finish(), applied=True)
    doc.history.undo()
    doc.history.push(SetLayerProperties("edit", background.id, {"opacity": 0.2, "visible": False, "name": "b"}))
    doc.history.push(SetLayerProperties("mode", ink.id, {"blend_mode": BlendMode.MULTIPLY, "locked": True}))
    doc.history.push(canvas_size(doc, 700, 200))
    doc.history.push(RemoveLayer("remove", doc.layers[1].id))
    assert (doc.width, doc.height) == (700, 200) and len(doc.layers) == 2
    assert_same_state(state(snapshot), seen)


def test_composite_of_8_bit_layers_under_a_16_bit_one_is_16_bit_and_scales_by_257():
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    doc = Document.from_pixels(pixels)
    assert doc.composite().dtype == np.uint8
    doc.insert_layer(Layer("16", LayerKind.RASTER, blank_image(LayerKind.RASTER, 30, 20, 16)))
    out = doc.composite()
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, pixels.astype(np.uint16) * 257)
    np.testing.assert_array_equal(doc.composite(dtype=np.dtype(np.uint8)), pixels)
    doc.layers[1].visible = False
    assert doc.composite().dtype == np.uint8, "a hidden 16-bit layer does not make the composite 16-bit"


@pytest.mark.parametrize("mode", list(BlendMode))
def test_blend_modes_at_16_bits_agree_with_8_bits(mode):
    rng = np.random.default_rng(6)
    bottom, top = (rng.integers(0, 256, (16, 24, 4), dtype=np.uint8) for _ in range(2))
    bottom[..., 3] = rng.integers(100, 256, (16, 24), dtype=np.uint8)

    def composite(lower, upper):
        doc = Document.from_pixels(lower)
        doc.insert_layer(Layer("top", LayerKind.RASTER, upper, opacity=0.7, blend_mode=mode))
        return doc.composite()

    eight = composite(bottom, top)
    sixteen = composite(bottom.astype(np.uint16) * 257, top.astype(np.uint16) * 257)
    mixed = composite(bottom, top.astype(np.uint16) * 257)
    assert eight.dtype == np.uint8 and sixteen.dtype == mixed.dtype == np.uint16
    np.testing.assert_array_equal(mixed, sixteen)
    difference = np.abs(to_uint8(sixteen).astype(int) - eight.astype(int))
    assert difference.max() <= 1


def test_composite_of_a_region_crossing_tiles_equals_the_crop_of_the_full_composite():
    rng = np.random.default_rng(7)
    width, height = 2 * TILE_SIZE + 88, TILE_SIZE + 44
    doc = Document.from_pixels(rng.integers(0, 256, (height, width, 4), dtype=np.uint8))
    sparse = np.zeros((height, width, 4), np.uint16)
    sparse[250:280, 200:540] = rng.integers(0, 65536, (30, 340, 4), dtype=np.uint16)
    doc.insert_layer(Layer("sparse", LayerKind.RASTER, sparse, opacity=0.8, blend_mode=BlendMode.SCREEN))
    half = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    half[..., 3] = 128
    doc.insert_layer(Layer("half", LayerKind.RASTER, half, blend_mode=BlendMode.MULTIPLY))
    doc.insert_layer(Layer("hidden", LayerKind.RASTER, np.full((height, width, 4), 255, np.uint8), visible=False))
    full = doc.composite()
    assert full.dtype == np.uint16 and full.shape == (height, width, 4)
    for x0, y0, x1, y1 in [
        (0, 0, width, height),
        (TILE_SIZE - 5, TILE_SIZE - 7, TILE_SIZE + 9, TILE_SIZE + 3),
        (3, 200, 590, 299),
        (510, 250, 700, 400),  # partly outside: clipped
        (300, 10, 301, 11),
    ]:
        np.testing.assert_array_equal(doc.composite((x0, y0, x1, y1)), full[y0:y1, x0:x1])


def test_resize_canvas_keeps_each_layers_depth():
    deep = np.full((4, 6, 4), 1000, np.uint16)
    doc = Document.from_pixels(deep)
    layer_id = doc.layers[0].id
    with pytest.raises(ValueError, match="do not fit"):
        doc.resize_canvas(6, 4, {layer_id: np.zeros((4, 6, 4), np.uint8)})
    assert doc.layers[0].bit_depth == 16
    doc.history.push(canvas_size(doc, 8, 5))
    layer = doc.layers[0]
    assert layer.bit_depth == 16 and layer.size == (8, 5) and layer.pixels.max() == 1000
    doc.history.undo()
    np.testing.assert_array_equal(doc.layers[0].pixels, deep)


def test_a_pixel_edit_refuses_pixels_of_another_depth_and_leaves_out_unchanged_tiles():
    doc = Document.from_pixels(np.full((300, 300, 4), 60000, np.uint16))
    layer = doc.layers[0]
    with pytest.raises(ValueError, match="uint16"):
        PixelEdit.writing("8 bits", layer, 0, 0, np.full((2, 2, 4), 255, np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        layer.write(0, 0, np.zeros((1, 1, 4), np.uint8))
    patch = np.full((40, 40, 4), 60000, np.uint16)
    patch[-1, -1] = 1  # only the tile (1, 1) changes
    edit = PixelEdit.writing("patch", layer, TILE_SIZE - 39, TILE_SIZE - 39, patch)
    assert set(edit.changes) == {(1, 1)}
    assert layer.read((TILE_SIZE, TILE_SIZE, TILE_SIZE + 1, TILE_SIZE + 1))[0, 0, 0] == 60000, "not applied yet"
    doc.history.push(edit)
    assert layer.read((TILE_SIZE, TILE_SIZE, TILE_SIZE + 1, TILE_SIZE + 1))[0, 0].tolist() == [1] * 4


def opacity_cases() -> dict[str, tuple[Document, np.dtype | None, bool]]:
    """Documents whose composite is or is not opaque, some only after rounding."""
    size = (TILE_SIZE + 30, TILE_SIZE + 20)
    background = solid(*size, (10, 20, 30, 255))
    holed = background.copy()
    holed[TILE_SIZE + 5, 3, 3] = 254
    glaze = Layer("glaze", LayerKind.RASTER, solid(*size, (200, 0, 0, 90)), blend_mode=BlendMode.MULTIPLY)
    patch = Layer("patch", LayerKind.RASTER, blank_image(LayerKind.RASTER, *size))
    patch.write(0, TILE_SIZE, solid(TILE_SIZE, 20, (0, 0, 0, 255)))
    nearly = np.full((*size[::-1], 4), 65534, np.uint16)
    cases: dict[str, tuple[list[Layer], np.dtype | None, bool]] = {
        "opaque under a glaze": ([Layer("bg", LayerKind.RASTER, background), glaze], None, True),
        "a hole": ([Layer("bg", LayerKind.RASTER, holed), glaze], None, False),
        "a hole covered above": ([Layer("bg", LayerKind.RASTER, holed), glaze, patch], None, True),
        "at 99 percent": ([Layer("bg", LayerKind.RASTER, background, opacity=0.99)], None, False),
        "hidden": ([Layer("bg", LayerKind.RASTER, background, visible=False), glaze], None, False),
        "no layers": ([], None, False),
        "16 bits short of opaque": ([Layer("a", LayerKind.RASTER, nearly)], None, False),
        "the same at 8 bits": ([Layer("a", LayerKind.RASTER, nearly)], np.dtype(np.uint8), True),
        "two layers rounding to opaque": ([Layer(n, LayerKind.RASTER, nearly) for n in "ab"], None, True),
    }
    docs = {}
    for name, (layers, dtype, expected) in cases.items():
        doc = Document(*size)
        for layer in layers:
            doc.insert_layer(layer)
        docs[name] = (doc, dtype, expected)
    return docs


@pytest.mark.parametrize("case", list(opacity_cases()))
def test_composite_is_opaque_says_whether_the_composite_has_full_alpha(case):
    doc, dtype, expected = opacity_cases()[case]
    alpha = doc.composite(dtype=dtype)[..., 3]
    assert bool(alpha.min() == np.iinfo(alpha.dtype).max) is expected
    assert doc.composite_is_opaque(dtype=dtype) is expected
    assert doc.composite_is_opaque((0, 0, 3, 3), dtype) is (expected or case in ("a hole", "a hole covered above"))
