"""The main window: canvas, docks, menus, the job bar and the status bar."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
from psygnal import SignalInstance
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from studio import __version__
from studio.core.autosave import AUTOSAVE_INTERVAL_S, Autosaver
from studio.core.blank import blank_document
from studio.core.blend import BLEND_MODE_TITLES, BlendMode
from studio.core.cancel import CancelCheck, Cancelled, Progress
from studio.core.document import Document, Layer, LayerKind, LayerLockedError, blank_image
from studio.core.errors import describe_error
from studio.core.history import AddLayer
from studio.core.image import SUPPORTED_SUFFIXES, ImageError, file_bit_depth, load_image, save_image, to_uint8
from studio.core.inputs import InputError, Inputs
from studio.core.jobs import EngineError, Frame, JobEvent, JobFn, JobHandle, JobState, RunContext
from studio.core.models.store import ModelStore
from studio.core.outputs import Output, OutputFolder
from studio.core.params import mask_reach, output_size
from studio.core.plugin import PluginLoadError, PluginManifest, PluginRegistry, discover_plugins
from studio.core.print_size import get_preset
from studio.core.project import PROJECT_SUFFIX, ProjectError, load_project, save_project
from studio.core.run import (
    confine,
    deferred_inputs,
    deferred_job,
    job_function,
    make_recipe,
    result_layer,
    to_rgba,
)
from studio.core.undo import Group
from studio.qt.batch_dialog import BatchDialog
from studio.qt.canvas import Canvas, ToolSettings, ViewState
from studio.qt.docks import HistoryPanel, LayersPanel
from studio.qt.garbage import collect_on_gui_thread
from studio.qt.image_menu import ImageActions
from studio.qt.job_bar import JobBar
from studio.qt.job_controller import JobController
from studio.qt.live_preview import LivePreview
from studio.qt.models_dialog import MissingModelsBanner, ModelsDialog
from studio.qt.navigator import Navigator, ScrolledCanvas
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import PluginPanel
from studio.qt.printing.actions import PrintActions
from studio.qt.rerender import RerenderDialog, rerender_plan
from studio.qt.store_watch import StoreWatcher
from studio.qt.tool_bar import ToolOptionsBar
from studio.qt.training_panel import TrainingPanel
from studio.qt.welcome import SAMPLE_PICTURE, NewDocument, NewDocumentDialog, WelcomeView

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).parent / "resources"
MAX_RECENT = 10
FIRST_PANEL_WIDTH = 340  # the plugin panels' width at first start, in pixels
QUIT_GRACE_S = 0.2  # how long quitting lets each lane of running jobs stop


ResultHandler = Callable[[Frame, OutputFolder], None]
"""Takes a finished job's final frame (and the folder its files go to) instead of the document."""


def default_outputs_folder() -> Path:
    """Where jobs write their files (animation frames, GIFs) unless the ``outputs/folder`` setting says otherwise."""
    return Path(platformdirs.user_pictures_dir()) / "Studio"


@dataclass
class ActiveJob:
    """The job the window is showing; events of any other job are stale and dropped."""

    handle: JobHandle
    manifest: PluginManifest
    params: Any
    inputs: Callable[[], Inputs]
    """The job's inputs (built on the worker thread before the engine starts, when read from the document)."""
    doc: Document
    panel: PluginPanel
    files: OutputFolder
    """Where the job's file outputs are written as they come."""
    on_result: ResultHandler | None = None
    """What to do with the final frame instead of adding it and its outputs to the document (for example open a
    new document)."""


def image_filter() -> str:
    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return (
        f"Images and projects ({patterns} *{PROJECT_SUFFIX});;Images ({patterns});;Studio projects (*{PROJECT_SUFFIX})"
    )


@dataclass
class OpenDocument:
    """A document open in a tab: where it is saved, and how it was shown when the artist left its tab."""

    doc: Document
    project_path: Path | None
    view: ViewState | None = None


class MainWindow(QMainWindow):
    """Studio's main window. Each open document has a tab; ``doc`` and ``project_path`` are the current tab's
    (None while the welcome view shows)."""

    def __init__(
        self,
        registry: PluginRegistry | None = None,
        settings: QSettings | None = None,
        autosaver: Autosaver | None = None,
        store: ModelStore | None = None,
    ) -> None:
        super().__init__()
        collect_on_gui_thread()
        self.setObjectName("studio-main-window")
        self.settings = settings or QSettings("Studio", "Studio")
        self.autosaver = autosaver or Autosaver()
        self._autosaving: JobHandle | None = None
        self._saving: JobHandle | None = None
        self.registry = registry or discover_plugins()
        self.open_documents: list[OpenDocument] = []
        self.current: OpenDocument | None = None
        self.last_error = ""
        # The store knows the plugins' own models; a plugin naming an unknown model goes to the load errors.
        self.store = store if store is not None else ModelStore()
        self.store.extend_catalog(self.registry.model_catalog(self.store.specs))
        self.store_watcher = StoreWatcher(self.store, self)
        self.store_watcher.changed.connect(self.models_changed)
        self.banners: dict[str, MissingModelsBanner] = {}
        self.job: ActiveJob | None = None
        self.live_preview = LivePreview(self, self)
        self.panels: dict[str, PluginPanel] = {}
        self.hosts: dict[str, PanelHost] = {}
        self._models_dialog: ModelsDialog | None = None
        self.tools = ToolSettings()

        self.setWindowIcon(QIcon(str(RESOURCES / "studio.png")))
        self.setAcceptDrops(True)
        self.canvas = Canvas(self.tools)
        self.tab_bar = QTabBar()
        self.tab_bar.setDocumentMode(True)
        self.tab_bar.setTabsClosable(True)
        self.tab_bar.setExpanding(False)
        self.tab_bar.currentChanged.connect(lambda index: self._show_tab(self.open_documents[index]))
        self.tab_bar.tabCloseRequested.connect(lambda index: self.close_document(self.open_documents[index].doc))
        self.scrolled_canvas = ScrolledCanvas(self.canvas)
        documents = QWidget()
        column = QVBoxLayout(documents)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.tab_bar)
        column.addWidget(self.scrolled_canvas, 1)
        self.welcome = WelcomeView()
        self.welcome.new_requested.connect(self.new_document)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.recent_requested.connect(self.open_path)
        self.welcome.sample_requested.connect(self.open_sample)
        welcome_area = QScrollArea()  # on a small screen the welcome view scrolls rather than widening the window
        welcome_area.setWidgetResizable(True)
        welcome_area.setFrameShape(QFrame.Shape.NoFrame)
        welcome_area.setWidget(self.welcome)
        self.central = QStackedWidget()
        self.central.addWidget(welcome_area)
        self.central.addWidget(documents)
        self.setCentralWidget(self.central)
        self.jobs = JobController(self.store, self.canvas.preview_image, self)
        self.tool_bar = ToolOptionsBar(self.tools)
        self.tool_bar.changed.connect(self.canvas.tools_changed)
        self.addToolBar(self.tool_bar)
        self.canvas.color_picked.connect(self.tool_bar.set_color)
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.canvas.mask_needed.connect(self.add_mask_layer)

        self.layers_panel = LayersPanel()
        self.layers_panel.rerender_requested.connect(self.rerender_dialog)
        self.layers_panel.message.connect(self.show_message)
        self.layers_panel.active_changed.connect(self._show_document_inputs)
        self.layers_panel.active_changed.connect(lambda _layer_id: self.live_preview.refresh())
        self.history_panel = HistoryPanel()
        self.navigator = Navigator(self.canvas)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.navigator_dock = self._dock("Navigator", "navigator", self.navigator, right)
        self.layers_dock = self._dock("Layers", "layers", self.layers_panel, right)
        self.history_dock = self._dock("History", "history", self.history_panel, right)
        self.plugin_docks: dict[str, QDockWidget] = {}
        self._build_plugin_docks()
        plugins = self.registry.plugins.values()
        self.training_panel = TrainingPanel(plugins, self.store, self.models_changed, self.show_message)
        self.training_dock = self._dock("Training", "training", self.training_panel, right)
        self.tabifyDockWidget(self.history_dock, self.training_dock)
        self.history_dock.raise_()

        self.job_bar = JobBar()
        self.job_bar.cancel_requested.connect(self.cancel_job)
        self.cursor_label = QLabel()
        self.zoom_label = QLabel()
        self.size_label = QLabel()
        status = self.statusBar()
        status.addPermanentWidget(self.job_bar, 1)
        for label in (self.size_label, self.cursor_label, self.zoom_label):
            label.setMinimumWidth(90)
            status.addPermanentWidget(label)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z:.0%}"))

        self._build_menus()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_S * 1000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._restore_layout()
        self._show_welcome()
        if self.registry.errors:
            names = ", ".join(e.name for e in self.registry.errors)
            self.statusBar().showMessage(f"Plugins that failed to load: {names} (Help › Plugins)", 15000)

    # Construction

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_plugin_docks(self) -> None:
        first: QDockWidget | None = None
        for manifest in list(self.registry.plugins.values()):
            host = PanelHost(manifest, self, self)
            try:
                panel = PluginPanel(manifest, host)
            except Exception as exc:  # a plugin's own panel must not take the window down
                self.registry.errors.append(PluginLoadError(manifest.id, manifest.panel or "", describe_error(exc)))
                del self.registry.plugins[manifest.id]
                continue
            self.hosts[manifest.id] = host
            panel.inputs_box.changed.connect(host.extras_changed)
            panel.run_requested.connect(lambda params, m=manifest: self.run_plugin(m, params))
            panel.cancel_requested.connect(self.cancel_job)
            panel.params_changed.connect(lambda m=manifest: self.live_preview.schedule(m))
            banner = MissingModelsBanner()
            banner.install_requested.connect(self.install_model)
            banner.update_for(manifest.models, self.store)
            self.banners[manifest.id] = banner
            container = QWidget()
            column = QVBoxLayout(container)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(banner)
            column.addWidget(panel, 1)
            dock = self._dock(manifest.title, f"plugin-{manifest.id}", container, Qt.DockWidgetArea.LeftDockWidgetArea)
            if first is None:
                first = dock
            else:
                self.tabifyDockWidget(first, dock)
            self.panels[manifest.id] = panel
            self.plugin_docks[manifest.id] = dock
        if first is not None:
            first.raise_()

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New…", self.new_document_dialog, QKeySequence.StandardKey.New)
        self._action(file, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self._action(file, "Open &Sample Picture", self.open_sample)
        self._action(file, "Import as &Layer…", self.import_layer_dialog, "Ctrl+Shift+I")
        file.addSeparator()
        self._action(file, "&Save Project", lambda: self.save_action(wait=False), QKeySequence.StandardKey.Save)
        self._action(
            file, "Save Project &As…", lambda: self.save_as_dialog(wait=False), QKeySequence.StandardKey.SaveAs
        )
        self._action(file, "&Export Image…", self.export_dialog, "Ctrl+E", "Export the flattened image")
        self._action(file, "&Batch Render…", self.show_batch_dialog, tip="Render the active layer's recipe over images")
        self._action(
            file, "Outputs &Folder…", self.outputs_folder_dialog, tip="Where jobs write their files (frames, GIFs)"
        )
        file.addSeparator()
        self._action(file, "&Close", self.close_current, QKeySequence.StandardKey.Close, "Close the current document")
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self._rebuild_recent_menu()

        edit = bar.addMenu("&Edit")
        self.undo_action = self._action(edit, "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = self._action(
            edit, "&Redo", self.redo, [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")]
        )
        edit.addSeparator()
        self._action(edit, "&Fill Layer", lambda: self._fill(erase=False), "Shift+Backspace")
        self._action(edit, "&Clear Layer", lambda: self._fill(erase=True), QKeySequence.StandardKey.Delete)
        self._action(edit, "Smaller Brush", lambda: self.tool_bar.grow(1 / 1.2), "[")
        self._action(edit, "Larger Brush", lambda: self.tool_bar.grow(1.2), "]")
        self._action(edit, "Cancel Job", self.cancel_job, "Esc")

        view = bar.addMenu("&View")
        self._action(view, "Zoom &In", self.canvas.zoom_in, [QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")])
        self._action(view, "Zoom &Out", self.canvas.zoom_out, QKeySequence.StandardKey.ZoomOut)
        self._action(view, "&Fit in Window", self.canvas.fit, "Ctrl+0")
        self._action(view, "&Actual Pixels (100%)", self.canvas.actual_pixels, "Ctrl+1")
        self._action(view, "&Next Document", lambda: self._cycle_tabs(1), QKeySequence.StandardKey.NextChild)
        self._action(view, "&Previous Document", lambda: self._cycle_tabs(-1), QKeySequence.StandardKey.PreviousChild)
        view.addSeparator()
        for dock in (self.navigator_dock, self.layers_dock, self.history_dock, self.training_dock):
            view.addAction(dock.toggleViewAction())
        view.addAction(self.tool_bar.toggleViewAction())

        layer = bar.addMenu("&Layer")
        self._action(layer, "New &Raster Layer", lambda: self.add_layer(LayerKind.RASTER), "Ctrl+Shift+N")
        self._action(layer, "New &Mask", self.add_mask_layer)
        self._action(layer, "New &Label Map", lambda: self.add_layer(LayerKind.LABELS))
        layer.addSeparator()
        self._action(layer, "Re&name Layer…", self.layers_panel.start_rename, "F2")
        self._action(layer, "&Duplicate Layer", self.layers_panel.duplicate_layer, "Ctrl+J")
        self._action(
            layer, "Merge &Down", self.layers_panel.merge_down, tip="Merge the selected layer into the one below"
        )
        self._action(layer, "&Flatten Image", self.layers_panel.flatten, tip="Merge every image layer into one")
        self.blend_menu = layer.addMenu("&Blend Mode")
        blend_group = QActionGroup(self)
        for mode, title in BLEND_MODE_TITLES.items():
            action = self._action(self.blend_menu, title, lambda mode=mode: self._set_blend_mode(mode))
            action.setCheckable(True)
            action.setData(mode.value)
            blend_group.addAction(action)
        self.lock_action = QAction("Loc&k Layer", self)
        self.lock_action.setCheckable(True)
        self.lock_action.setStatusTip("A locked layer cannot be painted, erased, merged or deleted")
        self.lock_action.triggered.connect(self._toggle_locked)
        layer.addAction(self.lock_action)
        layer.aboutToShow.connect(self._update_layer_menu)
        layer.addSeparator()
        self._action(
            layer,
            "Re-render at Another &Size…",
            self.rerender_dialog,
            tip="Run the selected layer's recipe again at another size, for example at print size",
        )

        image = bar.addMenu("&Image")
        self.print_actions = PrintActions(self, self)
        self.print_actions.add_to_menus(file=file, image=image, view=view)
        self.image_actions = ImageActions(self, self)
        self.image_actions.add_to_menus(edit=edit, image=image, select=bar.addMenu("&Select"))

        plugins = bar.addMenu("&Plugins")
        self._action(plugins, "&Models…", self.show_models, tip="Install and check the networks plugins use")
        plugins.addSeparator()
        for dock in self.plugin_docks.values():
            plugins.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Plugins…", self.show_plugin_report)
        self._action(help_menu, "&About Studio", self.show_about)

    # Documents

    @property
    def doc(self) -> Document | None:
        """The current tab's document (None while the welcome view shows)."""
        return self.current.doc if self.current is not None else None

    @property
    def project_path(self) -> Path | None:
        """Where the current tab's document is saved as a project, if it is."""
        return self.current.project_path if self.current is not None else None

    @project_path.setter
    def project_path(self, path: Path | None) -> None:
        if self.current is not None:
            self.current.project_path = path

    def set_document(self, doc: Document, project_path: Path | None) -> None:
        """Show ``doc`` in its tab: a new tab unless it is open already. A running job keeps going on its own
        document."""
        opened = self._open_document_of(doc)
        if opened is None:
            opened = OpenDocument(doc, project_path)
            self.open_documents.append(opened)
            doc.history.changed.connect(self._update_tab_titles)
            self.tab_bar.blockSignals(True)
            self.tab_bar.addTab(doc.name)
            self.tab_bar.blockSignals(False)
        opened.project_path = project_path
        self._show_tab(opened)

    def _open_document_of(self, doc: Document) -> OpenDocument | None:
        return next((opened for opened in self.open_documents if opened.doc is doc), None)

    def _show_tab(self, opened: OpenDocument) -> None:
        """Make ``opened`` the current document: the canvas, docks and panels follow it, with its zoom and pan."""
        if opened is self.current:
            return
        self.live_preview.stop()
        if self.current is not None:
            self.current.view = self.canvas.view_state()
        self.current = opened
        self.tab_bar.blockSignals(True)
        self.tab_bar.setCurrentIndex(self.open_documents.index(opened))
        self.tab_bar.blockSignals(False)
        self.central.setCurrentIndex(1)
        self._follow(opened.doc)
        if opened.view is not None:
            self.canvas.restore_view(opened.view)
        if self.job is not None and self.job.doc is not opened.doc:
            self.statusBar().showMessage(f"{self.job.manifest.title} is still running on {self.job.doc.name}", 5000)

    def _links(self, doc: Document) -> list[tuple[SignalInstance, Callable[..., None]]]:
        """The signals of ``doc`` the window follows while it is the current document, with their slots."""
        return [
            (doc.history.changed, self._update_title),
            (doc.history.changed, self.live_preview.document_edited),
            (doc.layers_changed, self._show_size),
            (doc.layers_changed, self._show_document_inputs),
            (doc.selection_changed, self._show_document_inputs),
        ]

    def _follow(self, doc: Document | None) -> None:
        """Connect the window to ``doc`` (disconnecting it from the canvas's document first); None for none."""
        shown = self.canvas.doc
        if shown is not None:
            for signal, slot in self._links(shown):
                signal.disconnect(slot)
        if doc is not None:
            for signal, slot in self._links(doc):
                signal.connect(slot)
        self.canvas.set_document(doc)
        self.navigator.set_document(doc)
        self.layers_panel.set_document(doc)
        self.history_panel.set_document(doc)
        self._show_size()
        self._show_document_inputs()
        if doc is not None:
            for host in self.hosts.values():
                host.document_changed.emit(doc)
        self.print_actions.document_changed(doc)
        self._update_title()

    def close_document(self, doc: Document) -> bool:
        """Close ``doc``'s tab, first asking to save unsaved changes; a job running on it is cancelled. False
        when the artist cancelled. Closing the last tab shows the welcome view."""
        opened = self._open_document_of(doc)
        if opened is None:
            return True
        self.wait_for_save()  # it may be this document's, which is then saved
        if not doc.history.is_clean:
            self._show_tab(opened)
            if not self.confirm_discard():
                return False
        if self.job is not None and self.job.doc is doc:
            self.cancel_job()
        index = self.open_documents.index(opened)
        if opened is self.current:
            remaining = self.open_documents[:index] + self.open_documents[index + 1 :]
            if remaining:
                self._show_tab(remaining[min(index, len(remaining) - 1)])
            else:
                self._show_welcome()
        self.open_documents.remove(opened)
        self.tab_bar.blockSignals(True)
        self.tab_bar.removeTab(index)
        self.tab_bar.blockSignals(False)
        doc.history.changed.disconnect(self._update_tab_titles)
        self._discard_autosave(doc)
        return True

    def close_current(self) -> bool:
        """File › Close: close the current document (see :meth:`close_document`)."""
        return self.doc is None or self.close_document(self.doc)

    def _cycle_tabs(self, step: int) -> None:
        if self.current is not None:
            index = self.open_documents.index(self.current) + step
            self._show_tab(self.open_documents[index % len(self.open_documents)])

    def _show_welcome(self) -> None:
        """No document: the welcome view instead of the canvas."""
        self.live_preview.stop()
        self.current = None
        self._follow(None)
        self.welcome.set_recent(self.recent_files())
        self.central.setCurrentIndex(0)

    def _show_document_inputs(self, *_: object) -> None:
        """Every panel shows the mask and label map a run would use now."""
        for panel in self.panels.values():
            panel.inputs_box.show_document(self.doc)

    def _show_size(self) -> None:
        self.size_label.setText(f"{self.doc.width} × {self.doc.height}" if self.doc is not None else "")
        if self.doc is None:
            self.zoom_label.clear()
            self.cursor_label.clear()

    def _update_title(self) -> None:
        self._update_tab_titles()
        self.undo_action.setEnabled(self.doc is not None and self.doc.history.can_undo)
        self.redo_action.setEnabled(self.doc is not None and self.doc.history.can_redo)
        if self.doc is None:
            self.setWindowTitle("Studio")
            return
        dirty = "" if self.doc.history.is_clean else "*"
        self.setWindowTitle(f"{self.doc.name}{dirty} — Studio")

    def _update_tab_titles(self) -> None:
        """Each tab shows its document's name, with * while it has unsaved changes."""
        for index, opened in enumerate(self.open_documents):
            doc = opened.doc
            self.tab_bar.setTabText(index, f"{doc.name}{'' if doc.history.is_clean else '*'}")
            self.tab_bar.setTabToolTip(index, str(doc.file_path or doc.name))

    def confirm_discard(self) -> bool:
        """True when the current document's unsaved changes may be lost (saved, clean, or the user agrees)."""
        if self.doc is None or self.doc.history.is_clean:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save changes to {self.doc.name} first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_action()
        return answer == QMessageBox.StandardButton.Discard

    def open_path(self, path: Path) -> bool:
        """Open an image or a project in a new tab (or switch to its tab when it is open already); a failure shows
        why."""
        path = Path(path)
        opened = next((o for o in self.open_documents if o.doc.file_path in (path, path.resolve())), None)
        if opened is not None:
            self._show_tab(opened)
            return True
        try:
            if path.suffix.lower() == PROJECT_SUFFIX:
                doc = load_project(path)
                project: Path | None = path
            else:
                loaded = load_image(path)
                doc = Document.from_pixels(loaded.pixels, path.stem, path.name)
                project = None
        except (ImageError, ProjectError) as exc:
            self.show_error("Cannot open", str(exc))
            return False
        doc.name = path.name if project else path.stem
        doc.file_path = path
        self.set_document(doc, project)
        self._add_recent(path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def import_layer(self, path: Path) -> bool:
        """Add an image as a new layer (placed top-left, cropped to the document)."""
        if self.doc is None:
            return self.open_path(path)
        try:
            pixels = load_image(path).pixels
        except ImageError as exc:
            self.show_error("Cannot import", str(exc))
            return False
        image = blank_image(LayerKind.RASTER, self.doc.width, self.doc.height, pixels.dtype.itemsize * 8)
        image.write(0, 0, pixels)
        layer = Layer(self.doc.unique_layer_name(Path(path).stem), LayerKind.RASTER, image)
        self.doc.history.push(AddLayer(f"Import {Path(path).name}", layer))
        return True

    def save_project_to(self, path: Path, *, wait: bool = True) -> bool:
        """Save the current document as a project at ``path`` (the suffix added when missing). A snapshot taken now
        is written on the ``save`` lane, so the window does not wait for it; edits made meanwhile stay unsaved.

        With ``wait`` (closing, scripts, tests) blocks until it is written and returns whether it was; else returns
        whether the save started, and an error box or the status bar tells how it went.
        """
        opened = self.current
        if opened is None:
            return False
        path = Path(path)
        if path.suffix.lower() != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        if self._saving is not None and not wait:
            self.statusBar().showMessage("The project is still being saved: save again when it is.", 8000)
            return False
        self.wait_for_save()
        doc, snapshot, index = opened.doc, opened.doc.snapshot(), opened.doc.history.index
        saved: list[bool] = []

        def done(_result: object, error: BaseException | None) -> None:
            self._saving = None
            saved.append(error is None)
            if error is not None:
                if not isinstance(error, OSError):
                    log.error("saving %s failed", path, exc_info=error)
                self.show_error("Cannot save", describe_error(error))
                return
            opened.project_path, doc.name, doc.file_path = path, path.name, path
            doc.history.set_clean(index)
            self._discard_autosave(doc)
            self._add_recent(path)
            self.statusBar().showMessage(f"Saved {path}", 5000)

        self._saving = self.jobs.run_task(
            f"Save {path.name}",
            lambda _progress, _cancelled: save_project(snapshot, path),
            done,
            device="cpu",
            lane="save",
        )
        if not wait:
            return True
        self.jobs.wait(self._saving)
        return saved == [True]

    @property
    def saving(self) -> bool:
        """Whether a project is being saved."""
        return self._saving is not None

    def wait_for_save(self) -> None:
        """Block until the project being saved (if any) is written and reported."""
        if self._saving is not None:
            self.jobs.wait(self._saving)

    def export_to(self, path: Path, quality: int = 95) -> bool:
        """Write the flattened image and wait for it (for scripts and tests); the format follows the suffix.

        Like an export from the menu, it is flattened and written on the export lane from a snapshot.
        """
        if self.doc is None:
            return False
        path, snapshot = Path(path), self.doc.snapshot()
        errors: list[BaseException | None] = []

        def write(_progress: object, _cancelled: object) -> None:
            picture = snapshot.composite()  # a 16-bit document stays 16-bit in PNG and TIFF
            save_image(picture, path, quality=quality, bit_depth=file_bit_depth(picture, path))

        handle = self.jobs.run_task(
            f"Export {path.name}",
            write,
            lambda _result, error: errors.append(error),
            device="cpu",
            lane="export",
        )
        self.jobs.wait(handle)
        if isinstance(errors[0], ImageError | OSError):
            self.show_error("Cannot export", str(errors[0]))
            return False
        if errors[0] is not None:
            raise errors[0]
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    def autosave(self) -> None:
        """Autosave every open document with unsaved changes: snapshots of them, taken here, are written on a worker
        (the ``autosave`` lane). One autosave at a time: while one is written, the next is skipped."""
        if self._autosaving is not None:
            return
        pending = [
            (opened.doc.snapshot(), opened.project_path)
            for opened in self.open_documents
            if not opened.doc.history.is_clean
        ]
        if not pending:
            return

        def write(_progress: Progress, _cancelled: CancelCheck) -> list[OSError]:
            failures = []
            for doc, original in pending:
                try:
                    self.autosaver.save(doc, original)
                except OSError as exc:
                    failures.append(exc)
            return failures

        def done(failures: list[OSError] | None, error: BaseException | None) -> None:
            self._autosaving = None
            for exc in [*(failures or []), *([] if error is None or isinstance(error, Cancelled) else [error])]:
                log.warning("autosave failed: %s", exc)
                self.statusBar().showMessage(f"Autosave failed: {describe_error(exc)}", 10000)

        self._autosaving = self.jobs.run_task("Autosave", write, done, device="cpu", lane="autosave")

    @property
    def autosaving(self) -> bool:
        """Whether an autosave is being written."""
        return self._autosaving is not None

    def wait_for_autosave(self, timeout: float | None = None) -> bool:
        """Block until the autosave being written (if any) is done and reported; False on timeout."""
        return self._autosaving is None or self.jobs.wait(self._autosaving, timeout)

    def _discard_autosave(self, doc: Document) -> None:
        """Forget ``doc``'s autosave, once the one being written (which may write it again) is done."""
        self.wait_for_autosave()
        self.autosaver.discard(doc)

    # Dialog wrappers for the menu actions

    def new_document_dialog(self) -> None:
        dialog = NewDocumentDialog(self)
        if dialog.exec():
            self.new_document(dialog.form.choice())

    def new_document(self, choice: NewDocument) -> Document:
        """A blank document in a new tab: of a print preset's size, with its print settings, or of the size asked."""
        if choice.print_preset is not None:
            preset = get_preset(choice.print_preset)
            return self.print_actions.new_document(preset, choice.background, choice.bit_depth)
        doc = blank_document(choice.width, choice.height, choice.background, choice.bit_depth)
        self.set_document(doc, None)
        return doc

    def open_sample(self) -> None:
        """The sample picture shipped with Studio, as a new unsaved document."""
        try:
            pixels = to_uint8(load_image(SAMPLE_PICTURE).pixels)
        except ImageError as exc:  # an installation missing its resources
            self.show_error("Cannot open the sample picture", f"{exc}\n\nReinstall Studio to get it back.")
            return
        self.set_document(Document.from_pixels(pixels, "Sample – Chelsea the cat"), None)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open", self.last_dir(), image_filter())
        if path:
            self.open_path(Path(path))

    def import_layer_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Import as layer", self.last_dir(), f"Images ({patterns})")
        if path:
            self.import_layer(Path(path))

    def save_action(self, *, wait: bool = True) -> bool:
        """Save the current document where it was saved before, else ask where (see :meth:`save_project_to`)."""
        if self.project_path is not None:
            return self.save_project_to(self.project_path, wait=wait)
        return self.save_as_dialog(wait=wait)

    def save_as_dialog(self, *, wait: bool = True) -> bool:
        start = str(Path(self.last_dir()) / f"{Path(self.doc.name).stem if self.doc else 'untitled'}{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, f"Studio projects (*{PROJECT_SUFFIX})")
        return bool(path) and self.save_project_to(Path(path), wait=wait)

    def export_dialog(self) -> None:
        self.print_actions.export_dialog()

    def last_dir(self) -> str:
        """The folder file dialogs start in (see :func:`~studio.qt.file_dialogs.start_folder`): the open
        document's, else the most recent file's, else the home folder."""
        if self.doc is not None and self.doc.file_path is not None:
            return str(self.doc.file_path.parent)
        recent = self.recent_files()
        return str(recent[0].parent) if recent else str(Path.home())

    # Recent files

    def recent_files(self) -> list[Path]:
        value = self.settings.value("recent", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in items]

    def _add_recent(self, path: Path) -> None:
        items = [str(path.resolve())] + [str(p) for p in self.recent_files() if p != path.resolve()]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path.name)
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))
        self.welcome.set_recent(self.recent_files())

    # Layers and editing

    def add_layer(self, kind: LayerKind) -> Layer | None:
        if self.doc is None:
            return None
        base = {LayerKind.RASTER: "Layer", LayerKind.MASK: "Mask", LayerKind.LABELS: "Labels"}[kind]
        doc = self.doc
        layer = Layer(doc.unique_layer_name(base), kind, blank_image(kind, doc.width, doc.height, doc.bit_depth))
        self.doc.history.push(AddLayer(f"New {base.lower()}", layer))
        return layer

    def add_mask_layer(self) -> None:
        self.add_layer(LayerKind.MASK)

    def _fill(self, erase: bool) -> None:
        from studio.core.paint import fill

        layer = self.doc.active_layer if self.doc else None
        if self.doc is None or layer is None:
            return
        try:
            layer.ensure_unlocked("clear it" if erase else "fill it")
        except LayerLockedError as exc:
            self.show_message(str(exc))
            return
        self.doc.history.push(fill(self.doc, layer, self.tools.brush(erase=erase)))

    def _update_layer_menu(self) -> None:
        """The Layer menu's blend mode and lock show the selected layer's."""
        layer = self.doc.active_layer if self.doc is not None else None
        self.blend_menu.setEnabled(layer is not None and layer.kind is LayerKind.RASTER)
        for action in self.blend_menu.actions():
            action.setChecked(layer is not None and action.data() == layer.blend_mode.value)
        self.lock_action.setEnabled(layer is not None)
        self.lock_action.setChecked(layer is not None and layer.locked)

    def _set_blend_mode(self, mode: BlendMode) -> None:
        if self.doc is not None and self.doc.active_id is not None:
            self.layers_panel.set_blend_mode(self.doc.active_id, mode)

    def _toggle_locked(self) -> None:
        layer = self.doc.active_layer if self.doc is not None else None
        if layer is not None:
            self.layers_panel.set_layer_locked(layer.id, not layer.locked)

    def undo(self) -> None:
        if self.doc is not None:
            self.doc.history.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.history.redo()

    # Jobs

    def run_plugin(self, manifest: PluginManifest, params: Any) -> JobHandle | None:
        """Start ``manifest``'s engine on the open document; previews stream to the canvas.

        The result becomes a new layer; when the parameters ask for another size (a
        ``size`` long side), it opens as a new document, as a re-render at that size does.
        """
        source = self._document_for(manifest)
        if source is None or self._busy():
            return None
        panel = self.panels[manifest.id]
        try:
            inputs = deferred_inputs(source, manifest, self.extras_of(manifest))
        except InputError as exc:
            panel.show_error(str(exc))
            return None
        job = deferred_job(manifest, params, inputs)
        size = output_size(source.width, source.height, params)
        if size == (source.width, source.height):
            return self._start_job(manifest, job, params, inputs, manifest.title)
        self.statusBar().showMessage(f"{manifest.title} at {size[0]} × {size[1]}: the result opens as a new document")

        def open_result(frame: Frame, files: OutputFolder) -> None:
            self._open_rerender(manifest, params, inputs(), size, frame, files, source, manifest.title)

        return self._start_job(manifest, job, params, inputs, f"{manifest.title} at {size[0]} × {size[1]}", open_result)

    def start_panel_job(
        self,
        manifest: PluginManifest,
        title: str,
        make_job: Callable[[Inputs], JobFn],
        on_result: Callable[[Frame], None] | None = None,
        reads_document: bool = True,
    ) -> JobHandle | None:
        """Run a plugin panel's own job ``make_job(inputs)`` on the open document (see :class:`PanelHost`): the
        inputs are built from a snapshot and the job made on the worker thread."""
        doc = self._document_for(manifest)
        if doc is None or self._busy():
            return None
        inputs: Callable[[], Inputs] = functools.partial(Inputs, doc.width, doc.height)  # its size only
        if reads_document:
            try:
                inputs = deferred_inputs(doc, manifest, self.extras_of(manifest))
            except InputError as exc:
                self.panels[manifest.id].show_error(str(exc))
                return None

        def job(ctx: RunContext) -> Iterator[Frame]:
            yield from make_job(inputs())(ctx)

        take = None if on_result is None else lambda frame, _files: on_result(frame)
        return self._start_job(manifest, job, None, inputs, title, take)

    def extras_of(self, manifest: PluginManifest) -> dict[str, str]:
        """The extra pictures chosen in ``manifest``'s panel, by input name."""
        return self.panels[manifest.id].extras()

    def set_extra_of(self, manifest: PluginManifest, name: str, path: str) -> None:
        """Choose ``path`` for the extra picture ``name`` in ``manifest``'s panel."""
        self.panels[manifest.id].inputs_box.set_extra(name, path)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def outputs_folder(self, manifest: PluginManifest) -> Path:
        """A new folder for the files a job of ``manifest`` writes, under the outputs folder setting."""
        root = Path(str(self.settings.value("outputs/folder", "") or default_outputs_folder()))
        stem = Path(self.doc.name).stem if self.doc is not None else "untitled"
        return root / f"{stem} – {manifest.title} {datetime.now():%Y-%m-%d %H.%M.%S}"

    def outputs_folder_dialog(self) -> None:
        """Choose the folder under which each job that writes files makes a folder of its own."""
        current = str(self.settings.value("outputs/folder", "") or default_outputs_folder())
        folder = QFileDialog.getExistingDirectory(self, "Outputs folder", current)
        if folder:
            self.settings.setValue("outputs/folder", folder)
            self.statusBar().showMessage(f"Jobs write their files under {folder}", 8000)

    def _document_for(self, manifest: PluginManifest) -> Document | None:
        """The open document for a job of ``manifest`` to run on; None, and its panel says what to do, when there
        is none."""
        if self.doc is None:
            self.panels[manifest.id].show_error(
                "Open a picture or make a new one first (File › Open…, File › New…): a job runs on the open document."
            )
        return self.doc

    def _busy(self) -> bool:
        if self.job is None:
            return False
        self.statusBar().showMessage("A job is running: cancel it or wait for it to finish.", 5000)
        return True

    def _start_job(
        self,
        manifest: PluginManifest,
        job: JobFn,
        params: Any,
        inputs: Callable[[], Inputs],
        title: str,
        on_result: ResultHandler | None = None,
    ) -> JobHandle:
        assert self.doc is not None
        self.live_preview.stop()
        panel = self.panels[manifest.id]
        panel.clear_error()
        files = OutputFolder(self.outputs_folder(manifest), kinds=("file",))
        handle = self.jobs.submit(
            job, self._on_job_event, device=manifest.device, on_preview=self._on_preview, outputs=files
        )
        self.job = ActiveJob(handle, manifest, params, inputs, self.doc, panel, files, on_result)
        panel.set_running(True)
        self.job_bar.start(title)
        return handle

    def rerender_dialog(self, layer_id: str = "") -> None:
        """Ask for a size, then re-render ``layer_id`` (default: the active layer) from its recipe."""
        if self.doc is None:
            return
        layer = self.doc.layer(layer_id) if layer_id else self.doc.active_layer
        if layer is None or layer.recipe is None:
            self.show_error("Cannot re-render", "Select a layer made by a plugin: only those have a recipe.")
            return
        dialog = RerenderDialog(self.doc.width, self.doc.height, self)
        if dialog.exec():
            self.rerender_layer(layer.id, dialog.long_side())

    def rerender_layer(self, layer_id: str, long_side: int) -> JobHandle | None:
        """Run a layer's recipe again at ``long_side`` px on the layers below it (same parameters and seed).

        At the document's size the result is a new layer; at any other size it opens as a new document.
        """
        if self.doc is None or self._busy():
            return None
        layer = self.doc.layer(layer_id)
        try:
            plan = rerender_plan(self.doc, layer, self.registry, long_side)
        except ValueError as exc:
            self.show_error("Cannot re-render", str(exc))
            return None
        width, height = plan.size
        same_size = plan.size == (self.doc.width, self.doc.height)
        source = self.doc

        def open_result(frame: Frame, files: OutputFolder) -> None:
            self._open_rerender(plan.manifest, plan.params, plan.inputs, plan.size, frame, files, source, layer.name)

        def job(ctx: RunContext) -> Iterator[Frame]:
            if plan.notes:  # the inputs are read here, on the worker
                yield ctx.frame(0.0, message=f"Re-rendering {layer.name}: {'; '.join(plan.notes)}")
            yield from job_function(plan.manifest, plan.params, plan.inputs)(ctx)

        title = f"{plan.manifest.title} at {width} × {height}"
        return self._start_job(
            plan.manifest, job, plan.params, lambda: plan.inputs, title, None if same_size else open_result
        )

    def _open_rerender(
        self,
        manifest: PluginManifest,
        params: Any,
        inputs: Inputs,
        size: tuple[int, int],
        frame: Frame,
        files: OutputFolder,
        source: Document,
        layer_name: str,
    ) -> None:
        """A run at another ``size`` (a re-render, or a run whose size parameter asks for one) as a new document:
        the picture it was made from, resized, and the result."""
        from PIL import Image

        if frame.image is None:
            raise EngineError(f"{manifest.title} finished without an image")
        pixels = to_rgba(frame.image)
        width, height = size
        if pixels.shape[:2] != (height, width):
            raise EngineError(f"{manifest.title} made {pixels.shape[1]}x{pixels.shape[0]}, not {width}x{height}")
        doc = Document(width, height, f"{Path(source.name).stem} {width}×{height}")
        if inputs.image is not None:
            below = Image.fromarray(inputs.image, "RGBA").resize(size, Image.Resampling.LANCZOS)
            doc.insert_layer(Layer("Source (resized)", LayerKind.RASTER, np.asarray(below).copy()))
        recipe = make_recipe(manifest, params, inputs, frame)
        pixels = np.ascontiguousarray(confine(pixels, inputs, mask_reach(params)))
        result = Layer(layer_name, LayerKind.RASTER, pixels, recipe=recipe)
        self._add_results(doc, f"{manifest.title} at {width} × {height}", [result], frame.outputs, files)
        self._open_new_document(doc)

    def _apply_result(self, job: ActiveJob, frame: Frame) -> None:
        """A finished job's picture and named outputs, added to its document (or taken by its ``on_result``)."""
        if job.on_result is not None:
            job.on_result(frame, job.files)
            return
        layers = [] if frame.image is None else [result_layer(job.doc, job.manifest, job.params, job.inputs(), frame)]
        self._add_results(job.doc, job.manifest.title, layers, frame.outputs, job.files)

    def _add_results(
        self, doc: Document, title: str, layers: list[Layer], outputs: Sequence[Output], files: OutputFolder
    ) -> None:
        """``layers`` and the ``layer`` outputs of ``doc``'s size added in one undo step; the first other picture
        opens as a new document, any more and the file outputs are written to ``files``.

        A malformed output raises before anything is added.
        """
        commands = [AddLayer(layer.name, layer) for layer in layers]
        documents = []
        for output in outputs:
            pixels = to_rgba(output.image) if output.image is not None else None
            if pixels is None:
                files.write(output)
            elif output.kind == "layer" and pixels.shape[:2] == (doc.height, doc.width):
                name = doc.unique_layer_name(f"{title} – {output.name}")
                commands.append(AddLayer(name, Layer(name, LayerKind.RASTER, np.ascontiguousarray(pixels))))
            else:
                documents.append((output.name, pixels))
        if commands:
            doc.history.push(commands[0] if len(commands) == 1 else Group(title, commands))
        for name, pixels in documents[1:]:
            files.write(Output(name, image=pixels))
        if documents:
            name, pixels = documents[0]
            self._open_picture(pixels, f"{Path(doc.name).stem} – {name.lower()}", title)
        if files.written:
            self.statusBar().showMessage(f"{title}: {len(files.written)} file(s) in {files.folder}", 10000)
        elif not documents:
            self.statusBar().showMessage(f"{title}: done", 5000)

    def _open_picture(self, pixels: np.ndarray, name: str, title: str) -> None:
        """A job's picture as a new document of one layer (a contact sheet)."""
        doc = Document(pixels.shape[1], pixels.shape[0], name)
        doc.history.push(AddLayer(title, Layer(title, LayerKind.RASTER, np.ascontiguousarray(pixels))))
        self._open_new_document(doc)

    def _open_new_document(self, doc: Document) -> None:
        """Show a document a job made (unsaved) in a new tab; the other documents stay open as they are."""
        self.set_document(doc, None)
        self.statusBar().showMessage(f"{doc.name}: {doc.width} × {doc.height}, not saved yet", 30000)

    def cancel_job(self) -> None:
        """Cancel the running job (and any live preview) at once; its late frames are ignored."""
        self.live_preview.stop()
        if self.job is None:
            return
        self.job.handle.cancel()
        self._end_job()
        self.statusBar().showMessage("Cancelled; the document is unchanged.", 5000)

    def _end_job(self) -> None:
        if self.job is not None:
            self.job.panel.set_running(False)
        self.job = None
        self.canvas.set_preview(None)
        self.job_bar.stop()

    def _on_preview(self, job_id: int, image: QImage) -> None:
        if self.job is not None and job_id == self.job.handle.job_id and self.job.doc is self.doc:
            self.canvas.set_preview(image)

    def _on_job_event(self, event: JobEvent) -> None:
        job = self.job
        if job is None or event.job_id != job.handle.job_id:
            return
        if event.state is JobState.PREVIEW and event.frame is not None:
            self.job_bar.update_frame(event.frame)
            return
        self._end_job()
        if event.state is JobState.FINISHED and event.frame is not None:
            if job.on_result is not None and (opened := self._open_document_of(job.doc)) is not None:
                self._show_tab(opened)  # a panel's own result handler works on the window's current document
            try:
                self._apply_result(job, event.frame)
            except Exception as exc:  # a malformed result is reported, never half-applied
                job.panel.show_error(str(exc))
        elif event.state is JobState.FAILED:
            job.panel.show_error(event.error)
            self.statusBar().showMessage(f"{job.manifest.title} failed: {event.error}", 10000)
        elif event.state is JobState.CANCELLED:
            self.statusBar().showMessage("Cancelled; the document is unchanged.", 5000)

    # Messages

    def show_error(self, title: str, text: str) -> None:
        """Show an error without blocking (also recorded in ``last_error``)."""
        self.last_error = text
        log.warning("%s: %s", title, text)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def models_dialog(self) -> ModelsDialog:
        """The Models dialog (one per window), created on first use."""
        if self._models_dialog is None:
            used_by = {
                model_id: self.registry.users_of(spec.base or model_id) for model_id, spec in self.store.specs.items()
            }
            self._models_dialog = ModelsDialog(self.store, self.jobs, used_by, self)
            self._models_dialog.installed.connect(self.models_changed)
            self._models_dialog.removed.connect(self.models_changed)
        return self._models_dialog

    def show_batch_dialog(self) -> BatchDialog:
        """Open a Batch Render dialog offering the layers' recipes, the active layer's first."""
        layers = self.doc.layers if self.doc is not None else []
        active = self.doc.active_layer if self.doc is not None else None
        dialog = BatchDialog(self.registry, self.jobs, layers, active, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_models(self) -> None:
        dialog = self.models_dialog()
        dialog.show()
        dialog.raise_()

    def install_model(self, model_id: str) -> None:
        """Open the Models dialog and start installing ``model_id``."""
        self.show_models()
        dialog = self.models_dialog()
        if model_id not in dialog.jobs:
            dialog.install(model_id)
        dialog.table.selectRow(dialog.row_of(model_id))

    def models_changed(self, *_what: object) -> None:
        """The store gained, installed or removed models (here, or in another process): the banners, the Models
        dialog and the plugins' panels show it at once."""
        for plugin_id, banner in self.banners.items():
            banner.update_for(self.registry.plugins[plugin_id].models, self.store)
        if self._models_dialog is not None:
            self._models_dialog.refresh()
        for host in self.hosts.values():
            host.models_changed.emit()

    def show_plugin_report(self) -> None:
        lines = [f"<b>{m.title}</b> ({m.id})" for m in self.registry.plugins.values()]
        lines += [f"<b style='color:#c0392b'>{e.name}</b> failed to load: {e.error}" for e in self.registry.errors]
        QMessageBox.information(self, "Plugins", "<br>".join(lines) or "No plugins installed.")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Studio", f"<b>Studio {__version__}</b><br>Make images with neural networks.")

    def _show_cursor(self, x: int, y: int) -> None:
        inside = self.doc is not None and 0 <= x < self.doc.width and 0 <= y < self.doc.height
        self.cursor_label.setText(f"{x}, {y}" if inside else "")

    # Drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(self._droppable(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if self._droppable(u.toLocalFile())]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])
            for extra in paths[1:]:
                self.import_layer(extra)

    @staticmethod
    def _droppable(path: str) -> bool:
        return bool(path) and Path(path).suffix.lower() in (*SUPPORTED_SUFFIXES, PROJECT_SUFFIX)

    # Layout and closing

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first start: the canvas gets the room a panel's longest description line would take
            docks = list(self.plugin_docks.values())
            self.resizeDocks(docks, [FIRST_PANEL_WIDTH] * len(docks), Qt.Orientation.Horizontal)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.print_actions.close_after_export():  # an export is being written: close once it is complete
            event.ignore()
            return
        self.wait_for_save()
        for opened in list(self.open_documents):
            if not opened.doc.history.is_clean:
                self._show_tab(opened)
                if not self.confirm_discard():
                    event.ignore()
                    return
        if self.job is not None:
            self.cancel_job()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        for opened in self.open_documents:
            self._discard_autosave(opened.doc)
        self.hide()
        # Jobs are told to stop and given a moment, never waited for: no job changes a document after this, files
        # are written atomically, and a cancelled training resumes from its last checkpoint.
        self.jobs.shutdown(timeout=QUIT_GRACE_S)
        self.training_panel.shutdown(timeout=QUIT_GRACE_S)
        event.accept()
