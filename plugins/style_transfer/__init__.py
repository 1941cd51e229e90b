"""Neural style transfer: Gatys-style optimisation at print size, and real-time feed-forward styles."""

from studio.core.inputs import IMAGE, MASK
from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="style_transfer",
    title="Style transfer",
    params="studio_plugins.style_transfer.params:StyleParams",
    engine="studio_plugins.style_transfer.engine:run",
    panel="studio_plugins.style_transfer.panel:StylePanel",
    models=("vgg16", "vgg19", "alexnet", "vgg16_hed", "efficientnet_lite0", "magenta_arbitrary", "multistyle26"),
    inputs=(IMAGE, MASK),
    description=(
        "Paints the picture in the style of one or more style images: optimised (Gatys et al.) at any size, "
        "or in real time with feed-forward networks."
    ),
)
