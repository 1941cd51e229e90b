"""The print and export menu entries of the main window (:class:`PrintActions`) and what they need of it."""

from __future__ import annotations

import contextlib
import weakref
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox, QStatusBar, QWidget

from studio.core.blank import blank_document
from studio.core.cancel import Cancelled
from studio.core.document import Document
from studio.core.errors import describe_error
from studio.core.export import ExportSettings, ExportSettingsError, export_document, export_path
from studio.core.image import ImageError
from studio.core.jobs import JobEvent, JobHandle, JobState
from studio.core.print_size import PrintSpec
from studio.core.printing import fit_document
from studio.qt.canvas import Canvas
from studio.qt.job_bar import JobBar
from studio.qt.job_controller import JobController
from studio.qt.printing.export_dialog import ExportDialog
from studio.qt.printing.guides import paint_print_guides
from studio.qt.printing.size_dialogs import CUSTOM, FitToPrintDialog, NewPrintDocumentDialog
from studio.qt.printing.soft_proof import SoftProof, SoftProofDialog


class PrintHost(Protocol):
    """What :class:`PrintActions` needs of the window it serves (the main window is one)."""

    @property
    def jobs(self) -> JobController:
        """Where exports run, in their own lane beside the plugins' jobs."""
        ...

    @property
    def doc(self) -> Document | None:
        """The open document, if any."""
        ...

    @property
    def canvas(self) -> Canvas:
        """The canvas: guides and the soft proof are drawn on it."""
        ...

    def statusBar(self) -> QStatusBar:
        """Where messages and the export's progress show."""
        ...

    def set_document(self, doc: Document, project_path: Path | None) -> None:
        """Show ``doc`` (a new print document) in a tab of its own."""
        ...

    def show_error(self, title: str, text: str) -> None:
        """Show an error without blocking."""
        ...

    def last_dir(self) -> str:
        """The folder file dialogs start in."""
        ...

    def close(self) -> bool:
        """Close the window (once a running export is written, if it was asked to close meanwhile)."""
        ...


class PrintActions(QObject):
    """The print and export menu entries of the main window, and their state.

    ``host`` is the window they act on; ``parent`` owns them and the dialogs they open
    (the main window is both).
    """

    def __init__(self, host: PrintHost, parent: QWidget) -> None:
        super().__init__(parent)
        self.host = host
        self.parent_widget = parent
        self.soft_proof = SoftProof(host.canvas, self)
        self.soft_proof.updated.connect(self._proof_updated)
        self.soft_proof.failed.connect(self._proof_failed)
        self.guides_action: QAction | None = None
        self._guides_hidden: weakref.WeakSet[Document] = weakref.WeakSet()  # print documents the artist hid them on
        self.proof_action: QAction | None = None
        self.presets_file: Path | None = None  # None: the user's config folder (tests point it elsewhere)
        self._proof_announced = True
        self._export: JobHandle | None = None
        self._exporting: Path | None = None
        self._last_export: Path | None = None
        self._close_when_exported = False
        self.export_bar = JobBar()
        self.export_bar.setObjectName("export-bar")
        self.export_bar.cancel_button.setToolTip("Stop the export: no file is written, an existing one is kept")
        self.export_bar.cancel_requested.connect(self.cancel_export)
        host.statusBar().insertPermanentWidget(0, self.export_bar)

    def add_to_menus(self, file: QMenu, image: QMenu, view: QMenu) -> None:
        new = QAction("New from &Print Preset…", self.parent_widget)
        new.triggered.connect(lambda _checked=False: self.new_document_dialog())
        file.insertAction(file.actions()[1], new)
        fit = image.addAction("&Fit to Print Preset…")
        fit.triggered.connect(lambda _checked=False: self.fit_dialog())
        view.addSeparator()
        self.guides_action = view.addAction("Print &Guides")
        self.guides_action.setCheckable(True)
        self.guides_action.setShortcut("Ctrl+;")
        self.guides_action.toggled.connect(self.set_guides)
        self.proof_action = view.addAction("Soft &Proof…")
        self.proof_action.setCheckable(True)
        self.proof_action.setShortcut("Ctrl+Shift+P")
        self.proof_action.triggered.connect(self._proof_toggled)

    # documents

    def document_changed(self, doc: Document | None) -> None:
        """The window shows another document (None for none): the proof follows it; a print document (a reopened
        one too) shows its guides unless they were hidden on it."""
        if self.guides_action is not None:
            self.guides_action.setChecked(
                doc is not None and doc.print_spec is not None and doc not in self._guides_hidden
            )
        if self.soft_proof.active:
            self.host.canvas.proof_image = None  # the previous document's proof must not show meanwhile
            self.soft_proof.follow(doc)
            self.soft_proof.refresh()

    def new_document(self, spec: PrintSpec, background: str = "White", bit_depth: int = 8) -> Document:
        doc = blank_document(*spec.pixel_size, background, bit_depth)
        doc.name = spec.name if spec.name != CUSTOM else "Untitled print"
        doc.print_spec = spec
        self.host.set_document(doc, None)
        if self.guides_action is not None:
            self.guides_action.setChecked(True)
        return doc

    def new_document_dialog(self) -> None:
        dialog = NewPrintDocumentDialog(self.parent_widget)
        if dialog.exec():
            self.new_document(dialog.editor.spec(), dialog.background.currentText(), dialog.depth.currentData())

    def fit(self, spec: PrintSpec, mode: str, fill: tuple[int, int, int, int] = (255, 255, 255, 255)) -> None:
        doc = self.host.doc
        if doc is None:
            return
        try:
            doc.history.push(fit_document(doc, spec, mode, fill=fill))  # type: ignore[arg-type]
        except MemoryError:
            self.host.show_error("Fit to print", "There is not enough memory for this print size.")
            return
        if self.guides_action is not None:
            self.guides_action.setChecked(True)
        self.host.canvas.fit()

    def fit_dialog(self) -> None:
        doc = self.host.doc
        if doc is None:
            return
        dialog = FitToPrintDialog(self.parent_widget, doc.print_spec, (doc.width, doc.height))
        if dialog.exec():
            try:
                spec = dialog.editor.spec()
            except ValueError as exc:
                self.host.show_error("Fit to print", str(exc))
                return
            self.fit(spec, dialog.mode.currentData(), dialog.fill())

    # guides and proof

    def set_guides(self, on: bool) -> None:
        canvas = self.host.canvas
        canvas.guides_painter = paint_print_guides if on else None
        canvas.update()
        doc = self.host.doc
        if doc is not None and doc.print_spec is not None:
            (self._guides_hidden.discard if on else self._guides_hidden.add)(doc)
        if on and (doc is None or doc.print_spec is None):
            self.host.statusBar().showMessage(
                "This document has no print size: use File › New from Print Preset or Image › Fit to Print Preset",
                8000,
            )

    def start_proof(self, profile: str, intent: str = "relative") -> bool:
        try:
            self.soft_proof.start(profile, intent)
        except ValueError as exc:
            self.host.show_error("Soft proof", str(exc))
            if self.proof_action is not None:
                self.proof_action.setChecked(False)
            return False
        if self.proof_action is not None:
            self.proof_action.setChecked(True)
        self._proof_announced = False
        self.host.statusBar().showMessage(f"Soft proof through {Path(profile).name} ({intent})…", 10000)
        return True

    def _proof_updated(self, share: float) -> None:
        if self._proof_announced or self.soft_proof.profile is None:
            return
        self._proof_announced = True
        name, intent = Path(self.soft_proof.profile).name, self.soft_proof.intent
        self.host.statusBar().showMessage(
            f"Soft proof through {name} ({intent}): {share:.1%} of the image is out of gamut", 10000
        )

    def _proof_failed(self, message: str) -> None:
        if self.proof_action is not None:
            self.proof_action.setChecked(False)
        self.host.show_error("Soft proof", message)

    def stop_proof(self) -> None:
        self.soft_proof.stop()
        if self.proof_action is not None:
            self.proof_action.setChecked(False)

    def _proof_toggled(self, checked: bool) -> None:
        if not checked:
            self.stop_proof()
            return
        dialog = SoftProofDialog(self.parent_widget, self.soft_proof.profile, self.soft_proof.intent)
        if dialog.exec():
            self.start_proof(dialog.profile.path() or "", dialog.intent.currentData())
        elif self.proof_action is not None:
            self.proof_action.setChecked(False)

    # export

    def default_settings(self) -> ExportSettings:
        doc = self.host.doc
        if doc is not None and doc.export_settings is not None:
            return doc.export_settings
        if doc is not None and doc.print_spec is not None:
            return ExportSettings("tiff", 16, dpi=float(doc.print_spec.ppi))
        return ExportSettings("png", dpi=None)

    @property
    def exporting(self) -> Path | None:
        """The file being written by the running export, or None."""
        return self._exporting

    def start_export(self, path: Path, settings: ExportSettings, *, ask: bool = True) -> bool:
        """Export the flattened document on a worker thread; False when nothing was started.

        The document is snapshotted here (no pixels are copied) and flattened on the
        worker, so edits made while the file is written do not reach it. The job bar
        shows the export, the status bar its result; an error is shown naming the file.
        An existing file is replaced only after asking (unless ``ask`` is False). One export runs at a time: another is
        refused with a message while it runs.
        """
        doc = self.host.doc
        if doc is None:
            return False
        if self._exporting is not None:
            self.host.statusBar().showMessage(
                f"{self._exporting.name} is still being exported: export again when it is written.", 8000
            )
            return False
        try:
            target = export_path(path, settings)
        except ImageError as exc:
            self.host.show_error("Cannot export", str(exc))
            return False
        overwrite = target.exists()
        if overwrite and ask and not self._confirm_replace(target):
            return False
        snapshot = doc.snapshot()

        def done(written: Path | None, error: BaseException | None) -> None:
            self._export_finished(doc, settings, written, error, target)

        self._exporting, self._last_export = target, None
        self.export_bar.start(f"Exporting {target.name} ({settings.describe()})…")
        self._export = self.host.jobs.run_task(
            f"Export {target.name}",
            lambda progress, cancelled: export_document(
                snapshot, target, settings, overwrite=overwrite, progress=progress, cancelled=cancelled
            ),
            done,
            device="cpu",
            lane="export",
            on_event=self._export_progress,
        )
        return True

    def _export_progress(self, event: JobEvent) -> None:
        if event.state is JobState.PREVIEW and event.frame is not None and self._export is not None:
            self.export_bar.update_frame(event.frame)

    def cancel_export(self) -> None:
        """Stop the running export (at the next band of rows); nothing is written."""
        if self._export is not None:
            self._export.cancel()

    def export(self, path: Path, settings: ExportSettings, *, ask: bool = True) -> Path | None:
        """Export and wait for the file (for scripts and tests; the menu uses :meth:`start_export`).

        Returns the path written, or None when nothing was (the error has been shown).
        """
        if not self.start_export(path, settings, ask=ask):
            return None
        self.wait_for_export()
        return self._last_export

    def wait_for_export(self, timeout: float | None = None) -> bool:
        """Block until the running export (if any) is written and reported; False on timeout."""
        return self._export is None or self.host.jobs.wait(self._export, timeout)

    def close_after_export(self) -> bool:
        """Called when the window is asked to close: True (close later) while an export is being written.

        The window then closes by itself once the file is complete.
        """
        if self._exporting is None:
            return False
        self._close_when_exported = True
        self.host.statusBar().showMessage(
            f"Finishing the export of {self._exporting.name}; Studio closes when it is written.", 0
        )
        return True

    def _confirm_replace(self, target: Path) -> bool:
        answer = QMessageBox.question(
            self.parent_widget,
            "Replace file?",
            f"{target.name} already exists in {target.parent}. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _export_finished(
        self, doc: Document, settings: ExportSettings, written: Path | None, error: BaseException | None, target: Path
    ) -> None:
        self._exporting, self._export = None, None
        self.export_bar.stop()
        if isinstance(error, Cancelled):
            self.host.statusBar().showMessage(f"Export of {target.name} cancelled: nothing was written", 8000)
        elif error is not None:
            text = (
                str(error) if isinstance(error, ImageError) else f"Cannot export {target.name}: {describe_error(error)}"
            )
            self.host.show_error("Cannot export", text)
            self.host.statusBar().showMessage(f"{target.name} was not exported", 8000)
        else:
            self._last_export = written
            doc.export_settings = settings
            self.host.statusBar().showMessage(f"Exported {written} ({settings.describe()})", 8000)
        if self._close_when_exported:
            self._close_when_exported = False
            QTimer.singleShot(0, self.host.close)

    def export_dialog(self) -> None:
        doc = self.host.doc
        if doc is None:
            return
        settings = self.default_settings()
        start = Path(self.host.last_dir()) / f"{Path(doc.name).stem or 'untitled'}{settings.suffix}"
        dialog = ExportDialog(self.parent_widget, settings, start, self.presets_file)
        if dialog.exec():
            path = dialog.path()
            if path is not None:
                with contextlib.suppress(ExportSettingsError):
                    self.start_export(path, dialog.settings())
