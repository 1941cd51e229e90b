"""Render the GAN breeding plugin's training pictures with the Generative rules plugin (``make gan-data``):
``scripts/gan_data.py OUT [--count N] [--heldout M] [--size 64]``."""

import sys

from studio_plugins.gan_breeding.rules_data import main

if __name__ == "__main__":
    sys.exit(main())
