"""The Models dialog: every network in the catalog, its status and license, and Install."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import JobEvent, JobHandle, JobState, progress_job
from studio.core.models.errors import ModelError
from studio.core.models.store import ModelStatus, ModelStore
from studio.qt.job_controller import JobController

COLUMNS = ("Model", "Status", "Size", "License", "Used by", "")
INSTALLABLE = (ModelStatus.CAN_INSTALL, ModelStatus.BROKEN, ModelStatus.NEEDS_INTERNET)


class ModelsDialog(QDialog):
    """Lists the catalog with install buttons and progress; shows each model's license and provenance."""

    installed = Signal(str)

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
        self._ids = list(store.specs)
        self._job_models: dict[int, str] = {}

        self.table = QTableWidget(len(self._ids), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_details)
        self.details = QTextBrowser()
        self.details.setOpenExternalLinks(False)
        self.details.setMaximumHeight(150)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        for row in range(len(self._ids)):
            self._fill_row(row)
        if self._ids:
            self.table.selectRow(0)

    def row_of(self, model_id: str) -> int:
        return self._ids.index(model_id)

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
            self.errors.get(model_id, status.value) if model_id not in self.jobs else "",
            f"{spec.size_mb:.0f} MB",
            spec.license,
            ", ".join(self.used_by.get(model_id, [])) or "—",
        )
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(self.errors.get(model_id, text) if column == 1 else text)
            self.table.setItem(row, column, item)
        if model_id in self.jobs:
            self.table.setCellWidget(row, 1, self._progress_bar())
            button = QPushButton("Cancel")
            button.clicked.connect(lambda _checked=False, m=model_id: self.jobs[m].cancel())
        else:
            self.table.removeCellWidget(row, 1)
            button = QPushButton("Reinstall" if status is ModelStatus.BROKEN else "Install")
            button.setEnabled(status in INSTALLABLE)
            button.setToolTip("Download, verify and convert the weights" if status in INSTALLABLE else status.value)
            button.clicked.connect(lambda _checked=False, m=model_id: self.install(m))
        self.table.setCellWidget(row, len(COLUMNS) - 1, button)

    @staticmethod
    def _progress_bar() -> QProgressBar:
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setFormat("starting…")
        return bar

    def _show_details(self) -> None:
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
            f"<b>{spec.title}</b> — {spec.description}",
            f"<b>License:</b> {spec.license}",
            f"<b>Provenance:</b> {spec.provenance}",
        ]
        if spec.notice:
            parts.append(f"<b style='color:#b9770e'>Note:</b> {spec.notice}")
        if record is not None:
            parts.append(f"<b>Installed from:</b> {record.source}")
        if spec.id in self.errors:
            parts.append(f"<b style='color:#c0392b'>Last install failed:</b> {self.errors[spec.id]}")
        self.details.setHtml("<br>".join(parts))

    def install(self, model_id: str) -> JobHandle:
        """Install ``model_id`` on a worker thread; progress shows in its row."""
        self.errors.pop(model_id, None)

        def work(progress: object, cancelled: object) -> None:
            self.store.install(model_id, progress, cancelled)  # type: ignore[arg-type]

        handle = self.controller.submit(progress_job(work, f"{model_id} installed"), self._on_event, device="cpu")
        self.jobs[model_id] = handle
        self._job_models[handle.job_id] = model_id
        self._fill_row(self.row_of(model_id))
        return handle

    def _on_event(self, event: JobEvent) -> None:
        model_id = self._job_models.get(event.job_id)
        if model_id is None:
            return
        row = self.row_of(model_id)
        if event.state is JobState.PREVIEW and event.frame is not None:
            bar = self.table.cellWidget(row, 1)
            if isinstance(bar, QProgressBar):
                bar.setValue(round(event.frame.progress * 1000))
                bar.setFormat(event.frame.message or f"{event.frame.progress:.0%}")
            return
        del self.jobs[model_id]
        if event.state is JobState.FAILED:
            self.errors[model_id] = event.error
        elif event.state is JobState.CANCELLED:
            self.errors[model_id] = "cancelled"
        self._fill_row(row)
        self._show_details()
        if event.state is JobState.FINISHED:
            self.installed.emit(model_id)


class MissingModelsBanner(QWidget):
    """Shown in a plugin panel when none of the models the plugin can use is installed."""

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

    def update_for(self, models: tuple[str, ...], store: ModelStore) -> None:
        """Show the banner if none of ``models`` is installed, offering the first installable one.

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
        if not known or any(store.status(m) is ModelStatus.INSTALLED for m in known):
            self.hide()
            return
        installable = [m for m in known if store.status(m) in INSTALLABLE]
        self.model_id = installable[0] if installable else known[0]
        names = ", ".join(store.specs[m].title for m in known)
        self.label.setText(f"This plugin needs a model that is not installed ({names}).")
        self.button.setText(f"Install {self.model_id}…")
        self.show()
