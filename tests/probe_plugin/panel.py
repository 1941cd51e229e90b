"""The probe plugin's own panel: the generated form, a line about the document and store, and a job of its own."""

from collections.abc import Iterator

import numpy as np
from PySide6.QtWidgets import QLabel, QPushButton

from probe_plugin.engine import ProbeParams
from studio.core.document import Document
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, JobFn, JobHandle, RunContext
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ParamsPanel


class ProbePanel(ParamsPanel):
    """Shows what the host says of the document and the store; "Invert mask" runs a job through the host."""

    def __init__(self, host: PanelHost) -> None:
        super().__init__(ProbeParams)
        self.host = host
        self.status = QLabel()
        self.invert_button = QPushButton("Invert mask")
        self.invert_button.clicked.connect(self.invert_mask)
        self.form.addRow(self.status)
        self.form.addRow(self.invert_button)
        self.results: list[Frame] = []
        host.document_changed.connect(self.show_document)
        self.show_document(host.document)

    def show_document(self, doc: Document | None) -> None:
        layers = len(doc.layers) if doc is not None else 0
        self.status.setText(f"layers: {layers}; probe_net {self.host.store.status('probe_net')}")

    def invert_mask(self) -> JobHandle | None:
        """A job of the panel's own: the mask in use, inverted, as a picture; its frame comes back to the panel."""

        def make_job(inputs: Inputs) -> JobFn:
            if inputs.mask is None:
                raise ValueError("paint a mask first")
            mask = inputs.mask

            def job(ctx: RunContext) -> Iterator[Frame]:
                grey = np.rint((1.0 - mask) * 255).astype(np.uint8)
                yield ctx.frame(0.5)
                yield ctx.frame(1.0, np.dstack([grey, grey, grey]), final=True)

            return job

        return self.host.submit("Invert mask", make_job, self.results.append)
