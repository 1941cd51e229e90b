"""The GAN breeding panel: the current image and its children, crossbreeding and level mixing, gene sliders,
latent walks, favourites, undo and the lineage tree, kept in the project; "To canvas" adds the current image as a
layer whose recipe re-renders it.

Grids (children, the mixing grid) and the first use of a generator run as jobs of the
window (job bar, Cancel); one picture (a crossbreed, a mix, a gene slider's edit) is
rendered at once. A grid's cells join the lineage only when chosen. Gene sliders and
the truncation edit the current image live; the edit becomes a node of its own when
the artist breeds on from it, marks it a favourite or sends it to the canvas.

A walk (from the current image to another of the lineage, or a loop through the
favourites) runs the plugin's engine in walk mode with the pictures' styles, as
"To canvas" does: its first frame becomes a layer whose recipe renders the walk
again, its strip opens as a new picture, and its frames, GIF, WebP and MP4 go to
the window's outputs folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from studio_plugins.gan_breeding.breeding import Genes, apply_genes, children, crossbreed, gene_directions, mix_levels
from studio_plugins.gan_breeding.engine import seed_styles, styles_to_text
from studio_plugins.gan_breeding.generators import Generator, from_store
from studio_plugins.gan_breeding.lineage import Lineage, LineageError, Node, Param
from studio_plugins.gan_breeding.params import BreedParams

from studio.core.document import Document
from studio.core.errors import describe_error
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, JobFn, JobHandle, RunContext
from studio.core.models.errors import ModelError
from studio.core.models.store import WEIGHTS, InstallRecord
from studio.qt.convert import numpy_to_qimage
from studio.qt.panel_host import PanelHost
from studio.qt.params_panel import ERROR_COLOR, ParamsPanel

T = TypeVar("T")

PLUGIN_ID = "gan_breeding"
PICTURE = 128
"""Side of the current image in the panel, in pixels."""
GRID = 240
"""Side of the children grid and the mixing grid, in pixels."""
ICON = 32
GENES = 6
GENE_SAMPLES = 512
GENE_REACH = 3.0
"""A gene slider's ends, in standard deviations of the sampled styles along its direction."""
GENE_STEPS = 100
"""Slider steps per standard deviation."""
EDIT_DEBOUNCE_MS = 60
MAX_MIX_PARENTS = 5
ICON_RENDERS = 256
"""Lineage pictures rendered when a generator is first used (the newest of its nodes)."""


def pixmap_of(picture: np.ndarray, side: int) -> QPixmap:
    """An RGB(A) uint8 picture as a pixmap scaled to fit ``side`` x ``side``."""
    pixmap = QPixmap.fromImage(numpy_to_qimage(picture))
    return pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class CandidateGrid(QWidget):
    """A square grid of pictures to choose from; ``chosen(index)`` fires when a cell is clicked."""

    chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.cells: list[QToolButton] = []

    def show_cells(self, side: int, pictures: Sequence[np.ndarray], tips: Sequence[str], centre: int = -1) -> None:
        """Show ``pictures`` in reading order on a ``side`` x ``side`` grid; the ``centre`` cell (the parent) is
        shown pressed and cannot be chosen."""
        for cell in self.cells:
            self.grid.removeWidget(cell)
            cell.deleteLater()
        self.cells = []
        cell_side = GRID // side - self.grid.spacing()
        for index, (picture, tip) in enumerate(zip(pictures, tips, strict=True)):
            cell = QToolButton()
            cell.setIcon(QIcon(pixmap_of(picture, cell_side - 6)))
            cell.setIconSize(QSize(cell_side - 6, cell_side - 6))
            cell.setFixedSize(cell_side, cell_side)
            cell.setToolTip(tip)
            if index == centre:
                cell.setCheckable(True)
                cell.setChecked(True)
                cell.clicked.connect(lambda _checked=False, cell=cell: cell.setChecked(True))
            else:
                cell.setAutoRaise(True)
                cell.clicked.connect(lambda _checked=False, index=index: self.chosen.emit(index))
            self.grid.addWidget(cell, *divmod(index, side))
            self.cells.append(cell)

    def clear(self) -> None:
        """Show no cells."""
        self.show_cells(1, [], [])


class BreedPanel(ParamsPanel):
    """The plugin's parameters (for Run) with the generator chosen from a list, and the breeding boxes under them."""

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(BreedParams, parent)
        self.host = host
        self.lineage = Lineage()
        self.current: Node | None = None
        self.back: list[str] = []
        """Ids of the earlier current images, the latest last (Undo goes back to it)."""
        self.pictures: dict[str, np.ndarray] = {}
        self.generators: dict[str, tuple[Generator, Genes]] = {}
        """Generators loaded so far, by model id, with their genes."""
        self.weights: dict[str, float] = {}
        self.extra_parents: list[str] = []
        self.level_choice: dict[str, str] = {}
        """The parent the artist chose for each level."""
        self.walk_choice: str | None = None
        """The image the artist chose to walk to (else the first favourite is offered)."""
        self.candidates: list[tuple[Node, np.ndarray]] = []
        """The grid's cells: a node (not yet in the lineage, unless it is a parent) and its picture."""
        self.numbers: dict[str, int] = {}
        """Each lineage node's place in the lineage, from 1 (how the panel names it)."""
        self.edit_picture: np.ndarray | None = None
        self.job: JobHandle | None = None
        self.rng = np.random.default_rng()
        self._document: Document | None = None
        self._generator_id = self.values()["generator"]

        self._build_generator_row()
        self.form.addRow(self._build_current())
        self.form.addRow(self._build_children())
        self.form.addRow(self._build_crossbreed())
        self.form.addRow(self._build_genes())
        self.form.addRow(self._build_walk())
        self.form.addRow(self._build_lineage())
        self.edit_timer = QTimer(self)
        self.edit_timer.setSingleShot(True)
        self.edit_timer.setInterval(EDIT_DEBOUNCE_MS)
        self.edit_timer.timeout.connect(self.show_edit)

        self.changed.connect(self._params_edited)
        host.document_changed.connect(self.open_document)
        host.models_changed.connect(self._show_generator)
        self._params_edited()
        if host.document is not None:
            self.open_document(host.document)

    # -- building ------------------------------------------------------------------------------------------------

    def _build_generator_row(self) -> None:
        """A list of the breeding generators in place of the generator's text field."""
        line = self.editor("generator")
        row, _role = self.form.getWidgetPosition(line)
        self.form.removeWidget(line)
        line.hide()  # it still holds the parameter's value
        self.generator_box = QComboBox()
        self.generator_box.setToolTip(line.toolTip())
        self.generator_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.generator_box.setMinimumContentsLength(12)
        self.generator_box.textActivated.connect(lambda text: self.set_values({"generator": text}))
        self.form.setWidget(row, QFormLayout.ItemRole.FieldRole, self.generator_box)

    def _build_current(self) -> QGroupBox:
        box = QGroupBox("Current image")
        column = QVBoxLayout(box)
        self.notice = _wrapped_label()
        self.notice.setToolTip("The terms of the chosen generator")
        column.addWidget(self.notice)
        row = QHBoxLayout()
        self.picture = QLabel("Breed children or take a new sample to begin.")
        self.picture.setWordWrap(True)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(PICTURE, PICTURE)
        row.addWidget(self.picture)
        buttons = QVBoxLayout()
        self.sample_button = _button("New sample", "Start from the seed's sample of the generator", self.new_sample)
        self.favourite_button = _button("Favourite", "Mark the current image a favourite (or not)", self.favourite)
        self.favourite_button.setCheckable(True)
        self.undo_button = _button("Undo", "Back to the previous current image", self.undo)
        self.canvas_button = _button(
            "To canvas", "Add the current image as a layer whose recipe re-renders it", self.to_canvas
        )
        for button in (self.sample_button, self.favourite_button, self.undo_button, self.canvas_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row.addLayout(buttons, 1)
        column.addLayout(row)
        self.status = _wrapped_label()
        palette = self.status.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(ERROR_COLOR))
        self.status.setPalette(palette)
        self.status.hide()
        column.addWidget(self.status)
        return box

    def _build_children(self) -> QGroupBox:
        box = QGroupBox("Children")
        column = QVBoxLayout(box)
        fields = {field.name: field for field in self.fields}
        self.side = QSpinBox()
        self.side.setRange(int(fields["children"].meta.min or 3), int(fields["children"].meta.max or 5))
        self.side.setValue(fields["children"].default)
        self.side.setToolTip(fields["children"].meta.help)
        self.mutation = QDoubleSpinBox()
        self.mutation.setRange(0.0, 1.0)
        self.mutation.setSingleStep(0.05)
        self.mutation.setValue(fields["mutation"].default)
        self.mutation.setToolTip(fields["mutation"].meta.help)
        settings = QFormLayout()
        settings.addRow("Grid side", self.side)
        settings.addRow("Mutation", self.mutation)
        column.addLayout(settings)
        self.grid_caption = _wrapped_label()
        self.grid = CandidateGrid()
        self.grid.chosen.connect(self.choose)
        self.children_button = _button(
            "Breed children",
            "A grid of children around the current image",
            self.breed_children,
        )
        column.addWidget(self.children_button)
        column.addWidget(self.grid_caption)
        column.addWidget(self.grid, 0, Qt.AlignmentFlag.AlignHCenter)
        return box

    def _build_crossbreed(self) -> QGroupBox:
        box = QGroupBox("Crossbreed")
        column = QVBoxLayout(box)
        column.addWidget(_wrapped_label("Parents: the favourites, the current image and those added from the lineage."))
        self.parent_table = QTableWidget(0, 2)
        self.parent_table.setHorizontalHeaderLabels(["Parent", "Weight"])
        self.parent_table.verticalHeader().hide()
        self.parent_table.setIconSize(QSize(ICON, ICON))
        self.parent_table.verticalHeader().setDefaultSectionSize(ICON + 4)
        self.parent_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.parent_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.parent_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.parent_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        column.addWidget(self.parent_table)
        self.crossbreed_button = _button(
            "Crossbreed", "Blend the parents by their weights (weights are normalised; 0 leaves one out)", self.cross
        )
        column.addWidget(self.crossbreed_button)
        self.levels_box = QWidget()
        levels = QFormLayout(self.levels_box)
        levels.setContentsMargins(0, 0, 0, 0)
        self.level_boxes: dict[str, QComboBox] = {}
        for level, what in (("coarse", "structure"), ("middle", "features"), ("fine", "texture")):
            chooser = QComboBox()
            chooser.setToolTip(f"The parent whose {level} styles (its {what}) the mix takes")
            chooser.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            chooser.setMinimumContentsLength(8)
            chooser.setIconSize(QSize(ICON // 2, ICON // 2))
            chooser.activated.connect(
                lambda _index, level=level, chooser=chooser: self.level_choice.__setitem__(level, chooser.currentData())
            )
            levels.addRow(level.capitalize(), chooser)
            self.level_boxes[level] = chooser
        buttons = QHBoxLayout()
        self.mix_button = _button("Mix levels", "Coarse, middle and fine styles from the chosen parents", self.mix)
        self.mixing_grid_button = _button(
            "Mixing grid",
            f"Every pair of the parents with a weight above 0 (at most {MAX_MIX_PARENTS}): coarse styles from the "
            "row's parent, middle and fine from the column's",
            self.mixing_grid,
        )
        buttons.addWidget(self.mix_button)
        buttons.addWidget(self.mixing_grid_button)
        levels.addRow(buttons)
        column.addWidget(self.levels_box)
        return box

    def _build_genes(self) -> QGroupBox:
        box = QGroupBox("Genes")
        self.genes_layout = QFormLayout(box)
        self.genes_hint = _wrapped_label("The main directions of the generator's styles; they appear once it is used.")
        self.genes_layout.addRow(self.genes_hint)
        self.gene_sliders: list[QSlider] = []
        return box

    def _build_walk(self) -> QGroupBox:
        box = QGroupBox("Walk")
        self.walk_form = QFormLayout(box)
        fields = {field.name: field for field in self.fields}
        self.walk_kind = QComboBox()
        self.walk_kind.addItem("From the current image to", "to")
        self.walk_kind.addItem("Loop through the favourites", "loop")
        self.walk_kind.setToolTip(fields["walk_loop"].meta.help)
        self.walk_kind.currentIndexChanged.connect(lambda _index: self._show_walk())
        self.walk_target = QComboBox()
        self.walk_target.setToolTip("The image the walk ends at: a favourite (★) or another image of the lineage")
        self.walk_target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.walk_target.setMinimumContentsLength(8)
        self.walk_target.setIconSize(QSize(ICON // 2, ICON // 2))
        self.walk_target.activated.connect(lambda _index: setattr(self, "walk_choice", self.walk_target.currentData()))
        steps = fields["walk_steps"]
        self.walk_frames = QSpinBox()
        self.walk_frames.setRange(int(steps.meta.min or 2), int(steps.meta.max or 240))
        self.walk_frames.setValue(steps.default)
        self.walk_frames.setToolTip(steps.meta.help)
        self.walk_easing = QComboBox()
        for choice in self.choices("easing"):
            self.walk_easing.addItem(str(choice), choice)
        self.walk_easing.setToolTip(fields["easing"].meta.help)
        fps = fields["fps"]
        self.walk_fps = QSpinBox()
        self.walk_fps.setRange(int(fps.meta.min or 1), int(fps.meta.max or 60))
        self.walk_fps.setValue(fps.default)
        self.walk_fps.setSuffix(" fps")
        self.walk_fps.setToolTip(fps.meta.help)
        self.walk_button = _button(
            "Walk",
            "Render the walk: its first frame as a layer, its strip as a new picture, and its frames, GIF, WebP "
            "and MP4 in the outputs folder (File › Outputs Folder…)",
            self.walk,
        )
        self.walk_form.addRow(self.walk_kind)
        self.walk_form.addRow("Image", self.walk_target)
        self.walk_form.addRow("Frames", self.walk_frames)
        self.walk_form.addRow("Easing", self.walk_easing)
        self.walk_form.addRow("Frame rate", self.walk_fps)
        self.walk_form.addRow(self.walk_button)
        self.walk_form.addRow(
            _wrapped_label(
                "The strip of frames opens as a new picture; the frames and animations go to the outputs folder."
            )
        )
        return box

    def _build_lineage(self) -> QGroupBox:
        box = QGroupBox("Lineage")
        column = QVBoxLayout(box)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(ICON, ICON))
        self.tree.setMinimumHeight(160)
        self.tree.itemDoubleClicked.connect(lambda item, _column: self.reopen(item.data(0, Qt.ItemDataRole.UserRole)))
        column.addWidget(self.tree)
        buttons = QHBoxLayout()
        self.reopen_button = _button("Reopen", "Make the chosen image current, to breed from it again", self.reopen)
        self.add_parent_button = _button("Add as parent", "Offer the chosen image for crossbreeding", self.add_parent)
        buttons.addWidget(self.reopen_button)
        buttons.addWidget(self.add_parent_button)
        column.addLayout(buttons)
        return box

    # -- the generator -------------------------------------------------------------------------------------------

    def generator_ids(self) -> list[str]:
        """The generators the plugin breeds with: its catalog models and every model trained from one."""
        bases = self.host.manifest.models
        return [m for m, spec in self.host.store.specs.items() if m in bases or spec.base in bases]

    def model_id(self) -> str:
        """The chosen generator's model id."""
        return str(self.values()["generator"])

    def loaded(self) -> Generator | None:
        """The chosen generator, once a job has loaded it."""
        entry = self.generators.get(self.model_id())
        return entry[0] if entry is not None else None

    def genes(self) -> Genes | None:
        """The chosen generator's genes, once a job has loaded it."""
        entry = self.generators.get(self.model_id())
        return entry[1] if entry is not None else None

    def model_of(self, generator_hash: str) -> str | None:
        """The installed generator whose hash is ``generator_hash``."""
        return next((m for m in self.generator_ids() if self._hash_of(m) == generator_hash), None)

    def _params_edited(self) -> None:
        values = self.values()
        for name in ("styles", "walk_styles"):  # a recipe's numbers: To canvas and Walk fill them, not the artist
            self.set_row_visible(name, False)
        if values["generator"] != self._generator_id:
            self._generator_id = values["generator"]
            if self.current is not None and self.current.generator != self._hash_of(self._generator_id):
                self._set_current(None)
            self.clear_candidates()
            self._show_genes()
        self._show_generator()
        self.edit_timer.start()

    def _hash_of(self, model_id: str) -> str | None:
        """The hash of generator ``model_id`` (its weights' sha256), None when it is not installed or not known
        before it is loaded (an imported generator's)."""
        if model_id in self.generators:
            return self.generators[model_id][0].hash
        record = self._record(model_id)
        return record.files.get(WEIGHTS) if record is not None else None

    def _record(self, model_id: str) -> InstallRecord | None:
        try:
            return self.host.store.record(model_id) if model_id in self.host.store.specs else None
        except ModelError:
            return None

    def _show_generator(self) -> None:
        model_id = self.model_id()
        choices = list(dict.fromkeys([*self.generator_ids(), model_id]))
        if [self.generator_box.itemText(i) for i in range(self.generator_box.count())] != choices:
            self.generator_box.clear()
            self.generator_box.addItems(choices)
        self.generator_box.setCurrentText(model_id)
        store = self.host.store
        lines = []
        if model_id not in store.specs:
            lines.append(f"{model_id} is not a generator Studio knows: choose one in the list.")
        else:
            notice = store.spec(model_id).notice
            if notice:
                lines.append(notice)
            if self._record(model_id) is None:
                lines.append(f"{model_id} is not installed: install it in Plugins › Models…, or train one.")
        self.notice.setText("\n".join(lines))
        self.notice.setVisible(bool(lines))

    # -- jobs ----------------------------------------------------------------------------------------------------

    def busy(self) -> bool:
        """True (and says so) while a breeding job runs."""
        if self.job is not None and not self.job.done:
            self.say("Wait for the breeding job to finish, or cancel it.")
            return True
        return False

    def run_with_generator(
        self, title: str, work: Callable[[Generator], T], done: Callable[[T], None], *, heavy: bool = True
    ) -> bool:
        """``done(work(generator))`` with the chosen generator: in a job of the window (which loads the generator
        the first time) when ``heavy`` or not yet loaded, else at once. False when nothing started."""
        if self.busy():
            return False
        self.say("")
        model_id = self.model_id()
        loaded = self.generators.get(model_id)
        if loaded is not None and not heavy:
            try:
                done(work(loaded[0]))
            except (ValueError, LineageError) as exc:
                self.say(describe_error(exc))
                return False
            return True
        outcome: dict[str, Any] = {}
        pending = self._unrendered(model_id)

        def make_job(_inputs: Inputs) -> JobFn:
            def job(ctx: RunContext) -> Iterator[Frame]:
                ctx.check_cancelled()
                generator, genes = loaded or self._load(ctx, model_id)
                outcome["generator"] = (generator, genes)
                outcome["pictures"] = {node.id: _render(generator, node) for node in pending if _fits(generator, node)}
                ctx.check_cancelled()
                outcome["result"] = work(generator)
                ctx.check_cancelled()
                yield ctx.frame(1.0, final=True, message=f"{title}: done")

            return job

        def finished(_frame: Frame) -> None:
            self.job = None
            self.generators[model_id] = outcome["generator"]
            self.pictures.update(outcome["pictures"])
            self._show_genes()
            done(outcome["result"])
            self._show_lineage()

        self.job = self.host.submit(title, make_job, finished, reads_document=False)
        return self.job is not None

    @staticmethod
    def _load(ctx: RunContext, model_id: str) -> tuple[Generator, Genes]:
        generator = from_store(ctx.models, model_id, ctx.device)
        _ = generator.spread  # sampled once here, not on the GUI thread
        count = min(GENES, generator.w_dim)
        return generator, gene_directions(generator, max(GENE_SAMPLES, count), count)

    def _unrendered(self, model_id: str) -> list[Node]:
        """The newest lineage nodes of ``model_id``'s generator whose pictures are not known yet."""
        generator_hash = self._hash_of(model_id)
        nodes = [n for n in self.lineage if n.generator == generator_hash and n.id not in self.pictures]
        return nodes[-ICON_RENDERS:]

    # -- breeding ------------------------------------------------------------------------------------------------

    def new_sample(self) -> None:
        """Make the seed's sample of the generator the current image."""
        if self.busy():
            return
        seed, truncation = int(self.values()["seed"]), float(self.values()["truncation"])
        self.run_with_generator(
            "New sample", lambda generator: _sampled(generator, seed, truncation), self._take, heavy=False
        )

    def breed_children(self) -> None:
        """Render the grid of children around the current image (from the seed's sample when there is none)."""
        if self.busy():
            return
        parent = self.committed()
        values = self.values()
        side, mutation = self.side.value(), self.mutation.value()
        seed, truncation = int(values["seed"]), float(values["truncation"])
        rng = self.rng

        def work(generator: Generator) -> tuple[Node, list[Node], np.ndarray]:
            start = parent if parent is not None else _sampled(generator, seed, truncation)[0]
            bred = children(start.ws, rng, side * side - 1, mutation, space=generator.space, scale=generator.spread)
            nodes = [
                _node(generator, "child", (start,), ws, {"mutation": mutation, "index": index}, start)
                for index, ws in enumerate(bred, start=1)
            ]
            return (
                start,
                nodes,
                generator.render(np.concatenate([start.ws[None], bred]), start.noise_seed, start.truncation),
            )

        def show(result: tuple[Node, list[Node], np.ndarray]) -> None:
            start, nodes, pictures = result
            if start.id not in self.lineage:
                self._take((start, pictures[0]))
            centre = (side // 2) * (side + 1)  # the middle cell (for an even side, below right)
            cells = list(
                zip(
                    [*nodes[:centre], start, *nodes[centre:]],
                    pictures[[*range(1, centre + 1), 0, *range(centre + 1, len(pictures))]],
                    strict=True,
                )
            )
            tips = [f"Child {node.params.get('index')}: click to breed from it" for node, _ in cells]
            tips[centre] = "The current image"
            self.show_candidates(
                side, cells, tips, f"{len(nodes)} children, mutation {mutation:g}: click one to breed from it.", centre
            )

        self.run_with_generator(f"Breeding {side * side - 1} children", work, show)

    def show_candidates(
        self, side: int, cells: list[tuple[Node, np.ndarray]], tips: list[str], caption: str, centre: int = -1
    ) -> None:
        """Offer ``cells`` on a ``side`` x ``side`` grid under ``caption``."""
        self.candidates = cells
        self.grid_caption.setText(caption)
        self.grid.show_cells(side, [picture for _, picture in cells], tips, centre)

    def clear_candidates(self) -> None:
        """Empty the grid."""
        self.candidates = []
        self.grid_caption.clear()
        self.grid.clear()

    def choose(self, index: int) -> None:
        """Make the grid's cell ``index`` the current image (a new one joins the lineage)."""
        node, picture = self.candidates[index]
        self.clear_candidates()
        if node.id in self.lineage:
            self._set_current(self.lineage.get(node.id))
        else:
            self._take((node, picture))

    def parents_pool(self) -> list[Node]:
        """The parents offered for crossbreeding: favourites, the current image and those added from the lineage."""
        ids = [n.id for n in self.lineage.favourites()]
        if self.current is not None:
            ids.append(self.current.id)
        ids += [i for i in self.extra_parents if i in self.lineage]
        return [self.lineage.get(i) for i in dict.fromkeys(ids)]

    def chosen_parents(self) -> list[tuple[Node, float]]:
        """The pool's parents with a weight above 0, bred with the chosen generator."""
        generator_hash = self._hash_of(self.model_id())
        return [
            (node, self.weights.get(node.id, 1.0))
            for node in self.parents_pool()
            if self.weights.get(node.id, 1.0) > 0 and node.generator == generator_hash
        ]

    def cross(self) -> None:
        """Blend the parents by their weights into a new current image."""
        if self.busy():
            return
        self.committed()
        chosen = self.chosen_parents()
        if not chosen:
            self.say("Give at least one parent of this generator a weight above 0.")
            return
        nodes, weights = [n for n, _ in chosen], [w for _, w in chosen]
        heaviest = nodes[int(np.argmax(weights))]

        def work(generator: Generator) -> tuple[Node, np.ndarray]:
            ws = crossbreed([n.ws for n in nodes], weights, space=generator.space)
            node = _node(generator, "crossbreed", nodes, ws, {"weights": [float(w) for w in weights]}, heaviest)
            return node, _render(generator, node)

        self.run_with_generator("Crossbreed", work, self._take, heavy=False)

    def mix(self) -> None:
        """Coarse, middle and fine styles from the parents chosen for each level, as a new current image."""
        if self.busy():
            return
        self.committed()
        chosen = {level: box.currentData() for level, box in self.level_boxes.items()}
        if None in chosen.values():
            self.say("Choose a parent for each level.")
            return
        by_level = {level: self.lineage.get(node_id) for level, node_id in chosen.items()}

        def work(generator: Generator) -> tuple[Node, np.ndarray]:
            node = _mixed(generator, by_level)
            return node, _render(generator, node)

        self.run_with_generator("Mix levels", work, self._take, heavy=False)

    def mixing_grid(self) -> None:
        """The grid of every pair of chosen parents: coarse from the row's, middle and fine from the column's."""
        if self.busy():
            return
        self.committed()
        nodes = [n for n, _ in self.chosen_parents()][:MAX_MIX_PARENTS]
        if len(nodes) < 2:
            self.say("Give two or more parents of this generator a weight above 0 for a mixing grid.")
            return

        def work(generator: Generator) -> tuple[list[Node], np.ndarray]:
            cells = [
                row if row is column else _mixed(generator, {"coarse": row, "middle": column, "fine": column})
                for row in nodes
                for column in nodes
            ]
            pictures = np.concatenate([_render(generator, cell)[None] for cell in cells])
            return cells, pictures

        def show(result: tuple[list[Node], np.ndarray]) -> None:
            cells, pictures = result
            names = [self.name(node) for node in nodes]
            tips = [
                f"{row} itself" if row == column else f"Coarse from {row}, middle and fine from {column}"
                for row in names
                for column in names
            ]
            caption = (
                "Mixing grid: each row takes its coarse structure, each column its middle and fine styles, from the "
                "parent on the diagonal. Click one to breed from it."
            )
            self.show_candidates(len(nodes), list(zip(cells, pictures, strict=True)), tips, caption)

        self.run_with_generator(f"Mixing grid of {len(nodes)} parents", work, show)

    # -- genes and truncation: live edits of the current image ------------------------------------------------------

    def _show_genes(self) -> None:
        genes = self.genes()
        count = 0 if genes is None else len(genes.directions)
        if count == len(self.gene_sliders):
            return
        for slider in self.gene_sliders:
            self.genes_layout.removeRow(slider)
        self.gene_sliders = []
        for index in range(count):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(-round(GENE_REACH * GENE_STEPS), round(GENE_REACH * GENE_STEPS))
            slider.setToolTip(f"Gene {index + 1}: the {_ordinal(index + 1)} main direction of the styles")
            slider.valueChanged.connect(lambda _value: self.edit_timer.start())
            self.genes_layout.addRow(f"Gene {index + 1}", slider)
            self.gene_sliders.append(slider)
        self.genes_hint.setVisible(count == 0)

    def gene_amounts(self) -> list[float]:
        """Each gene slider's position, in standard deviations."""
        return [slider.value() / GENE_STEPS for slider in self.gene_sliders]

    def edited(self) -> Node | None:
        """The current image as the gene sliders and the truncation edit it, or None when they leave it as it is."""
        current, genes, generator = self.current, self.genes(), self.loaded()
        truncation = float(self.values()["truncation"])
        amounts = self.gene_amounts()
        if current is None or generator is None or current.generator != generator.hash:
            return None
        if not any(amounts) and truncation == current.truncation:
            return None
        ws = current.ws
        if any(amounts) and genes is not None:
            ws = apply_genes(ws, genes.directions, np.asarray(amounts) * genes.spreads)
        operation = "genes" if any(amounts) else "truncation"
        params: dict[str, Param] = {"amounts": amounts, "truncation": truncation}
        return Node((current.id,), operation, params, current.generator, ws, truncation, current.noise_seed)

    def show_edit(self) -> None:
        """Render the current image as edited (debounced: the sliders restart the timer)."""
        node = self.edited()
        generator = self.loaded()
        if node is None or generator is None:
            self._show_picture()
            return
        if self.job is not None and not self.job.done:
            self.edit_timer.start()  # a job is rendering with the generator: edit when it is done
            return
        self.edit_picture = _render(generator, node)
        self.picture.setPixmap(pixmap_of(self.edit_picture, PICTURE))
        self.undo_button.setEnabled(True)

    def committed(self) -> Node | None:
        """The current image with any live edit made a node of the lineage (and current)."""
        node = self.edited()
        if node is not None:
            picture = self.edit_picture if self.edit_picture is not None else _render(self.loaded(), node)
            self._take((node, picture))
        return self.current

    # -- the current image, favourites, undo -------------------------------------------------------------------

    def _take(self, result: tuple[Node, np.ndarray]) -> None:
        """Add a new node (with its picture) to the lineage and make it current."""
        node, picture = result
        self.pictures[node.id] = picture
        self.lineage.add(node)
        self.numbers[node.id] = len(self.lineage)
        self._set_current(node)

    def _set_current(self, node: Node | None, remember: bool = True) -> None:
        if remember and self.current is not None and (node is None or node.id != self.current.id):
            self.back.append(self.current.id)
        self.current = node
        self.edit_picture = None
        for slider in self.gene_sliders:
            slider.blockSignals(True)
            slider.setValue(0)
            slider.blockSignals(False)
        if node is not None and float(self.values()["truncation"]) != node.truncation:
            self.set_values({"truncation": node.truncation})
        self._show_picture()
        self._save()
        self._show_lineage()

    def _show_picture(self) -> None:
        node = self.current
        picture = self.pictures.get(node.id) if node is not None else None
        if picture is not None:
            self.picture.setPixmap(pixmap_of(picture, PICTURE))
        elif node is not None:
            self.picture.setText(f"{self.name(node)}: Reopen it in the lineage to see it.")
        else:
            self.picture.setText("Breed children or take a new sample to begin.")
        self.favourite_button.setChecked(node is not None and node.favourite)
        for button in (self.favourite_button, self.canvas_button):
            button.setEnabled(node is not None)
        self.undo_button.setEnabled(bool(self.back))

    def undo(self) -> None:
        """Take back the live edit, or else go back to the previous current image."""
        if self.edited() is not None:
            current = self.current
            self._set_current(current, remember=False)
            return
        while self.back:
            node_id = self.back.pop()
            if node_id in self.lineage:
                self.reopen(node_id, remember=False)
                return

    def favourite(self) -> None:
        """Mark the current image a favourite, or no longer one."""
        if self.busy():
            return
        node = self.committed()
        if node is None:
            return
        self.current = self.lineage.set_favourite(node.id, not node.favourite)
        self._show_picture()
        self._save()
        self._show_lineage()

    def reopen(self, node_id: str | None = None, remember: bool = True) -> None:
        """Make the lineage's node ``node_id`` (default: the one chosen in the tree) current, choosing its
        generator."""
        if node_id is None:
            item = self.tree.currentItem()
            if item is None:
                self.say("Choose an image in the lineage first.")
                return
            node_id = item.data(0, Qt.ItemDataRole.UserRole)
        node = self.lineage.get(node_id)
        model_id = self.model_of(node.generator)
        if model_id is None:
            self.say(
                f"{self.name(node)} was bred with the generator whose sha256 is {node.generator}, which is not "
                "installed: install or import it to breed from this image."
            )
            return
        previous, self.current = self.current, None  # switching the generator below has nothing to clear
        if model_id != self.model_id():
            self.set_values({"generator": model_id})
        self.current = previous
        self._set_current(node, remember)
        if node.id not in self.pictures:
            self.run_with_generator(
                f"Opening {self.name(node)}", lambda _generator: None, lambda _: self._show_picture()
            )

    def add_parent(self) -> None:
        """Offer the node chosen in the lineage tree for crossbreeding."""
        item = self.tree.currentItem()
        if item is None:
            self.say("Choose an image in the lineage first.")
            return
        self.extra_parents.append(item.data(0, Qt.ItemDataRole.UserRole))
        self._show_parents()

    def to_canvas(self) -> JobHandle | None:
        """Add the current image as a layer through the plugin's engine, so its recipe (the styles, truncation,
        noise seed and generator) re-renders the same pixels."""
        if self.busy():
            return None
        node = self.committed()
        if node is None:
            return None
        model_id = self.model_of(node.generator)
        if model_id is None:
            self.say(f"The generator {self.name(node)} was bred with is not installed.")
            return None
        params = BreedParams(
            generator=model_id,
            seed=node.noise_seed,
            truncation=node.truncation,
            styles=styles_to_text(node.ws),
            mode="image",
        )
        return self.host.run(params)

    # -- walks ---------------------------------------------------------------------------------------------------

    def walk_targets(self) -> list[Node]:
        """The images the current one can walk to: the favourites first, then the rest of the lineage, all of
        the chosen generator."""
        generator_hash = self._hash_of(self.model_id())
        current = self.current.id if self.current is not None else None
        nodes = sorted(self.lineage, key=lambda node: not node.favourite)
        return [node for node in nodes if node.generator == generator_hash and node.id != current]

    def _show_walk(self) -> None:
        looping = self.walk_kind.currentData() == "loop"
        self.walk_form.setRowVisible(self.walk_target, not looping)
        self.walk_form.labelForField(self.walk_frames).setText("Frames each" if looping else "Frames")
        self.walk_target.clear()
        for node in self.walk_targets():
            icon = QIcon(pixmap_of(self.pictures[node.id], ICON)) if node.id in self.pictures else QIcon()
            self.walk_target.addItem(icon, self.name(node) + (" ★" if node.favourite else ""), node.id)
        self.walk_target.setCurrentIndex(max(self.walk_target.findData(self.walk_choice), 0))

    def walk(self) -> JobHandle | None:
        """Render the walk the Walk box asks for through the plugin's engine (see the module's docstring)."""
        if self.busy():
            return None
        generator_hash = self._hash_of(self.model_id())
        if self.walk_kind.currentData() == "loop":
            pictures = [node for node in self.lineage.favourites() if node.generator == generator_hash]
            if len(pictures) < 2:
                self.say("Mark two or more images of this generator as favourites to loop through them.")
                return None
        else:
            start, end = self.committed(), self.walk_target.currentData()
            if start is None or end is None:
                self.say("Breed an image and choose another one of the lineage to walk to.")
                return None
            pictures = [start, self.lineage.get(end)]
        start = pictures[0]
        model_id = self.model_of(start.generator)
        if model_id is None:
            self.say(f"The generator {self.name(start)} was bred with is not installed.")
            return None
        self.say("")
        params = BreedParams(
            generator=model_id,
            seed=start.noise_seed,
            truncation=start.truncation,
            styles=styles_to_text(start.ws),
            mode="walk",
            walk_steps=self.walk_frames.value(),
            walk_styles=styles_to_text(np.stack([node.ws for node in pictures[1:]])),
            walk_loop=self.walk_kind.currentData() == "loop",
            easing=self.walk_easing.currentData(),
            fps=self.walk_fps.value(),
        )
        self.job = self.host.run(params)
        return self.job

    # -- the lineage in the project ------------------------------------------------------------------------------

    def open_document(self, doc: Document) -> None:
        """Show the lineage ``doc`` keeps (a damaged one is reported and left as it is in the project)."""
        self.lineage, self.current, self.back, self.extra_parents = Lineage(), None, [], []
        self.clear_candidates()
        self.say("")
        data = doc.plugin_data.get(PLUGIN_ID)
        if data is not None:
            try:
                if not isinstance(data, dict) or set(data) != {"lineage", "current"}:
                    raise LineageError("the project's breeding data is not a lineage and a current image")
                self.lineage = Lineage.from_dict(data["lineage"])
                current = data["current"]
                self.current = self.lineage.get(current) if isinstance(current, str) and current else None
            except LineageError as exc:
                self.say(f"{exc}; breeding starts afresh, and the project keeps the old lineage until you breed.")
        self.numbers = {node.id: index for index, node in enumerate(self.lineage, start=1)}
        self._document = doc
        self._show_picture()
        self._show_lineage()

    def _save(self) -> None:
        doc = self._document
        if doc is None:
            return
        data = {"lineage": self.lineage.to_dict(), "current": self.current.id if self.current is not None else ""}
        try:
            doc.set_plugin_data(PLUGIN_ID, data)
        except ValueError as exc:
            self.say(f"The lineage cannot be kept in the project: {exc}")

    def name(self, node: Node) -> str:
        """How the panel names a node: its place in the lineage and its operation."""
        number = self.numbers.get(node.id)
        return f"{number}. {node.operation}" if number is not None else node.operation

    def _show_lineage(self) -> None:
        """The lineage as a tree (a node under its first parent), the current one chosen; the parents too."""
        self.tree.clear()
        items: dict[str, QTreeWidgetItem] = {}
        for node in self.lineage:
            parent = items.get(node.parents[0]) if node.parents else None
            item = QTreeWidgetItem(parent if parent is not None else self.tree)
            star = " ★" if node.favourite else ""
            others = f" (× {len(node.parents) - 1} more)" if len(node.parents) > 1 else ""
            item.setText(0, f"{self.name(node)}{others}{star}")
            item.setData(0, Qt.ItemDataRole.UserRole, node.id)
            item.setToolTip(0, self._describe(node))
            if node.id in self.pictures:
                item.setIcon(0, QIcon(pixmap_of(self.pictures[node.id], ICON)))
            items[node.id] = item
        self.tree.expandAll()
        if self.current is not None and self.current.id in items:
            item = items[self.current.id]
            font = QFont(item.font(0))
            font.setBold(True)
            item.setFont(0, font)
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)
        self._show_parents()
        self._show_walk()

    def _describe(self, node: Node) -> str:
        parents = ", ".join(self.name(self.lineage.get(p)) for p in node.parents) or "none"
        params = ", ".join(f"{key} {value}" for key, value in node.params.items()) or "none"
        return (
            f"{node.operation} of {parents}\nsettings: {params}\ntruncation {node.truncation:g}, noise seed "
            f"{node.noise_seed}\ngenerator sha256 {node.generator[:16]}…\nbred {node.created}"
        )

    def _show_parents(self) -> None:
        pool = self.parents_pool()
        self.parent_table.setRowCount(len(pool))
        for row, node in enumerate(pool):
            item = QTableWidgetItem(self.name(node) + (" ★" if node.favourite else ""))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            if node.id in self.pictures:
                item.setIcon(QIcon(pixmap_of(self.pictures[node.id], ICON)))
            self.parent_table.setItem(row, 0, item)
            weight = QDoubleSpinBox()
            weight.setRange(0.0, 1.0)
            weight.setSingleStep(0.1)
            weight.setDecimals(2)
            weight.setValue(self.weights.get(node.id, 1.0))
            weight.setToolTip("This parent's share of the blend (0 leaves it out)")
            weight.valueChanged.connect(lambda value, node_id=node.id: self.weights.__setitem__(node_id, value))
            self.parent_table.setCellWidget(row, 1, weight)
        header = self.parent_table.horizontalHeader().height()
        rows = sum(self.parent_table.rowHeight(r) for r in range(len(pool)))
        self.parent_table.setFixedHeight(header + max(rows, ICON + 4) + 2 * self.parent_table.frameWidth())
        for order, (level, chooser) in enumerate(self.level_boxes.items()):
            chooser.clear()
            for node in pool:
                icon = QIcon(pixmap_of(self.pictures[node.id], ICON)) if node.id in self.pictures else QIcon()
                chooser.addItem(icon, self.name(node), node.id)
            found = chooser.findData(self.level_choice.get(level))
            chooser.setCurrentIndex(found if found >= 0 else min(len(pool) - 1, order))
        generator = self.loaded()
        self.levels_box.setVisible(generator is None or generator.levels is not None)

    def say(self, text: str) -> None:
        """Show ``text`` under the current image (an empty text hides it)."""
        self.status.setText(text)
        self.status.setVisible(bool(text))


def _node(
    generator: Generator,
    operation: str,
    parents: Sequence[Node],
    ws: np.ndarray,
    params: dict[str, Param],
    like: Node,
) -> Node:
    """A node bred from ``parents``, rendered with ``like``'s truncation and noise seed."""
    ids = tuple(dict.fromkeys(p.id for p in parents))
    return Node(ids, operation, params, generator.hash, ws, like.truncation, like.noise_seed)


def _sampled(generator: Generator, seed: int, truncation: float) -> tuple[Node, np.ndarray]:
    ws = seed_styles(generator, np.random.default_rng(seed))
    node = Node((), "sample", {"seed": seed}, generator.hash, ws, truncation, seed)
    return node, _render(generator, node)


def _mixed(generator: Generator, by_level: dict[str, Node]) -> Node:
    """The level mix of ``by_level``'s parents, rendered with the fine parent's truncation and noise."""
    if generator.levels is None:
        raise ValueError("this generator has no style levels to mix; crossbreed its images instead")
    ws = mix_levels({level: node.ws for level, node in by_level.items()}, generator.levels)
    params: dict[str, Param] = {level: node.id for level, node in by_level.items()}
    return _node(generator, "mix", list(by_level.values()), ws, params, by_level["fine"])


def _render(generator: Generator | None, node: Node) -> np.ndarray:
    if generator is None:
        raise ValueError("the generator is not loaded yet")
    return generator.render(node.ws[None], node.noise_seed, node.truncation)[0]


def _fits(generator: Generator, node: Node) -> bool:
    return node.generator == generator.hash and node.ws.shape == (generator.num_ws, generator.w_dim)


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _button(text: str, tip: str, slot: Callable[[], Any]) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setAutoDefault(False)
    button.clicked.connect(lambda _checked=False: slot())
    return button


def _wrapped_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label
