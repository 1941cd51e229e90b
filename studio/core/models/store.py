"""The model cache: install (fetch, verify, convert), verify, remove and load the catalog's networks.

Layout under the root (``<user cache>/studio/models`` by default)::

    <id>/model.safetensors   converted weights (format "torch")
    <id>/<name>              the source files as they are (formats "onnx" and "files")
    <id>/record.json         written last: a model is installed iff its record exists; the record of a
                             file imported under its own id names the catalog model it is another of
    .trained/<id>.safetensors  a model trained here (``studio train``), the source of its install
    .trained/<id>.json         its entry (base model, title, provenance, sha256), written last
    .tmp-<id>-XXXX/          one install in progress; removed on success, failure or cancel

Every load re-hashes the cached files against the record, so a damaged file
is refused with a message naming it and the fix, and nothing is loaded.
Weights are read with safetensors only; nothing pickled is ever executed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs

from studio import __version__
from studio.core.atomic import atomic_write
from studio.core.cancel import CancelCheck, Cancelled, Progress, check_cancelled
from studio.core.dynamic import import_object
from studio.core.errors import describe_error
from studio.core.models.catalog import catalog
from studio.core.models.download import sha256_file
from studio.core.models.errors import ModelError, hash_mismatch, load_failure, reinstall_hint
from studio.core.models.sources import SourceAvailability, availability, describe, fetch
from studio.core.models.spec import BundledFile, ModelSpec, Source, UserFile

log = logging.getLogger(__name__)

RECORD = "record.json"
WEIGHTS = "model.safetensors"
TRAINED = ".trained"
STALE_AFTER_S = 24 * 3600  # where process ids cannot be checked, a leftover install folder this old is removed
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")  # the id of a file imported under its own id
RACY_S = 2.0  # a file modified this close to its hashing is hashed again (see ModelStore.status)

__all__ = ["InstallRecord", "ModelStatus", "ModelStore", "default_root"]


class ModelStatus(StrEnum):
    """What the store can say about a model on this machine."""

    INSTALLED = "installed"
    CAN_INSTALL = "can install"
    NEEDS_INTERNET = "needs internet"
    NEEDS_IMPORT = "needs import"
    BROKEN = "broken"  # cached, but a file is missing or fails verification


@dataclass(frozen=True)
class InstallRecord:
    """What was installed, from where, and the sha256 of every input and cached file."""

    model_id: str
    source: str
    inputs: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    converter: str | None = None
    studio_version: str = __version__
    installed_at: str = ""
    base: str | None = None  # for a file imported under its own id, the catalog model it is another of

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> InstallRecord:
        """Parse a record; a ValueError says what is wrong with it."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            record = cls(
                model_id=str(data["model_id"]),
                source=str(data["source"]),
                inputs={str(k): str(v) for k, v in dict(data.get("inputs", {})).items()},
                files={str(k): str(v) for k, v in dict(data["files"]).items()},
                converter=None if data.get("converter") is None else str(data["converter"]),
                studio_version=str(data.get("studio_version", "")),
                installed_at=str(data.get("installed_at", "")),
                base=None if data.get("base") is None else str(data["base"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"missing or malformed field ({type(exc).__name__}: {exc})") from None
        for name in record.files:
            _plain_name(name)
        return record


def _plain_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or name == RECORD:
        raise ValueError(f"{name!r} is not a plain file name")
    return name


def default_root() -> Path:
    """``<user cache dir>/studio/models`` (honours ``XDG_CACHE_HOME`` on Linux)."""
    return Path(platformdirs.user_cache_dir("studio", appauthor=False)) / "models"


class ModelStore:
    """Installs, verifies and loads the models of a catalog under one cache folder.

    Thread-safe for loads (a lock guards the LRU); run installs of one model
    from one thread at a time.
    """

    def __init__(
        self, root: Path | None = None, specs: Mapping[str, ModelSpec] | None = None, lru_size: int = 4
    ) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.specs: dict[str, ModelSpec] = dict(specs) if specs is not None else catalog()
        self.rescan()
        self.lru_size = lru_size
        self._lock = threading.RLock()
        self._loaded: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._hashed: dict[Path, tuple[tuple[int, int, int, int], str, float]] = {}

    def extend_catalog(self, specs: Mapping[str, ModelSpec]) -> None:
        """Know ``specs`` too (the models plugins bring), and the models trained or imported here on top of them."""
        self.specs |= specs
        self.rescan()

    def rescan(self) -> list[str]:
        """Know the models trained or imported on this root since this store last looked (by another process's
        ``studio train`` or ``studio models import``, say); the ids it learnt."""
        known = set(self.specs)
        self.specs |= self._trained_specs()
        self.specs |= self._imported_specs()
        return [model_id for model_id in self.specs if model_id not in known]

    # -- queries -----------------------------------------------------------------------------------------------

    def spec(self, model_id: str) -> ModelSpec:
        """The catalog entry of ``model_id``; an unknown id is a ModelError listing the known ones."""
        try:
            return self.specs[model_id]
        except KeyError:
            known = ", ".join(sorted(self.specs)) or "none"
            raise ModelError(
                f"there is no model {model_id!r}; known models: {known} (see `studio models list`)",
                model_id=model_id,
            ) from None

    def cached_path(self, model_id: str) -> Path:
        """The folder holding the model's cached files (it may not exist)."""
        self.spec(model_id)
        return self.root / _plain_name(model_id)

    def record(self, model_id: str) -> InstallRecord | None:
        """The install record, or None if the model is not installed; an unreadable record is a ModelError."""
        path = self.cached_path(model_id) / RECORD
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelError(
                f"{model_id}: cannot read {path}: {exc.strerror or exc}; {reinstall_hint(model_id)}",
                model_id=model_id,
                path=path,
            ) from exc
        except UnicodeDecodeError:
            raise ModelError(
                f"{model_id}: the install record {path} is damaged (not UTF-8 text); {reinstall_hint(model_id)}",
                model_id=model_id,
                path=path,
            ) from None
        try:
            record = InstallRecord.from_json(text)
        except ValueError as exc:
            raise ModelError(
                f"{model_id}: the install record {path} is damaged ({exc}); {reinstall_hint(model_id)}",
                model_id=model_id,
                path=path,
            ) from None
        if record.model_id != model_id:
            raise ModelError(
                f"{model_id}: the install record {path} is for {record.model_id!r}; {reinstall_hint(model_id)}",
                model_id=model_id,
                path=path,
            )
        return record

    def installed(self) -> list[str]:
        """Ids of the catalog's models that have an install record (verified or not)."""
        return [model_id for model_id in self.specs if (self.root / model_id / RECORD).is_file()]

    def status(self, model_id: str) -> ModelStatus:
        """Installed (and verified), broken, or how it could be installed.

        An installed model's files are hashed; a file whose size, times and inode
        are unchanged since this store hashed it (more than a moment after its
        last change) is not hashed again, so listing stays fast.
        """
        spec = self.spec(model_id)
        try:
            record = self.record(model_id)
            if record is not None and not _outdated(spec, record):
                self._check_files(model_id, record, reuse=True)
                return ModelStatus.INSTALLED
        except ModelError:
            return ModelStatus.BROKEN
        return _status_from_sources(spec.sources)

    def size_bytes(self, model_id: str) -> int:
        """Bytes the model's cached files take (0 when not installed)."""
        folder = self.cached_path(model_id)
        if not folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

    # -- install ---------------------------------------------------------------------------------------------

    def install(
        self, model_id: str, progress: Progress | None = None, cancelled: CancelCheck | None = None
    ) -> InstallRecord:
        """Fetch, verify, convert and cache ``model_id``, trying its sources in order.

        Hub sources are tried too (offline they fail at once). Raises
        :class:`ModelError` listing every source's failure if none works, or
        :class:`Cancelled`; either way nothing is left in the cache and a
        previous install of the model is untouched.
        """
        spec = self.spec(model_id)
        sources = [s for s in spec.sources if not isinstance(s, UserFile)]
        failures: list[str] = []
        for source in sources:
            check_cancelled(cancelled)
            label = describe(source)
            with self._workspace(model_id) as work:
                try:
                    fetched = fetch(
                        source,
                        work / "in",
                        partial_dir=work / "partial",
                        progress=_scaled(progress, 0.0, 0.85, f"{model_id} from {label}"),
                        cancelled=cancelled,
                        model_id=model_id,
                    )
                    check_cancelled(cancelled)
                    return self._commit(spec, source.converter, fetched, label, work, progress)
                except Cancelled:
                    raise
                except Exception as exc:  # collect every source's failure; a catalog bug must not stop the rest
                    log.info("%s: source %s failed: %s", model_id, label, exc)
                    failures.append(f"{label}: {describe_error(exc).removeprefix(f'{model_id}: ')}")
        raise ModelError(_nothing_worked(spec, failures), model_id=model_id)

    def import_file(self, model_id: str, path: str | os.PathLike[str], as_id: str | None = None) -> InstallRecord:
        """Install ``model_id`` from a file the user has, with the converter of the spec's UserFile source.

        The converter receives the file under the UserFile's name (the key); the path
        keeps the name of the given file, so messages name the user's file. A UserFile
        with ``companions`` brings the files that belong with the given one too, under
        their own names, checked by its ``companions`` function first. With ``as_id``
        the file is installed as another model of ``model_id``'s kind under its own id
        (its record names ``model_id``, so every store on this root knows it), and several
        such files live side by side.
        """
        if as_id is not None and as_id != model_id:
            spec = self._another_of(self.spec(model_id), as_id)
            known = self.specs.get(as_id)
            self.specs[as_id] = spec
            try:
                return self.import_file(as_id, path)
            finally:
                if known is None and self.record(as_id) is None:
                    del self.specs[as_id]
        spec = self.spec(model_id)
        user = next((s for s in spec.sources if isinstance(s, UserFile)), None)
        if user is None:
            raise ModelError(
                f"{model_id} cannot be imported from a file; install it with `studio models install {model_id}`",
                model_id=model_id,
            )
        given = Path(path)
        if not given.is_file():
            raise ModelError(
                f"{model_id}: {given} is not a file; give the path of {user.filename} ({user.hint})",
                model_id=model_id,
                path=given,
            )
        if user.companions is None:
            suffix = given.suffix.lower() or Path(user.filename).suffix
            sources = {user.filename: (given, given.stem + suffix)}  # messages of the converter name the user's file
        else:
            sources = {name: (file, name) for name, file in _companions(model_id, user.companions, given).items()}
        with self._workspace(model_id) as work:
            inbox = work / "in"
            inbox.mkdir()
            fetched = {}
            for key, (source, name) in sources.items():
                fetched[key] = inbox / name
                try:
                    shutil.copyfile(source, fetched[key])
                except OSError as exc:
                    raise ModelError(
                        f"{model_id}: cannot read {source}: {exc.strerror or exc}", model_id=model_id, path=source
                    ) from exc
            try:
                label = f"import {given.name}"
                return self._commit(spec, user.converter, fetched, label, work, None, base=spec.base)
            except ModelError:
                raise
            except Exception as exc:
                raise ModelError(
                    f"{model_id}: {given} could not be imported ({load_failure(exc)}); it should be {user.hint}",
                    model_id=model_id,
                    path=given,
                ) from exc

    def register_trained(self, spec: ModelSpec, weights: bytes) -> InstallRecord:
        """Keep a model trained here and install it, so ``load(spec.id)`` works at once.

        ``spec`` names its ``base`` (a model of this store, whose builder it shares);
        its id, title, description and provenance are kept in ``.trained/<id>.json``
        beside the weights (safetensors bytes of the builder's state dict), so every
        store made on this root later knows it while its base is in its catalog.
        """
        base = self.specs.get(spec.base or "")
        if base is None or base.base is not None:
            raise ModelError(f"{spec.id}: its base model {spec.base!r} is not a catalog model", model_id=spec.id)
        known = self.specs.get(spec.id)
        if known is not None and known.base is None:
            raise ModelError(f"{spec.id}: a catalog model already has this id; train under another name",
                             model_id=spec.id)  # fmt: skip
        folder = self.root / TRAINED
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / f"{_plain_name(spec.id)}.safetensors") as handle:
            handle.write(weights)
        entry = {
            "id": spec.id,
            "base": base.id,
            "title": spec.title,
            "description": spec.description,
            "provenance": spec.provenance,
            "sha256": hashlib.sha256(weights).hexdigest(),
            "size_mb": round(len(weights) / 1e6, 3),
        }
        with atomic_write(folder / f"{spec.id}.json") as handle:
            handle.write((json.dumps(entry, indent=2) + "\n").encode("utf-8"))
        self.specs[spec.id] = _trained_spec(base, entry, folder)
        return self.install(spec.id)

    def _trained_specs(self) -> dict[str, ModelSpec]:
        """The specs of the models trained on this root whose base this store knows."""
        found: dict[str, ModelSpec] = {}
        for path in sorted((self.root / TRAINED).glob("*.json")):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                base = self.specs.get(entry["base"])
                if base is None:  # a plugin's model, maybe, that extend_catalog brings later
                    log.debug("%s: its base model %s is not in this catalog", path, entry["base"])
                    continue
                spec = _trained_spec(base, entry, path.parent)
            except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
                log.warning("ignoring the trained model %s: %s", path, describe_error(exc))
                continue
            if spec.id != path.stem or self.specs.get(spec.id, spec) != spec:
                log.warning("ignoring the trained model %s: its id %r is taken or not its file's", path, spec.id)
                continue
            found[spec.id] = spec
        return found

    def _imported_specs(self) -> dict[str, ModelSpec]:
        """The specs of the files imported on this root under their own id (``import_file(..., as_id=...)``)."""
        found: dict[str, ModelSpec] = {}
        for path in sorted(self.root.glob(f"*/{RECORD}")):
            model_id = path.parent.name
            if model_id in self.specs:
                continue
            try:
                record = InstallRecord.from_json(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                log.warning("ignoring the install record %s: %s", path, describe_error(exc))
                continue
            base = self.specs.get(record.base or "")
            if base is not None and base.base is None and record.model_id == model_id:
                found[model_id] = _another_spec(base, model_id)
        return found

    def _another_of(self, base: ModelSpec, model_id: str) -> ModelSpec:
        """The spec of a file imported as another model of ``base``'s kind under the id ``model_id``."""
        if base.base is not None:
            raise ModelError(
                f"{base.id} is itself another {base.base}: import the file as another {base.base}", model_id=base.id
            )
        if not any(isinstance(source, UserFile) for source in base.sources):
            raise ModelError(f"{base.id} cannot be imported from a file", model_id=base.id)
        if not _ID.fullmatch(model_id):
            raise ModelError(
                f"{model_id!r} cannot be a model id: use letters, digits, _ . - (at most 64, not first . or -)",
                model_id=model_id,
            )
        known = self.specs.get(model_id)
        if known is not None and known.base != base.id:
            raise ModelError(
                f"{model_id} is already the id of another model ({known.title}); choose another name",
                model_id=model_id,
            )
        return _another_spec(base, model_id)

    # -- verify, remove --------------------------------------------------------------------------------------

    def verify(self, model_id: str) -> InstallRecord:
        """Re-hash every cached file against the record; a ModelError names the file and the fix."""
        record = self.record(model_id)
        unusable = _unusable(self.spec(model_id), record)
        if unusable or record is None:
            raise ModelError(f"{unusable}; install it with `studio models install {model_id}`", model_id=model_id)
        self._check_files(model_id, record, reuse=False)
        return record

    def remove(self, model_id: str) -> None:
        """Delete the model's cached files (nothing happens if it is not installed)."""
        folder = self.cached_path(model_id)
        with self._lock:
            for key in [k for k in self._loaded if k[0] == model_id]:
                del self._loaded[key]
            self._hashed = {p: v for p, v in self._hashed.items() if p.parent != folder}
        if not folder.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        trash = Path(tempfile.mkdtemp(prefix=f".trash-{model_id}-", dir=self.root))
        (trash / "owner").write_text(str(os.getpid()))
        os.replace(folder, trash / model_id)  # disappears in one rename, then is deleted
        shutil.rmtree(trash, ignore_errors=True)

    # -- load ------------------------------------------------------------------------------------------------

    def load(self, model_id: str, device: str = "cpu") -> Any:
        """The ready-to-use network: a torch module in eval mode on ``device`` with frozen weights.

        For formats "onnx" and "files" it is whatever the spec's builder makes of the cached
        files (given ``device`` too for "files"). The cached files are verified on every load from disk; the last
        ``lru_size`` loaded (id, device) pairs are kept and returned as they are.
        """
        key = (model_id, device)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            spec = self.spec(model_id)
            record = self.record(model_id)
            unusable = _unusable(spec, record)
            if unusable or record is None:
                raise ModelError(
                    f"{unusable}; install it with `studio models install {model_id}`"
                    + (" or open the Models dialog" if spec.default else ""),
                    model_id=model_id,
                )
            model = self._load_verified(spec, record, device)
            if self.lru_size > 0:
                self._loaded[key] = model
                while len(self._loaded) > self.lru_size:
                    self._loaded.popitem(last=False)
            return model

    def _load_verified(self, spec: ModelSpec, record: InstallRecord, device: str) -> Any:
        folder = self.cached_path(spec.id)
        if spec.format != "torch":
            self._check_files(spec.id, record, reuse=False)
            builder = _import(spec.id, "the network builder", spec.builder)
            try:
                files = {name: folder / name for name in record.files}
                return builder(files, device) if spec.format == "files" else builder(files)
            except Exception as exc:
                raise ModelError(
                    f"{spec.id}: cannot open the cached files in {folder} ({describe_error(exc)}); "
                    f"{reinstall_hint(spec.id)}",
                    model_id=spec.id,
                    path=folder,
                ) from exc
        import safetensors.torch

        if WEIGHTS not in record.files:
            raise ModelError(
                f"{spec.id}: the install record lists no {WEIGHTS}; {reinstall_hint(spec.id)}",
                model_id=spec.id,
                path=folder / RECORD,
            )
        path = folder / WEIGHTS
        data = self._read_verified(spec.id, path, record.files[WEIGHTS])  # what is hashed is what is loaded
        try:
            state = safetensors.torch.load(data)
        except Exception as exc:
            raise ModelError(
                f"{spec.id}: {path} is not a readable safetensors file ({exc}); {reinstall_hint(spec.id)}",
                model_id=spec.id,
                path=path,
            ) from exc
        model = self._build(spec)
        _load_state(spec.id, model, state, path)
        model.eval()
        model.requires_grad_(False)
        return model.to(device)

    # -- internals -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _workspace(self, model_id: str) -> Iterator[Path]:
        """A fresh ``root/.tmp-<id>-XXXX`` folder, removed whatever happens."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_stale()
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{model_id}-", dir=self.root))
        try:
            (work / "owner").write_text(str(os.getpid()))
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _clean_stale(self) -> None:
        """Remove install and trash folders left by processes that died (killed mid-download)."""
        for folder in [*self.root.glob(".tmp-*"), *self.root.glob(".trash-*")]:
            if folder.is_dir() and _abandoned(folder):
                log.info("removing %s, left by an interrupted install", folder)
                shutil.rmtree(folder, ignore_errors=True)

    def _commit(
        self,
        spec: ModelSpec,
        converter: str | None,
        fetched: Mapping[str, Path],
        label: str,
        work: Path,
        progress: Progress | None,
        base: str | None = None,
    ) -> InstallRecord:
        """Convert the fetched files, write them into the cache, and write the record last."""
        inputs = {name: sha256_file(path) for name, path in fetched.items()}
        out = work / "out"
        out.mkdir()
        if progress is not None:
            progress(0.9, f"Converting {spec.id}")
        if spec.format != "torch":
            if converter is not None:
                raise ModelError(
                    f"{spec.id}: the catalog gives {spec.id} a converter ({converter}), but its {spec.format} files "
                    "are cached as they are. This is a bug in the catalog: report it",
                    model_id=spec.id,
                )
            files = {}
            for name, path in fetched.items():
                shutil.copyfile(path, out / _plain_name(name))
                files[name] = sha256_file(out / name)
        else:
            data = self._convert(spec, converter, fetched)
            (out / WEIGHTS).write_bytes(data)
            files = {WEIGHTS: sha256_file(out / WEIGHTS)}
        if progress is not None:
            progress(0.95, f"Saving {spec.id}")
        record = InstallRecord(
            model_id=spec.id,
            source=label,
            inputs=inputs,
            files=files,
            converter=converter,
            studio_version=__version__,
            installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            base=base,
        )
        target = self.cached_path(spec.id)
        with self._lock:
            for key in [k for k in self._loaded if k[0] == spec.id]:
                del self._loaded[key]
            if target.exists():
                os.replace(target, work / "previous")  # the old install vanishes in one rename
            os.replace(out, target)
            with atomic_write(target / RECORD) as handle:
                handle.write(record.to_json().encode("utf-8"))
        if progress is not None:
            progress(1.0, f"Installed {spec.id}")
        return record

    def _convert(self, spec: ModelSpec, converter: str | None, fetched: Mapping[str, Path]) -> bytes:
        """Turn fetched files into the builder's weights, checked by loading them strictly, as safetensors bytes."""
        import safetensors.torch

        names = ", ".join(path.name for path in fetched.values())
        if converter is None:
            paths = list(fetched.values())
            if len(paths) != 1 or paths[0].suffix != ".safetensors":
                raise ModelError(
                    f"{spec.id}: the catalog names no converter for {names}; only a single .safetensors file can be "
                    "used as it is. This is a bug in the catalog: report it",
                    model_id=spec.id,
                )
            try:
                state = safetensors.torch.load_file(paths[0])
            except Exception as exc:
                raise ModelError(
                    f"{spec.id}: {paths[0].name} is not a readable safetensors file ({exc})",
                    model_id=spec.id,
                    path=paths[0],
                ) from exc
        else:
            convert = _import(spec.id, "the converter", converter)
            try:
                state = convert(dict(fetched))
            except ModelError as exc:
                message = exc.message if exc.message.startswith(f"{spec.id}:") else f"{spec.id}: {exc.message}"
                raise ModelError(message, model_id=spec.id, path=exc.path) from exc
            except Exception as exc:
                raise ModelError(
                    f"{spec.id}: converting {names} with {converter} failed ({load_failure(exc)})", model_id=spec.id
                ) from exc
        model = self._build(spec)
        _load_state(spec.id, model, state, None, converter)
        tensors = {name: value.detach().cpu().clone().contiguous() for name, value in model.state_dict().items()}
        return safetensors.torch.save(tensors, metadata={"model_id": spec.id, "studio_version": __version__})

    def _build(self, spec: ModelSpec) -> Any:
        return _import(spec.id, "the network builder", spec.builder)()

    def _check_files(self, model_id: str, record: InstallRecord, *, reuse: bool) -> None:
        folder = self.cached_path(model_id)
        if not record.files:
            raise ModelError(
                f"{model_id}: the install record lists no files; {reinstall_hint(model_id)}",
                model_id=model_id,
                path=folder / RECORD,
            )
        for name, expected in record.files.items():
            path = folder / name
            actual = self._hash(model_id, path, reuse=reuse)
            if actual != expected:
                raise hash_mismatch("the cached file", path, expected, actual, model_id=model_id)

    def _hash(self, model_id: str, path: Path, *, reuse: bool) -> str:
        try:
            stat = path.stat()
        except OSError as exc:
            raise _unreadable(model_id, path, exc) from None
        signature = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        with self._lock:
            known = self._hashed.get(path)
        if reuse and known is not None and known[0] == signature and stat.st_mtime < known[2] - RACY_S:
            return known[1]
        hashed_at = time.time()
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise _unreadable(model_id, path, exc) from exc
        with self._lock:
            self._hashed[path] = (signature, digest, hashed_at)
        return digest

    def _read_verified(self, model_id: str, path: Path, expected: str) -> bytes:
        import hashlib

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _unreadable(model_id, path, exc) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise hash_mismatch("the cached file", path, expected, actual, model_id=model_id)
        return data


def _import(model_id: str, what: str, target: str) -> Any:
    """``import_object(target)``, a missing module or name becoming a ModelError."""
    try:
        return import_object(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelError(
            f"{model_id}: {what} {target} is not available ({describe_error(exc)}); "
            "this Studio installation is incomplete: reinstall Studio",
            model_id=model_id,
        ) from exc


def _companions(model_id: str, function: str, given: Path) -> dict[str, Path]:
    """The files that make one model with the user's file ``given``, by a UserFile's ``companions`` function."""
    companions = _import(model_id, "the importer", function)
    try:
        found = companions(given)
    except ModelError as exc:
        message = exc.message if exc.message.startswith(f"{model_id}:") else f"{model_id}: {exc.message}"
        raise ModelError(message, model_id=model_id, path=exc.path) from exc
    except Exception as exc:
        raise ModelError(
            f"{model_id}: {given} could not be imported ({load_failure(exc)})", model_id=model_id, path=given
        ) from exc
    try:
        return {_plain_name(str(name)): Path(path) for name, path in dict(found).items()}
    except ValueError as exc:
        raise ModelError(f"{model_id}: {given} cannot be imported: {exc}", model_id=model_id, path=given) from None


def _another_spec(base: ModelSpec, model_id: str) -> ModelSpec:
    """The spec of a file imported as another model of ``base``'s kind under the id ``model_id``."""
    return dataclasses.replace(base, id=model_id, default=False, base=base.id)


def _trained_spec(base: ModelSpec, entry: Mapping[str, Any], folder: Path) -> ModelSpec:
    """The spec of a model trained from ``base``, whose weights are ``folder/<id>.safetensors``."""
    model_id = _plain_name(str(entry["id"]))
    return dataclasses.replace(
        base,
        id=model_id,
        title=str(entry["title"]),
        description=str(entry["description"]),
        provenance=str(entry["provenance"]),
        size_mb=float(entry["size_mb"]),
        sources=(BundledFile(str(folder / f"{model_id}.safetensors"), str(entry["sha256"])),),
        default=False,
        base=base.id,
    )


def _unreadable(model_id: str, path: Path, exc: OSError) -> ModelError:
    """The error for a cached file that is missing or cannot be read."""
    problem = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
    return ModelError(
        f"{model_id}: the cached file {path} {problem}; {reinstall_hint(model_id)}", model_id=model_id, path=path
    )


def _load_state(model_id: str, model: Any, state: Mapping[str, Any], path: Path | None, converter: str = "") -> None:
    """``model.load_state_dict(state, strict=True)``, a mismatch becoming a ModelError."""
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 600:
            detail = detail[:600] + " ..."
        if path is None:
            raise ModelError(
                f"{model_id}: the weights converted by {converter or 'the catalog'} do not fit the network "
                f"({detail}). This is a bug in the converter or the file is not the expected one: report it",
                model_id=model_id,
            ) from None
        raise ModelError(
            f"{model_id}: the cached weights {path} do not fit the network ({detail}); {reinstall_hint(model_id)}",
            model_id=model_id,
            path=path,
        ) from None


def _unusable(spec: ModelSpec, record: InstallRecord | None) -> str:
    """Why a model with install ``record`` cannot be loaded before it is installed (again); empty if it can."""
    if record is None:
        return f"{spec.id} is not installed"
    return f"{spec.id} in the cache is older than the weights shipped now" if _outdated(spec, record) else ""


def _outdated(spec: ModelSpec, record: InstallRecord) -> bool:
    """Whether ``record`` was installed from a bundled file that now pins other weights (an update of Studio or a
    plugin shipped new ones): the model is then to be installed again, not used."""
    return any(record.inputs.get(Path(source.path).name, source.sha256) != source.sha256
               for source in spec.sources if isinstance(source, BundledFile))  # fmt: skip


def _status_from_sources(sources: tuple[Source, ...]) -> ModelStatus:
    found = {availability(source) for source in sources}
    if found & {SourceAvailability.READY, SourceAvailability.CAN_INSTALL}:
        return ModelStatus.CAN_INSTALL
    if SourceAvailability.NEEDS_INTERNET in found:
        return ModelStatus.NEEDS_INTERNET
    return ModelStatus.NEEDS_IMPORT


def _nothing_worked(spec: ModelSpec, failures: list[str]) -> str:
    lines = [f"{spec.id} could not be installed from any of its sources:"]
    lines += [f"  - {failure}" for failure in failures] or ["  (it has no source that can be fetched automatically)"]
    hints = []
    if any(failure.startswith("hub ") for failure in failures):
        hints.append(f"connect to the internet and run `studio models install {spec.id}` again")
    user = next((s for s in spec.sources if isinstance(s, UserFile)), None)
    if user is not None:
        hints.append(f"import {user.filename} ({user.hint}) with `studio models import {spec.id} FILE`")
    if hints:
        lines.append("What to do: " + "; or ".join(hints) + ".")
    return "\n".join(lines)


def _scaled(progress: Progress | None, start: float, end: float, prefix: str) -> Progress | None:
    if progress is None:
        return None

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message or prefix)

    return report


def _abandoned(folder: Path) -> bool:
    try:
        pid = int((folder / "owner").read_text().strip())
    except (OSError, ValueError):
        pid = None
    if os.name == "posix" and pid is not None:
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        return time.time() - folder.stat().st_mtime > STALE_AFTER_S
    except OSError:
        return False
