"""Test plugins: an engine that fails part-way, and a plugin that needs a model."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from studio.core.inputs import Inputs
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
