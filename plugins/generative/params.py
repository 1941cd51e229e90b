"""Parameters of the generative-rules plugin.

Sizes are resolution independent: positions live in units of the canvas's
short side and widths are given in pixels on a 1024 px canvas, so a 512 px
and a 4096 px render of the same parameters show the same artwork.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from studio.core.params import Param

Rule = Literal["lsystem", "mondrian", "ridgelines", "flow_field"]
Palette = Literal["classic", "random", "custom", "sunset", "ocean", "forest", "neon", "pastel", "ink_on_paper"]
LSystemPreset = Literal[
    "fractal_plant",
    "tree",
    "bush",
    "stochastic_weed",
    "dragon_curve",
    "koch_snowflake",
    "hilbert_curve",
    "gosper_curve",
    "sierpinski_arrowhead",
    "levy_c_curve",
]

CUSTOM = {"palette": "custom"}
LSYSTEM = {"rule": "lsystem"}
MONDRIAN = {"rule": "mondrian"}
RIDGELINES = {"rule": "ridgelines"}
FLOW = {"rule": "flow_field"}


@dataclass
class GenerativeParams:
    """What to draw and how; every field has a default that renders a good image."""

    rule: Annotated[
        Rule,
        Param(
            "What to draw: lsystem = plants and fractal curves, mondrian = rectangles and black lines, "
            "ridgelines = stacked noise lines, flow_field = particles following swirling noise"
        ),
    ] = "flow_field"
    seed: Annotated[
        int, Param("Random seed: the same seed and size give the same picture", min=0, max=2**31 - 1, role="seed")
    ] = 1
    size: Annotated[
        int,
        Param(
            "Long side of the picture in pixels; 0 = the document's size (the artwork scales with it)",
            min=0,
            max=32768,
            step=64,
            role="size",
        ),
    ] = 0
    palette: Annotated[
        Palette,
        Param(
            "Colours: classic = the rule's signature look, random = a palette picked by the seed, "
            "custom = the background and ink colours below, or a named palette"
        ),
    ] = "classic"
    background: Annotated[str, Param("Background colour", widget="color", applies_when=CUSTOM)] = "#101014"
    ink: Annotated[str, Param("Line colour; fills use tints of it", widget="color", applies_when=CUSTOM)] = "#f2efe6"
    line_width: Annotated[
        float,
        Param(
            "Line width in pixels on a 1024 px canvas, scaled with the short side; 0 = the rule's own width",
            min=0.0,
            max=64.0,
            step=0.1,
        ),
    ] = 0.0
    margin: Annotated[
        float,
        Param(
            "Empty border around the drawing, as a fraction of the short side",
            min=0.0,
            max=0.4,
            applies_when={"rule": ("lsystem", "ridgelines")},
        ),
    ] = 0.06
    lsystem_preset: Annotated[
        LSystemPreset,
        Param("Which L-system: four plants, then six fractal curves", label="Preset", applies_when=LSYSTEM),
    ] = "fractal_plant"
    lsystem_iterations: Annotated[
        int,
        Param(
            "Rewriting steps (more = finer detail, stops at 250,000 segments); 0 = the preset's own",
            min=0,
            max=16,
            label="Iterations",
            applies_when=LSYSTEM,
        ),
    ] = 0
    lsystem_angle: Annotated[
        float,
        Param(
            "Turning angle in degrees; 0 = the preset's own",
            min=0.0,
            max=180.0,
            step=0.5,
            label="Angle",
            applies_when=LSYSTEM,
        ),
    ] = 0.0
    jitter: Annotated[
        float,
        Param(
            "Random variation of angles and lengths for organic growth; 0 = exact geometry",
            min=0,
            max=1,
            applies_when=LSYSTEM,
        ),
    ] = 0.3
    mondrian_splits: Annotated[
        int, Param("How many times the canvas is split", min=1, max=200, label="Splits", applies_when=MONDRIAN)
    ] = 11
    mondrian_fill: Annotated[
        float,
        Param(
            "Fraction of rectangles painted in colour",
            min=0.0,
            max=1.0,
            step=0.05,
            label="Colour fill",
            applies_when=MONDRIAN,
        ),
    ] = 0.35
    ridgelines_count: Annotated[
        int, Param("Number of stacked lines", min=2, max=400, label="Lines", applies_when=RIDGELINES)
    ] = 64
    ridge_height: Annotated[
        float,
        Param(
            "Height of the tallest peaks, in line spacings",
            min=0.0,
            max=40.0,
            step=0.5,
            label="Peak height",
            applies_when=RIDGELINES,
        ),
    ] = 9.0
    flow_particles: Annotated[
        int, Param("Curves per square of the short side", min=1, max=20000, label="Curves", applies_when=FLOW)
    ] = 1500
    flow_steps: Annotated[
        int, Param("Length of each curve in steps", min=2, max=1000, label="Curve length", applies_when=FLOW)
    ] = 140
    flow_scale: Annotated[
        float,
        Param(
            "Swirls per short side (larger = tighter swirls)",
            min=0.1,
            max=20.0,
            step=0.1,
            label="Swirl scale",
            applies_when=FLOW,
        ),
    ] = 2.0
    flow_opacity: Annotated[
        float,
        Param("Opacity of each curve", min=0.01, max=1.0, step=0.01, label="Curve opacity", applies_when=FLOW),
    ] = 0.45
