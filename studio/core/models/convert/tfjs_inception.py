"""Inception v3 backbone from the TF.js layers model bundled in ``nsfwjs@4.3.0`` (``npm pack``).

nsfwjs ships its models as browserify bundles: ``model.min.js`` wraps the
TF.js ``model.json`` as a JavaScript object literal, and each
``group1-shardNofM.min.js`` wraps one binary weight shard as a base64 string.
Nothing here evaluates JavaScript: a small parser accepts JSON plus the few
things the minifier writes (bare keys, ``!0``/``!1``, ``.5``), and anything
else is refused.

Weights are uint8-quantised (``value = min + scale * q``). The Keras model is
``keras.applications.InceptionV3`` (Keras 2.2.4) with a fine-tuned NSFW head;
its ``conv2d_N`` / ``batch_normalization_N`` layers map in order onto the
``BasicConv2d`` modules of torchvision's Inception v3. Keras built the
batch norms with ``scale=False``, so gamma is one.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

MODEL_FILE = "model.min.js"
SHARD_COUNT = 6
SHARD_FILES = tuple(f"group1-shard{i}of{SHARD_COUNT}.min.js" for i in range(1, SHARD_COUNT + 1))
FILES = (MODEL_FILE, *SHARD_FILES)
"""The member names the converter expects (the npm tarball holds them under ``package/dist/models/inception_v3/``)."""

# torchvision's BasicConv2d modules in the order Keras' InceptionV3 creates its conv2d_bn layers.
_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
_A = ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool")
_B = ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")
_C = ("branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3",
      "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool")  # fmt: skip
_D = ("branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4")
_E = ("branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
      "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool")  # fmt: skip
_BLOCKS = (("Mixed_5b", _A), ("Mixed_5c", _A), ("Mixed_5d", _A), ("Mixed_6a", _B), ("Mixed_6b", _C), ("Mixed_6c", _C),
           ("Mixed_6d", _C), ("Mixed_6e", _C), ("Mixed_7a", _D), ("Mixed_7b", _E), ("Mixed_7c", _E))  # fmt: skip
BASIC_CONVS: tuple[str, ...] = _STEM + tuple(f"{block}.{conv}" for block, convs in _BLOCKS for conv in convs)
"""Prefixes of torchvision's 94 ``BasicConv2d`` modules, in Keras creation order (``conv2d_1`` .. ``conv2d_94``)."""

BN_EPS = 1e-3


class TfjsFormatError(ValueError):
    """A TF.js bundle is not in the shape this converter understands."""


# --------------------------------------------------------------------------- a JavaScript literal reader

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_KEYWORDS: dict[str, Any] = {"null": None, "true": True, "false": False, "!0": True, "!1": False, "void 0": None}
_RUNS = {quote: re.compile(rf"[^{quote}\\\n]*") for quote in "\"'"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class _LiteralReader:
    """Recursive-descent reader for the data subset of JavaScript that minified bundles contain."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def fail(self, what: str) -> TfjsFormatError:
        """An error pointing at the current position."""
        snippet = self.text[self.pos : self.pos + 40]
        return TfjsFormatError(f"{what} at offset {self.pos} (near {snippet!r})")

    def skip_space(self) -> None:
        """Advance past whitespace."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def value(self) -> Any:
        """Read one value: object, array, string, number or keyword."""
        self.skip_space()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end")
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char in "\"'":
            return self.string()
        for word, result in _KEYWORDS.items():
            if self.text.startswith(word, self.pos):
                end = self.pos + len(word)
                if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_$"):
                    continue
                self.pos = end
                return result
        match = _NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            number = match.group()
            return float(number) if any(c in number for c in ".eE") else int(number)
        raise self.fail("not a data literal")

    def object(self) -> dict[str, Any]:
        """Read ``{key: value, ...}`` with bare, quoted or numeric keys."""
        self.pos += 1
        result: dict[str, Any] = {}
        while True:
            self.skip_space()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return result
            char = self.text[self.pos] if self.pos < len(self.text) else ""
            if char in ("'", '"'):
                key = self.string()
            else:
                match = _IDENT.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
                if not match:
                    raise self.fail("expected an object key")
                key = match.group()
                self.pos = match.end()
            self.skip_space()
            if not self.text.startswith(":", self.pos):
                raise self.fail("expected ':'")
            self.pos += 1
            result[key] = self.value()
            if not self.separator("}"):
                self.pos += 1
                return result

    def array(self) -> list[Any]:
        """Read ``[value, ...]``."""
        self.pos += 1
        result: list[Any] = []
        self.skip_space()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return result
        while True:
            result.append(self.value())
            if not self.separator("]"):
                self.pos += 1
                return result
            self.skip_space()
            if self.text.startswith("]", self.pos):  # trailing comma
                self.pos += 1
                return result

    def separator(self, closing: str) -> bool:
        """After an element: True on ``,`` (consumed), False when ``closing`` follows (not consumed)."""
        self.skip_space()
        if self.text.startswith(",", self.pos):
            self.pos += 1
            return True
        if self.text.startswith(closing, self.pos):
            return False
        raise self.fail(f"expected ',' or {closing!r}")

    def string(self) -> str:
        """Read a single- or double-quoted string with the usual escapes."""
        quote = self.text[self.pos]
        self.pos += 1
        parts: list[str] = []
        start = self.pos
        run = _RUNS[quote]
        while True:
            end = run.match(self.text, self.pos).end()  # type: ignore[union-attr]  # always matches
            if end >= len(self.text) or self.text[end] == "\n":
                self.pos = start
                raise self.fail("unterminated string")
            parts.append(self.text[self.pos : end])
            if self.text[end] == quote:
                self.pos = end + 1
                return "".join(parts)
            escape = self.text[end + 1 : end + 2]
            if escape == "u":
                parts.append(chr(int(self.text[end + 2 : end + 6], 16)))
                self.pos = end + 6
            elif escape == "x":
                parts.append(chr(int(self.text[end + 2 : end + 4], 16)))
                self.pos = end + 4
            else:
                parts.append(_ESCAPES.get(escape, escape))
                self.pos = end + 2


def exported_literal(text: str, *, what: str = "bundle") -> Any:
    """The data literal a browserify bundle assigns to ``module.exports`` (exactly one assignment expected)."""
    matches = list(re.finditer(r"\b[A-Za-z_$][\w$]*\.exports\s*=\s*(?=[{\[\"'])", text))
    if len(matches) != 1:
        raise TfjsFormatError(f"{what}: expected one 'exports=' data assignment, found {len(matches)}")
    return _LiteralReader(text, matches[0].end()).value()


# --------------------------------------------------------------------------- TF.js model + weights


def read_model_json(path: Path) -> dict[str, Any]:
    """The TF.js ``model.json`` content wrapped in ``model.min.js``."""
    model = exported_literal(path.read_text(encoding="utf-8"), what=path.name)
    if not isinstance(model, dict) or "modelTopology" not in model or "weightsManifest" not in model:
        raise TfjsFormatError(f"{path.name}: no modelTopology / weightsManifest")
    return model


def read_shard(path: Path) -> bytes:
    """The binary weight shard wrapped (base64) in a ``group1-shard*.min.js`` file."""
    data = exported_literal(path.read_text(encoding="ascii"), what=path.name)
    if not isinstance(data, str):
        raise TfjsFormatError(f"{path.name}: the exported value is not a string")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as error:
        raise TfjsFormatError(f"{path.name}: not base64: {error}") from error


_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}


def decode_weights(manifest: Sequence[Mapping[str, Any]], shards: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Every weight of a TF.js weights manifest as a float32 (or original dtype) numpy array."""
    buffer = b"".join(shards)
    offset = 0
    weights: dict[str, np.ndarray] = {}
    for spec in (weight for group in manifest for weight in group["weights"]):
        shape = tuple(int(n) for n in spec["shape"])
        if any(n < 0 for n in shape):
            raise TfjsFormatError(f"{spec['name']!r} has the shape {list(shape)}; a shape has no negative sizes")
        count = math.prod(shape)  # exact: a fixed-width product could wrap to a small count
        quant = spec.get("quantization")
        stored = np.dtype(_DTYPES[quant["dtype"] if quant else spec["dtype"]])
        size = count * stored.itemsize
        if offset + size > len(buffer):
            raise TfjsFormatError(f"weights end before {spec['name']!r} (shards missing or truncated)")
        raw = np.frombuffer(buffer, dtype=stored, count=count, offset=offset).reshape(shape)
        offset += size
        if quant:
            if "min" not in quant:
                raise TfjsFormatError(f"{spec['name']}: only min/scale quantisation is supported")
            raw = (np.float32(quant["min"]) + np.float32(quant["scale"]) * raw.astype(np.float32)).astype(np.float32)
        weights[spec["name"]] = raw
    if offset != len(buffer):
        raise TfjsFormatError(f"{len(buffer) - offset} bytes of weight data left over")
    return weights


def _numbered(weights: Mapping[str, np.ndarray], layer: str) -> Iterator[str]:
    """``layer_1``, ``layer_2``, ... while ``layer_N/...`` weights exist."""
    index = 1
    while any(name.startswith(f"{layer}_{index}/") for name in weights):
        yield f"{layer}_{index}"
        index += 1


def backbone_state_dict(weights: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """torchvision ``BasicConv2d`` state dict entries from Keras ``conv2d_N`` / ``batch_normalization_N`` weights."""
    convs = list(_numbered(weights, "conv2d"))
    norms = list(_numbered(weights, "batch_normalization"))
    if len(convs) != len(BASIC_CONVS) or len(norms) != len(BASIC_CONVS):
        raise TfjsFormatError(
            f"expected {len(BASIC_CONVS)} conv2d and batch_normalization layers, found {len(convs)} and {len(norms)}"
        )
    state: dict[str, torch.Tensor] = {}
    for prefix, conv, norm in zip(BASIC_CONVS, convs, norms, strict=True):
        kernel = weights[f"{conv}/kernel"]  # (kh, kw, in, out)
        state[f"{prefix}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        beta = torch.from_numpy(weights[f"{norm}/beta"].copy())
        gamma = weights.get(f"{norm}/gamma")
        state[f"{prefix}.bn.weight"] = torch.ones_like(beta) if gamma is None else torch.from_numpy(gamma.copy())
        state[f"{prefix}.bn.bias"] = beta
        state[f"{prefix}.bn.running_mean"] = torch.from_numpy(weights[f"{norm}/moving_mean"].copy())
        state[f"{prefix}.bn.running_var"] = torch.from_numpy(weights[f"{norm}/moving_variance"].copy())
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return state


def read_bundle(files: Mapping[str, Path]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The model JSON and all decoded weights of the nsfwjs Inception v3 bundle."""
    missing = [name for name in FILES if name not in files]
    if missing:
        raise TfjsFormatError(f"missing files: {', '.join(missing)}")
    model = read_model_json(Path(files[MODEL_FILE]))
    shards = [read_shard(Path(files[name])) for name in SHARD_FILES]
    return model, decode_weights(model["weightsManifest"], shards)


def inception_v3(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """State dict of ``studio.core.nets.inception:inception_v3_backbone`` from the nsfwjs TF.js files.

    ``files`` maps ``model.min.js`` and ``group1-shard{1..6}of6.min.js`` to
    their paths. Only the ImageNet backbone is kept; the NSFW head is dropped.
    """
    _, weights = read_bundle(files)
    return backbone_state_dict(weights)


__all__ = ["BASIC_CONVS", "FILES", "TfjsFormatError", "decode_weights", "exported_literal", "inception_v3"]
