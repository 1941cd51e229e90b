"""Re-rendering a layer from its recipe at another size (for example at print size).

The recipe's plugin runs again with the same parameters and seed and only its
size parameter replaced, on the inputs the layer was made from: the composite of
the layers below it, its mask and label map, and its extra pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from studio import __version__
from studio.core.document import Document, Layer, LayerKind, pixels_digest
from studio.core.inputs import Inputs, as_kind
from studio.core.params import make_params, output_size, param_fields, role_field
from studio.core.plugin import PluginManifest, PluginRegistry
from studio.core.run import build_inputs

MAX_LONG_SIDE = 32768


@dataclass(frozen=True)
class RerenderPlan:
    """What re-rendering a layer runs: the plugin, its parameters and the result's size, and the snapshot of the
    document its inputs are read from. The inputs and the notes on them are worked out on first use (on the
    job's worker thread: that flattens the layers below and compares digests)."""

    manifest: PluginManifest
    params: Any
    size: tuple[int, int]
    source: Document
    layer_id: str

    @property
    def inputs(self) -> Inputs:
        """What the run reads; InputError (or ImageError for an extra picture) when it cannot be read."""
        return self._inputs_and_notes[0]

    @property
    def notes(self) -> tuple[str, ...]:
        """What differs from the run that made the layer (changed layers below, a mask or file gone)."""
        return self._inputs_and_notes[1]

    @cached_property
    def _inputs_and_notes(self) -> tuple[Inputs, tuple[str, ...]]:
        return _read_inputs(self.source, self.source.layer(self.layer_id), self.manifest)


def scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) scaled so the long side is ``long_side`` (as a ``size`` parameter scales)."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def composite_below(doc: Document, layer: Layer) -> np.ndarray:
    """The visible raster layers under ``layer`` blended, as RGBA uint8: the picture it was made from."""
    below = Document(doc.width, doc.height)
    below.layers = doc.layers[: doc.index_of(layer.id)]
    return below.composite(dtype=np.dtype(np.uint8))


def rerender_plan(doc: Document, layer: Layer, registry: PluginRegistry, long_side: int) -> RerenderPlan:
    """The job that makes ``layer`` again at ``long_side`` px; ValueError says why it cannot be re-rendered.

    The parameters and seed are the recipe's with the parameter of the ``size``
    role replaced; the inputs are built as for any run (from a snapshot of ``doc``
    taken now, when first read): the layers below it, the mask and label map it
    used (found by their digests) and the extra pictures it read (from their files).
    """
    recipe = layer.recipe
    if recipe is None:
        raise ValueError(f"layer {layer.name!r} was not made by a plugin, so it has no recipe to re-render")
    try:
        manifest = registry.get(recipe.plugin_id)
    except KeyError as exc:
        raise ValueError(f"layer {layer.name!r} was made by {recipe.plugin_id!r}, which is not installed") from exc
    params_class = manifest.params_class()
    size_field = role_field(params_class, "size")
    if size_field is None:
        raise ValueError(f"{manifest.title} has no size parameter, so it cannot render at another size")
    if not 1 <= long_side <= MAX_LONG_SIDE:
        raise ValueError(f"the long side must be 1 to {MAX_LONG_SIDE} px, not {long_side}")
    names = {f.name for f in param_fields(params_class)}
    values = {k: v for k, v in recipe.params.items() if k in names} | {size_field.name: long_side}
    seed_field = role_field(params_class, "seed")
    if recipe.seed is not None and seed_field is not None:
        values[seed_field.name] = recipe.seed
    params = make_params(params_class, values)
    size = output_size(doc.width, doc.height, params)
    return RerenderPlan(manifest, params, size, doc.snapshot(), layer.id)


def _read_inputs(doc: Document, layer: Layer, manifest: PluginManifest) -> tuple[Inputs, tuple[str, ...]]:
    """The inputs of re-rendering ``layer`` and the notes on what differs from the run that made it."""
    recipe = layer.recipe
    assert recipe is not None
    notes = []
    if recipe.studio_version and recipe.studio_version != __version__:
        notes.append(
            f"it was made by Studio {recipe.studio_version} and this is {__version__}, whose engines may paint it"
            " differently (README, Versions)"
        )
    provided: dict[str, Any] = {}
    if manifest.reads("image"):
        provided["image"] = composite_below(doc, layer)
        if recipe.inputs.get("image") not in (None, pixels_digest(as_kind(provided["image"], "image"))):
            notes.append("the layers below changed since it was made")
    for name, kind in (("mask", LayerKind.MASK), ("labels", LayerKind.LABELS)):
        if manifest.reads(name) and name in recipe.inputs:
            provided[name] = _recipe_layer(doc, kind, name, recipe.inputs[name])
            if provided[name] is None:
                notes.append(f"its {name.replace('labels', 'label map')} is gone, so it is made without one")
    for name, path in recipe.input_files.items():
        if manifest.reads(name):
            if Path(path).is_file():
                provided[name] = path
            else:
                notes.append(f"{path} is gone, so it is made without its {name.replace('_', ' ')}")
    return build_inputs(manifest, provided, (doc.width, doc.height)), tuple(notes)


def _recipe_layer(doc: Document, kind: LayerKind, name: str, digest: str) -> np.ndarray | None:
    """The pixels of the mask or label-map layer whose input digest is ``digest`` (for a mask, or the selection a run
    used in its place), or None."""
    candidates = [la.read() for la in doc.layers if la.kind is kind]
    if kind is LayerKind.MASK and doc.selection is not None:
        candidates.append(doc.selection)
    return next((pixels for pixels in candidates if pixels_digest(as_kind(pixels, name)) == digest), None)


class RerenderDialog(QDialog):
    """Asks for the new size: a long side in pixels, or a print size in inches at a resolution."""

    def __init__(self, width: int, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Re-render at another size")
        self.doc_size = (width, height)
        form = QFormLayout(self)
        self.by_pixels = QRadioButton("Long side")
        self.by_print = QRadioButton("Print, long side")
        group = QButtonGroup(self)
        group.addButton(self.by_pixels)
        group.addButton(self.by_print)
        self.by_pixels.setChecked(True)
        self.pixels = QSpinBox()
        self.pixels.setRange(1, MAX_LONG_SIDE)
        self.pixels.setSuffix(" px")
        self.pixels.setValue(min(max(width, height) * 2, MAX_LONG_SIDE))
        self.inches = QDoubleSpinBox()
        self.inches.setRange(0.5, 200.0)
        self.inches.setDecimals(2)
        self.inches.setSuffix(" in")
        self.inches.setValue(18.0)
        self.ppi = QSpinBox()
        self.ppi.setRange(30, 1200)
        self.ppi.setSuffix(" ppi")
        self.ppi.setValue(150)
        self.result = QLabel()
        form.addRow(self.by_pixels, self.pixels)
        form.addRow(self.by_print, self.inches)
        form.addRow("at", self.ppi)
        form.addRow("Result", self.result)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        for signal in (self.pixels.valueChanged, self.inches.valueChanged, self.ppi.valueChanged, group.idToggled):
            signal.connect(lambda *_: self._show_result())
        self._show_result()

    def long_side(self) -> int:
        """The chosen long side in pixels."""
        if self.by_print.isChecked():
            return min(max(1, round(self.inches.value() * self.ppi.value())), MAX_LONG_SIDE)
        return self.pixels.value()

    def _show_result(self) -> None:
        width, height = scaled_size(*self.doc_size, self.long_side())
        same = " (the document's size: a new layer)" if (width, height) == self.doc_size else " (a new document)"
        self.result.setText(f"{width} × {height} px{same}")
