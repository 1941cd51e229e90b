"""The generators breeding works with, behind one interface: :class:`Generator`.

Three kinds:

- the catalog's ``dcgan_faces64``, a network of a latent z only (its ws are z, num_ws = 1);
- Studio's style-based generator (``stylegan.py``): z is mapped to a style w, and each
  synthesis layer reads its own row of ws (N, num_ws, w_dim), grouped in coarse, middle
  and fine levels;
- a generator an artist brings: a TorchScript or ONNX file and a JSON sidecar beside it
  (``model.onnx`` and ``model.json``) saying how to use it::

      {"latent_size": 512, "output_range": [-1, 1]}
      {"latent_size": 512, "output_range": [0, 1], "num_ws": 14, "w_dim": 512, "mapping": "mapping.onnx"}

  ``output_range`` is the range of the images it returns (N, 3, H, W). With ``num_ws`` and
  ``w_dim`` the file takes per-layer styles (N, num_ws, w_dim), split in thirds into coarse,
  middle and fine levels; ``mapping`` (a file of the same format beside the sidecar) turns
  latents (N, latent_size) into styles (N, w_dim). Without a mapping the latents are the
  styles, so ``latent_size`` must equal ``w_dim``.

  ``studio models import gan_generator model.onnx --as NAME`` keeps the file, its sidecar
  and its mapping in the model store as they are (:func:`generator_files` checks them
  first), hash-checked on every load like any model; the ``generator`` parameter then
  names it NAME (``gan_generator`` without ``--as``).

What an artist's file can run: an ONNX file runs in onnxruntime, which executes only
ONNX operators. ``torch.jit.load`` never runs Python: the file's TorchScript code is
compiled and run by TorchScript's interpreter, and its ``data.pkl`` is read by
TorchScript's own unpickler, which resolves ``__torch__`` classes to that compiled code.
But TorchScript code may call any operator torch registers, ``aten::save`` and
``aten::from_file`` (which write and read files) among them, and a module's
``__setstate__`` runs while the file loads. So before loading, a TorchScript file is
refused if its pickles name anything but TorchScript classes, tensor storages and
ordered dicts, if its code defines ``__setstate__``, or if it calls ``save`` or
``from_file``.

Arrays are numpy: latents (N, z_dim) float32, styles (N, num_ws, w_dim) float32,
pictures uint8 RGB (N, H, W, 3). torch and onnxruntime are imported when a generator
is opened.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from studio_plugins.gan_breeding.breeding import Space, truncate
from studio_plugins.gan_breeding.models import ONNX_SUFFIX, TORCHSCRIPT_SUFFIXES

from studio.core.errors import describe_error
from studio.core.image import quantize
from studio.core.models.download import sha256_file
from studio.core.models.errors import ModelError
from studio.core.models.safe_pickle import pickle_globals
from studio.core.models.store import WEIGHTS
from studio.core.models.usage import ModelSource
from studio.core.nets.onnx_runtime import onnx_session

if TYPE_CHECKING:
    import torch

MAX_WS = 64
MAX_DIM = 4096
MAX_SIDE = 4096
MAX_SIDECAR_BYTES = 64 * 1024
SPREAD_SAMPLES = 1024  # latents mapped to estimate the mean and spread of a generator's styles
LEVELS = ("coarse", "middle", "fine")

Mapper = Callable[[np.ndarray], np.ndarray]
"""Latents (N, z_dim) to styles (N, w_dim) or (N, num_ws, w_dim)."""
Synthesis = Callable[[np.ndarray, int | None], np.ndarray]
"""Styles (N, num_ws, w_dim) and a noise seed to images (N, 3, H, W) in 0..1."""

__all__ = [
    "MAX_DIM",
    "MAX_WS",
    "Generator",
    "Sidecar",
    "from_files",
    "from_store",
    "generator_files",
    "open_file",
    "read_sidecar",
]


class StyleNetwork(Protocol):
    """What a style-based torch generator offers (``stylegan.StyleGenerator``)."""

    config: Any  # z_dim and w_dim
    num_ws: int
    w_avg: torch.Tensor

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor: ...

    def level_slices(self) -> dict[str, slice]: ...

    def __call__(self, ws: torch.Tensor, noise_seed: int | None = None) -> torch.Tensor: ...


class Generator:
    """Latents to styles to pictures, whatever the network.

    ``space`` is where breeding moves: "z" for a latent-only network, "w" for styles.
    ``levels`` maps "coarse", "middle" and "fine" to their ws rows (None when the
    network has no per-layer styles). ``hash`` identifies the weights (sha256), for
    recipes; ``notice`` is the terms an artist should see when choosing it.
    """

    def __init__(
        self,
        *,
        hash: str,
        z_dim: int,
        num_ws: int,
        w_dim: int,
        space: Space,
        mapping: Mapper,
        synthesis: Synthesis,
        w_avg: np.ndarray | None = None,
        levels: Mapping[str, slice] | None = None,
        notice: str = "",
    ) -> None:
        self.hash = hash
        self.z_dim, self.num_ws, self.w_dim = z_dim, num_ws, w_dim
        self.space: Space = space
        self.levels = dict(levels) if levels is not None else None
        self.notice = notice
        self._mapping, self._synthesis = mapping, synthesis
        self.w_avg = np.asarray(w_avg if w_avg is not None else self._sampled_styles().mean(axis=0), np.float32)
        height, width = self.render(np.broadcast_to(self.w_avg, (1, num_ws, w_dim)), 0).shape[1:3]
        self.size = (width, height)

    def sample_latents(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` standard normal latents (n, z_dim)."""
        return rng.standard_normal((n, self.z_dim), dtype=np.float32)

    def styles(self, latents: np.ndarray, truncation: float = 1.0) -> np.ndarray:
        """The styles (N, num_ws, w_dim) of latents (N, z_dim), pulled towards :attr:`w_avg` by ``truncation``."""
        latents = np.asarray(latents, np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.z_dim:
            raise ValueError(f"latents must have the shape (N, {self.z_dim}), not {latents.shape}")
        ws = np.asarray(self._mapping(latents), np.float32)
        if ws.ndim == 2:
            ws = np.repeat(ws[:, None], self.num_ws, axis=1)
        if ws.shape != (len(latents), self.num_ws, self.w_dim):
            raise ValueError(f"the mapping gave styles of shape {ws.shape}, not (N, {self.num_ws}, {self.w_dim})")
        return truncate(ws, self.w_avg, truncation)

    def render(
        self, ws: np.ndarray, noise_seed: int | None = None, truncation: float = 1.0, bit_depth: int = 8
    ) -> np.ndarray:
        """Pictures RGB (N, H, W, 3) of styles (N, num_ws, w_dim), truncated by ``truncation`` first, uint8 or with
        ``bit_depth`` 16 uint16; ``noise_seed`` fixes the noise of a network that has some."""
        ws = np.asarray(ws, np.float32)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"styles must have the shape (N, {self.num_ws}, {self.w_dim}), not {ws.shape}")
        if not np.isfinite(ws).all():
            raise ValueError("the styles hold numbers that are not finite")
        images = np.asarray(self._synthesis(truncate(ws, self.w_avg, truncation), noise_seed))
        if images.ndim != 4 or images.shape[:2] != (len(ws), 3) or not 1 <= min(images.shape[2:]) <= MAX_SIDE:
            raise ValueError(f"the network gave images of shape {images.shape}, not (N, 3, H, W)")
        return quantize(images.transpose(0, 2, 3, 1), bit_depth)

    @cached_property
    def spread(self) -> float:
        """The standard deviation of sampled styles per number (1 for latents): a natural unit of mutation."""
        return float(self._sampled_styles().std(axis=0).mean()) if self.space == "w" else 1.0

    def _sampled_styles(self) -> np.ndarray:
        """The first-layer styles (SPREAD_SAMPLES, w_dim) of latents drawn from seed 0, untruncated."""
        ws = np.asarray(self._mapping(self.sample_latents(np.random.default_rng(0), SPREAD_SAMPLES)), np.float32)
        return ws if ws.ndim == 2 else ws[:, 0]


# -- generators in the store -------------------------------------------------------------------------------------


def from_store(store: ModelSource, model_id: str, device: str = "cpu") -> Generator:
    """The generator installed in ``store`` (a store, or a job's ``ctx.models``, which records the load) as
    ``model_id`` (DCGAN, style-based or an artist's imported files), verified, on ``device``."""
    module = store.load(model_id, device)
    if isinstance(module, Generator):  # an artist's files, opened by from_files
        return module
    if device == "cpu":  # channels-last convolutions breed faster on this CPU (bench/gan_breeding.py)
        import torch

        module.to(memory_format=torch.channels_last)
    record = store.record(model_id)
    if record is None or WEIGHTS not in record.files:
        raise ModelError(f"{model_id} is not installed as a torch network", model_id=model_id)
    weights, notice = record.files[WEIGHTS], store.spec(model_id).notice
    if hasattr(module, "level_slices"):
        return _style_generator(module, weights, notice)
    if hasattr(module, "nz"):
        return Generator(
            hash=weights,
            z_dim=module.nz,
            num_ws=1,
            w_dim=module.nz,
            space="z",
            mapping=lambda z: z,
            synthesis=_latent_synthesis(module, device),
            w_avg=np.zeros(module.nz, np.float32),
            notice=notice,
        )
    raise ModelError(f"{model_id} is not a generator Studio can breed from", model_id=model_id)


def _style_generator(module: StyleNetwork, weights: str, notice: str) -> Generator:
    import torch

    device = module.w_avg.device

    def mapping(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module.mapping(torch.from_numpy(z).to(device), 1.0).float().cpu().numpy()

    def synthesis(ws: np.ndarray, noise_seed: int | None) -> np.ndarray:
        with torch.inference_mode():
            images = module(torch.from_numpy(ws).to(device), noise_seed)
        return _to_unit(images.float().cpu().numpy(), -1.0)

    return Generator(
        hash=weights,
        z_dim=module.config.z_dim,
        num_ws=module.num_ws,
        w_dim=module.config.w_dim,
        space="w",
        mapping=mapping,
        synthesis=synthesis,
        w_avg=module.w_avg.float().cpu().numpy(),
        levels=module.level_slices(),
        notice=notice,
    )


def _latent_synthesis(module: Callable[[torch.Tensor], torch.Tensor], device: str) -> Synthesis:
    """Synthesis by a torch network of latents (the first ws row) with images in -1..1."""
    import torch

    def synthesis(ws: np.ndarray, _noise_seed: int | None) -> np.ndarray:
        with torch.inference_mode():
            images = module(torch.from_numpy(np.ascontiguousarray(ws[:, 0])).to(device))
        return _to_unit(images.float().cpu().numpy(), -1.0)

    return synthesis


def _to_unit(images: np.ndarray, low: float) -> np.ndarray:
    return (images - low) / (1.0 - low)


# -- generators an artist brings ---------------------------------------------------------------------------------


class Sidecar(BaseModel):
    """The JSON beside an artist's generator file (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    latent_size: Annotated[int, Field(ge=1, le=MAX_DIM)]
    output_range: tuple[float, float]
    num_ws: Annotated[int, Field(ge=1, le=MAX_WS)] | None = None
    w_dim: Annotated[int, Field(ge=1, le=MAX_DIM)] | None = None
    mapping: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00]+$")] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Sidecar:
        if self.output_range not in ((-1, 1), (0, 1)):
            raise ValueError("output_range must be [-1, 1] or [0, 1]")
        if (self.num_ws is None) != (self.w_dim is None):
            raise ValueError("num_ws and w_dim go together: give both for per-layer styles, or neither")
        if self.mapping is not None and self.num_ws is None:
            raise ValueError("mapping needs num_ws and w_dim: it maps latents to styles")
        if self.mapping in (".", ".."):
            raise ValueError("mapping must name a file beside the sidecar")
        if self.num_ws is not None and self.mapping is None and self.w_dim != self.latent_size:
            raise ValueError("without a mapping the latents are the styles: w_dim must equal latent_size")
        return self


SIDECAR_EXAMPLE = '{"latent_size": 512, "output_range": [-1, 1]}'


def read_sidecar(path: str | Path) -> Sidecar:
    """The validated sidecar at ``path``; a ModelError names the file and the field that is wrong."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        raise ModelError(
            f"cannot read the generator sidecar {path}: {exc.strerror or exc}; put a JSON file like "
            f"{SIDECAR_EXAMPLE} beside the generator, with the same name",
            path=path,
        ) from exc
    if len(raw) > MAX_SIDECAR_BYTES:
        raise ModelError(f"the generator sidecar {path} is larger than {MAX_SIDECAR_BYTES} bytes", path=path)
    try:
        return Sidecar.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = str(error["msg"]).removeprefix("Value error, ")
        problem = f"{where}: {reason}" if where else reason
        raise ModelError(
            f"the generator sidecar {path} is wrong ({problem}); it should be JSON like {SIDECAR_EXAMPLE}", path=path
        ) from None


def open_file(path: str | Path, sidecar: str | Path | None = None, device: str = "cpu") -> Generator:
    """An artist's TorchScript or ONNX generator with its sidecar (by default beside it, ending in ``.json``).

    Its ``hash`` is the sha256 of the sha256s of the file, the sidecar and the mapping file.
    Anything wrong is a ModelError naming the file and what to change.
    """
    path = Path(path)
    sidecar = Path(sidecar) if sidecar is not None else path.with_suffix(".json")
    spec = read_sidecar(sidecar)
    mapping_path = sidecar.parent / spec.mapping if spec.mapping is not None else None
    styles = spec.num_ws is not None
    num_ws, w_dim = (spec.num_ws or 1), (spec.w_dim or spec.latent_size)
    low = spec.output_range[0]
    run = _open_network(path, device, (num_ws, w_dim) if styles else (spec.latent_size,), sidecar)
    mapper = _open_network(mapping_path, device, (spec.latent_size,), sidecar) if mapping_path is not None else None
    files = [path, sidecar, *([mapping_path] if mapping_path is not None else [])]
    digest = hashlib.sha256("".join(sha256_file(file) for file in files).encode()).hexdigest()
    try:
        return Generator(
            hash=digest,
            z_dim=spec.latent_size,
            num_ws=num_ws,
            w_dim=w_dim,
            space="w" if styles else "z",
            mapping=mapper or (lambda z: z),
            synthesis=lambda ws, _seed: _to_unit(run(ws if styles else np.ascontiguousarray(ws[:, 0])), low),
            w_avg=None if mapper is not None else np.zeros(w_dim, np.float32),
            levels=_thirds(num_ws) if styles else None,
        )
    except Exception as exc:  # whatever a foreign network raises becomes the artist's message
        problem = describe_error(exc).splitlines()[-1]  # TorchScript's error ends its interpreter's traceback
        raise ModelError(
            f"{path} does not work as its sidecar {sidecar.name} describes it ({problem}); check "
            f"latent_size, num_ws, w_dim and mapping against the file's inputs, and that it returns images "
            f"(N, 3, H, W)",
            path=path,
        ) from exc


def generator_files(path: str | Path) -> dict[str, Path]:
    """The files an artist's generator at ``path`` is made of (the network, its sidecar beside it and its mapping)
    by name, once they open together as a generator; for ``studio models import``."""
    path = Path(path)
    open_file(path)
    sidecar = path.with_suffix(".json")
    mapping = read_sidecar(sidecar).mapping
    return {file.name: file for file in (path, sidecar, *([sidecar.parent / mapping] if mapping else []))}


def from_files(files: Mapping[str, Path], device: str = "cpu") -> Generator:
    """The generator of the files :func:`generator_files` named (as the model store keeps them, by name), on
    ``device``."""
    sidecar = next((path for name, path in files.items() if name.endswith(".json")), None)
    if sidecar is None:
        raise ModelError(f"the generator files {', '.join(files)} hold no JSON sidecar; import the generator again")
    mapping = read_sidecar(sidecar).mapping
    networks = [path for name, path in files.items() if path != sidecar and name != mapping]
    if len(networks) != 1:
        raise ModelError(
            f"the generator files {', '.join(files)} are not one network, its sidecar and its mapping; give the "
            "mapping another name than the network and import the generator again",
            path=sidecar,
        )
    return open_file(networks[0], sidecar, device)


def _thirds(num_ws: int) -> dict[str, slice] | None:
    if num_ws < len(LEVELS):
        return None
    cuts = [0, round(num_ws / 3), round(2 * num_ws / 3), num_ws]
    return {name: slice(start, stop) for name, start, stop in zip(LEVELS, cuts, cuts[1:], strict=False)}


def _open_network(
    path: Path, device: str, item_shape: tuple[int, ...], sidecar: Path
) -> Callable[[np.ndarray], np.ndarray]:
    """A float32 function of one network file: ONNX by its suffix ``.onnx``, TorchScript by the others."""
    if not path.is_file():
        raise ModelError(f"the generator file {path} (named by {sidecar}) does not exist", path=path)
    suffix = path.suffix.lower()
    if suffix == ONNX_SUFFIX:
        return _onnx(path, device, item_shape, sidecar)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return _torchscript(path, device)
    raise ModelError(
        f"{path} is neither ONNX (.onnx) nor TorchScript ({', '.join(TORCHSCRIPT_SUFFIXES)}); export the generator "
        "as one of them",
        path=path,
    )


def _onnx(path: Path, device: str, item_shape: tuple[int, ...], sidecar: Path) -> Callable[[np.ndarray], np.ndarray]:
    try:
        session = onnx_session(path, device)
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model ({describe_error(exc)})", path=path) from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{path} has {len(inputs)} inputs; a generator takes one (latents or styles)", path=path)
    declared = tuple(inputs[0].shape[1:])
    fields = ("latent_size",) if len(declared) == len(item_shape) == 1 else ("num_ws", "w_dim")
    if len(declared) != len(item_shape) or any(
        isinstance(size, int) and size != want for size, want in zip(declared, item_shape, strict=False)
    ):
        raise ModelError(
            f"{path} takes inputs of shape {['N', *declared]}, but its sidecar {sidecar.name} says "
            f"{['N', *item_shape]}: correct {' and '.join(fields)} in {sidecar}",
            path=sidecar,
        )
    name = inputs[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]


_ALLOWED_PICKLE_NAMES = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")}
_UNSAFE_CODE = re.compile(rb"\b(?:__setstate__|save|from_file)\b")


def _torchscript(path: Path, device: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    _check_torchscript(path)
    try:
        module = torch.jit.load(str(path), map_location=device).eval()
    except Exception as exc:
        raise ModelError(f"{path} is not a readable TorchScript file ({describe_error(exc)})", path=path) from exc

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)).float().cpu().numpy()

    return run


def _check_torchscript(path: Path) -> None:
    """Refuse a file that is not TorchScript, or whose loading or running could touch files (see the module)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.count("/") == 1 and n.endswith(("/data.pkl", "/constants.pkl"))]
            code = [n for n in names if "/code/" in n and n.endswith(".py")]
            if not pickles or not code:
                raise ModelError(
                    f"{path} is not a TorchScript file (it has no compiled code); a file saved with torch.save "
                    "holds pickled Python, which Studio never loads: save the generator with torch.jit.save",
                    path=path,
                )
            for name in pickles:
                refused = _pickle_refusal(archive.read(name))
                if refused:
                    raise ModelError(
                        f"{path} is refused: its {name.split('/', 1)[1]} asks for {refused}, which is not a "
                        "TorchScript class or a tensor; loading it could run code",
                        path=path,
                    )
            for name in code:
                found = _UNSAFE_CODE.search(archive.read(name))
                if found:
                    raise ModelError(
                        f"{path} is refused: its TorchScript code uses {found.group().decode()}, which runs on "
                        "loading or reads and writes files; a generator needs none of that",
                        path=path,
                    )
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
        raise ModelError(f"{path} is not a readable TorchScript file ({describe_error(exc)})", path=path) from exc


def _pickle_refusal(data: bytes) -> str:
    """What a TorchScript pickle names beyond its own classes, storages and ordered dicts ("" when nothing)."""
    try:
        names = pickle_globals(data)
    except ValueError as exc:
        return str(exc)
    for module, name in names:
        torch_class = module == "__torch__" or module.startswith("__torch__.")
        storage = module == "torch" and name.endswith("Storage")
        pickled_helper = module == "torch.jit._pickle"
        if not (torch_class or storage or pickled_helper or (module, name) in _ALLOWED_PICKLE_NAMES):
            return f"{module}.{name}"
    return ""
