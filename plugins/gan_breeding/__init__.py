"""GAN breeding: children, crossbreeding, gene sliders, style mixing, latent walks and lineage, offline."""

from studio.core.plugin import PluginManifest

MANIFEST = PluginManifest(
    id="gan_breeding",
    title="GAN breeding",
    params="studio_plugins.gan_breeding.params:BreedParams",
    engine="studio_plugins.gan_breeding.engine:run",
    panel="studio_plugins.gan_breeding.panel:BreedPanel",
    models=("dcgan_faces64", "rules_gan64", "gan_generator"),
    model_specs="studio_plugins.gan_breeding.models:SPECS",
    trainer="studio_plugins.gan_breeding.train:train",
    train_params="studio_plugins.gan_breeding.train:TrainParams",
    aliases=("gan",),
    description=(
        "Pictures bred from a generator's samples, made from nothing: a seed's picture, a grid of its children or "
        "a walk to another seed (frames, GIF, WebP and MP4). dcgan_faces64 makes synthetic faces whose training "
        "data (DigiFace-1M) is for research use only; rules_gan64 and generators you train or import are yours."
    ),
)
