"""Generative rules: images made from simple rules and random input."""

from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="generative",
    title="Generative rules",
    params="plugins.generative.params:GenerativeParams",
    engine="plugins.generative.engine:run",
    accelerated=False,
    description=(
        "Lindenmayer plants and curves, Mondrian compositions, ridgelines and flow fields, drawn progressively."
    ),
)
