"""Converters from foreign weight layouts (Flax pickles, Keras h5, TF.js shards, ...) to torchvision state dicts.

A converter is a function ``(files: Mapping[str, Path]) -> dict[str, torch.Tensor]``
named in the catalog as ``module:function``. It never executes code from the
files: pickles go through :func:`studio.core.models.safe_pickle.load_numpy_pickle`,
torch files through ``torch.load(..., weights_only=True)``, safetensors through
``safetensors.torch.load_file``. The helpers here are shared by the converters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "conversion_error",
    "expect_layout",
    "load_state_dict_file",
    "load_tensor_file",
    "only_file",
    "pick_file",
]


def conversion_error(message: str) -> Exception:
    """The store's error type (:class:`studio.core.models.errors.ModelError`) carrying ``message``."""
    from studio.core.models.errors import ModelError

    return ModelError(message)


def only_file(files: Mapping[str, Path]) -> Path:
    """The single file of a source that provides exactly one, whatever its name."""
    if len(files) != 1:
        raise conversion_error(f"expected exactly one weights file, got {len(files)}: {', '.join(sorted(files))}")
    return Path(next(iter(files.values())))


def pick_file(files: Mapping[str, Path], name: str) -> Path:
    """The file called ``name``, or the only file when there is just one (a user import may be named anything)."""
    if name in files:
        return Path(files[name])
    if len(files) == 1:
        return only_file(files)
    raise conversion_error(f"the source provides no file {name!r} (it has: {', '.join(sorted(files)) or 'none'})")


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """A flat ``name -> tensor`` dict from a loaded checkpoint, looking inside one level of ``state_dict``/``model``."""
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        wrapped = [obj[key] for key in ("state_dict", "model") if isinstance(obj.get(key), Mapping)]
        if wrapped:
            obj = wrapped[0]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise conversion_error(f"{path.name} does not hold a state dict (a mapping of names to tensors)")
    out = {str(k): v for k, v in obj.items()}
    if out and all(k.startswith("module.") for k in out):  # saved from DataParallel
        out = {k.removeprefix("module."): v for k, v in out.items()}
    return out


def load_tensor_file(path: Path) -> object:
    """The raw object of a ``.safetensors`` file or of a torch file loaded with ``weights_only=True`` on the CPU."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for code-carrying pickles, RuntimeError for garbage
        from studio.core.models.errors import load_failure

        reason = load_failure(exc)
        raise conversion_error(f"{path.name} is not a torch weights file that loads safely: {reason}") from exc


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """A flat state dict from a ``.pth``/``.pt``/``.tar``/``.safetensors`` file; nothing in it is executed."""
    return _unwrap(load_tensor_file(path), Path(path))


def expect_layout(state: Mapping[str, torch.Tensor], builder: Callable[[], nn.Module], origin: str) -> None:
    """Raise a clear error unless ``state`` has exactly the keys and shapes of ``builder()``'s state dict.

    The reference module is built on the meta device, so this costs no memory.
    """
    with torch.device("meta"):
        reference = {k: tuple(v.shape) for k, v in builder().state_dict().items()}
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    wrong = sorted(k for k in set(reference) & set(state) if tuple(state[k].shape) != reference[k])
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if wrong:
        shown = ", ".join(f"{k} {tuple(state[k].shape)} != {reference[k]}" for k in wrong[:3])
        problems.append(f"wrong shapes {shown}{' ...' if len(wrong) > 3 else ''}")
    if problems:
        raise conversion_error(f"{origin} does not match the network: {'; '.join(problems)}")
