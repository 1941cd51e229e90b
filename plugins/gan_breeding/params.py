"""Parameters of the GAN breeding plugin, shared by ``studio run gan_breeding`` and batch jobs.

A picture is the seed's sample of the generator; children and walks start from it.
The generator's own pictures are small (64 px), so the result is scaled (Lanczos)
to fit the canvas, centred, transparent around it where the canvas is not square.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio_plugins.gan_breeding.breeding import Easing

from studio.core.params import Param

Mode = Literal["image", "children", "walk"]


@dataclass
class BreedParams:
    """Which generator, which sample, and what to make of it; the defaults give the seed's picture."""

    generator: Annotated[
        str,
        Param(
            "The generator: dcgan_faces64 (synthetic faces; its training data is for research use only), "
            "rules_gan64 (Studio's generative-rules art, once released) or one you trained (its id "
            "in the Models dialog)"
        ),
    ] = "dcgan_faces64"
    seed: Annotated[
        int, Param("The sample: the same seed and generator give the same picture", min=0, max=2**31 - 1, role="seed")
    ] = 0
    truncation: Annotated[
        float,
        Param(
            "Pull towards the generator's average picture: lower = more typical and cleaner, 1 = untouched, "
            "above 1 = wilder",
            min=0.0,
            max=1.5,
            step=0.05,
        ),
    ] = 0.7
    mode: Annotated[
        Mode,
        Param(
            "image = the seed's picture; children = a grid of the seed's picture (in the centre) and its "
            "children, each also a file; walk = frames from the seed's picture to walk_seed's, and a GIF and WebP"
        ),
    ] = "image"
    children: Annotated[int, Param("Children mode: cells on a side of the grid (3 = 8 children)", min=3, max=5)] = 3
    mutation: Annotated[
        float, Param("Children mode: how far children stray from the parent; 1 = unrelated", min=0.0, max=1.0)
    ] = 0.3
    walk_steps: Annotated[int, Param("Walk mode: frames, both ends included", min=2, max=240)] = 48
    walk_seed: Annotated[int, Param("Walk mode: the seed of the picture the walk ends at", min=0, max=2**31 - 1)] = 1
    easing: Annotated[Easing, Param("Walk mode: linear = an even pace; ease-in-out = slow at both ends")] = "linear"
    fps: Annotated[int, Param("Walk mode: frames per second of the GIF and WebP", min=1, max=60)] = 12
    size: Annotated[
        int,
        Param(
            "Long side of the result in pixels, the generator's picture scaled up to it; 0 = the canvas's size "
            "(the document's; 1024 x 1024 for `studio run` without --size)",
            min=0,
            max=32768,
            step=64,
            role="size",
        ),
    ] = 0
