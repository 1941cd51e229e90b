"""Typed parameters: introspection, coercion, validation."""

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Literal

import pytest

from studio.core.params import (
    Param,
    ParamError,
    make_params,
    numbers,
    param_fields,
    params_to_dict,
    parse_assignments,
    split_list,
)


class Mode(Enum):
    FAST = "fast"
    GOOD = "good"


@dataclass
class Example:
    steps: Annotated[int, Param("How many steps", min=1, max=100)] = 10
    weight: Annotated[float, Param("Style weight", min=0.0, max=1.0)] = 0.5
    smooth: Annotated[bool, Param("Smooth")] = True
    shape: Annotated[Literal["circle", "square"], Param("Shape")] = "circle"
    mode: Annotated[Mode, Param("Mode")] = Mode.FAST
    ink: Annotated[str, Param("Ink", widget="color")] = "#000000"
    title: str = "untitled"


def test_fields_expose_kind_default_help_and_choices():
    fields = {f.name: f for f in param_fields(Example)}
    assert fields["steps"].kind is int and fields["steps"].meta.help == "How many steps"
    assert fields["shape"].choices == ("circle", "square")
    assert fields["mode"].choices == (Mode.FAST, Mode.GOOD)
    assert fields["title"].meta == Param() and fields["title"].label == "Title"


def test_make_params_from_cli_strings():
    params = make_params(
        Example,
        parse_assignments(
            ["steps=42", "weight=0.25", "smooth=no", "shape=square", "mode=good", "ink=#ff8800", "title=a=b"]
        ),
    )
    assert params == Example(42, 0.25, False, "square", Mode.GOOD, "#ff8800", "a=b")
    assert params_to_dict(params)["mode"] == "good"
    assert make_params(Example, params_to_dict(params)) == params


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": "0"}, "steps: 0 is out of range; use a value from 1 to 100"),
        ({"steps": "2.5"}, "steps: '2.5' is not a valid int"),
        ({"steps": 2.5}, "not a valid int"),
        ({"weight": "heavy"}, "weight: 'heavy' is not a valid float"),
        ({"smooth": "perhaps"}, "not a valid bool"),
        ({"shape": "blob"}, "shape: 'blob' is not one of circle, square"),
        ({"mode": "slow"}, "is not one of fast, good"),
        ({"ink": "red"}, "write it as #rrggbb"),
        ({"stepz": "3"}, "unknown parameter 'stepz'; known parameters: steps"),
    ],
)
def test_bad_values_name_the_parameter_and_the_fix(values, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(")):
        make_params(Example, values)


def test_assignment_syntax_errors():
    with pytest.raises(ParamError, match="key=value"):
        parse_assignments(["steps"])


@dataclass
class Lists:
    styles: Annotated[str, Param("Style images", widget="files")] = ""
    weights: Annotated[str, Param("Blend weights", widget="numbers")] = ""


def test_list_parameters_split_on_commas_and_check_numbers():
    params = make_params(Lists, {"styles": "a.jpg, b c.png,,", "weights": "0.7, 0.3"})
    assert split_list(params.styles) == ["a.jpg", "b c.png"]
    assert numbers(params.weights) == [0.7, 0.3]
    with pytest.raises(ParamError, match=r"weights: 'x' is not a number"):
        make_params(Lists, {"weights": "0.5,x"})


@dataclass
class Unbounded:
    zoom: float = 1.0
    steps: int = 3


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), "nan", "NaN", "inf", "-Infinity", "1e400"]
)
def test_a_float_is_finite_or_refused_naming_the_parameter(value):
    with pytest.raises(ParamError, match=r"weight: .* is not a finite number; use a value from 0 to 1"):
        make_params(Example, {"weight": value})
    with pytest.raises(ParamError, match=r"zoom: .* is not a finite number; give a finite number"):
        make_params(Unbounded, {"zoom": value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**400])
def test_an_int_is_refused_for_nan_inf_and_a_float_too_large(value):
    with pytest.raises(ParamError, match="is not a valid"):
        make_params(Unbounded, {"steps": value} if value != 10**400 else {"zoom": value})


@pytest.mark.parametrize("text", ["nan", "1, inf", "-inf,1"])
def test_a_numbers_list_holds_finite_numbers_only(text):
    with pytest.raises(ParamError, match=r"weights: '.*' is not a finite number"):
        make_params(Lists, {"weights": text})
    with pytest.raises(ParamError, match="is not a finite number"):
        numbers(text, "weights")
