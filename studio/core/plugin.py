"""The plugin contract: a cheap manifest registered through an entry point.

Built-in plugins register exactly as third-party ones do, in the
``studio.plugins`` entry-point group. Nothing heavy is imported until a
plugin's engine runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from studio.core.dynamic import import_object
from studio.core.inputs import InputSpec
from studio.core.jobs import Engine
from studio.core.models.catalog import catalog
from studio.core.models.spec import ModelSpec
from studio.core.params import check_roles
from studio.core.training import Trainer

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "studio.plugins"


@dataclass(frozen=True)
class PluginManifest:
    """What Studio knows about a plugin before importing its engine.

    ``params``, ``engine`` and ``panel`` are import paths (``module:name``).
    ``inputs`` declares what the engine reads (see :class:`InputSpec`); the host
    builds them (:func:`studio.core.inputs.build_inputs`). ``models`` lists the
    ids of the models the engine may load; ``model_specs`` names a sequence of
    :class:`~studio.core.models.spec.ModelSpec` the plugin brings (its own trained
    files included), added to the store at start-up. ``trainer`` and
    ``train_params`` name a long job that trains one of them
    (:mod:`studio.core.training`). ``accelerated=False`` marks an engine that
    computes with numpy on the CPU: its jobs never pick a GPU or import torch.
    ``aliases`` are shorter names the command line and job files accept for ``id``.
    """

    id: str
    title: str
    params: str
    engine: str
    panel: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    models: tuple[str, ...] = ()
    model_specs: str | None = None
    trainer: str | None = None
    train_params: str | None = None
    description: str = ""
    accelerated: bool = True
    aliases: tuple[str, ...] = ()

    @property
    def device(self) -> str | None:
        """The device its jobs ask for: None for the best available, "cpu" when not accelerated."""
        return None if self.accelerated else "cpu"

    def input(self, name: str) -> InputSpec | None:
        """The declared input ``name``, or None."""
        return next((spec for spec in self.inputs if spec.name == name), None)

    def reads(self, name: str) -> bool:
        """Whether the plugin declares the input ``name``."""
        return self.input(name) is not None

    def params_class(self) -> type:
        return import_object(self.params)

    def engine_function(self) -> Engine:
        return import_object(self.engine)

    def panel_factory(self) -> Any | None:
        return import_object(self.panel) if self.panel else None

    def brought_models(self) -> tuple[ModelSpec, ...]:
        """The model specs the plugin brings (empty when it brings none)."""
        return tuple(import_object(self.model_specs)) if self.model_specs else ()

    def train_params_class(self) -> type:
        if self.train_params is None:
            raise ValueError(f"{self.title} cannot be trained")
        return import_object(self.train_params)

    def trainer_function(self) -> Trainer:
        if self.trainer is None:
            raise ValueError(f"{self.title} cannot be trained")
        return import_object(self.trainer)

    def check(self) -> None:
        """Raise if the manifest is unusable: bad params class, roles, inputs or brought models."""
        params = self.params_class()
        check_roles(params)
        names = [spec.name for spec in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"plugin {self.id!r} declares an input twice: {', '.join(names)}")
        for spec in self.inputs:
            if spec.from_document and spec.kind != spec.name:
                raise ValueError(f"plugin {self.id!r}: the document input {spec.name!r} must be of kind {spec.name!r}")
        for spec in self.brought_models():
            if not isinstance(spec, ModelSpec):
                kind = type(spec).__name__
                raise TypeError(f"plugin {self.id!r}: {self.model_specs} holds a {kind}, not a ModelSpec")
        if (self.trainer is None) != (self.train_params is None):
            raise ValueError(f"plugin {self.id!r}: trainer and train_params are declared together")
        if self.train_params is not None:
            check_roles(self.train_params_class())


@dataclass(frozen=True)
class PluginLoadError:
    """A plugin that could not be loaded, and why."""

    name: str
    target: str
    error: str


@dataclass
class PluginRegistry:
    """The plugins that loaded, and the ones that did not."""

    plugins: dict[str, PluginManifest] = field(default_factory=dict)
    errors: list[PluginLoadError] = field(default_factory=list)

    def find(self, name: str) -> PluginManifest | None:
        """The plugin whose id or one of whose aliases is ``name``, or None."""
        if name in self.plugins:
            return self.plugins[name]
        return next((manifest for manifest in self.plugins.values() if name in manifest.aliases), None)

    def get(self, name: str) -> PluginManifest:
        """The plugin whose id or alias is ``name``; a KeyError listing the installed ones when there is none."""
        manifest = self.find(name)
        if manifest is None:
            raise KeyError(f"no plugin {name!r}; installed plugins: {self.known()}")
        return manifest

    def known(self) -> str:
        """The installed plugins' ids for a message ("none" when there are none)."""
        return ", ".join(sorted(self.plugins)) or "none"

    def users_of(self, model_id: str) -> list[str]:
        """The ids of the plugins that use ``model_id``."""
        return [m.id for m in self.plugins.values() if model_id in m.models]

    def model_catalog(self, base: Mapping[str, ModelSpec] | None = None) -> dict[str, ModelSpec]:
        """``base`` (Studio's catalog by default) with every model the plugins bring, by id: what a store is
        made with.

        A plugin whose brought models clash with another's ids, or that uses a model no one
        provides, is moved to ``errors``: an unknown model id is never silently ignored.
        """
        specs = dict(catalog() if base is None else base)
        for manifest in list(self.plugins.values()):
            try:
                brought = {spec.id: spec for spec in manifest.brought_models()}
                clash = sorted(set(brought) & set(specs))
                if clash:
                    raise ValueError(f"it brings a model whose id is already taken: {', '.join(clash)}")
                unknown = sorted(set(manifest.models) - set(specs) - set(brought))
                if unknown:
                    raise ValueError(f"it uses models no catalog entry provides: {', '.join(unknown)}")
            except Exception as exc:  # third-party code must not take the app down
                self._reject(manifest, exc)
                continue
            specs |= brought
        return specs

    def _reject(self, manifest: PluginManifest, exc: Exception) -> None:
        log.warning("plugin %s failed to load: %s", manifest.id, exc)
        del self.plugins[manifest.id]
        self.errors.append(PluginLoadError(manifest.id, manifest.engine, f"{type(exc).__name__}: {exc}"))


def discover_plugins(eps: Iterable[EntryPoint] | None = None) -> PluginRegistry:
    """Load every manifest in the ``studio.plugins`` group.

    A plugin whose entry point fails to import, is not a manifest, or fails
    :meth:`PluginManifest.check` is recorded in ``errors`` and skipped.
    """
    registry = PluginRegistry()
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        try:
            manifest = ep.load()
            if not isinstance(manifest, PluginManifest):
                raise TypeError(f"{ep.value} is a {type(manifest).__name__}, not a PluginManifest")
            taken = sorted({manifest.id, *manifest.aliases} & _names(registry))
            if taken:
                raise ValueError(f"plugin {manifest.id!r}: the name {', '.join(map(repr, taken))} is already used by "
                                 f"another plugin")  # fmt: skip
            manifest.check()
        except Exception as exc:  # any failure in third-party code must not take the app down
            log.warning("plugin %s failed to load: %s", ep.name, exc)
            registry.errors.append(PluginLoadError(ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
            continue
        registry.plugins[manifest.id] = manifest
    return registry


def _names(registry: PluginRegistry) -> set[str]:
    """Every id and alias of the plugins in ``registry``."""
    return {name for manifest in registry.plugins.values() for name in (manifest.id, *manifest.aliases)}
