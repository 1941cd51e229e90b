"""The drawing rules of the generative plugin, each a generator of progress values.

Every rule has the signature ``draw(params, canvas, rng, palette_rng, check)``:
it paints into ``canvas`` in place and yields its progress (0..1, increasing)
each time a visible piece is done, so the engine can stream previews; it calls
``check()`` (which raises on cancel) during long invisible work. Geometry comes
from ``rng`` and colour choices from ``palette_rng``, both seeded, and all
positions are in units of the canvas's short side, so any size shows the same
artwork.

- ``lsystem``: Lindenmayer systems (Lindenmayer 1968; Prusinkiewicz &
  Lindenmayer, "The Algorithmic Beauty of Plants", 1990).
- ``mondrian``: recursive rectangle splits after Piet Mondrian's compositions.
- ``ridgelines``: stacked, occluding noise lines after the "Unknown Pleasures"
  cover (Peter Saville, 1979, from pulsar CP 1919 data).
- ``flow_field``: particles following Perlin-style gradient noise (Perlin 1985,
  2002), as popularised by Tyler Hobbs's "Flow Fields" essay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.generative.rules import flow_field, lsystem, mondrian, ridgelines
from studio_plugins.generative.rules.canvas import Canvas


class Rule(Protocol):
    def __call__(
        self,
        p: GenerativeParams,
        canvas: Canvas,
        rng: np.random.Generator,
        palette_rng: np.random.Generator,
        check: Callable[[], None],
    ) -> Iterator[float]: ...


RULES: dict[str, Rule] = {
    "lsystem": lsystem.draw,
    "mondrian": mondrian.draw,
    "ridgelines": ridgelines.draw,
    "flow_field": flow_field.draw,
}

__all__ = ["RULES", "Canvas", "Rule"]
