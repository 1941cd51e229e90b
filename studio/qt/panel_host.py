"""What a plugin's own panel is given: a typed host, never the main window.

A custom panel (``manifest.panel``) is a :class:`~studio.qt.params_panel.ParamsPanel`
subclass made with ``Panel(host)``. Through the host it reads the open document
and its layers, reaches the model store, runs jobs on the document (with
previews on the canvas, the job bar and Cancel, like the Run button) whose
results and named outputs the window turns into layers, documents and files,
and adds layers with recipes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal

from studio.core.document import Document, Layer, LayerKind, Recipe
from studio.core.history import AddLayer
from studio.core.inputs import Inputs, as_kind
from studio.core.jobs import Frame, JobFn, JobHandle
from studio.core.models.store import ModelStore
from studio.core.plugin import PluginManifest
from studio.core.run import inputs_from_document

JobFactory = Callable[[Inputs], JobFn]
"""``make_job(inputs)``: a job on the document's inputs, made on the job's worker thread (read the panel's widgets
before submitting it); a ValueError or OSError it raises fails the job, and the panel shows its message."""


class HostWindow(Protocol):
    """The part of the main window a :class:`PanelHost` uses."""

    @property
    def doc(self) -> Document | None: ...

    @property
    def store(self) -> ModelStore: ...

    def run_plugin(self, manifest: PluginManifest, params: Any) -> JobHandle | None: ...

    def start_panel_job(
        self,
        manifest: PluginManifest,
        title: str,
        make_job: JobFactory,
        on_result: Callable[[Frame], None] | None,
        reads_document: bool = True,
    ) -> JobHandle | None: ...

    def extras_of(self, manifest: PluginManifest) -> Mapping[str, str]: ...

    def set_extra_of(self, manifest: PluginManifest, name: str, path: str) -> None: ...

    def show_message(self, text: str) -> None: ...

    def install_model(self, model_id: str) -> None: ...


class PanelHost(QObject):
    """The host of one plugin's panel. ``document_changed(doc)`` fires when the window shows another document,
    ``extras_changed()`` when a picture is chosen in the panel's Inputs box, ``models_changed()`` when the store
    gained, installed or removed models (trained or installed here or by another process)."""

    document_changed = Signal(object)
    extras_changed = Signal()
    models_changed = Signal()

    def __init__(self, manifest: PluginManifest, window: HostWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manifest = manifest
        self._window = window

    @property
    def document(self) -> Document | None:
        """The open document (read its layers; change it only through its history)."""
        return self._window.doc

    @property
    def store(self) -> ModelStore:
        """The model store: specs, install state, verified loads."""
        return self._window.store

    def inputs(self) -> Inputs:
        """The plugin's inputs from the open document and the pictures chosen in its panel.

        Raises InputError (or ImageError naming a file) when one is missing or unusable.
        """
        doc = self.document
        if doc is None:
            raise ValueError("there is no open document")
        return inputs_from_document(doc, self.manifest, self._window.extras_of(self.manifest))

    def extras(self) -> Mapping[str, str]:
        """The extra pictures chosen in the panel's Inputs box, by input name."""
        return self._window.extras_of(self.manifest)

    def set_extra(self, name: str, path: str) -> None:
        """Choose the file ``path`` for the extra input ``name`` in the Inputs box."""
        self._window.set_extra_of(self.manifest, name, path)

    def run(self, params: Any) -> JobHandle | None:
        """Run the plugin's engine with ``params`` on the document, as the Run button does."""
        return self._window.run_plugin(self.manifest, params)

    def submit(
        self,
        title: str,
        make_job: JobFactory,
        on_result: Callable[[Frame], None] | None = None,
        *,
        reads_document: bool = True,
    ) -> JobHandle | None:
        """Run ``make_job(inputs)`` on the document as the window's job (job bar, canvas previews, Cancel).

        The inputs are built from a snapshot of the document taken now, and ``make_job`` is called, on the job's
        worker thread (see :data:`JobFactory`); a job that does not read the document says
        ``reads_document=False`` and gets inputs holding only its size. Its final picture becomes a layer and
        its named outputs become layers, a new document or files, unless ``on_result(frame)`` takes the final
        frame. None when nothing started (another job runs, or an input it needs is missing: the panel shows
        why).
        """
        return self._window.start_panel_job(self.manifest, title, make_job, on_result, reads_document)

    def add_layer(self, name: str, pixels: np.ndarray, recipe: Recipe | None = None) -> Layer:
        """Add a raster layer (RGB(A) uint8 of the document's size) in one undo step; returns it."""
        doc = self.document
        if doc is None:
            raise ValueError("there is no open document")
        rgba = as_kind(pixels, "image")
        if rgba.shape[:2] != (doc.height, doc.width):
            size = f"{rgba.shape[1]}x{rgba.shape[0]}"
            raise ValueError(f"a {size} layer does not fit a {doc.width}x{doc.height} document")
        layer = Layer(doc.unique_layer_name(name), LayerKind.RASTER, rgba, recipe=recipe)
        doc.history.push(AddLayer(f"Add {layer.name}", layer))
        return layer

    def add_label_layer(self, name: str, indices: np.ndarray) -> Layer:
        """Add a label layer (uint8 label indices of the document's size, 0 = no region) in one undo step."""
        doc = self.document
        if doc is None:
            raise ValueError("there is no open document")
        if indices.dtype != np.uint8 or indices.shape != (doc.height, doc.width):
            raise ValueError(f"label indices must be uint8 of shape {(doc.height, doc.width)}, not {indices.shape}")
        layer = Layer(doc.unique_layer_name(name), LayerKind.LABELS, indices.copy())
        doc.history.push(AddLayer(f"Add {layer.name}", layer))
        return layer

    def message(self, text: str) -> None:
        """Show a short message in the window's status bar."""
        self._window.show_message(text)

    def install_model(self, model_id: str) -> None:
        """Open the Models dialog and start installing ``model_id`` (as a missing-model banner's button does)."""
        self._window.install_model(model_id)
