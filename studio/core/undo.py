"""Undo and redo: a stack of reversible commands applied to one target.

Generic and a leaf of the core: the document owns a ``History[Document]``;
the commands that edit a document are in :mod:`studio.core.history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from psygnal import Signal

__all__ = ["Command", "Group", "History"]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Command(Protocol[T_contra]):
    """A reversible change to a target (a document)."""

    text: str

    def redo(self, target: T_contra, /) -> None: ...

    def undo(self, target: T_contra, /) -> None: ...


@dataclass
class Group(Generic[T]):
    """Several commands as one undo step (a plugin result and the layers that came with it)."""

    text: str
    commands: Sequence[Command[T]]

    def redo(self, target: T, /) -> None:
        for command in self.commands:
            command.redo(target)

    def undo(self, target: T, /) -> None:
        for command in reversed(self.commands):
            command.undo(target)


class History(Generic[T]):
    """A command stack applied to one target (a document). ``changed()`` fires after every push, undo or redo."""

    changed = Signal()

    def __init__(self, target: T, limit: int = 200) -> None:
        self._target = target
        self._commands: list[Command[T]] = []
        self._index = 0
        self._clean_index: int | None = 0
        self.limit = limit

    def push(self, command: Command[T], *, applied: bool = False) -> None:
        """Add ``command`` and run it (unless ``applied``: it already changed the target)."""
        if not applied:
            command.redo(self._target)
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        top = self._commands[-1] if self._commands else None
        merge = getattr(top, "merge", None)
        if merge is not None and self._index != self._clean_index and merge(command):
            self.changed.emit()
            return
        self._commands.append(command)
        self._index += 1
        if len(self._commands) > self.limit:
            self._commands.pop(0)
            self._index -= 1
            self._clean_index = None if self._clean_index in (None, 0) else self._clean_index - 1
        self.changed.emit()

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self._index -= 1
        self._commands[self._index].undo(self._target)
        self.changed.emit()
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self._commands[self._index].redo(self._target)
        self._index += 1
        self.changed.emit()
        return True

    def go_to(self, index: int) -> None:
        """Undo or redo until ``index`` commands are applied."""
        index = min(max(index, 0), len(self._commands))
        while self._index > index:
            self.undo()
        while self._index < index:
            self.redo()

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def index(self) -> int:
        """How many commands are applied."""
        return self._index

    def texts(self) -> list[str]:
        """Descriptions of every command, oldest first."""
        return [c.text for c in self._commands]

    def set_clean(self, index: int | None = None) -> None:
        """Mark the state after ``index`` commands (default: the current one) as saved: a save that started then
        finished later. Ignored when the commands since that state are gone (undone and replaced)."""
        if index is None:
            index = self._index
        self._clean_index = index if index <= len(self._commands) else None
        self.changed.emit()

    def mark_modified(self) -> None:
        """Mark the document as unsaved although no command changed it (a recovered autosave)."""
        self._clean_index = None
        self.changed.emit()

    @property
    def is_clean(self) -> bool:
        return self._clean_index == self._index
