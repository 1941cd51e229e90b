"""PySide6 user interface of Studio."""

import ctypes
import sys

_NONE_RESERVE = 1 << 40


def _keep_none_alive() -> None:
    """Give ``None`` references enough that PySide6 6.12 can never deallocate it.

    Under Python 3.11 every PySide6 6.12 call that returns nothing (``label.setText``,
    ``painter.drawRect``...) or hands back an empty QVariant drops a reference to ``None``
    it never took; after some tens of thousands of calls the process aborts with "Fatal
    Python error: none_dealloc". Python 3.12 made ``None`` immortal; this does the same here.
    """
    if sys.version_info < (3, 12) and sys.getrefcount(None) < _NONE_RESERVE:
        ctypes.c_ssize_t.from_address(id(None)).value += _NONE_RESERVE


_keep_none_alive()
