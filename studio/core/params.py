"""Typed plugin parameters shared by panels, the CLI, batch files and recipes.

A plugin's parameters are a dataclass whose fields are annotated with
:class:`Param`::

    @dataclass
    class Params:
        iterations: Annotated[int, Param("Steps to run", min=1, max=500)] = 100

The GUI panel, ``studio run --set key=value``, job files and saved recipes
all go through :func:`make_params`, so they validate the same way.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MIN_SIGNIFICANT = 2
"""A float keeps at least this many significant digits, however few decimals its field shows."""

Condition = Mapping[str, Any]
"""``{field name: allowed value, or a tuple or range of allowed values}``; see :attr:`Param.applies_when`."""

Role = Literal["seed", "size", "reach"]
Precision = Literal["auto", "float32", "bfloat16"]
"""How a network runs: "auto" is bfloat16 where the device computes it natively, else float32."""
ROLES: tuple[Role, ...] = ("seed", "size", "reach")


class ParamError(ValueError):
    """A parameter value was rejected; the message names the parameter and the fix."""


@dataclass(frozen=True)
class Param:
    """Metadata for one parameter: help text (tooltip), bounds and widget hint."""

    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    label: str | None = None
    widget: Literal["color", "slider", "file", "files", "numbers"] | None = None
    """``file``/``files``: a path, or comma-separated paths, chosen with a file dialog; ``numbers``:
    comma-separated numbers (for example blend weights)."""
    role: Role | None = None
    """What the host may do with the parameter: ``seed`` (an int the panel can randomise and a
    recipe records), ``size`` (an int long side in pixels, 0 = the document's size, which a
    re-render at another size replaces), ``reach`` (an int: how many pixels beyond the mask the
    result may change, such as a feather that blends a fill into its surroundings; 0 by default)."""
    applies_when: Condition | tuple[Condition, ...] = dataclasses.field(default=(), hash=False)
    """When the parameter matters: ``{"mode": "optimise"}`` (a field's name and its allowed value, or a tuple or
    range of them; every entry must hold), or a tuple of such mappings (any of them). A parameter controlled
    by one that does not apply does not apply either. See :func:`applicable`."""
    choices_by: tuple[str, Mapping[Any, Mapping[str, tuple[Any, ...]]]] | None = dataclasses.field(
        default=None, hash=False
    )
    """Choices that depend on an earlier field: ``("network", {"vgg16": {"Early": (...), "Deep": (...)}})``
    gives, for each value of ``network``, the choices in named groups (a group named "" has no heading).
    See :func:`choice_groups`."""


@dataclass(frozen=True)
class ParamField:
    """One parameter as panels and parsers see it."""

    name: str
    kind: type
    default: Any
    meta: Param
    choices: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return self.meta.label or self.name.replace("_", " ").capitalize()


def param_fields(cls: type) -> list[ParamField]:
    """List the parameters of a params dataclass in declaration order."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls, include_extras=True)
    result = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        meta = Param()
        if get_origin(hint) is Annotated:
            hint, *extras = get_args(hint)
            meta = next((e for e in extras if isinstance(e, Param)), meta)
        kind, choices = _kind_of(hint, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"parameter {f.name!r} of {cls.__name__} needs a default")
        result.append(ParamField(f.name, kind, default, meta, choices))
    _check_dependencies(cls, result)
    return result


def _check_dependencies(cls: type, fields: list[ParamField]) -> None:
    """Raise TypeError when a condition names a parameter ``cls`` lacks, or choices depend on a later one."""
    names = [f.name for f in fields]
    for index, field in enumerate(fields):
        named = {key for condition in _conditions(field.meta) for key in condition}
        unknown = sorted(named - set(names) | ({field.name} & named))
        if field.meta.choices_by is not None and field.meta.choices_by[0] not in names[:index]:
            unknown.append(field.meta.choices_by[0])
        if unknown:
            raise TypeError(
                f"{cls.__name__}.{field.name}: depends on {unknown[0]!r}; name another of its parameters "
                f"(for choices_by, one declared before it)"
            )


def role_field(cls: type, role: Role) -> ParamField | None:
    """The parameter of ``cls`` annotated with ``role``, or None."""
    return next((f for f in param_fields(cls) if f.meta.role == role), None)


def check_roles(cls: type) -> None:
    """Raise TypeError unless ``cls`` is a params dataclass with at most one int parameter per role."""
    fields = param_fields(cls)
    for role in ROLES:
        marked = [f for f in fields if f.meta.role == role]
        if len(marked) > 1:
            raise TypeError(f"{cls.__name__}: more than one parameter has the role {role!r}")
        if marked and marked[0].kind is not int:
            raise TypeError(f"{cls.__name__}.{marked[0].name}: a {role} parameter must be an int")


def mask_reach(params: Any) -> int:
    """How many pixels beyond the mask a result of ``params`` may change (its ``reach`` parameter; 0 without)."""
    field = role_field(type(params), "reach")
    return max(0, int(getattr(params, field.name))) if field is not None else 0


def output_size(width: int, height: int, params: Any) -> tuple[int, int]:
    """The (width, height) a job of ``params`` makes on a ``width`` x ``height`` document.

    The document's size, unless the parameter with the ``size`` role asks for another
    long side (aspect kept, each side at least 1 px).
    """
    field = role_field(type(params), "size")
    long_side = getattr(params, field.name) if field is not None else 0
    if long_side <= 0 or long_side == max(width, height):
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _kind_of(hint: Any, name: str) -> tuple[type, tuple[Any, ...]]:
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        return type(choices[0]), choices
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, tuple(hint)
    if hint in (int, float, bool, str):
        return hint, ()
    if get_origin(hint) in (typing.Union, types.UnionType):
        raise TypeError(f"parameter {name!r}: optional/union types are not supported")
    raise TypeError(f"parameter {name!r}: unsupported type {hint!r}")


def coerce(field: ParamField, value: Any) -> Any:
    """Convert ``value`` (a string from the CLI or a JSON value) and check it."""
    name = field.name
    kind = field.kind
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        raw = value.value if isinstance(value, enum.Enum) else value
        matches = [c for c in field.choices if raw in (c.value, c.name) or str(c.value) == str(raw)]
        if not matches:
            raise ParamError(_choice_message(name, value, [c.value for c in field.choices]))
        return matches[0]
    try:
        if kind is bool:
            converted: Any = _to_bool(value)
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            converted = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            converted = float(value)
        else:
            if not isinstance(value, str):
                raise ValueError
            converted = value
    except (TypeError, ValueError, OverflowError):
        raise ParamError(f"{name}: {value!r} is not a valid {kind.__name__}") from None
    if kind is float and not math.isfinite(converted):
        raise ParamError(f"{name}: {value!r} is not a finite number; {_range_hint(field)}")
    if kind is float:
        converted = rounded(field, converted)
    if field.choices and converted not in field.choices:
        raise ParamError(_choice_message(name, value, list(field.choices)))
    if field.meta.widget == "color" and not _COLOR.match(converted):
        raise ParamError(f"{name}: {value!r} is not a colour; write it as #rrggbb")
    if field.meta.widget == "numbers":
        numbers(converted, name)
    if kind in (int, float):
        low, high = field.meta.min, field.meta.max
        if (low is not None and converted < low) or (high is not None and converted > high):
            raise ParamError(f"{name}: {converted} is out of range; {_range_hint(field)}")
    return converted


def float_step(field: ParamField) -> float:
    """The step of a float parameter: its declared ``step``, else about a hundredth of its range."""
    meta = field.meta
    if meta.step:
        return float(meta.step)
    if meta.min is not None and meta.max is not None and meta.max > meta.min:
        return 10.0 ** math.floor(math.log10((meta.max - meta.min) / 100))
    return 0.1 if abs(field.default) < 10 else 1.0


def float_decimals(field: ParamField) -> int:
    """Decimals a float parameter shows: enough for its step, bounds and default exactly, 2 to 6."""
    needed = 0
    for value in (float_step(field), field.meta.min, field.meta.max, field.default):
        if value is not None:
            needed = max(needed, len(f"{float(value):.6f}".rstrip("0").partition(".")[2]))
    return min(max(needed, 2), 6)


def rounded(field: ParamField, value: float) -> float:
    """``value`` rounded to the decimals ``field`` shows, keeping at least two significant digits.

    Every front end rounds the same way (in :func:`coerce`), so a slider's 0.81875 runs, and is recorded, as 0.82.
    """
    if value == 0 or not math.isfinite(value):
        return value
    significant = MIN_SIGNIFICANT - 1 - math.floor(math.log10(abs(value)))
    return round(value, max(float_decimals(field), significant))


def _range_hint(field: ParamField) -> str:
    """What values ``field`` takes, as advice for a message."""
    if field.meta.min is None and field.meta.max is None:
        return "give a finite number"
    return f"use a value from {_fmt(field.meta.min)} to {_fmt(field.meta.max)}"


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _choice_message(name: str, value: Any, choices: list[Any]) -> str:
    return f"{name}: {value!r} is not one of {', '.join(map(str, choices))}"


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError


def make_params(cls: type, values: Mapping[str, Any] | None = None) -> Any:
    """Build a params instance from defaults overridden by ``values``.

    Unknown keys and invalid values raise :class:`ParamError` naming the key.
    """
    values = dict(values or {})
    fields = {f.name: f for f in param_fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; known parameters: {', '.join(fields)}")
    kwargs = {name: coerce(f, values[name]) if name in values else f.default for name, f in fields.items()}
    live = applicable(cls, kwargs)
    kwargs = {name: value if name in live else fields[name].default for name, value in kwargs.items()}
    check_choices(cls, kwargs)
    return cls(**kwargs)


def _conditions(meta: Param) -> tuple[Condition, ...]:
    when = meta.applies_when
    return (when,) if isinstance(when, Mapping) else tuple(when)


def _allowed(spec: Any) -> tuple[Any, ...] | range:
    if isinstance(spec, range):
        return spec
    return tuple(_plain(v) for v in spec) if isinstance(spec, (tuple, list, set, frozenset)) else (_plain(spec),)


def applicable(cls: type, values: Mapping[str, Any] | None = None) -> set[str]:
    """The names of the parameters of ``cls`` that matter with ``values`` (defaults for those missing).

    The one rule behind the panel's shown rows, the parameters a recipe lists, ``--set help`` and
    :func:`make_params`, which sets the parameters that do not apply to their defaults.
    """
    fields = {f.name: f for f in param_fields(cls)}
    current = {name: _plain(values[name] if values and name in values else f.default) for name, f in fields.items()}
    memo: dict[str, bool] = {}

    def applies(name: str) -> bool:
        if name not in memo:
            memo[name] = False  # a condition that leads back to its own parameter does not hold
            conditions = _conditions(fields[name].meta)
            memo[name] = not conditions or any(
                all(applies(key) and current[key] in _allowed(spec) for key, spec in condition.items())
                for condition in conditions
            )
        return memo[name]

    return {name for name in fields if applies(name)}


def condition_text(field: ParamField) -> str:
    """When ``field`` applies, in words ("only when mode is optimise"); "" when it always does."""

    def allowed(spec: Any) -> str:
        values = _allowed(spec)
        if isinstance(values, range):
            return f"{values.start} to {values.stop - 1}"
        return " or ".join(map(str, values))

    alternatives = [
        " and ".join(f"{key} is {allowed(spec)}" for key, spec in condition.items())
        for condition in _conditions(field.meta)
    ]
    return f"only when {', or '.join(alternatives)}" if alternatives else ""


def choice_groups(field: ParamField, values: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """The choices of ``field`` when the other parameters are ``values``, by group heading ("" = no heading)."""
    if field.meta.choices_by is None:
        return {"": field.choices}
    controller, table = field.meta.choices_by
    return dict(table.get(_plain(values[controller]), {"": field.choices}))


def check_choices(cls: type, values: Mapping[str, Any], only: Collection[str] | None = None) -> None:
    """Raise :class:`ParamError` when an applicable parameter's value is not a choice with the others' ``values``.

    ``values`` holds every parameter of ``cls``; ``only`` limits the check to those names. The message lists
    the valid choices.
    """
    live = applicable(cls, values)
    for field in param_fields(cls):
        if field.meta.choices_by is None or field.name not in live or (only is not None and field.name not in only):
            continue
        valid = [_plain(c) for group in choice_groups(field, values).values() for c in group]
        if _plain(values[field.name]) not in valid:
            controller = field.meta.choices_by[0]
            raise ParamError(
                f"{field.name}: {_plain(values[field.name])!r} does not go with {controller}="
                f"{_plain(values[controller])}; choose one of {', '.join(map(str, valid))}"
            )


def recipe_params(params: Any) -> dict[str, Any]:
    """The JSON-ready values of the parameters that applied to ``params`` (those :func:`applicable` names)."""
    values = params_to_dict(params)
    live = applicable(type(params), values)
    return {name: value for name, value in values.items() if name in live}


def params_to_dict(params: Any) -> dict[str, Any]:
    """The JSON-ready form of a params instance (enums as their values)."""
    return {f.name: _plain(getattr(params, f.name)) for f in dataclasses.fields(params)}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def split_list(text: str) -> list[str]:
    """The items of a comma-separated parameter (``"a.jpg, b.jpg"`` -> ``["a.jpg", "b.jpg"]``), blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def numbers(text: str, name: str = "value") -> list[float]:
    """The numbers of a comma-separated parameter; :class:`ParamError` naming ``name`` if one is not a number."""
    result = []
    for item in split_list(text):
        try:
            value = float(item)
        except ValueError:
            raise ParamError(f"{name}: {item!r} is not a number; write numbers separated by commas") from None
        if not math.isfinite(value):
            raise ParamError(f"{name}: {item!r} is not a finite number; write finite numbers separated by commas")
        result.append(value)
    return result


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """Parse CLI ``key=value`` strings; a pair without ``=`` raises :class:`ParamError`."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"{pair!r} is not of the form key=value")
        result[key.strip()] = value
    return result
