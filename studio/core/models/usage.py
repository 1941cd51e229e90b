"""The store as one job sees it: every model the job loads is recorded, with its digest, for the recipe."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from studio.core.models.spec import ModelSpec
    from studio.core.models.store import InstallRecord, ModelStore


class ModelSource(Protocol):
    """What engines and the shared networks read from a store: specs, install records and loaded networks."""

    def spec(self, model_id: str) -> ModelSpec: ...

    def record(self, model_id: str) -> InstallRecord | None: ...

    def load(self, model_id: str, device: str = "cpu") -> Any: ...


def record_digest(record: InstallRecord) -> str:
    """One sha256 for an installed model: its file's, or for several files that of their sorted name:sha256 lines."""
    files = record.files
    if len(files) == 1:
        return next(iter(files.values()))
    return hashlib.sha256("".join(f"{name}:{sha}\n" for name, sha in sorted(files.items())).encode()).hexdigest()


class JobModels:
    """A job's view of a :class:`~studio.core.models.store.ModelStore` that records what it loads.

    The host, not the engine, puts :attr:`used` into the layer's recipe.
    """

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._used: dict[str, str] = {}
        self._lock = threading.Lock()

    def spec(self, model_id: str) -> ModelSpec:
        return self.store.spec(model_id)

    def record(self, model_id: str) -> InstallRecord | None:
        return self.store.record(model_id)

    def load(self, model_id: str, device: str = "cpu") -> Any:
        """Load ``model_id`` from the store (verified, cached) and record its digest."""
        model = self.store.load(model_id, device)
        record = self.store.record(model_id)
        with self._lock:
            self._used[model_id] = record_digest(record) if record is not None else ""
        return model

    @property
    def used(self) -> list[dict[str, str]]:
        """``{"id", "sha256"}`` of every model loaded so far, in load order."""
        with self._lock:
            return [{"id": model_id, "sha256": digest} for model_id, digest in self._used.items()]
