"""Test plugins: an engine that fails part-way, a plugin that needs a model, and one whose result is its input."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from studio.core.inputs import IMAGE, Inputs
from studio.core.jobs import Frame, RunContext
from studio.core.params import Param
from studio.core.plugin import PluginManifest


@dataclass
class FailingParams:
    steps: Annotated[int, Param("Steps before failing", min=0, max=10)] = 2


def run(params: FailingParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    for i in range(params.steps):
        yield ctx.frame(i / 10)
    raise ValueError("the style image has no pixels; pick another style image")


MANIFEST = PluginManifest("failing", "Failing", params="failing_plugin:FailingParams", engine="failing_plugin:run")

NEEDS_MODEL = PluginManifest(
    "needs_model", "Needs a model", params="failing_plugin:FailingParams", engine="failing_plugin:run", models=("tiny",)
)


def echo(params: FailingParams, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    """The input picture, unchanged, as the result."""
    assert inputs.image is not None
    yield ctx.frame(1.0, inputs.image.copy(), final=True)


ECHO = PluginManifest(
    "echo",
    "Echo",
    params="failing_plugin:FailingParams",
    engine="failing_plugin:echo",
    inputs=(IMAGE,),
    accelerated=False,
)
