"""Inpainting: fills the holes an artist paints over a picture with a partial-convolution U-Net (Liu et al. 2018)."""

from dataclasses import replace

from studio.core.inputs import IMAGE, MASK
from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="inpainting",
    title="Inpainting",
    params="studio_plugins.inpainting.params:InpaintParams",
    engine="studio_plugins.inpainting.engine:run",
    panel="studio_plugins.inpainting.panel:InpaintPanel",
    inputs=(
        IMAGE,
        replace(MASK, required=True, title="Holes", help="what to fill: paint over it (white in a mask file)"),
    ),
    models=("pconv_inpaint",),
    model_specs="studio_plugins.inpainting.models:SPECS",
    trainer="studio_plugins.inpainting.train:train",
    train_params="studio_plugins.inpainting.train:TrainParams",
    description=(
        "Fills the masked holes with what belongs there: a partial-convolution network Studio trained on "
        "photographs (or one you trained on your own pictures), or OpenCV's Telea and Navier-Stokes fills."
    ),
)
