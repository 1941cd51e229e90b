"""The errors of batch rendering: problems in a job file, a failed item, a job that cannot start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobProblem:
    """One thing wrong with a job file: where (line, key) and what to do."""

    line: int
    key: str
    message: str


class JobFileError(ValueError):
    """A job file is wrong; ``problems`` lists every error found, each with line and key."""

    def __init__(self, path: Path, problems: Sequence[JobProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}:{p.line}: {p.key}: {p.message}" for p in self.problems))

    def __reduce__(self) -> tuple[type[JobFileError], tuple[Path, list[JobProblem]]]:
        return (type(self), (self.path, self.problems))


class ItemError(RuntimeError):
    """One item failed; the message names the input or step and what went wrong."""


class BatchError(RuntimeError):
    """A job cannot start (for example an output exists that this job did not make)."""
