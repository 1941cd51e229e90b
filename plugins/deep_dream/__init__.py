"""Deep Dream: amplify what a network sees in a picture, octave by octave, at any size, as stills or zooms."""

from studio.core.inputs import IMAGE, MASK
from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="deep_dream",
    title="Deep Dream",
    params="studio_plugins.deep_dream.params:DreamParams",
    engine="studio_plugins.deep_dream.engine:run",
    models=("inception_v3", "vgg16", "alexnet", "efficientnet_lite0"),
    inputs=(IMAGE, MASK),
    description=(
        "Gradient ascent on a network layer, channels or a guide image's features, over octaves, "
        "in seam-free shifted tiles; the mask sets where it dreams; optional zoom animation."
    ),
)
