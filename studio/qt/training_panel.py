"""The Training dock: train a plugin's network as a long job, in a lane of its own beside the interactive jobs.

The panel lists the plugins that declare a trainer. For the chosen one it asks
for a folder of pictures, the plugin's training parameters (a form generated
from its ``train_params`` dataclass), a time limit and whether to resume the
last run; it shows progress, ETA and the latest sample picture. Runs go to a
:class:`~studio.core.training.TrainingQueue` of its own, so plugins keep
running while it trains. Cancel stops at once and keeps the last checkpoint;
the finished model is registered in the store and announced to the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Frame, JobEvent, JobState
from studio.core.models.store import ModelStore
from studio.core.plugin import PluginManifest
from studio.core.training import (
    TrainingError,
    TrainingHandle,
    TrainingQueue,
    TrainingRun,
    latest_run,
    new_run,
    open_run,
    saved_step,
)
from studio.qt.convert import numpy_to_qimage
from studio.qt.file_dialogs import start_folder
from studio.qt.job_bar import JobEventBridge, format_seconds
from studio.qt.params_panel import ParamsPanel

SAMPLE_BOX = (260, 110)
"""The largest size the sample thumbnail is drawn at (it is never cropped)."""
CANCEL_NOTE = "Cancel keeps the last checkpoint: resume the run later."

ModelAdded = Callable[[str], None]
"""``model_added(model_id)``: a trained model is in the store now (the window refreshes what shows models)."""
ShowMessage = Callable[[str], None]
"""``show_message(text)``: a short message in the window's status bar."""


class TrainingPanel(QWidget):
    """Start, pause, resume and cancel the training of a plugin's network; see the module's docstring."""

    def __init__(
        self,
        manifests: Iterable[PluginManifest],
        store: ModelStore,
        model_added: ModelAdded,
        show_message: ShowMessage,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manifests = {m.id: m for m in manifests if m.trainer is not None}
        self.queue = TrainingQueue(store)
        self.bridge = JobEventBridge(numpy_to_qimage, self)
        self.bridge.preview_ready.connect(self._on_sample)
        self.bridge.event.connect(self._on_event)
        self.handle: TrainingHandle | None = None
        self.run: TrainingRun | None = None
        self.last_run: TrainingRun | None = None
        self._model_added = model_added
        self._show_message = show_message
        self._forms: dict[str, ParamsPanel] = {}
        self._sample: QImage | None = None

        self.plugin_box = QComboBox()
        for manifest in self.manifests.values():
            self.plugin_box.addItem(manifest.title, manifest.id)
        self.plugin_box.currentIndexChanged.connect(self._show_plugin)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("a folder of pictures")
        self.data_edit.setToolTip("The pictures to train on (decoded into memory when the run starts)")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_data)
        data_row = QHBoxLayout()
        data_row.setSpacing(4)
        data_row.addWidget(self.data_edit, 1)
        data_row.addWidget(choose)
        self.hours_spin = QDoubleSpinBox()
        self.hours_spin.setRange(0.0, 1000.0)
        self.hours_spin.setDecimals(2)
        self.hours_spin.setSingleStep(0.5)
        self.hours_spin.setSuffix(" h")
        self.hours_spin.setSpecialValueText("no limit")
        self.hours_spin.setToolTip(
            "Stop after this much training (pauses left out) and keep the model made so far; "
            "resuming the run later trains it on"
        )
        self.resume_check = QCheckBox("Resume the last run")
        self.resume_check.setToolTip("Go on from the last run's checkpoint, with its parameters")
        self.resume_check.toggled.connect(self._on_resume_toggled)
        self.last_run_label = _note("")

        settings = QFormLayout()
        settings.setContentsMargins(0, 0, 0, 0)
        settings.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        settings.addRow("Plugin", self.plugin_box)
        settings.addRow("Pictures", data_row)
        settings.addRow("Time limit", self.hours_spin)
        settings.addRow(self.resume_check)
        settings.addRow(self.last_run_label)

        self.forms = QStackedWidget()
        self.params_box = QGroupBox("Training parameters")
        params_layout = QVBoxLayout(self.params_box)
        params_layout.setContentsMargins(6, 6, 6, 6)
        params_layout.addWidget(self.forms)

        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train in the background; plugins keep running meanwhile")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Hold the training and free the device for other jobs")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the training; the last checkpoint is kept, so the run can be resumed")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for button in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("not running")
        self.progress.setValue(0)
        self.eta_label = QLabel()
        self.sample_label = QLabel()
        self.sample_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sample_label.setMinimumHeight(SAMPLE_BOX[1] // 2)
        self.sample_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.sample_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.sample_caption = _note("The latest sample shows here while training.")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(6, 6, 6, 6)
        column.setSpacing(6)
        if not self.manifests:
            column.addWidget(_note("No installed plugin can be trained: none declares a trainer."))
        column.addLayout(settings)
        column.addWidget(self.params_box)
        column.addLayout(buttons)
        progress_row = QHBoxLayout()
        progress_row.setSpacing(6)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.eta_label)
        column.addLayout(progress_row)
        column.addWidget(self.sample_label)
        column.addWidget(self.sample_caption)
        column.addWidget(self.status_label)
        column.addWidget(_note(CANCEL_NOTE))
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._update_controls()

    # The chosen plugin

    @property
    def manifest(self) -> PluginManifest | None:
        """The plugin chosen in the list (None when no plugin can be trained)."""
        plugin_id = self.plugin_box.currentData()
        return self.manifests.get(plugin_id) if plugin_id is not None else None

    def form(self, plugin_id: str) -> ParamsPanel:
        """The training-parameters form of ``plugin_id``, made on first use (it imports the plugin's trainer)."""
        form = self._forms.get(plugin_id)
        if form is None:
            form = ParamsPanel(self.manifests[plugin_id].train_params_class())
            self._forms[plugin_id] = form
            self.forms.addWidget(form)
        return form

    def choose_data(self) -> None:
        """Ask for the folder of pictures."""
        folder = QFileDialog.getExistingDirectory(
            self, "Pictures to train on", start_folder(self, self.data_edit.text())
        )
        if folder:
            self.data_edit.setText(folder)

    def refresh_last_run(self) -> None:
        """Show the run that is training, or what the chosen plugin's last run left: a checkpoint or its model."""
        manifest = self.manifest
        self.last_run = None
        run_dir = self.run.run_dir if self.run is not None else latest_run(manifest.id) if manifest else None
        if self.run is not None:
            every = _duration(self.queue.checkpoint_interval_s)
            text = f"Run {self.run.name} is training; it saves a checkpoint every {every}."
        elif run_dir is None:
            text = f"{manifest.title} has no run yet." if manifest is not None else ""
        else:
            try:
                run = open_run(run_dir)
                step = saved_step(run_dir)
            except TrainingError as exc:
                text = str(exc)
            else:
                self.last_run = run if run.resumable else None
                saved = f"checkpoint at step {step}" if step is not None else "no checkpoint yet"
                if not run.resumable:
                    text = f"Run {run.name} finished: its model is {run.model_id}."
                elif run.model_id is not None:
                    text = f"Run {run.name} stopped when its time was up ({saved}); its model is {run.model_id}."
                else:
                    text = f"Run {run.name}: {saved}."
        self.last_run_label.setText(text)
        self.last_run_label.setToolTip(str(run_dir) if run_dir is not None else "")
        if self.last_run is None:
            self.resume_check.setChecked(False)
        self._update_controls()

    def showEvent(self, event: QShowEvent) -> None:
        self._show_plugin()
        super().showEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._draw_sample()

    def _show_plugin(self) -> None:
        manifest = self.manifest
        if manifest is not None:
            self.forms.setCurrentWidget(self.form(manifest.id))
        self.refresh_last_run()

    def _on_resume_toggled(self, resume: bool) -> None:
        if resume and self.last_run is not None and self.manifest is not None:
            self.form(self.manifest.id).set_params(self.last_run.make_params(self.manifest))
            self.data_edit.setText(str(self.last_run.data))
        self._update_controls()

    # Running

    def start(self) -> TrainingHandle | None:
        """Start a new run of the chosen plugin, or resume its last run; None (and a message) if it cannot start."""
        manifest = self.manifest
        if manifest is None or self.handle is not None:
            return None
        try:
            run = self._prepared_run(manifest)
            step = saved_step(run.run_dir)
        except (ValueError, OSError, TrainingError) as exc:
            self._set_status(str(exc), error=True)
            return None
        hours = self.hours_spin.value() or None
        self.run = run
        self.handle = self.queue.train(manifest, run, self.bridge.post, hours=hours)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.eta_label.setText("")
        self._sample = None
        self.sample_label.clear()
        self.sample_caption.setText("The latest sample shows here while training.")
        where = f"from step {step}" if step is not None else "from the start"
        self._set_status(f"Training {manifest.title} {where}: run {run.name}")
        self.status_label.setToolTip(str(run.run_dir))
        self.refresh_last_run()
        return self.handle

    def toggle_pause(self) -> None:
        """Pause the running training (it holds at its next step) or let a paused one go on."""
        handle = self.handle
        if handle is None or handle.ctx.cancelled:
            return
        if handle.paused:
            handle.resume_running()
            self.eta_label.setText("")
        else:
            handle.pause()
            self.eta_label.setText("paused")
        self._update_controls()

    def cancel(self) -> None:
        """Stop the running training; its last checkpoint stays, so the run can be resumed."""
        if self.handle is None:
            return
        self.handle.cancel()
        self.eta_label.setText("")
        self._set_status("Cancelling; the last checkpoint is kept…")
        self._update_controls()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel the running training (it stays resumable) and stop the lane's threads."""
        if self.handle is not None:
            self.handle.cancel()
        self.queue.shutdown(timeout)

    @property
    def running(self) -> bool:
        """Whether a training job was started and has not ended yet."""
        return self.handle is not None

    def _prepared_run(self, manifest: PluginManifest) -> TrainingRun:
        text = self.data_edit.text().strip()
        if self.resume_check.isChecked() and self.last_run is not None:
            run = open_run(self.last_run.run_dir)
            if text and Path(text).resolve() != run.data:
                run = run.moved_data(Path(text))
            return run
        if not text or not Path(text).is_dir():
            raise ValueError("Choose the folder of pictures to train on.")
        return new_run(manifest, self.form(manifest.id).params(), Path(text))

    def _on_sample(self, job_id: int, image: QImage) -> None:
        if self.handle is not None and job_id == self.handle.job_id:
            self._show_sample(image)

    def _on_event(self, event: JobEvent) -> None:
        handle, run = self.handle, self.run
        if handle is None or run is None or event.job_id != handle.job_id:
            return  # a stale job's late events
        frame = event.frame
        if event.state is JobState.PREVIEW and frame is not None:
            self._show_progress(frame)
            return
        self.handle = None
        self.run = None
        if event.state is JobState.FINISHED and frame is not None:
            self._show_progress(frame)
            if frame.image is not None:
                self._show_sample(numpy_to_qimage(frame.image))
            self._finished(self.manifests[run.plugin], str(frame.info["trained_model"]), bool(frame.info["time_up"]))
        elif event.state is JobState.FAILED:
            self.progress.setFormat("failed")
            self._set_status(f"Training failed: {event.error}. {self._kept(run)}", error=True)
        else:
            self.progress.setFormat("cancelled")
            self._set_status(f"Cancelled. {self._kept(run)}")
        self.eta_label.setText("")
        self.refresh_last_run()

    def _finished(self, manifest: PluginManifest, model_id: str, time_up: bool) -> None:
        more = " Its time was up: tick “Resume the last run” and Start to train it on." if time_up else ""
        self._set_status(f"Trained {model_id}: {manifest.title} can use it now (Plugins › Models lists it).{more}")
        self._show_message(f"Training finished: the new model is {model_id}")
        self._model_added(model_id)

    @staticmethod
    def _kept(run: TrainingRun) -> str:
        try:
            step = saved_step(run.run_dir)
        except TrainingError as exc:
            return str(exc)
        if step is None:
            return "No checkpoint was saved yet; the run starts from the beginning when resumed."
        return f"The checkpoint of step {step} is kept: tick “Resume the last run” and Start to go on."

    def _show_progress(self, frame: Frame) -> None:
        self.progress.setValue(round(frame.progress * 1000))
        self.progress.setFormat(frame.message or f"{frame.progress:.0%}")
        if self.handle is not None and not self.handle.paused and not frame.final:
            self.eta_label.setText(format_seconds(frame.eta_s))
        if frame.image is not None and "step" in frame.info:
            self.sample_caption.setText(f"Sample at step {frame.info['step']}")

    def _show_sample(self, image: QImage) -> None:
        self._sample = image
        self._draw_sample()

    def _draw_sample(self) -> None:
        image = self._sample
        if image is None or image.isNull():
            return
        width = min(SAMPLE_BOX[0], max(self.sample_label.width() - 8, 32))
        scale = min(width / image.width(), SAMPLE_BOX[1] / image.height())
        crisp = scale >= 1.0  # small samples keep their pixels sharp
        scaled = image.scaled(
            max(1, round(image.width() * scale)),
            max(1, round(image.height() * scale)),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation if crisp else Qt.TransformationMode.SmoothTransformation,
        )
        self.sample_label.setPixmap(QPixmap.fromImage(scaled))

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #c0392b;" if error else "")

    def _update_controls(self) -> None:
        handle = self.handle
        running = handle is not None
        stopping = handle is not None and handle.ctx.cancelled
        resume = self.resume_check.isChecked()
        has_plugin = self.manifest is not None
        for widget in (self.plugin_box, self.data_edit, self.hours_spin):
            widget.setEnabled(has_plugin and not running)
        self.resume_check.setEnabled(has_plugin and not running and self.last_run is not None)
        self.params_box.setVisible(not running)  # fixed while it trains: room for progress and samples
        self.params_box.setEnabled(has_plugin and not resume)
        self.start_button.setEnabled(has_plugin and not running)
        self.pause_button.setEnabled(running and not stopping)
        self.pause_button.setText("Resume" if handle is not None and handle.paused else "Pause")
        self.cancel_button.setEnabled(running and not stopping)


def _duration(seconds: float) -> str:
    """``seconds`` in words: "5 min", "0.05 s"."""
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _note(text: str) -> QLabel:
    """A small, wrapped, greyed label."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label
