"""Soft-proof previews: how a document will look printed, out-of-gamut areas highlighted.

Qt-free, so the GUI computes them on a worker thread (and a script can too). The
colour work is :func:`studio.core.colour.soft_proof`; this module flattens the
visible layers, shrinks them to preview size and marks what the printer cannot
reproduce in magenta.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.core.colour import soft_proof
from studio.core.document import Document, Layer, LayerKind

PROOF_MAX_SIDE = 1600
"""The soft proof is computed at most this many pixels wide/high (it is a preview)."""
GAMUT_COLOUR = np.array([255, 0, 255], np.uint16)
GAMUT_OPACITY = 0.7


def proof_layers(doc: Document) -> list[Layer]:
    """The layers a proof of ``doc`` flattens: the visible raster layers, as snapshots (``Layer.snapshot``).

    Taken when the proof is requested, so later changes to the document's layer stack
    do not reach a proof being computed.
    """
    return [la.snapshot() for la in doc.layers if la.kind is LayerKind.RASTER and la.visible]


def proof_preview(width: int, height: int, layers: list[Layer], profile: str, intent: str) -> tuple[np.ndarray, float]:
    """The soft proof of ``layers`` flattened, at most PROOF_MAX_SIDE px, out-of-gamut areas in magenta.

    Returns straight (not premultiplied) RGBA uint8 and the out-of-gamut share (0..1).
    ``layers`` may share their pixels with the document.
    """
    flat = Document(width, height)
    flat.layers = layers
    rgba = flat.composite(dtype=np.dtype(np.uint8))  # a screen preview: 8 bits
    scale = min(1.0, PROOF_MAX_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    proofed, gamut = soft_proof(rgba, profile, intent)
    mix = proofed[gamut][:, :3].astype(np.uint16) * round((1 - GAMUT_OPACITY) * 256) + GAMUT_COLOUR * round(
        GAMUT_OPACITY * 256
    )
    proofed[gamut, :3] = (mix >> 8).astype(np.uint8)
    return proofed, float(gamut.mean())
