"""The Batch Render dialog: a chosen layer's recipe over queued pictures and folders, with progress and cancel.

The batch runs :func:`studio.core.batch.run_job` as a job of the window's job
controller (so it waits its turn on the device like any other job); its events
reach the GUI thread through a queued Qt signal, so the window stays responsive. The
settings are written as a job file in the output folder, so the same batch can
be resumed later (here or with ``studio render``).
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.batch import BatchEvent, BatchSummary, Job, JobFileError, job_file_text, load_job, run_job
from studio.core.cancel import CancelCheck, Progress
from studio.core.document import Layer, Recipe
from studio.core.errors import describe_error
from studio.core.image import SUPPORTED_SUFFIXES
from studio.core.jobs import JobHandle
from studio.core.plugin import PluginRegistry
from studio.qt.file_dialogs import PICTURES_FILTER, start_folder
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


def image_files(folder: Path) -> list[Path]:
    """The pictures Studio reads directly inside ``folder`` (none when it cannot be listed)."""
    try:
        return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES]
    except OSError:
        return []


def image_globs(folder: Path) -> list[str]:
    """One glob per image suffix present in ``folder`` (for example ``/photos/*.jpg``)."""
    suffixes = sorted({p.suffix for p in image_files(folder)})
    return [f"{glob.escape(str(folder))}{os.sep}*{suffix}" for suffix in suffixes]


class BatchDialog(QDialog):
    """Renders one layer's recipe over a queue of pictures and folders; overall and current-item progress, Cancel.

    ``layers`` are the document's layers (those with a recipe are offered), ``active`` the one chosen at first
    when it has a recipe (else the topmost that has one).
    """

    def __init__(
        self,
        registry: PluginRegistry,
        jobs: JobController,
        layers: Sequence[Layer],
        active: Layer | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch Render")
        self.resize(640, 620)
        self.registry = registry
        self.jobs = jobs
        self.job: Job | None = None
        self.summary: BatchSummary | None = None
        self._cancel = threading.Event()
        self._handle: JobHandle | None = None
        self._finished_items = 0
        self._to_render = 0
        self._started = 0.0
        self.bridge = BatchBridge(self)
        self.bridge.event.connect(self._on_event)

        self._layers = [layer for layer in layers if layer.recipe is not None]
        self.recipe_combo = QComboBox()
        for layer in self._layers:
            self.recipe_combo.addItem(f"“{layer.name}”")
        chosen = active if active in self._layers else (self._layers[-1] if self._layers else None)
        if chosen is not None:
            self.recipe_combo.setCurrentIndex(self._layers.index(chosen))
        self.recipe_combo.setEnabled(bool(self._layers))
        self.recipe_combo.setToolTip("The layer whose recipe (plugin and parameters) renders every queued picture")
        self.recipe_label = QLabel()
        self.recipe_label.setWordWrap(True)
        self.recipe_combo.currentIndexChanged.connect(lambda _index: self._show_recipe())

        self.queue = QListWidget()
        self.queue.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.queue.setMaximumHeight(140)
        self.queue.setToolTip("Each picture is rendered; a folder adds the pictures directly inside it")
        self.add_files_button = QPushButton("Add Pictures…")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button = QPushButton("Add Folder…")
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        queue_buttons = QVBoxLayout()
        for button in (self.add_files_button, self.add_folder_button, self.remove_button):
            queue_buttons.addWidget(button)
        queue_buttons.addStretch(1)
        queue_row = QHBoxLayout()
        queue_row.addWidget(self.queue, 1)
        queue_row.addLayout(queue_buttons)

        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("folder for the results, the job file and its manifest")
        self.output_browse = QPushButton("Browse…")
        self.output_browse.clicked.connect(self._choose_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.output_browse)
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE)
        self.template_edit.setToolTip(
            "Output names: {stem} {name} {index} {input_index} {step1.PARAM}; the format's suffix is added"
        )
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(EXPORT_CHOICES))
        form = QFormLayout()
        form.addRow("Recipe of layer", self.recipe_combo)
        form.addRow(self.recipe_label)
        form.addRow("Queue", queue_row)
        form.addRow("Output folder", output_row)
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
        self._inputs = (
            self.recipe_combo,
            self.queue,
            self.add_files_button,
            self.add_folder_button,
            self.remove_button,
            self.output_edit,
            self.output_browse,
            self.template_edit,
            self.format_combo,
        )

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("All items"))
        layout.addWidget(self.overall)
        layout.addWidget(self.current_label)
        layout.addWidget(self.current)
        layout.addWidget(self.eta_label)
        layout.addWidget(self.log, 1)
        layout.addLayout(buttons)
        self._show_recipe()

    @property
    def recipe(self) -> Recipe | None:
        """The recipe of the chosen layer (None when no layer has one)."""
        index = self.recipe_combo.currentIndex()
        return self._layers[index].recipe if 0 <= index < len(self._layers) else None

    def _show_recipe(self) -> None:
        """Say which layer's recipe renders the batch, and whether it can."""
        recipe = self.recipe
        manifest = self.registry.plugins.get(recipe.plugin_id) if recipe else None
        if recipe is None:
            text = "No layer has a recipe. Run a plugin first; its result layer carries the recipe."
        elif manifest is None:
            text = f"This layer was made by {recipe.plugin_id!r}, which is not installed."
        else:
            layer = self._layers[self.recipe_combo.currentIndex()]
            text = (
                f"Each picture is rendered with {manifest.title} and the {len(recipe.params)} parameters "
                f"of layer “{layer.name}”."
            )
        self.recipe_label.setText(text)
        ready = manifest is not None and not self.running
        self.start_button.setEnabled(ready)
        self.save_button.setEnabled(ready)

    def queued(self) -> list[Path]:
        """The queued pictures and folders, in order."""
        return [Path(self.queue.item(row).data(Qt.ItemDataRole.UserRole)) for row in range(self.queue.count())]

    def add_inputs(self, paths: Iterable[Path]) -> None:
        """Queue pictures and folders (each once); anything else is named in the log and left out."""
        queued = set(self.queued())
        for given in paths:
            path = Path(given).expanduser().absolute()
            if path in queued:
                continue
            if path.is_dir():
                count = len(image_files(path))
                text = f"{path}{os.sep}  ({count} picture{'s' if count != 1 else ''})"
            elif path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                text = str(path)
            else:
                self._say(f"{path} is not a picture Studio reads ({', '.join(SUPPORTED_SUFFIXES)}) nor a folder.")
                continue
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.queue.addItem(item)
            queued.add(path)

    def remove_selected(self) -> None:
        """Take the selected entries off the queue."""
        for item in self.queue.selectedItems():
            self.queue.takeItem(self.queue.row(item))

    def _choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add pictures to the batch", start_folder(self), PICTURES_FILTER)
        self.add_inputs(Path(name) for name in names)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of pictures", start_folder(self))
        if folder:
            self.add_inputs([Path(folder)])

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the output folder", start_folder(self, self.output_edit.text())
        )
        if folder:
            self.output_edit.setText(folder)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def job_text(self) -> str | None:
        """The batch as a job file, or None (with the reason in the log) when the form is incomplete."""
        if self.recipe is None:
            return None
        queued = self.queued()
        if not queued:
            self._say("Add pictures or folders of pictures to the queue.")
            return None
        globs: list[str] = []
        for path in queued:
            if path.is_dir():
                globs += image_globs(path)
            elif path.is_file():
                globs.append(glob.escape(str(path)))
        if not globs:
            self._say(f"The queue holds no pictures ({', '.join(SUPPORTED_SUFFIXES)}).")
            return None
        export = EXPORT_CHOICES[self.format_combo.currentText()]
        return job_file_text(
            inputs=globs,
            steps=[(self.recipe.plugin_id, self.recipe.params)],
            output=self.template_edit.text().strip() or DEFAULT_TEMPLATE,
            export=dict(export),
        )

    def save_job_dialog(self) -> None:
        start = str(Path(start_folder(self, self.output_edit.text())) / JOB_FILE_NAME)
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
        self._set_running(True)

    def cancel(self) -> None:
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.current_label.setText("Cancelling… finished items are kept")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the batch job ends and is reported (for tests and closing); False on timeout."""
        if self._handle is not None:
            self.jobs.wait(self._handle, timeout)
        return not self.running

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.cancel_button.setText("Cancel")
        for widget in self._inputs:
            widget.setEnabled(not running)
        self.recipe_combo.setEnabled(not running and bool(self._layers))
        self._show_recipe()

    def _on_event(self, event: BatchEvent) -> None:
        item = event.item
        if event.kind == "planned":
            self._to_render = event.to_render
            self.overall.setRange(0, max(1, event.to_render))
            skipped = len(self.job.items) - event.to_render if self.job else 0
            if skipped:
                self._say(f"{skipped} items are already done and verified; rendering {event.to_render}.")
        elif item is not None and event.kind in ("started", "progress"):
            if not self._cancel.is_set():  # "Cancelling…" stays until the batch has stopped
                self.current_label.setText(f"Item {item.index}: {item.output_name}")
                self.current.setValue(round(event.fraction * 1000))
        elif item is not None and event.kind in ("done", "failed"):
            self._finished_items += 1
            self.overall.setValue(self._finished_items)
            self.current.setValue(self.current.maximum() if event.kind == "done" else 0)
            if event.kind == "failed":
                self._say(f"Failed #{item.index} {item.output_name}: {event.message}")
            elapsed = time.monotonic() - self._started
            left = elapsed / self._finished_items * (self._to_render - self._finished_items)
            self.eta_label.setText(format_seconds(left))

    def _on_finished(self, result: BatchSummary | str) -> None:
        self._handle = None
        self._set_running(False)
        self.eta_label.setText("")
        if isinstance(result, str):
            self.current.setValue(0)
            self.current_label.setText("The batch could not start")
            self._say(result)
            return
        self.summary = result
        self.current.setValue(0 if result.interrupted else self.current.maximum())
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
