"""Optimisers over the pixels of a picture, shared by the plugins that optimise an image (style transfer, doodles)."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import Protocol, TypeVar

import torch
import torch.nn.functional as F

from studio.core.tiling import Box, TileGrid, expand, margin_for

LBFGS_HISTORY = 20  # L-BFGS keeps 2 point-sized vectors per step of history (a pyramid: 4/3 of the picture)


class PictureSpace(Protocol):
    """The variables an optimiser moves, and the picture in 0..1 they stand for."""

    def start(self, image: torch.Tensor) -> torch.Tensor:
        """The point that stands for ``image``."""
        ...

    def picture(self, point: torch.Tensor) -> torch.Tensor:
        """The picture of ``point`` (differentiable)."""
        ...

    def clip(self, point: torch.Tensor) -> torch.Tensor:
        """``point`` brought back into the space's bounds, in place."""
        ...

    def feasible(self, point: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        """``direction`` without the moves that leave the bounds at once, in place."""
        ...

    def extent(self, direction: torch.Tensor) -> float:
        """The largest change of a pixel that a step of ``direction`` makes."""
        ...


class Pixels:
    """The picture's own pixels as the variables, kept in 0..1."""

    def start(self, image: torch.Tensor) -> torch.Tensor:
        return image.detach().clone()

    def picture(self, point: torch.Tensor) -> torch.Tensor:
        return point

    def clip(self, point: torch.Tensor) -> torch.Tensor:
        return point.clamp_(0.0, 1.0)

    def feasible(self, point: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        blocked = ((point <= 0) & (direction < 0)) | ((point >= 1) & (direction > 0))
        return direction.masked_fill_(blocked, 0.0)

    def extent(self, direction: torch.Tensor) -> float:
        return float(direction.abs().max())


class Pyramid:
    """A picture (N, C, H, W) as a sum of levels, each half the size of the one before, enlarged (bilinear) to
    the full size and clamped to 0..1.

    Optimising the levels instead of the pixels preconditions the problem: one
    step moves a broad area as readily as a single pixel, so the large shapes
    and colours settle in a few iterations while the finest level still
    reaches every pixel. The coarsest level keeps a short side of at least
    ``min_side``. A point is one flat vector, the full-size level first; it
    starts as the picture with every other level zero.
    """

    def __init__(self, shape: Sequence[int], min_side: int = 32) -> None:
        *lead, height, width = shape
        self.lead = tuple(lead)
        self.sizes = [(height, width)]
        while min(self.sizes[-1]) >= 2 * min_side:
            h, w = self.sizes[-1]
            self.sizes.append(((h + 1) // 2, (w + 1) // 2))
        self.numels = [math.prod(self.lead) * h * w for h, w in self.sizes]

    @property
    def levels(self) -> int:
        return len(self.sizes)

    def start(self, image: torch.Tensor) -> torch.Tensor:
        point = image.new_zeros(sum(self.numels))
        point[: self.numels[0]] = image.detach().flatten()
        return point

    def compose(self, point: torch.Tensor) -> torch.Tensor:
        """The sum of the enlarged levels of ``point``, not clamped."""
        parts = torch.split(point, self.numels)
        picture = parts[0].view(*self.lead, *self.sizes[0])
        for part, size in zip(parts[1:], self.sizes[1:], strict=True):
            level = part.view(*self.lead, *size)
            picture = picture + F.interpolate(level, size=self.sizes[0], mode="bilinear", align_corners=False)
        return picture

    def picture(self, point: torch.Tensor) -> torch.Tensor:
        return self.compose(point).clamp(0.0, 1.0)

    def clip(self, point: torch.Tensor) -> torch.Tensor:
        return point

    def feasible(self, point: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        return direction

    def extent(self, direction: torch.Tensor) -> float:
        return float(self.compose(direction).abs().max())


def picture_space(shape: Sequence[int], min_side: int = 32) -> PictureSpace:
    """A :class:`Pyramid` for a picture of ``shape`` with room for two levels or more, else its :class:`Pixels`."""
    pyramid = Pyramid(shape, min_side)
    return pyramid if pyramid.levels > 1 else Pixels()


class PictureLBFGS:
    """L-BFGS over a picture's variables (its pixels, or a :class:`Pyramid`'s levels), one loss evaluation at a
    time.

    Evaluate the loss and its gradient with respect to :attr:`point` at the
    picture ``space.picture(point)``, pass them to :meth:`tell`, repeat;
    :attr:`best` is the best point so far. Unlike ``torch.optim.LBFGS``
    without a line search, the first step has a sensible size (``first_step``
    at the most changed pixel) and a step that does not lower the loss enough
    is halved (Armijo backtracking), so it neither stalls nor explodes. Points
    stay within the space's bounds; the curvature pairs use the actual steps.
    """

    def __init__(
        self, image: torch.Tensor, space: PictureSpace, history: int = LBFGS_HISTORY, first_step: float = 0.05
    ) -> None:
        self.space = space
        self.best = self.space.start(image)
        self.point = self.best
        self.loss = math.inf
        self.history = history
        self.first_step = first_step
        self._gradient: torch.Tensor | None = None
        self._direction: torch.Tensor | None = None
        self._pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []
        self._scale = 1.0
        self._backtracks = 0

    @torch.no_grad()
    def tell(self, loss: float, gradient: torch.Tensor) -> None:
        """The loss and gradient at :attr:`point`; chooses the next point."""
        gradient = gradient.detach()
        if self._gradient is None:
            self.best, self.loss, self._gradient = self.point, loss, gradient.clone()
            self._steepest()
            return
        step = self.point - self.best
        slope = float((self._gradient * step).sum())
        if not math.isfinite(loss) or loss > self.loss + 1e-4 * slope:
            if self._backtracks >= 8 or slope >= 0:
                self._steepest()
                return
            self._backtracks += 1
            self._scale *= 0.5
        else:
            change = gradient - self._gradient
            curvature = float((step * change).sum())
            if curvature > 1e-12:
                self._pairs.append((step, change, 1.0 / curvature))
                del self._pairs[: -self.history]
            self.best, self.loss, self._gradient = self.point, loss, gradient.clone()
            self._direction = self.space.feasible(self.best, self._two_loop(gradient))
            self._scale = 1.0
            self._backtracks = 0
            if float((gradient * self._direction).sum()) >= 0:
                self._steepest()
                return
        assert self._direction is not None
        self.point = self.space.clip(self.best + self._scale * self._direction)

    def _steepest(self) -> None:
        """Forget the curvature and step down the gradient, ``first_step`` at the most changed pixel."""
        assert self._gradient is not None
        self._pairs.clear()
        direction = self.space.feasible(self.best, -self._gradient)
        self._direction = direction.mul_(self.first_step / max(self.space.extent(direction), 1e-30))
        self._scale = 1.0
        self._backtracks = 0
        self.point = self.space.clip(self.best + self._direction)

    def _two_loop(self, gradient: torch.Tensor) -> torch.Tensor:
        """The quasi-Newton direction -H g from the stored pairs."""
        if not self._pairs:
            return -gradient
        q = gradient.clone()
        alphas = []
        for s, y, rho in reversed(self._pairs):
            alpha = rho * float((s * q).sum())
            alphas.append(alpha)
            q.add_(y, alpha=-alpha)
        s, y, _ = self._pairs[-1]
        q.mul_(float((s * y).sum()) / float((y * y).sum()))
        for (s, y, rho), alpha in zip(self._pairs, reversed(alphas), strict=True):
            beta = rho * float((y * q).sum())
            q.add_(s, alpha=alpha - beta)
        return q.neg_()


class PixelAdam:
    """Adam over the pixels of a whole picture, fed one full-size gradient per step.

    The gradient may be assembled tile by tile; the moments live at full size,
    so every pixel keeps its own state whichever tile it was in.
    """

    def __init__(self, image: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.image = image
        self.lr = lr
        self.betas = betas
        self.steps = 0
        self.first = torch.zeros_like(image)
        self.second = torch.zeros_like(image)

    @torch.no_grad()
    def step(self, gradient: torch.Tensor) -> None:
        """One Adam step on the picture; values stay in 0..1."""
        beta1, beta2 = self.betas
        self.steps += 1
        self.first.mul_(beta1).add_(gradient, alpha=1 - beta1)
        self.second.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        step = self.lr * math.sqrt(1 - beta2**self.steps) / (1 - beta1**self.steps)
        denominator = self.second.sqrt().add_(1e-8)
        self.image.addcdiv_(self.first, denominator, value=-step).clamp_(0.0, 1.0)


T = TypeVar("T")
TileLoss = Callable[[torch.Tensor, Box], torch.Tensor]
"""``tile_loss(patch, window)``: the loss of one tile; ``patch`` is the picture inside ``window`` (the tile with
its margin of context), a leaf that requires grad."""


def tiled_gradient(
    x: torch.Tensor, tile: int, offset: tuple[int, int], tile_loss: TileLoss, on_tile: Callable[[float, int], T | None]
) -> Generator[T, None, tuple[torch.Tensor, float]]:
    """The gradient over ``x`` of a loss taken tile by tile on a grid shifted by ``offset``.

    Each tile's loss is computed with a margin of context and only the gradient of the tile's centre is kept, so
    at most one tile's network pass is alive at a time. After each tile ``on_tile(share, tiles)`` (the tile's
    share of the picture, the number of tiles) may give something to yield (a preview). Returns the gradient and
    the loss averaged over the picture by area.
    """
    height, width = x.shape[-2:]
    margin = margin_for(tile)
    boxes = list(TileGrid(width, height, tile, offset))
    gradient = torch.zeros_like(x)
    total = 0.0
    for box in boxes:
        window = expand(box, margin, width, height)
        px0, py0, px1, py1 = window
        patch = x[..., py0:py1, px0:px1].detach().requires_grad_(True)
        loss = tile_loss(patch, window)
        (loss * patch.shape[-1] * patch.shape[-2]).backward()
        assert patch.grad is not None
        x0, y0, x1, y1 = box
        gradient[..., y0:y1, x0:x1] = patch.grad[..., y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        share = (x1 - x0) * (y1 - y0) / (width * height)
        total += float(loss.detach()) * share
        if (item := on_tile(share, len(boxes))) is not None:
            yield item
    return gradient, total


def lbfgs_steps(
    image: torch.Tensor,
    iterations: int,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    on_step: Callable[[int, float, torch.Tensor], T | None],
    space: PictureSpace | None = None,
) -> Generator[T, None, torch.Tensor]:
    """``iterations`` L-BFGS steps on the whole picture, one loss evaluation each; returns the best picture.

    ``loss_of(picture)`` is the loss of a picture that requires grad; after each step ``on_step(step, loss,
    best picture)`` may give something to yield (a preview). ``space`` holds the variables: by default
    :func:`picture_space`'s for the picture.
    """
    space = space or picture_space(image.shape)
    optimizer = PictureLBFGS(image, space)
    best = image
    for step in range(1, iterations + 1):
        point = optimizer.point
        variable = point.detach().requires_grad_(True)
        picture = space.picture(variable)
        loss = loss_of(picture)
        loss.backward()
        assert variable.grad is not None
        optimizer.tell(float(loss.detach()), variable.grad)
        if optimizer.best is point:  # accepted: the picture just evaluated is the best (no second composition)
            best = picture.detach()
        if (item := on_step(step, optimizer.loss, best)) is not None:
            yield item
    return best
