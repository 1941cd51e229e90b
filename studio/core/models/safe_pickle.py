"""Read pickles of numpy arrays (Flax checkpoints) without executing any code they name.

:func:`load_numpy_pickle` admits only the few callables numpy's own pickles
use to rebuild arrays, scalars and dtypes (and ``collections.OrderedDict``);
every other global a pickle names is refused with :class:`ModelError` before
anything is called. Object arrays are refused too, and the loaded value is
checked to hold nothing but containers, plain values and numeric arrays.
"""

from __future__ import annotations

import collections
import os
import pickle  # used only for the numpy-only Unpickler subclass below, the one the project allows
import pickletools  # reads a pickle's opcodes without running it (pickle_globals)
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

from studio.core.models.errors import ModelError

_PLAIN = (str, bytes, int, float, complex, bool, type(None))


class _Refused(Exception):
    """Something in the pickle is not a plain numpy value."""


def _dtype(obj: object, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(obj, str):
        raise _Refused(f"numpy.dtype({type(obj).__name__})")
    dtype = np.dtype(obj, align=align, copy=copy)
    if dtype.hasobject:
        raise _Refused(f"an object dtype ({obj!r})")
    return dtype


def _checked_dtype(dtype: object) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _Refused(f"dtype {dtype!r}")
    return dtype


def _reconstruct(cls: object, shape: object, typecode: object) -> np.ndarray:
    if cls is not np.ndarray:
        raise _Refused(f"an array of class {cls!r}")
    return _multiarray._reconstruct(np.ndarray, shape, typecode)


def _scalar(dtype: object, data: object = None) -> np.generic:
    if not isinstance(data, bytes):
        raise _Refused("a numpy scalar without raw bytes")
    return _multiarray.scalar(_checked_dtype(dtype), data)


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> np.ndarray:
    if not isinstance(buf, bytes | bytearray):
        raise _Refused("an array from an out-of-band buffer")
    return _numeric._frombuffer(buf, _checked_dtype(dtype), shape, order)


def _latin1_encode(text: object, encoding: object = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin-1")


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_module}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _frombuffer


class NumpyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays, scalars and dtypes, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"a persistent id {pid!r}")


def _check_value(value: Any, depth: int = 0) -> None:
    if depth > 100:
        raise _Refused("nesting deeper than 100 levels")
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray or value.dtype.hasobject:
            raise _Refused(f"an array of {type(value).__name__} / {value.dtype}")
    elif isinstance(value, np.dtype):
        _checked_dtype(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, depth + 1)
            _check_value(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(item, depth + 1)
    elif not isinstance(value, (*_PLAIN, np.generic)):
        raise _Refused(f"a {type(value).__name__}")


def load_numpy_pickle(path: str | os.PathLike[str], *, model_id: str = "") -> Any:
    """Unpickle ``path``, admitting only numpy arrays, scalars, dtypes and plain containers.

    Raises :class:`ModelError` naming the file and what it asked for if the
    pickle names anything else; nothing it names is ever called.
    """
    file = Path(path)
    owner = f"{model_id}: " if model_id else ""
    fix = (
        f"remove it with `studio models remove {model_id}` and install it again from a trusted source"
        if model_id
        else "do not use this file"
    )
    try:
        with file.open("rb") as handle:
            value = NumpyUnpickler(handle).load()
        _check_value(value)
    except _Refused as exc:
        raise ModelError(
            f"{owner}{file} is not a plain numpy pickle: it asks for {exc}, which is refused because unpickling it "
            f"could run code. The file may have been tampered with; {fix}.",
            model_id=model_id,
            path=file,
        ) from None
    except OSError as exc:
        raise ModelError(
            f"{owner}cannot read {file}: {exc.strerror or exc}. Check that the file exists and is readable.",
            model_id=model_id,
            path=file,
        ) from exc
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        MemoryError,
        OverflowError,
    ) as exc:
        raise ModelError(
            f"{owner}{file} is not a readable numpy pickle ({type(exc).__name__}: {exc}). "
            f"It is truncated or damaged; {fix}.",
            model_id=model_id,
            path=file,
        ) from None
    return value


def pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """The (module, name) pairs the pickle ``data`` asks for, read from its opcodes without unpickling it.

    ValueError when it is not a readable pickle, or names a global in a way that only running it would tell
    (STACK_GLOBAL, INST, OBJ, extension codes): whoever asks refuses such a file.
    """
    found = []
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"):
                raise ValueError(f"a global by {opcode.name}")
            if opcode.name == "GLOBAL":
                module, name = str(argument).split(" ", 1)
                found.append((module, name))
    except EOFError as exc:
        raise ValueError(f"nothing readable ({exc})") from exc
    return found
