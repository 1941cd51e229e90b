"""Errors whose message is meant for the artist, and a one-line description of any exception.

A leaf module: it imports nothing from Studio, so any layer may use it.
"""

from __future__ import annotations

__all__ = ["ReadableError", "describe_error"]


class ReadableError(Exception):
    """Base of Studio's errors whose message already says what went wrong and what to do.

    :func:`describe_error` shows such a message as it is, without the type name.
    """


def describe_error(exc: BaseException) -> str:
    """A one-line, readable description of an exception for a panel or the CLI."""
    text = str(exc).strip()
    if isinstance(exc, ReadableError | OSError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
