"""Import an object named by a ``"package.module:attribute"`` string.

Plugin manifests and model specs name their code this way so that nothing is
imported until it is used. A leaf module: it imports nothing from Studio.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_object"]


def import_object(target: str) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted); ValueError for another form."""
    module_name, sep, attribute = target.partition(":")
    if not sep:
        raise ValueError(f"{target!r} is not of the form module:attribute")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj
