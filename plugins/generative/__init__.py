"""Generative rules: images made from simple rules and random input."""

from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="generative",
    title="Generative rules",
    params="studio_plugins.generative.params:GenerativeParams",
    engine="studio_plugins.generative.engine:run",
    accelerated=False,
    description=(
        "Lindenmayer plants and curves, Mondrian compositions, ridgelines and flow fields, drawn progressively."
    ),
)
