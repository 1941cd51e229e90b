"""Neural doodle: a painting whose every region is textured from the matching region of a style painting."""

from dataclasses import replace

from studio_plugins.doodle.params import TEXTURE_INPUTS

from studio.core.inputs import IMAGE, LABELS, InputSpec
from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="doodle",
    title="Neural doodle",
    params="studio_plugins.doodle.params:DoodleParams",
    engine="studio_plugins.doodle.engine:run",
    panel="studio_plugins.doodle.panel:DoodlePanel",
    models=("vgg16", "vgg19", "alexnet", "vgg16_hed", "efficientnet_lite0"),
    inputs=(
        replace(LABELS, required=True, title="Doodle", help="the regions to paint, in flat colours"),
        replace(IMAGE, required=False, title="Content picture", help="kept in structure when content_weight > 0"),
        InputSpec("style", "image", required=True, title="Style painting", help="the painting whose textures are used"),
        InputSpec(
            "style_labels",
            "labels",
            required=True,
            title="Style label map",
            help="the style painting's regions, in the doodle's colours",
        ),
        *(
            InputSpec(
                name,
                "image",
                required=False,
                title=f"Texture picture {name[-1]}",
                help="a whole picture that texture regions take theirs from (region_textures)",
            )
            for name in TEXTURE_INPUTS
        ),
    ),
    description=(
        "Turns a doodle of flat-coloured regions into a painting: each region is textured from the region of the "
        "style painting that has the same colour in its label map (Champandard 2016)."
    ),
)
