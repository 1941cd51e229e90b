"""Cooperative cancellation and progress callbacks, shared by jobs, downloads and the model store.

A leaf module: it imports nothing from Studio, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CancelCheck", "Cancelled", "Progress", "check_cancelled"]


class Cancelled(Exception):
    """Raised where long work stops because it was cancelled (an engine, a download, an install)."""


Progress = Callable[[float, str], None]
"""``progress(fraction, message)``: how long work (a download, an install) reports how far it is."""

CancelCheck = Callable[[], bool]
"""``cancelled()``: true once the work should stop."""


def check_cancelled(cancelled: CancelCheck | None) -> None:
    """Raise :class:`Cancelled` if ``cancelled()`` says so."""
    if cancelled is not None and cancelled():
        raise Cancelled()
