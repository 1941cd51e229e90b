"""The picture optimisers: L-BFGS over pixels or over a pyramid's levels."""

from __future__ import annotations

import math

import torch

from studio.core.nets.optim import Pixels, Pyramid, lbfgs_steps, picture_space


def test_a_pyramid_starts_at_the_picture_and_halves_down_to_its_smallest_level():
    picture = torch.rand(1, 3, 100, 257)
    pyramid = Pyramid(picture.shape, min_side=16)
    assert pyramid.sizes == [(100, 257), (50, 129), (25, 65)]
    point = pyramid.start(picture)
    assert point.shape == (3 * (100 * 257 + 50 * 129 + 25 * 65),)
    assert torch.equal(pyramid.picture(point), picture)
    assert Pyramid((1, 3, 40, 40), min_side=32).levels == 1
    assert isinstance(picture_space((1, 3, 40, 40)), Pixels), "one level would only lose the pixels' bounds"
    assert isinstance(picture_space((1, 3, 64, 64)), Pyramid)


def test_every_level_reaches_the_picture_which_stays_in_range():
    pyramid = Pyramid((1, 3, 64, 64), min_side=16)
    point = pyramid.start(torch.full((1, 3, 64, 64), 0.5))
    coarsest = slice(len(point) - 3 * 16 * 16, len(point))
    point[coarsest] = 1.0
    raised = pyramid.compose(point)
    assert torch.allclose(raised, torch.full_like(raised, 1.5)), "a constant coarse level lifts every pixel"
    assert pyramid.picture(point).max() == 1.0
    assert pyramid.extent(point) == 1.5


def smoothing_loss(target: torch.Tensor):
    """A loss whose broad shapes settle slowly pixel by pixel: a weak pull towards ``target`` under strong
    smoothing."""

    def loss_of(picture: torch.Tensor) -> torch.Tensor:
        dy = picture[..., 1:, :] - picture[..., :-1, :]
        dx = picture[..., :, 1:] - picture[..., :, :-1]
        return 1e-3 * (picture - target).square().mean() + dy.square().mean() + dx.square().mean()

    return loss_of


def final_loss(space, start: torch.Tensor, loss_of, iterations: int) -> float:
    losses = []
    result = run_to_end(lbfgs_steps(start, iterations, loss_of, lambda step, loss, best: losses.append(loss), space))
    assert result.min() >= 0 and result.max() <= 1
    return losses[-1]


def run_to_end(generator):
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


def test_lbfgs_on_a_pyramid_settles_broad_shapes_sooner_than_on_the_pixels():
    y, x = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    disc = ((x - 0.3) ** 2 + (y - 0.6) ** 2 < 0.08).float()
    target = torch.stack([disc, torch.full_like(x, 0.2), y]).unsqueeze(0)
    start = torch.full((1, 3, 128, 128), 0.5)
    loss_of = smoothing_loss(target)
    best = final_loss(Pyramid(start.shape, min_side=4), start, loss_of, 200)
    pixels = final_loss(Pixels(), start, loss_of, 15) - best
    pyramid = final_loss(Pyramid(start.shape, min_side=8), start, loss_of, 15) - best
    assert pyramid < 0.01 * pixels, f"15 steps left {pyramid:.3g} (pyramid), {pixels:.3g} (pixels) to the optimum"


def test_pixels_stay_in_range_while_the_loss_falls():
    target = torch.rand(1, 3, 32, 32) * 2 - 0.5  # partly outside 0..1
    losses = []

    def loss_of(picture: torch.Tensor) -> torch.Tensor:
        assert picture.min() >= 0 and picture.max() <= 1
        return (picture - target).square().mean()

    start = torch.full((1, 3, 32, 32), 0.5)
    run_to_end(lbfgs_steps(start, 10, loss_of, lambda step, loss, best: losses.append(loss), Pixels()))
    assert losses[-1] < 0.5 * losses[0]


def test_each_step_shows_the_best_picture_with_its_loss_also_after_a_rejected_step():
    target = torch.rand(1, 3, 64, 64)
    calls = []

    def loss_of(picture: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = (picture - target).square().mean()
        return loss * math.inf if len(calls) == 3 else loss  # the third point is rejected

    seen = []
    start = torch.full((1, 3, 64, 64), 0.5)
    run_to_end(
        lbfgs_steps(start, 6, loss_of, lambda step, loss, best: seen.append((loss, best)), picture_space(start.shape))
    )
    assert seen[2][0] == seen[1][0] and torch.equal(seen[2][1], seen[1][1]), "a rejected step keeps the best"
    for loss, best in seen:
        assert math.isclose(loss, float((best - target).square().mean()), rel_tol=1e-5)
