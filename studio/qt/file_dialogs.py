"""Where Studio's file dialogs start: the folder of the document being worked on, when it has one."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtWidgets import QWidget

from studio.core.image import SUPPORTED_SUFFIXES

PICTURES_FILTER = f"Pictures ({' '.join(f'*{suffix}' for suffix in SUPPORTED_SUFFIXES)});;All files (*)"
"""The file dialog filter for the pictures Studio reads."""


@runtime_checkable
class FolderSource(Protocol):
    """A window that knows where its file dialogs start (the main window is one)."""

    def last_dir(self) -> str:
        """The folder of the open document's file, else the most recent file's, else the home folder."""
        ...


def start_folder(widget: QWidget | None, current: str = "") -> str:
    """The folder (or path) a file dialog opened from ``widget`` starts in.

    ``current`` (what the field the dialog fills already holds) wins when given; else the
    :class:`FolderSource` that ``widget`` sits in decides; else the dialog's own default ("").
    """
    if current.strip():
        return current.strip()
    while widget is not None:
        if isinstance(widget, FolderSource):
            return widget.last_dir()
        widget = widget.parentWidget()
    return ""
