"""Engine of the style-transfer plugin: dispatches to the optimisation or the feed-forward mode."""

from __future__ import annotations

from collections.abc import Iterator

from studio_plugins.style_transfer.params import StyleParams

from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext


def run(params: StyleParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """Paint ``inputs.image`` in the given style(s); previews stream, the last frame holds the result."""
    if params.mode == "fast":
        from studio_plugins.style_transfer.fast import run as fast_run

        yield from fast_run(params, inputs, ctx)
    else:
        from studio_plugins.style_transfer.optimise import run as optimise_run

        yield from optimise_run(params, inputs, ctx)
