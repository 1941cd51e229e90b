"""Tests for studio.core.proof: the soft-proof preview the canvas shows, computed without Qt."""

from __future__ import annotations

import numpy as np
from test_printing import cmyk_profile

from studio.core.document import Document, Layer, LayerKind
from studio.core.proof import GAMUT_COLOUR, PROOF_MAX_SIDE, proof_layers, proof_preview


def solid(width: int, height: int, rgba: tuple[int, int, int, int], name: str = "paint") -> Layer:
    pixels = np.empty((height, width, 4), np.uint8)
    pixels[...] = rgba
    return Layer(name, LayerKind.RASTER, pixels)


def test_an_unprintable_colour_changes_and_is_marked_in_magenta():
    proofed, share = proof_preview(30, 20, [solid(30, 20, (0, 255, 0, 255))], str(cmyk_profile()), "relative")
    assert proofed.shape == (20, 30, 4) and proofed.dtype == np.uint8
    assert share == 1.0  # pure green cannot be printed in SWOP
    r, g, b, a = (int(v) for v in proofed[10, 15])
    assert (r, g, b) != (0, 255, 0) and a == 255
    assert r > 150 and b > 150  # mostly the magenta highlight
    assert abs(r - int(GAMUT_COLOUR[0])) < 80 and abs(b - int(GAMUT_COLOUR[2])) < 80


def test_a_printable_grey_stays_close_and_unmarked():
    proofed, share = proof_preview(30, 20, [solid(30, 20, (128, 128, 128, 255))], str(cmyk_profile()), "perceptual")
    assert share == 0.0
    grey = proofed[..., :3].astype(int)
    assert np.all(np.abs(grey - 128) < 24)  # the print's grey, a little lighter or darker
    assert np.all(grey.max(axis=2) - grey.min(axis=2) < 12)  # and still neutral, not magenta


def test_half_of_the_picture_out_of_gamut_and_alpha_kept_straight():
    layer = solid(40, 20, (128, 128, 128, 255))
    layer.write(20, 0, np.full((20, 20, 4), (0, 0, 255, 128), np.uint8))  # a half-transparent saturated blue
    proofed, share = proof_preview(40, 20, [layer], str(cmyk_profile()), "relative")
    assert share == 0.5
    assert proofed[5, 30, 3] == 128  # straight alpha: colour not multiplied by it
    r, g, b = (int(v) for v in proofed[5, 30, :3])
    assert r > 150 and b > 150 and g < 100
    assert np.all(proofed[..., 3][:, :20] == 255)


def test_a_large_document_is_proofed_at_preview_size():
    width, height = PROOF_MAX_SIDE * 2, PROOF_MAX_SIDE // 2
    proofed, share = proof_preview(
        width, height, [solid(width, height, (128, 128, 128, 255))], str(cmyk_profile()), "relative"
    )
    assert proofed.shape == (PROOF_MAX_SIDE // 4, PROOF_MAX_SIDE, 4) and share == 0.0


def test_proof_layers_are_the_visible_raster_layers_sharing_their_pixels():
    doc = Document(8, 6)
    shown = solid(8, 6, (10, 20, 30, 255), "shown")
    hidden = solid(8, 6, (0, 0, 0, 255), "hidden")
    hidden.visible = False
    mask = Layer("mask", LayerKind.MASK, np.zeros((6, 8), np.uint8))
    doc.layers = [shown, hidden, mask]
    layers = proof_layers(doc)
    assert [la.name for la in layers] == ["shown"]
    assert layers[0] is not shown and layers[0].id == shown.id
    shared = layers[0].image.tiles()
    assert shared and all(tile is shared[key] for key, tile in shown.image.tiles().items()), "no pixels copied"
    shown.write(0, 0, np.zeros((1, 1, 4), np.uint8))  # the artist paints on while the proof is computed
    assert (layers[0].pixels == (10, 20, 30, 255)).all()
    doc.layers.remove(shown)  # the document's stack changes while the proof is computed
    assert [la.name for la in layers] == ["shown"]
