"""The one error type of the model store: it says which model, which file, what is wrong and what to do."""

from __future__ import annotations

import re
from pathlib import Path

from studio.core.errors import ReadableError, describe_error


class ModelError(ReadableError):
    """A model could not be fetched, verified, converted or loaded.

    The message is meant for the artist: it names the model id, the file, what
    is wrong (for example the expected and actual sha256) and what to do next.
    ``model_id`` and ``path`` repeat the first two for callers that want them.
    Raising it never exits the process.
    """

    def __init__(self, message: str, *, model_id: str = "", path: Path | str | None = None) -> None:
        super().__init__(message)
        self.model_id = model_id
        self.path = Path(path) if path is not None else None

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def load_failure(exc: BaseException) -> str:
    """Why a weights file did not load, without torch's advice to load it with ``weights_only=False``.

    That advice would run code from the file: Studio never gives it. A refused
    pickle names the Python object it wanted, and nothing else of torch's text.
    """
    text = describe_error(exc)
    if "weights_only" not in text.lower() and "weights only" not in text.lower():
        return text
    found = re.search(r"GLOBAL ([\w.]+)", text)
    wanted = f" ({found.group(1)})" if found else ""
    return (
        f"it holds Python objects other than tensors{wanted}, which could run code, so Studio does not load it; "
        "use a file that holds only weights (a state dict, or .safetensors)"
    )


def reinstall_hint(model_id: str) -> str:
    """What to do about a damaged or missing cached file."""
    if not model_id:
        return "try again"
    return f"run `studio models install {model_id}` again (or remove it with `studio models remove {model_id}`)"


def hash_mismatch(
    what: str, path: Path | str, expected: str, actual: str, *, model_id: str = "", fix: str = ""
) -> ModelError:
    """A file whose sha256 is not the one expected."""
    owner = f"{model_id}: " if model_id else ""
    return ModelError(
        f"{owner}{what} {path} failed verification: expected sha256 {expected}, got {actual}. "
        f"The file is damaged or not the published one; {fix or reinstall_hint(model_id)}.",
        model_id=model_id,
        path=path,
    )
