"""The plugin contract: a cheap manifest registered through an entry point.

Built-in plugins register exactly as third-party ones do, in the
``studio.plugins`` entry-point group. Nothing heavy is imported until a
plugin's engine runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from studio.core.jobs import Engine
from studio.core.params import param_fields

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "studio.plugins"


def import_object(target: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, sep, attribute = target.partition(":")
    if not sep:
        raise ValueError(f"{target!r} is not of the form module:attribute")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class PluginManifest:
    """What Studio knows about a plugin before importing its engine.

    ``params``, ``engine`` and ``panel`` are import paths (``module:name``).
    ``uses_image``/``uses_mask`` say whether the engine reads the document's
    composite image or its mask. ``accelerated=False`` marks an engine that
    computes with numpy on the CPU: its jobs never pick a GPU or import torch.
    """

    id: str
    title: str
    params: str
    engine: str
    panel: str | None = None
    models: tuple[str, ...] = ()
    description: str = ""
    uses_image: bool = False
    uses_mask: bool = False
    accelerated: bool = True

    @property
    def device(self) -> str | None:
        """The device its jobs ask for: None for the best available, "cpu" when not accelerated."""
        return None if self.accelerated else "cpu"

    def params_class(self) -> type:
        return import_object(self.params)

    def engine_function(self) -> Engine:
        return import_object(self.engine)

    def panel_factory(self) -> Any | None:
        return import_object(self.panel) if self.panel else None


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

    def get(self, plugin_id: str) -> PluginManifest:
        try:
            return self.plugins[plugin_id]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise KeyError(f"no plugin {plugin_id!r}; installed plugins: {known}") from None


def discover_plugins(eps: Iterable[EntryPoint] | None = None) -> PluginRegistry:
    """Load every manifest in the ``studio.plugins`` group.

    A plugin whose entry point fails to import, is not a manifest, or has an
    unusable params class is recorded in ``errors`` and skipped.
    """
    registry = PluginRegistry()
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        try:
            manifest = ep.load()
            if not isinstance(manifest, PluginManifest):
                raise TypeError(f"{ep.value} is a {type(manifest).__name__}, not a PluginManifest")
            if manifest.id in registry.plugins:
                raise ValueError(f"plugin id {manifest.id!r} is already used by another plugin")
            param_fields(manifest.params_class())
        except Exception as exc:  # any failure in third-party code must not take the app down
            log.warning("plugin %s failed to load: %s", ep.name, exc)
            registry.errors.append(PluginLoadError(ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
            continue
        registry.plugins[manifest.id] = manifest
    return registry
