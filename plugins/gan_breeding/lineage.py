"""The lineage of bred images: every image knows its parents, the operation that made it and the generator.

A :class:`Lineage` is a graph of immutable :class:`Node` s, each added after its
parents, so it never has a cycle. A node holds what re-renders its picture: the
generator's hash, its styles (untruncated; a z-only generator's latent), the
truncation and the noise seed. ``to_dict`` gives plain JSON values (styles as lists of
floats, exact for float32); ``from_dict`` validates everything before building a node,
and a damaged or tampered lineage is a :class:`LineageError` saying what is wrong.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from studio_plugins.gan_breeding.generators import MAX_DIM, MAX_WS

from studio.core.errors import ReadableError

if TYPE_CHECKING:
    from studio_plugins.gan_breeding.generators import Generator

FORMAT = "studio-gan-lineage"
VERSION = 1
MAX_NODES = 100_000
MAX_PARENTS = 64
MAX_PARAMS = 64
MAX_LIST = 1024
MAX_VALUES = 20_000_000  # style numbers in one lineage, all nodes together

Scalar = bool | int | float | str
Param = Scalar | list[Scalar]

__all__ = ["Lineage", "LineageError", "Node", "Param", "recipe_for", "render_recipe"]


class LineageError(ReadableError, ValueError):
    """A lineage or a breeding recipe is damaged, or does not fit; the message says what is wrong."""


@dataclass(frozen=True, eq=False)
class Node:
    """One bred image: ``operation`` ("sample", "child", "crossbreed", ...) with its ``params`` made it from
    ``parents`` (ids); ``ws`` (num_ws, w_dim) render with ``truncation`` and ``noise_seed`` on the generator
    whose hash is ``generator``."""

    parents: tuple[str, ...]
    operation: str
    params: Mapping[str, Param]
    generator: str
    ws: np.ndarray
    truncation: float = 1.0
    noise_seed: int = 0
    favourite: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        try:
            ws = np.array(self.ws, np.float32)
        except (TypeError, ValueError) as exc:
            raise LineageError(f"node {self.id}: its styles are not a table of numbers ({exc})") from None
        if ws.ndim != 2 or not (1 <= ws.shape[0] <= MAX_WS and 1 <= ws.shape[1] <= MAX_DIM):
            raise LineageError(f"node {self.id}: its styles have the shape {ws.shape}, not (num_ws, w_dim)")
        if not np.isfinite(ws).all():
            raise LineageError(f"node {self.id}: its styles hold numbers that are not finite")
        ws.setflags(write=False)
        object.__setattr__(self, "ws", ws)
        object.__setattr__(self, "parents", tuple(self.parents))
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "truncation", float(self.truncation))
        object.__setattr__(self, "noise_seed", int(self.noise_seed))


class Lineage:
    """Every bred image of a project and how each was made; iterates in the order nodes were added."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def add(self, node: Node) -> Node:
        """Add ``node``, whose parents must be in the lineage already; returns it."""
        if node.id in self._nodes:
            raise LineageError(f"the lineage already has a node {node.id}")
        missing = [parent for parent in node.parents if parent not in self._nodes]
        if missing:
            raise LineageError(f"node {node.id}: its parents {', '.join(missing)} are not in the lineage (before it)")
        self._nodes[node.id] = node
        return node

    def get(self, node_id: str) -> Node:
        """The node ``node_id``; a LineageError if there is none."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise LineageError(f"the lineage has no node {node_id}") from None

    def children_of(self, node_id: str) -> list[Node]:
        """The nodes that have ``node_id`` among their parents."""
        self.get(node_id)
        return [node for node in self if node_id in node.parents]

    def ancestors(self, node_id: str) -> list[Node]:
        """Every ancestor of ``node_id`` once, nearest generation first."""
        seen: dict[str, Node] = {}
        generation = list(self.get(node_id).parents)
        while generation:
            following: list[str] = []
            for parent in generation:
                if parent not in seen:
                    seen[parent] = self._nodes[parent]
                    following.extend(seen[parent].parents)
            generation = following
        return list(seen.values())

    def set_favourite(self, node_id: str, favourite: bool = True) -> Node:
        """Mark (or unmark) ``node_id`` as a favourite; returns the updated node."""
        node = replace(self.get(node_id), favourite=favourite)
        self._nodes[node_id] = node
        return node

    def favourites(self) -> list[Node]:
        """The favourites, in the order they were bred."""
        return [node for node in self if node.favourite]

    def to_dict(self) -> dict[str, Any]:
        """The lineage as JSON values; :meth:`from_dict` reads it back."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "nodes": [
                {
                    "id": node.id,
                    "parents": list(node.parents),
                    "operation": node.operation,
                    "params": dict(node.params),
                    "generator": node.generator,
                    "ws": node.ws.tolist(),
                    "truncation": node.truncation,
                    "noise_seed": node.noise_seed,
                    "favourite": node.favourite,
                    "created": node.created,
                }
                for node in self
            ],
        }

    @classmethod
    def from_dict(cls, data: object) -> Lineage:
        """A lineage from :meth:`to_dict`'s values, validated; anything wrong is a LineageError."""
        if isinstance(data, dict) and isinstance(data.get("version"), int) and data["version"] > VERSION:
            raise LineageError("the breeding lineage was saved by a newer Studio; update Studio to open it")
        try:
            entry = _LineageEntry.model_validate(data)
        except ValidationError as exc:
            raise LineageError(f"the breeding lineage is damaged ({_first_error(exc)})") from None
        values = sum(len(node.ws) * len(node.ws[0]) for node in entry.nodes)
        if values > MAX_VALUES:
            raise LineageError(f"the breeding lineage holds {values} style numbers, more than {MAX_VALUES}")
        lineage = cls()
        for node in entry.nodes:
            try:
                lineage.add(Node(**node.model_dump()))
            except LineageError as exc:
                raise LineageError(f"the breeding lineage is damaged ({exc})") from None
        return lineage


def recipe_for(node: Node) -> dict[str, Any]:
    """What a layer's recipe params hold to re-render ``node``'s picture (:func:`render_recipe` does)."""
    return {
        "node": node.id,
        "generator": node.generator,
        "ws": node.ws.tolist(),
        "truncation": node.truncation,
        "noise_seed": node.noise_seed,
    }


def render_recipe(generator: Generator, params: Mapping[str, Any], bit_depth: int = 8) -> np.ndarray:
    """The picture RGB (H, W, 3) a recipe from :func:`recipe_for` describes, rendered by ``generator``, which must be
    the generator it was bred with: uint8, or with ``bit_depth`` 16 uint16 (as the engine's image mode gives it)."""
    try:
        recipe = _RecipeEntry.model_validate(dict(params))
    except ValidationError as exc:
        raise LineageError(f"the breeding recipe is damaged ({_first_error(exc)})") from None
    if recipe.generator != generator.hash:
        raise LineageError(
            f"this picture was bred with the generator whose sha256 is {recipe.generator}, not with the chosen one "
            f"({generator.hash}); choose the generator it was bred with"
        )
    ws = np.asarray(recipe.ws, np.float32)
    if ws.shape != (generator.num_ws, generator.w_dim):
        raise LineageError(
            f"the recipe's styles have the shape {ws.shape}; the generator takes ({generator.num_ws}, "
            f"{generator.w_dim})"
        )
    return generator.render(ws[None], recipe.noise_seed, recipe.truncation, bit_depth)[0]


_Id = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
_Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_Scalar = StrictBool | StrictInt | float | Annotated[str, Field(max_length=200)]
_Row = Annotated[list[float], Field(min_length=1, max_length=MAX_DIM)]
_Styles = Annotated[list[_Row], Field(min_length=1, max_length=MAX_WS)]
_Seed = Annotated[int, Field(ge=0, lt=2**63)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class _NodeEntry(_Schema):
    id: _Id
    parents: Annotated[list[_Id], Field(max_length=MAX_PARENTS)]
    operation: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    params: Annotated[
        dict[Annotated[str, Field(max_length=64)], _Scalar | Annotated[list[_Scalar], Field(max_length=MAX_LIST)]],
        Field(max_length=MAX_PARAMS),
    ]
    generator: _Hash
    ws: _Styles
    truncation: float
    noise_seed: _Seed
    favourite: bool
    created: Annotated[str, Field(max_length=64)]


class _LineageEntry(_Schema):
    format: Literal["studio-gan-lineage"]
    version: Literal[1]
    nodes: Annotated[list[_NodeEntry], Field(max_length=MAX_NODES)]


class _RecipeEntry(_Schema):
    model_config = ConfigDict(extra="ignore")
    generator: _Hash
    ws: _Styles
    truncation: float
    noise_seed: _Seed


def _first_error(exc: ValidationError) -> str:
    """The first schema violation as ``where: what``."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    return f"{where}: {error['msg']}" if where else str(error["msg"])
