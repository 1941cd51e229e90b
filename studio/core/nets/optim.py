"""Optimisers over the pixels of a picture, shared by the plugins that optimise an image (style transfer, doodles)."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TypeVar

import torch

from studio.core.tiling import Box, TileGrid, expand, margin_for

LBFGS_HISTORY = 20  # L-BFGS keeps 2 picture-sized vectors per step of history


class PixelLBFGS:
    """L-BFGS over the pixels of a picture, driven one loss evaluation at a time.

    Evaluate the loss and its gradient at :attr:`point`, pass them to
    :meth:`tell`, repeat; :attr:`image` is the best picture so far. Unlike
    ``torch.optim.LBFGS`` without a line search, the first step has a sensible
    size (``first_step`` at the steepest pixel) and a step that does not lower
    the loss enough is halved (Armijo backtracking), so it neither stalls nor
    explodes. Points are kept in 0..1; the curvature pairs use the actual steps.
    """

    def __init__(self, image: torch.Tensor, history: int = LBFGS_HISTORY, first_step: float = 0.05) -> None:
        self.image = image.detach().clone()
        self.point = self.image
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
            self.image, self.loss, self._gradient = self.point, loss, gradient.clone()
            self._steepest()
            return
        step = self.point - self.image
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
            self.image, self.loss, self._gradient = self.point, loss, gradient.clone()
            self._direction = self._feasible(self._two_loop(gradient))
            self._scale = 1.0
            self._backtracks = 0
            if float((gradient * self._direction).sum()) >= 0:
                self._steepest()
                return
        assert self._direction is not None
        self.point = (self.image + self._scale * self._direction).clamp_(0.0, 1.0)

    def _feasible(self, direction: torch.Tensor) -> torch.Tensor:
        """``direction`` without the moves of pixels already at 0 or 1 further out."""
        blocked = ((self.image <= 0) & (direction < 0)) | ((self.image >= 1) & (direction > 0))
        return direction.masked_fill_(blocked, 0.0)

    def _steepest(self) -> None:
        """Forget the curvature and step down the gradient, ``first_step`` at the steepest pixel."""
        assert self._gradient is not None
        self._pairs.clear()
        direction = self._feasible(-self._gradient)
        self._direction = direction.mul_(self.first_step / float(direction.abs().max().clamp_min(1e-30)))
        self._scale = 1.0
        self._backtracks = 0
        self.point = (self.image + self._direction).clamp_(0.0, 1.0)

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
) -> Generator[T, None, torch.Tensor]:
    """``iterations`` L-BFGS steps on the whole picture, one loss evaluation each; returns the best picture.

    ``loss_of(picture)`` is the loss of a picture that requires grad; after each step ``on_step(step, loss,
    best picture)`` may give something to yield (a preview).
    """
    optimizer = PixelLBFGS(image)
    for step in range(1, iterations + 1):
        variable = optimizer.point.detach().requires_grad_(True)
        loss = loss_of(variable)
        loss.backward()
        assert variable.grad is not None
        optimizer.tell(float(loss.detach()), variable.grad)
        if (item := on_step(step, optimizer.loss, optimizer.image)) is not None:
            yield item
    return optimizer.image
