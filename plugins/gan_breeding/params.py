"""Parameters of the GAN breeding plugin, shared by ``studio run gan_breeding`` and batch jobs.

A picture is the seed's sample of the generator, or the styles of a bred picture (its recipe); children and
walks start from it.
The generator's own pictures are small (64 px), so the result is scaled (Lanczos)
to fit the canvas, centred, transparent around it where the canvas is not square.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio_plugins.gan_breeding.breeding import Easing

from studio.core.params import Param

Mode = Literal["image", "children", "walk"]

CHILDREN = {"mode": "children"}
WALK = {"mode": "walk"}


@dataclass
class BreedParams:
    """Which generator, which sample, and what to make of it; the defaults give the seed's picture."""

    generator: Annotated[
        str,
        Param(
            "The generator: dcgan_faces64 (synthetic faces; its training data is for research use only), "
            "rules_gan64 (Studio's generative-rules art, once released), one you trained (its id "
            "in the Models dialog) or gan_generator (one you imported: `studio models import gan_generator FILE`)"
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
    styles: Annotated[
        str,
        Param(
            "A bred picture's styles (what its recipe holds: num_ws x w_dim numbers, row by row), used instead of "
            "the seed's sample; the seed then only fixes the noise. Empty = the seed's sample",
            widget="numbers",
        ),
    ] = ""
    mode: Annotated[
        Mode,
        Param(
            "image = the seed's picture; children = a grid of the seed's picture (in the centre) and its "
            "children, each also a file; walk = frames from the seed's picture to walk_seed's (or walk_styles'), a "
            "strip of them, and a GIF, WebP and MP4"
        ),
    ] = "image"
    children: Annotated[
        int, Param("Cells on a side of the grid (3 = 8 children)", min=3, max=5, applies_when=CHILDREN)
    ] = 3
    mutation: Annotated[
        float,
        Param("How far children stray from the parent; 1 = unrelated", min=0.0, max=1.0, applies_when=CHILDREN),
    ] = 0.3
    walk_steps: Annotated[
        int,
        Param(
            "Frames, both ends included; in a loop, the frames from each picture to the next",
            min=2,
            max=240,
            applies_when=WALK,
        ),
    ] = 48
    walk_seed: Annotated[
        int,
        Param(
            "The seed of the picture the walk ends at (when walk_styles is empty)",
            min=0,
            max=2**31 - 1,
            applies_when=WALK,
        ),
    ] = 1
    walk_styles: Annotated[
        str,
        Param(
            "The styles of the pictures the walk goes to, one picture's num_ws x w_dim numbers after another "
            "(bred pictures' recipes), instead of walk_seed's sample; more than one picture only in a loop",
            widget="numbers",
            applies_when=WALK,
        ),
    ] = ""
    walk_loop: Annotated[
        bool,
        Param(
            "Loop: from the start through each picture of the walk and back to the start, so the animation "
            "runs on without a jump",
            applies_when=WALK,
        ),
    ] = False
    easing: Annotated[Easing, Param("linear = an even pace; ease-in-out = slow at both ends", applies_when=WALK)] = (
        "linear"
    )
    fps: Annotated[int, Param("Frames per second of the GIF, WebP and MP4", min=1, max=60, applies_when=WALK)] = 12
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
