"""Which parameters apply (issue 18, items 7 and 9): one rule for the panel, recipes, `--set help` and runs."""

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pytest
from studio_plugins.deep_dream.params import DreamParams
from studio_plugins.doodle.params import DoodleParams
from studio_plugins.gan_breeding.params import BreedParams
from studio_plugins.generative.params import GenerativeParams
from studio_plugins.inpainting.params import InpaintParams
from studio_plugins.style_transfer.params import StyleParams

from studio import cli
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext
from studio.core.params import (
    Param,
    ParamError,
    applicable,
    condition_text,
    make_params,
    param_fields,
    params_to_dict,
    recipe_params,
)
from studio.core.plugin import discover_plugins
from studio.core.run import make_recipe, run_plugin


@dataclass
class Shapes:
    mode: Annotated[Literal["draw", "fill"], Param()] = "draw"
    pen: Annotated[Literal["round", "square"], Param(applies_when={"mode": "draw"})] = "round"
    corner: Annotated[float, Param(min=0.0, max=1.0, applies_when={"pen": "square"})] = 0.5
    either: Annotated[int, Param(applies_when=({"mode": "fill"}, {"pen": ("square",)}))] = 0
    frames: Annotated[int, Param(min=1, max=9)] = 1
    fps: Annotated[int, Param(applies_when={"frames": range(2, 10)})] = 12


def fields(cls: type) -> dict:
    return {f.name: f for f in param_fields(cls)}


def test_a_parameter_applies_when_its_condition_and_its_controllers_do():
    assert applicable(Shapes) == {"mode", "pen", "frames"}
    assert applicable(Shapes, {"pen": "square"}) == {"mode", "pen", "corner", "either", "frames"}
    # pen does not apply when filling, so neither does what depends on its value
    assert applicable(Shapes, {"mode": "fill", "pen": "square"}) == {"mode", "either", "frames"}
    assert "fps" in applicable(Shapes, {"frames": 3})


def test_make_params_sets_what_does_not_apply_to_its_default():
    params = make_params(Shapes, {"mode": "fill", "pen": "square", "corner": 0.9, "either": 4})
    assert (params.pen, params.corner, params.either) == ("round", 0.5, 4)


def test_conditions_in_words():
    text = {name: condition_text(field) for name, field in fields(Shapes).items()}
    assert text["mode"] == ""
    assert text["corner"] == "only when pen is square"
    assert text["either"] == "only when mode is fill, or pen is square"
    assert text["fps"] == "only when frames is 2 to 9"


def test_a_condition_on_a_parameter_that_does_not_exist_is_refused():
    @dataclass
    class Broken:
        size: Annotated[int, Param(applies_when={"mdoe": "big"})] = 0

    with pytest.raises(TypeError, match="mdoe"):
        param_fields(Broken)

    @dataclass
    class Backwards:
        layer: Annotated[Literal["a", "b"], Param(choices_by=("net", {"x": {"": ("a",)}}))] = "a"
        net: Annotated[Literal["x"], Param()] = "x"

    with pytest.raises(TypeError, match=r"'net'.*declared before it"):
        param_fields(Backwards)


@dataclass
class Knobs:
    amount: Annotated[float, Param(min=0.0, max=1.0)] = 0.5
    step: Annotated[float, Param(min=0.0005, max=0.2, step=0.0005)] = 0.0025
    rate: Annotated[float, Param(min=1e-9, max=1.0)] = 0.01


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("amount", 0.81875, 0.82),  # a slider dragged, shown as 0.82
        ("amount", 0.3 + 1e-9, 0.3),
        ("amount", 0.001, 0.001),  # at least two significant digits
        ("step", 0.00123, 0.0012),
        ("rate", 1e-7, 1e-7),
        ("rate", 0.000123456, 0.00012),
    ],
)
def test_floats_keep_the_decimals_their_field_shows(name, value, expected):
    assert getattr(make_params(Knobs, {name: value}), name) == expected


def test_the_plugins_declare_what_applies():
    assert "learning_rate" not in applicable(StyleParams)
    assert "learning_rate" in applicable(StyleParams, {"optimizer": "adam"})
    fast = applicable(StyleParams, {"mode": "fast", "optimizer": "adam"})
    assert {"strength", "style", "fast_model"} <= fast and not {"network", "learning_rate", "presets"} & fast
    assert "style" not in applicable(StyleParams, {"mode": "fast", "fast_model": "presets"})
    assert {"flow_particles", "background"} & applicable(GenerativeParams) == {"flow_particles"}
    mondrian = applicable(GenerativeParams, {"rule": "mondrian", "palette": "custom"})
    assert {"mondrian_fill", "background", "ink"} <= mondrian and not {"flow_particles", "margin", "jitter"} & mondrian
    assert "radius" not in applicable(InpaintParams) and "feather" not in applicable(InpaintParams, {"method": "telea"})
    assert "patch_size" not in applicable(DoodleParams) and "style_layers" not in applicable(
        DoodleParams, {"method": "patch"}
    )
    assert "fps" not in applicable(DreamParams) and "fps" in applicable(DreamParams, {"frames": 24})
    assert "walk_seed" not in applicable(BreedParams) and "walk_seed" in applicable(BreedParams, {"mode": "walk"})


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (StyleParams, {"mode": "fast", "learning_rate": 0.5, "network": "alexnet", "strength": 0.5}),
        (StyleParams, {"optimizer": "adam", "learning_rate": 0.05, "strength": 0.3}),
        (GenerativeParams, {"rule": "lsystem", "flow_steps": 9, "jitter": 0.5, "ink": "#ff0000"}),
        (DreamParams, {"network": "vgg16", "layer": "relu3_1", "smoothing": "gaussian", "pyramid_levels": 7}),
        (InpaintParams, {"method": "telea", "feather": 9, "radius": 3}),
    ],
)
def test_a_recipe_holds_what_applied_and_makes_the_same_params_again(cls, values):
    params = make_params(cls, values)
    recorded = recipe_params(params)
    assert set(recorded) == applicable(cls, params_to_dict(params))
    assert make_params(cls, recorded) == params


def test_rerendering_a_recipe_gives_the_same_pixels():
    manifest = discover_plugins().get("generative")
    values = {"rule": "ridgelines", "ridgelines_count": 9, "flow_particles": 5, "palette": "custom", "ink": "#ff0000"}
    params = make_params(GenerativeParams, values)
    inputs = Inputs(width=40, height=30)
    frame = run_plugin(manifest, params, inputs, RunContext())
    recipe = make_recipe(manifest, params, inputs, frame)
    assert "flow_particles" not in recipe.params and recipe.params["ink"] == "#ff0000"
    again = run_plugin(manifest, make_params(GenerativeParams, recipe.params), inputs, RunContext())
    assert np.array_equal(frame.image, again.image)


def test_deep_dream_layers_belong_to_the_chosen_network():
    assert make_params(DreamParams, {"network": "vgg16", "layer": "relu4_2"}).layer == "relu4_2"
    assert make_params(DreamParams, {"layer": "Mixed_5b"}).layer == "Mixed_5b"  # auto tries inception_v3 first
    with pytest.raises(
        ParamError, match=r"layer: 'Mixed_5b' does not go with network=vgg16; choose one of auto, relu1_1"
    ):
        make_params(DreamParams, {"network": "vgg16", "layer": "Mixed_5b"})


def test_set_help_says_when_a_parameter_applies_and_lists_each_networks_layers(capsys):
    assert cli.main(["run", "style_transfer", "--set", "help"]) == 0
    lines = {line.split("=")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["learning_rate"].endswith("(only when optimizer is adam)")
    assert lines["strength"].endswith("(only when mode is fast)")
    assert cli.main(["run", "deep_dream", "--set", "help"]) == 0
    out = capsys.readouterr().out
    assert "    with network=alexnet: auto, relu1, relu2, relu3, relu4, relu5\n" in out


def test_every_plugin_params_class_declares_valid_conditions():
    for cls in (StyleParams, GenerativeParams, DreamParams, InpaintParams, DoodleParams, BreedParams):
        defaults = make_params(cls)
        assert dataclasses.asdict(defaults) == dataclasses.asdict(cls())
