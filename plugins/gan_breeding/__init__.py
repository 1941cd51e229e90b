"""GAN breeding: children, crossbreeding, gene sliders, style mixing, latent walks and lineage, offline."""
