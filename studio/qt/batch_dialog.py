"""The Batch Render dialog: a layer's recipe over a folder of images, with progress and cancel.

The batch runs :func:`studio.core.batch.run_job` as a job of the window's job
controller (so it waits its turn on the device like any other job); its events
reach the GUI thread through a queued Qt signal, so the window stays responsive. The
settings are written as a job file in the output folder, so the same batch can
be resumed later (here or with ``studio render``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.batch import BatchEvent, BatchSummary, Job, JobFileError, job_file_text, load_job, run_job
from studio.core.cancel import CancelCheck, Progress
from studio.core.document import Recipe
from studio.core.errors import describe_error
from studio.core.image import SUPPORTED_SUFFIXES
from studio.core.jobs import JobHandle
from studio.core.plugin import PluginRegistry
from studio.qt.job_bar import format_seconds
from studio.qt.job_controller import JobController

JOB_FILE_NAME = "studio-batch.toml"
DEFAULT_TEMPLATE = "{stem}-{index:03d}"
EXPORT_CHOICES: dict[str, dict[str, object]] = {
    "TIFF, 8 bit": {"format": "tiff", "bit_depth": 8},
    "TIFF, 16 bit": {"format": "tiff", "bit_depth": 16},
    "PNG, 8 bit": {"format": "png", "bit_depth": 8},
    "PNG, 16 bit": {"format": "png", "bit_depth": 16},
    "JPEG": {"format": "jpeg", "quality": 95},
    "WebP (lossless)": {"format": "webp", "quality": 100},
}


class BatchBridge(QObject):
    """Carries batch events from the batch job's thread to the GUI thread (queued)."""

    event = Signal(object)


def image_globs(folder: Path) -> list[str]:
    """One glob per image suffix present in ``folder`` (for example ``/photos/*.jpg``)."""
    suffixes = sorted({p.suffix for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES})
    return [str(folder / f"*{suffix}") for suffix in suffixes]


class BatchDialog(QDialog):
    """Queues ``recipe`` over a folder of images; shows overall and current-item progress with Cancel."""

    def __init__(
        self, registry: PluginRegistry, jobs: JobController, recipe: Recipe | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch Render")
        self.resize(620, 480)
        self.registry = registry
        self.jobs = jobs
        self.recipe = recipe
        self.job: Job | None = None
        self.summary: BatchSummary | None = None
        self._cancel = threading.Event()
        self._handle: JobHandle | None = None
        self._finished_items = 0
        self._to_render = 0
        self._started = 0.0
        self._browse_buttons: list[QPushButton] = []
        self.bridge = BatchBridge(self)
        self.bridge.event.connect(self._on_event)

        manifest = registry.plugins.get(recipe.plugin_id) if recipe else None
        if recipe is None:
            text = "The active layer has no recipe. Run a plugin first; its result layer carries the recipe."
        elif manifest is None:
            text = f"The active layer was made by {recipe.plugin_id!r}, which is not installed."
        else:
            text = f"Recipe: {manifest.title} with the active layer's {len(recipe.params)} parameters"
        self.recipe_label = QLabel(text)
        self.recipe_label.setWordWrap(True)
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("folder of images")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("folder for the results, the job file and its manifest")
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE)
        self.template_edit.setToolTip(
            "Output names: {stem} {name} {index} {input_index} {step1.PARAM}; the format's suffix is added"
        )
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(EXPORT_CHOICES))
        form = QFormLayout()
        form.addRow(self.recipe_label)
        form.addRow("Images", self._with_browse(self.input_edit, "Choose the folder of images"))
        form.addRow("Output folder", self._with_browse(self.output_edit, "Choose the output folder"))
        form.addRow("Names", self.template_edit)
        form.addRow("Format", self.format_combo)

        self.overall = QProgressBar()
        self.overall.setFormat("%v of %m items")
        self.current_label = QLabel("Not started")
        self.current = QProgressBar()
        self.current.setRange(0, 1000)
        self.eta_label = QLabel()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("Failures and the summary appear here.")

        self.save_button = QPushButton("Save Job File…")
        self.save_button.setToolTip("Write the batch as a job file for `studio render`")
        self.save_button.clicked.connect(self.save_job_dialog)
        self.start_button = QPushButton("Render")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the batch; finished items are kept and a later run resumes")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        ready = manifest is not None
        self.start_button.setEnabled(ready)
        self.save_button.setEnabled(ready)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("All items"))
        layout.addWidget(self.overall)
        layout.addWidget(self.current_label)
        layout.addWidget(self.current)
        layout.addWidget(self.eta_label)
        layout.addWidget(self.log, 1)
        layout.addLayout(buttons)

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda _checked=False: self._browse(edit, title))
        box.addWidget(button)
        self._browse_buttons.append(button)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text())
        if folder:
            edit.setText(folder)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def job_text(self) -> str | None:
        """The batch as a job file, or None (with the reason in the log) when the form is incomplete."""
        if self.recipe is None:
            return None
        folder = Path(self.input_edit.text().strip()).expanduser()
        if not self.input_edit.text().strip() or not folder.is_dir():
            self._say("Choose an existing folder of images.")
            return None
        globs = image_globs(folder)
        if not globs:
            self._say(f"{folder} holds no images ({', '.join(SUPPORTED_SUFFIXES)}).")
            return None
        export = EXPORT_CHOICES[self.format_combo.currentText()]
        return job_file_text(
            inputs=globs,
            steps=[(self.recipe.plugin_id, self.recipe.params)],
            output=self.template_edit.text().strip() or DEFAULT_TEMPLATE,
            export=dict(export),
        )

    def save_job_dialog(self) -> None:
        start = str(Path(self.output_edit.text().strip() or ".") / JOB_FILE_NAME)
        name, _ = QFileDialog.getSaveFileName(self, "Save Job File", start, "Job files (*.toml)")
        if name:
            self.save_job(Path(name))

    def save_job(self, path: Path) -> bool:
        """Write the batch as a job file at ``path``; False (with the reason in the log) if it cannot."""
        text = self.job_text()
        if text is None:
            return False
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self._say(f"Cannot write {path}: {exc.strerror or exc}")
            return False
        self._say(f"Saved {path}; render it with: studio render {path}")
        return True

    def start(self) -> None:
        """Write the job file into the output folder and render it on a thread (resuming an earlier run)."""
        if self.running:
            return
        output = self.output_edit.text().strip()
        if not output:
            self._say("Choose an output folder.")
            return
        folder = Path(output).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._say(f"Cannot create {folder}: {exc.strerror or exc}")
            return
        path = folder / JOB_FILE_NAME
        if not self.save_job(path):
            return
        try:
            self.job = load_job(path, self.registry)
        except JobFileError as exc:
            self._say(str(exc))
            return
        self._cancel.clear()
        self._finished_items = 0
        self.summary = None
        self.overall.setRange(0, max(1, len(self.job.items)))
        self.overall.setValue(0)
        self._set_running(True)
        self._started = time.monotonic()
        job = self.job
        accelerated = any(self.registry.plugins[s.plugin].accelerated for item in job.items for s in item.steps)

        def work(_progress: Progress, _cancelled: CancelCheck) -> BatchSummary:
            return run_job(
                job,
                on_event=self.bridge.event.emit,
                cancel=self._cancel,
                registry=self.registry,
                models_root=self.jobs.store.root,
            )

        def done(summary: BatchSummary | None, error: BaseException | None) -> None:
            self._on_finished(summary if summary is not None else describe_error(error or RuntimeError("no summary")))

        self._handle = self.jobs.run_task("Batch", work, done, device=None if accelerated else "cpu")

    def cancel(self) -> None:
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.current_label.setText("Cancelling; finished items are kept…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the batch job ends and is reported (for tests and closing); False on timeout."""
        if self._handle is not None:
            self.jobs.wait(self._handle, timeout)
        return not self.running

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.save_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for edit in (self.input_edit, self.output_edit, self.template_edit, self.format_combo, *self._browse_buttons):
            edit.setEnabled(not running)

    def _on_event(self, event: BatchEvent) -> None:
        item = event.item
        if event.kind == "planned":
            self._to_render = event.to_render
            self.overall.setRange(0, max(1, event.to_render))
            skipped = len(self.job.items) - event.to_render if self.job else 0
            if skipped:
                self._say(f"{skipped} items are already done and verified; rendering {event.to_render}.")
        elif item is not None and event.kind in ("started", "progress"):
            self.current_label.setText(f"Item {item.index}: {item.output_name}")
            self.current.setValue(round(event.fraction * 1000))
        elif item is not None and event.kind in ("done", "failed"):
            self._finished_items += 1
            self.overall.setValue(self._finished_items)
            if event.kind == "failed":
                self._say(f"Failed #{item.index} {item.output_name}: {event.message}")
            elapsed = time.monotonic() - self._started
            left = elapsed / self._finished_items * (self._to_render - self._finished_items)
            self.eta_label.setText(format_seconds(left))

    def _on_finished(self, result: BatchSummary | str) -> None:
        self._handle = None
        self._set_running(False)
        self.current.setValue(0)
        self.eta_label.setText("")
        if isinstance(result, str):
            self.current_label.setText("The batch could not start")
            self._say(result)
            return
        self.summary = result
        self.current_label.setText("Cancelled" if result.interrupted else "Finished")
        if self.job is not None:
            for line in result.lines(self.job):
                self._say(line)

    def _say(self, text: str) -> None:
        self.log.appendPlainText(text)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        self.wait(30)
        super().closeEvent(event)
