"""The Models dialog: every network in the catalog, its status and license; Install, Import, Verify and Remove."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core.cancel import CancelCheck, Cancelled, Progress
from studio.core.errors import describe_error
from studio.core.jobs import JobEvent, JobHandle, JobState
from studio.core.models.errors import ModelError
from studio.core.models.spec import ModelSpec, UserFile
from studio.core.models.store import InstallRecord, ModelStatus, ModelStore
from studio.qt.file_dialogs import start_folder
from studio.qt.job_controller import JobController

COLUMNS = ("Model", "Status", "Size", "License", "Used by", "")
INSTALLABLE = (ModelStatus.CAN_INSTALL, ModelStatus.BROKEN, ModelStatus.NEEDS_INTERNET)


def user_file(spec: ModelSpec) -> UserFile | None:
    """The file a user can import ``spec`` from (``studio models import``), if it has one."""
    return next((source for source in spec.sources if isinstance(source, UserFile)), None)


def import_filter(spec: ModelSpec, source: UserFile) -> str:
    """The file dialog filter of ``spec``'s file ``source``: the endings it takes, then any file."""
    suffixes = source.suffixes or tuple(filter(None, [Path(source.filename).suffix]))
    patterns = " ".join(f"*{suffix}" for suffix in suffixes) or "*"
    name = source.filename if len(suffixes) <= 1 else spec.title
    return f"{name} ({patterns});;All files (*)"


class ModelsDialog(QDialog):
    """Lists the catalog with install buttons and progress; shows each model's license and provenance; imports,
    verifies and removes the selected model.

    Installs, imports and verifications run as jobs of the window's job controller, off the GUI thread.
    """

    installed = Signal(str)
    """A model was installed or imported (its id)."""
    removed = Signal(str)
    """A model's files were removed (its id)."""

    def __init__(
        self,
        store: ModelStore,
        controller: JobController,
        used_by: Mapping[str, list[str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(900, 560)
        self.store = store
        self.controller = controller
        self.used_by = used_by
        self.jobs: dict[str, JobHandle] = {}
        self.errors: dict[str, str] = {}
        """The last failure of each model's install, import or verification, said for the user."""
        self.reports: dict[str, str] = {}
        """The outcome of each model's last import, verification or removal."""
        self._ids = list(store.specs)
        self._actions: dict[str, str] = {}

        self.table = QTableWidget(len(self._ids), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # the license wraps in what is left
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._show_details)
        self.import_button = QPushButton("Import File…")
        self.import_button.clicked.connect(lambda _checked=False: self._choose_import())
        self.import_id = QLineEdit()
        self.import_id.setMaximumWidth(160)
        self.import_id.setToolTip(
            "Install the file under an id of its own, to keep several such models side by side (`studio models "
            "import MODEL FILE --as ID`); empty = as the selected model"
        )
        self.import_as = QLabel("as id")
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Hash the model's files again and compare them with its install record")
        self.verify_button.clicked.connect(lambda _checked=False: self.verify(self.selected()))
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Delete this model's files (it can be installed again)")
        self.remove_button.clicked.connect(lambda _checked=False: self.remove(self.selected()))
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Selected model:"))
        for widget in (self.import_button, self.import_as, self.import_id, self.verify_button, self.remove_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        self.details = QTextBrowser()
        self.details.setOpenExternalLinks(False)
        self.details.setMaximumHeight(130)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        for row in range(len(self._ids)):
            self._fill_row(row)
        if self._ids:
            self.table.selectRow(0)

    def row_of(self, model_id: str) -> int:
        return self._ids.index(model_id)

    def selected(self) -> str:
        """The id of the selected model ("" when none is)."""
        rows = self.table.selectionModel().selectedRows()
        return self._ids[rows[0].row()] if rows else ""

    def refresh(self) -> None:
        """Show the models the store gained since (trained ones), and every row's status anew."""
        self._ids += [model_id for model_id in self.store.specs if model_id not in self._ids]
        self.table.setRowCount(len(self._ids))
        for row in range(len(self._ids)):
            self._fill_row(row)

    def _fill_row(self, row: int) -> None:
        model_id = self._ids[row]
        spec = self.store.specs[model_id]
        status = self.store.status(model_id)
        texts = (
            f"{spec.title}  ({model_id})",
            ("failed" if model_id in self.errors else status.value) if model_id not in self.jobs else "",
            f"{spec.size_mb:.0f} MB",
            spec.license,
            ", ".join(self.used_by.get(model_id, [])) or "—",
        )
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(self.errors.get(model_id, text) if column == 1 else text)
            self.table.setItem(row, column, item)
        if model_id in self.jobs:
            self.table.setCellWidget(row, 1, self._progress_bar(f"{self._actions[model_id]}ing…"))
            button = QPushButton("Cancel")
            button.clicked.connect(lambda _checked=False, m=model_id: self.jobs[m].cancel())
        else:
            self.table.removeCellWidget(row, 1)
            button = QPushButton("Reinstall" if status is ModelStatus.BROKEN else "Install")
            button.setEnabled(status in INSTALLABLE)
            button.setToolTip("Download, verify and convert the weights" if status in INSTALLABLE else status.value)
            button.clicked.connect(lambda _checked=False, m=model_id: self.install(m))
        self.table.setCellWidget(row, len(COLUMNS) - 1, button)
        if model_id == self.selected():
            self._update_buttons()

    def _update_buttons(self) -> None:
        model_id = self.selected()
        spec = self.store.specs.get(model_id)
        idle = spec is not None and model_id not in self.jobs
        source = user_file(spec) if spec is not None else None
        self.import_button.setEnabled(idle and source is not None)
        several = idle and source is not None and spec is not None and spec.base is None
        for widget in (self.import_as, self.import_id):
            widget.setEnabled(several)
        self.import_id.setPlaceholderText(model_id if several else "")
        self.import_button.setToolTip(
            f"Install from a file you have: {source.filename} ({source.hint})"
            if source is not None
            else "This model is not imported from a file; use Install"
        )
        on_disk = idle and self.store.cached_path(model_id).exists()
        self.verify_button.setEnabled(on_disk)
        self.remove_button.setEnabled(on_disk)

    @staticmethod
    def _progress_bar(text: str) -> QProgressBar:
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setFormat(text)
        return bar

    def _show_details(self) -> None:
        self._update_buttons()
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        spec = self.store.specs[self._ids[rows[0].row()]]
        try:
            record = self.store.record(spec.id)
        except ModelError as exc:
            record = None
            self.errors.setdefault(spec.id, str(exc))
        parts = [
            f"<b>{escape(spec.title)}</b> — {escape(spec.description)}",
            f"<b>License:</b> {escape(spec.license)}",
            f"<b>Provenance:</b> {escape(spec.provenance)}",
        ]
        if spec.notice:
            parts.append(f"<b style='color:#b9770e'>Note:</b> {escape(spec.notice)}")
        if record is not None:
            parts.append(f"<b>Installed from:</b> {escape(record.source)}")
        if spec.id in self.reports:
            parts.append(f"<b style='color:#1e8449'>{escape(self.reports[spec.id])}</b>")
        if spec.id in self.errors:
            parts.append(f"<b style='color:#c0392b'>Failed:</b> {escape(self.errors[spec.id])}")
        self.details.setHtml("<br>".join(parts))

    def install(self, model_id: str) -> JobHandle:
        """Install ``model_id`` on a worker thread; progress shows in its row."""

        def work(progress: Progress, cancelled: CancelCheck) -> InstallRecord:
            return self.store.install(model_id, progress, cancelled)

        return self._start(model_id, "install", work, lambda record: f"Installed from {record.source}.")

    def import_file(self, model_id: str, path: Path, as_id: str | None = None) -> JobHandle:
        """Install ``model_id`` from the user's file ``path`` on a worker thread (as ``studio models import``),
        under the id ``as_id`` when given (as ``--as``).

        A failure says which file the model needs, besides what was wrong with ``path``.
        """
        source = user_file(self.store.spec(model_id))

        def work(_progress: Progress, _cancelled: CancelCheck) -> InstallRecord:
            try:
                return self.store.import_file(model_id, path, as_id)
            except ModelError as exc:
                if source is None or source.hint in str(exc):
                    raise
                raise ModelError(f"{exc}; choose {source.filename}: {source.hint}", model_id=model_id) from exc

        def report(record: InstallRecord) -> str:
            return f"Imported from {path}" + (f" as {record.model_id}." if record.model_id != model_id else ".")

        return self._start(model_id, "import", work, report)

    def verify(self, model_id: str) -> JobHandle:
        """Hash ``model_id``'s files again on a worker thread; the outcome shows in the details."""

        def report(record: InstallRecord) -> str:
            count = len(record.files)
            return f"Verified: {count} file{'s' if count != 1 else ''} match{'es' if count == 1 else ''} the record."

        return self._start(model_id, "verify", lambda _progress, _cancelled: self.store.verify(model_id), report)

    def remove(self, model_id: str) -> bool:
        """Delete ``model_id``'s files once the user agrees; True when they were deleted."""
        spec = self.store.specs[model_id]
        folder = self.store.cached_path(model_id)
        if model_id in self.jobs or not folder.exists():
            return False
        users = ", ".join(self.used_by.get(model_id, [])) or "no installed plugin"
        answer = QMessageBox.question(
            self,
            "Remove model?",
            f"Remove {spec.title} ({model_id})?\n\nThis deletes its files in {folder} "
            f"({self.store.size_bytes(model_id) / 1e6:.0f} MB); no other model's. It is used by {users}. "
            "It can be installed again later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.errors.pop(model_id, None)
        try:
            self.store.remove(model_id)
        except OSError as exc:
            self.errors[model_id] = f"cannot remove {folder}: {exc.strerror or exc}"
        else:
            self.reports[model_id] = f"Removed its files from {folder}."
        self._fill_row(self.row_of(model_id))
        self._show_details()
        self.removed.emit(model_id)
        return model_id not in self.errors

    def _choose_import(self) -> None:
        model_id = self.selected()
        source = user_file(self.store.specs[model_id]) if model_id else None
        if source is None:
            return
        spec = self.store.specs[model_id]
        path, _ = QFileDialog.getOpenFileName(
            self, f"Import {spec.title} from {source.filename}", start_folder(self), import_filter(spec, source)
        )
        if path:
            as_id = self.import_id.text().strip() if self.import_id.isEnabled() else ""
            self.import_file(model_id, Path(path), as_id or None)

    def _start(
        self,
        model_id: str,
        action: str,
        work: Callable[[Progress, CancelCheck], InstallRecord],
        report: Callable[[InstallRecord], str],
    ) -> JobHandle:
        """Run ``work`` for ``model_id`` as a job; its row shows the progress, the details its outcome."""
        self.errors.pop(model_id, None)
        self.reports.pop(model_id, None)

        def done(record: InstallRecord | None, error: BaseException | None) -> None:
            del self.jobs[model_id], self._actions[model_id]
            if isinstance(error, Cancelled):
                self.errors[model_id] = f"{action} cancelled"
            elif error is not None or record is None:
                self.errors[model_id] = describe_error(error or RuntimeError("no install record"))
            else:
                self.reports[model_id] = report(record)
            self.refresh()  # an import under its own id is a model of its own
            self._show_details()
            if error is None and record is not None and action in ("install", "import"):
                self.installed.emit(record.model_id)

        handle = self.controller.run_task(
            f"{action} {model_id}", work, done, device="cpu", on_event=lambda event: self._progress(model_id, event)
        )
        self.jobs[model_id], self._actions[model_id] = handle, action
        self._fill_row(self.row_of(model_id))
        return handle

    def _progress(self, model_id: str, event: JobEvent) -> None:
        if event.state is not JobState.PREVIEW or event.frame is None:
            return
        bar = self.table.cellWidget(self.row_of(model_id), 1)
        if isinstance(bar, QProgressBar):
            bar.setValue(round(event.frame.progress * 1000))
            bar.setFormat(event.frame.message or f"{event.frame.progress:.0%}")


class MissingModelsBanner(QWidget):
    """Shown in a plugin panel when none of the models the plugin can use (nor one trained from them) is
    installed."""

    install_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.button = QPushButton("Install…")
        self.button.clicked.connect(lambda: self.install_requested.emit(self.model_id))
        self.model_id = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.setStyleSheet("MissingModelsBanner { background: #fdf2e0; border: 1px solid #e0b060; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.hide()

    def update_for(self, models: tuple[str, ...], store: ModelStore, needs: str = "This plugin needs") -> None:
        """Show the banner if none of ``models``, nor a model trained from one of them, is installed, offering the
        first installable one; ``needs`` starts its sentence (who needs the model).

        A model the store does not know is named as an error, never skipped.
        """
        unknown = [m for m in models if m not in store.specs]
        if unknown:
            self.model_id = ""
            self.label.setText(f"This plugin names models Studio does not know: {', '.join(unknown)}.")
            self.button.hide()
            self.show()
            return
        self.button.show()
        known = list(models)
        usable = [m for m, spec in store.specs.items() if m in known or spec.base in known]
        if not known or any(store.status(m) is ModelStatus.INSTALLED for m in usable):
            self.hide()
            return
        installable = [m for m in known if store.status(m) in INSTALLABLE]
        self.model_id = installable[0] if installable else known[0]
        names = ", ".join(store.specs[m].title for m in known)
        if len(known) == 1:
            self.label.setText(f"{needs} a model that is not installed ({names}).")
        else:
            self.label.setText(f"{needs} one of these models, and none is installed: {names}.")
        self.button.setText(f"Install {self.model_id}…")
        self.show()
