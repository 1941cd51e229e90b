"""Breeding as pure functions on style arrays: children, crossbreeds, level mixes, genes, truncation and walks.

One image's styles ``ws`` are an array (num_ws, w_dim); several are (N, num_ws,
w_dim). A generator breeds in one of two spaces: "z" for a network that takes a
latent only (its ws are z, num_ws = 1), where latents are moved on the sphere
so they keep the norm a sample has; "w" for a style-based network, where styles
are moved along straight lines. Every function returns float32 arrays and
leaves its inputs unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from studio_plugins.gan_breeding.generators import Generator

Space = Literal["z", "w"]
Easing = Literal["linear", "ease-in-out"]

__all__ = [
    "Easing",
    "Genes",
    "Space",
    "apply_genes",
    "children",
    "crossbreed",
    "gene_directions",
    "loop",
    "mix_levels",
    "slerp",
    "truncate",
    "walk",
]


@dataclass(frozen=True)
class Genes:
    """The main directions of a generator's space: unit ``directions`` (count, w_dim), most varied first,
    and ``spreads`` (count,), the standard deviation of sampled styles along each."""

    directions: np.ndarray
    spreads: np.ndarray


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation along the last axis: the direction turns from ``a``'s to ``b``'s at an even
    angular pace while the norm goes linearly from ``|a|`` to ``|b|`` (kept where they are equal).

    ``t`` broadcasts against the leading axes; where ``a`` and ``b`` are parallel (or one is zero) it is
    linear interpolation.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_a, unit_b = a / norm_a, b / norm_b
        omega = np.arccos(np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0))
        sin_omega = np.sin(omega)
        direction = (np.sin((1.0 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / sin_omega
        spherical = direction * ((1.0 - t) * norm_a + t * norm_b)
    linear = a + t * (b - a)
    return np.where(sin_omega > 1e-6, spherical, linear).astype(np.float32)


def children(
    parent_ws: np.ndarray,
    rng: np.random.Generator,
    count: int,
    mutation: float,
    *,
    space: Space = "w",
    scale: float = 1.0,
) -> np.ndarray:
    """``count`` children (count, num_ws, w_dim) of one parent (num_ws, w_dim); ``mutation`` 0..1 sets how far.

    In "z" each child turns from the parent towards a random latent of the parent's
    norm by ``mutation`` of the angle between them (1 gives an unrelated sample).
    In "w" each child is the parent plus ``mutation * scale`` times a standard normal
    offset, the same for every layer, so a level mix stays a level mix; ``scale`` is
    the spread of the generator's styles. Either way the distance to the parent
    grows with ``mutation`` for the same ``rng`` state.
    """
    parent = _one(parent_ws, "parent_ws")
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if not 0.0 <= mutation <= 1.0:
        raise ValueError(f"mutation must be between 0 and 1, not {mutation}")
    num_ws, w_dim = parent.shape
    if space == "z":
        targets = rng.standard_normal((count, num_ws, w_dim))
        norms = np.linalg.norm(targets, axis=-1, keepdims=True)
        targets *= np.linalg.norm(parent, axis=-1, keepdims=True) / np.maximum(norms, 1e-12)
        return slerp(np.broadcast_to(parent, targets.shape), targets, mutation)
    offsets = rng.standard_normal((count, 1, w_dim)) * (mutation * scale)
    return (parent + offsets).astype(np.float32)


def crossbreed(
    parents: Sequence[np.ndarray] | np.ndarray, weights: Sequence[float], *, space: Space = "w"
) -> np.ndarray:
    """The blend (num_ws, w_dim) of two or more parents with a non-negative weight each (normalised).

    Weight on one parent alone returns that parent exactly. In "z" the weighted sum
    is rescaled to the weighted mean of the parents' norms, so a blend of samples
    looks like a sample and not like their washed-out average.
    """
    stack = _stack(parents, "parents")
    share = np.asarray(weights, np.float64)
    if share.shape != (len(stack),):
        raise ValueError(f"give one weight per parent: {len(stack)} parents, {share.size} weights")
    if not np.isfinite(share).all() or (share < 0).any() or share.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    share = share / share.sum()
    chosen = np.flatnonzero(share)
    if len(chosen) == 1:
        return stack[chosen[0]].copy()
    mixed = np.tensordot(share, stack.astype(np.float64), axes=1)
    if space == "z":
        norm = np.tensordot(share, np.linalg.norm(stack, axis=-1), axes=1)[..., None]
        mixed *= norm / np.maximum(np.linalg.norm(mixed, axis=-1, keepdims=True), 1e-12)
    return mixed.astype(np.float32)


def mix_levels(parents_by_level: Mapping[str, np.ndarray], levels: Mapping[str, slice]) -> np.ndarray:
    """Styles whose rows at each level (``levels`` maps a level to its ws rows) come from that level's parent."""
    if set(parents_by_level) != set(levels):
        raise ValueError(f"give one parent for each level ({', '.join(levels)}), not for {', '.join(parents_by_level)}")
    stack = _stack([parents_by_level[name] for name in levels], "parents_by_level")
    mixed = np.empty_like(stack[0])
    covered = np.zeros(len(mixed), bool)
    for parent, rows in zip(stack, levels.values(), strict=True):
        mixed[rows] = parent[rows]
        covered[rows] = True
    if not covered.all():
        raise ValueError(f"the levels leave ws rows {np.flatnonzero(~covered).tolist()} without a parent")
    return mixed


def gene_directions(generator: Generator, samples: int, count: int, seed: int = 0) -> Genes:
    """The ``count`` principal components of ``samples`` styles (latents for a z-only generator) drawn from
    ``seed``, each pointing so that its largest component is positive (stable across runs)."""
    if not 1 <= count <= min(samples, generator.w_dim):
        raise ValueError(f"count must be 1 to {min(samples, generator.w_dim)} (samples and w_dim), not {count}")
    latents = generator.sample_latents(np.random.default_rng(seed), samples)
    styles = generator.styles(latents)[:, 0].astype(np.float64)
    _, singular, components = np.linalg.svd(styles - styles.mean(axis=0), full_matrices=False)
    components = components[:count]
    signs = np.sign(components[np.arange(count), np.abs(components).argmax(axis=1)])
    spreads = singular[:count] / math.sqrt(max(samples - 1, 1))
    return Genes((components * signs[:, None]).astype(np.float32), spreads.astype(np.float32))


def apply_genes(ws: np.ndarray, directions: np.ndarray, amounts: Sequence[float]) -> np.ndarray:
    """``ws`` (any leading axes, w_dim last) moved by ``amounts[i]`` along ``directions[i]`` at every layer."""
    directions = np.asarray(directions, np.float64)
    amounts = np.asarray(amounts, np.float64)
    if directions.ndim != 2 or amounts.shape != (len(directions),):
        raise ValueError(f"give one amount per direction: {len(directions)} directions, {amounts.size} amounts")
    ws = np.asarray(ws, np.float32)
    if ws.shape[-1] != directions.shape[1]:
        raise ValueError(f"the directions have {directions.shape[1]} numbers, the styles {ws.shape[-1]}")
    return (ws + amounts @ directions).astype(np.float32)


def truncate(ws: np.ndarray, w_avg: np.ndarray, psi: float) -> np.ndarray:
    """The truncation trick: ``w_avg + psi * (ws - w_avg)``; ``psi`` 1 returns ``ws`` exactly, 0 the mean."""
    if not math.isfinite(psi):
        raise ValueError(f"truncation must be a finite number, not {psi}")
    ws = np.asarray(ws, np.float32)
    if psi == 1.0:
        return ws.copy()
    w_avg = np.asarray(w_avg, np.float32)
    return (w_avg + np.float32(psi) * (ws - w_avg)).astype(np.float32)


def walk(a: np.ndarray, b: np.ndarray, steps: int, easing: Easing = "linear", *, space: Space = "w") -> np.ndarray:
    """``steps`` styles (steps, num_ws, w_dim) from ``a`` to ``b``, both included exactly: spherical in "z",
    linear in "w"; "ease-in-out" slows the start and the end."""
    start, end = _stack([a, b], "a and b")
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, not {steps}")
    t = _eased(np.linspace(0.0, 1.0, steps), easing)[:, None]
    if space == "z":
        frames = slerp(start[None], end[None], t)
    else:
        frames = (start + t[..., None] * (end.astype(np.float64) - start)).astype(np.float32)
    frames[0], frames[-1] = start, end
    return frames


def loop(
    favourites: Sequence[np.ndarray] | np.ndarray, steps_each: int, easing: Easing = "linear", *, space: Space = "w"
) -> np.ndarray:
    """A closed walk through two or more favourites, ``steps_each`` frames from each to the next (the last
    back to the first), each favourite a frame of its own: (count * steps_each, num_ws, w_dim)."""
    stack = _stack(favourites, "favourites")
    if len(stack) < 2:
        raise ValueError("a loop needs at least two favourites")
    if steps_each < 1:
        raise ValueError(f"steps_each must be at least 1, not {steps_each}")
    following = np.roll(stack, -1, axis=0)
    legs = [walk(a, b, steps_each + 1, easing, space=space)[:-1] for a, b in zip(stack, following, strict=True)]
    return np.concatenate(legs)


def _eased(t: np.ndarray, easing: Easing) -> np.ndarray:
    if easing == "linear":
        return t
    if easing == "ease-in-out":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    raise ValueError(f"easing must be 'linear' or 'ease-in-out', not {easing!r}")


def _one(ws: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(ws, np.float32)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be one image's styles (num_ws, w_dim), not of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds numbers that are not finite")
    return array


def _stack(items: Sequence[np.ndarray] | np.ndarray, name: str) -> np.ndarray:
    arrays = [_one(item, name) for item in items]
    if not arrays:
        raise ValueError(f"{name}: give at least one image's styles")
    if len({array.shape for array in arrays}) > 1:
        raise ValueError(f"{name} have different shapes: {sorted({array.shape for array in arrays})}")
    return np.stack(arrays)
