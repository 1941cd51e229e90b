"""Probe: a small plugin that exercises the whole plugin contract in the tests.

It reads the picture, a mask and a label map, loads its own network from a
file under tests/, makes one result image plus named outputs (a layer, a new
document and files), and can be trained as a long job.
"""

from studio.core.inputs import IMAGE, InputSpec
from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="probe",
    title="Probe",
    params="probe_plugin.engine:ProbeParams",
    engine="probe_plugin.engine:run",
    panel="probe_plugin.panel:ProbePanel",
    inputs=(
        IMAGE,
        InputSpec("mask", "mask", required=True, title="Mask", help="where the network repaints"),
        InputSpec("labels", "labels", title="Label map", help="regions to summarise"),
        InputSpec("tint", "image", title="Tint picture", help="its mean colour tints the result"),
    ),
    models=("probe_net",),
    model_specs="probe_plugin.models:SPECS",
    trainer="probe_plugin.train:train",
    train_params="probe_plugin.train:TrainParams",
    description="Repaints the masked part with a tiny network and reports the label map's regions.",
)
