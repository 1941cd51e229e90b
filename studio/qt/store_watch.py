"""Notice models another process put into the store's folder: ``studio train`` or ``studio models install``,
``import`` and ``remove`` run in a terminal while the window is open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from studio.core.models.store import TRAINED, ModelStore

SETTLE_MS = 400
"""How long the folder must stay quiet before the store looks again (an install writes several files)."""


class StoreWatcher(QObject):
    """Watches the store's root, every model folder in it and its trained models; ``changed(new_ids)`` fires once
    the folder has settled after a change, when the store has learnt the models new to it (often none: an
    install or removal changes only what is installed)."""

    changed = Signal(list)

    def __init__(self, store: ModelStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._watcher = QFileSystemWatcher(self)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self._rescan)
        self._watcher.directoryChanged.connect(lambda _path: self._settle.start())
        (store.root / TRAINED).mkdir(parents=True, exist_ok=True)
        self._watch()

    def _folders(self) -> list[Path]:
        root = self.store.root
        return [root, *sorted(path for path in root.iterdir() if path.is_dir())] if root.is_dir() else []

    def _watch(self) -> None:
        wanted = {str(path) for path in self._folders()}
        watched = set(self._watcher.directories())
        if stale := watched - wanted:
            self._watcher.removePaths(sorted(stale))
        if new := wanted - watched:
            self._watcher.addPaths(sorted(new))

    def _rescan(self) -> None:
        self._watch()
        self.changed.emit(self.store.rescan())
