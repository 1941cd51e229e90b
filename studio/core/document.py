"""The document: an ordered stack of layers, each optionally carrying its recipe."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from studio import __version__
from studio.core.blend import BlendMode, over, with_opacity
from studio.core.errors import ReadableError
from studio.core.image import to_uint8
from studio.core.tiles import Region, TiledImage, clip_region
from studio.core.undo import History

if TYPE_CHECKING:
    from studio.core.export import ExportSettings
    from studio.core.print_size import PrintSpec


class LayerKind(StrEnum):
    RASTER = "raster"
    MASK = "mask"
    LABELS = "labels"


@dataclass
class Recipe:
    """How a layer was made, enough to make it again (for example at print size).

    ``inputs`` holds a digest of each input by name, ``input_files`` the file an
    input was read from (an extra picture such as a style), so a re-render finds it.
    """

    plugin_id: str
    params: dict[str, Any]
    seed: int | None = None
    models: list[dict[str, str]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    input_files: dict[str, str] = field(default_factory=dict)
    studio_version: str = __version__
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin_id": self.plugin_id,
            "params": self.params,
            "seed": self.seed,
            "models": self.models,
            "inputs": self.inputs,
            "size": list(self.size) if self.size else None,
            "input_files": self.input_files,
            "studio_version": self.studio_version,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        size = data.get("size")
        return cls(
            plugin_id=str(data["plugin_id"]),
            params=dict(data.get("params") or {}),
            seed=data.get("seed"),
            models=[dict(m) for m in data.get("models") or []],
            inputs={str(k): str(v) for k, v in (data.get("inputs") or {}).items()},
            size=(int(size[0]), int(size[1])) if size else None,
            input_files={str(k): str(v) for k, v in (data.get("input_files") or {}).items()},
            studio_version=str(data.get("studio_version", "")),
            created=str(data.get("created", "")),
        )


MAX_LAYER_NAME = 10_000
"""The longest layer name a document keeps (and a project file may hold), in characters."""

PLUGIN_DATA_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""What a key of ``Document.plugin_data`` looks like (matched whole): it names a project member."""
MAX_PLUGIN_DATA_BYTES = 64 * 1024 * 1024
"""The largest member ``plugins/<id>.json`` Studio writes or reads, in bytes."""
MAX_PLUGIN_DATA_DEPTH = 64
"""How deep lists and objects may nest in a plugin's data."""


def encode_plugin_data(plugin_id: str, value: Any) -> bytes:
    """``value`` as the JSON of its project member ``plugins/<id>.json``; ValueError if it would not open again."""
    if not PLUGIN_DATA_ID.fullmatch(plugin_id):
        raise ValueError(f"cannot save the data of plugin {plugin_id!r}: that is not a plugin id")
    try:
        data = json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(
            f"cannot save the data of plugin {plugin_id!r}: it is not finite JSON values ({exc})"
        ) from None
    if len(data) > MAX_PLUGIN_DATA_BYTES or json_depth(value) > MAX_PLUGIN_DATA_DEPTH:
        raise ValueError(
            f"cannot save the data of plugin {plugin_id!r}: it is over {MAX_PLUGIN_DATA_BYTES} bytes as JSON "
            f"or nests deeper than {MAX_PLUGIN_DATA_DEPTH}"
        )
    return data


def json_depth(value: Any) -> int:
    """How deep lists (tuples) and objects nest in ``value``, 0 for a scalar; stops past MAX_PLUGIN_DATA_DEPTH."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending and deepest <= MAX_PLUGIN_DATA_DEPTH:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def pixels_digest(pixels: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes: identifies a recipe's inputs."""
    h = hashlib.sha256(f"{pixels.shape}{pixels.dtype}".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return h.hexdigest()


def is_opaque(rgba: np.ndarray) -> bool:
    """True when every pixel of an RGBA uint8 or uint16 array has full alpha."""
    if rgba.size == 0:
        return True
    if rgba.dtype == np.uint8 and rgba.flags.c_contiguous:
        # Read as little-endian 32-bit words, alpha is the high byte: one fast pass instead of a strided one.
        return bool(rgba.view("<u4").min() >= 0xFF000000)
    return bool(rgba[..., 3].min() == np.iinfo(rgba.dtype).max)


def clamp_opacity(value: float) -> float:
    """``value`` clamped to 0..1; ``ValueError`` for NaN or a value that is not a number."""
    opacity = float(value)
    if math.isnan(opacity):
        raise ValueError("a layer's opacity must be a number from 0 to 1, not NaN")
    return min(max(opacity, 0.0), 1.0)


class LayerLockedError(ReadableError):
    """A locked layer was to be changed; the message names it and says how to unlock it."""

    def __init__(self, name: str, action: str) -> None:
        super().__init__(f"Layer {name!r} is locked: unlock it in the Layers panel to {action}.")


def blank_image(kind: LayerKind, width: int, height: int, bit_depth: int = 8) -> TiledImage:
    """Empty pixels for a layer: transparent RGBA (8 or 16 bits) for raster, zeros otherwise. Costs no memory
    until painted."""
    if kind is LayerKind.RASTER:
        return TiledImage(width, height, 4, depth_dtype(bit_depth))
    return TiledImage(width, height, 0, np.uint8)


def depth_dtype(bit_depth: int) -> np.dtype[Any]:
    """The pixel type of ``bit_depth`` bits per channel (8 or 16)."""
    if bit_depth not in (8, 16):
        raise ValueError(f"a layer holds 8 or 16 bits per channel, not {bit_depth}")
    return np.dtype(np.uint8 if bit_depth == 8 else np.uint16)


def to_dtype(rgba: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """RGBA uint8 or uint16 ``rgba`` in ``dtype`` (the same array when it already is): 8 to 16 bits scales by 257,
    16 to 8 rounds."""
    if rgba.dtype == dtype:
        return rgba
    if dtype != np.uint16:
        return to_uint8(rgba)
    wide = rgba.astype(np.uint16)
    wide *= np.uint16(257)  # in place: a picture of print size needs no second 16-bit copy
    return wide


class Layer:
    """One layer. Raster pixels are RGBA, uint8 or uint16 (its ``bit_depth``); masks and label maps are uint8, one
    value per pixel. The pixels are a :class:`~studio.core.tiles.TiledImage` (``image``), shared copy-on-write with
    snapshots and the undo history.

    A mask's 255 means fully selected; a label map holds a label index per pixel. ``blend_mode`` says how a
    raster layer mixes with the layers below; a ``locked`` layer refuses edits (:meth:`ensure_unlocked`).
    """

    def __init__(
        self,
        name: str,
        kind: LayerKind,
        pixels: np.ndarray | TiledImage,
        visible: bool = True,
        opacity: float = 1.0,
        recipe: Recipe | None = None,
        id: str | None = None,
        blend_mode: BlendMode = BlendMode.NORMAL,
        locked: bool = False,
    ) -> None:
        self.name = name[:MAX_LAYER_NAME]
        self.kind = LayerKind(kind)
        self.image = pixels if isinstance(pixels, TiledImage) else TiledImage.from_array(pixels)
        check_pixels(self.kind, self.image.channels, self.image.dtype)
        self.visible = visible
        self.opacity = clamp_opacity(opacity)
        self.recipe = recipe
        self.id = id or uuid.uuid4().hex
        self.blend_mode = BlendMode(blend_mode)
        self.locked = locked

    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.kind.value}, {self.width}x{self.height}, {self.bit_depth}-bit)"

    @property
    def size(self) -> tuple[int, int]:
        return self.image.width, self.image.height

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def bit_depth(self) -> int:
        """Bits per channel: 8, or 16 for a 16-bit raster layer."""
        return self.image.dtype.itemsize * 8

    @property
    def pixels(self) -> np.ndarray:
        """All the pixels as one new read-only array: a whole-image copy, so not for the GUI thread on large
        documents; use :meth:`read` for a region."""
        pixels = self.image.read()
        pixels.flags.writeable = False
        return pixels

    def read(self, region: Region | None = None) -> np.ndarray:
        """A new array with the pixels of ``region`` (default: all)."""
        return self.image.read(region)

    def write(self, x: int, y: int, patch: np.ndarray) -> None:
        """Put ``patch`` (the layer's dtype) with its top-left corner at (x, y). Views are not told: the caller
        calls :meth:`Document.notify_pixels` (or pushes an undo step, which does)."""
        if patch.dtype != self.image.dtype:
            raise ValueError(f"layer {self.name!r} holds {self.image.dtype} pixels, not {patch.dtype}")
        self.image.write(x, y, patch)

    def snapshot(self) -> Layer:
        """A copy of this layer (same id) whose pixels are a snapshot: later edits of either do not reach the
        other. Costs next to nothing."""
        return Layer(
            self.name,
            self.kind,
            self.image.snapshot(),
            self.visible,
            self.opacity,
            self.recipe,
            self.id,
            self.blend_mode,
            self.locked,
        )

    def ensure_unlocked(self, action: str) -> None:
        """Raise :class:`LayerLockedError` (saying the layer is locked, so the artist cannot ``action``) if locked."""
        if self.locked:
            raise LayerLockedError(self.name, action)


def check_pixels(kind: LayerKind, channels: int, dtype: np.dtype[Any]) -> None:
    """ValueError unless pixels of ``channels`` (0: one plane) and ``dtype`` suit a layer of ``kind``."""
    if kind is LayerKind.RASTER:
        if channels != 4 or dtype not in (np.uint8, np.uint16):
            raise ValueError(f"raster layer pixels must be RGBA uint8 or uint16, not {channels} channels of {dtype}")
    elif channels != 0 or dtype != np.uint8:
        raise ValueError(f"{kind} layer needs uint8 pixels with 2 dimensions")


class Document:
    """An ordered stack of layers (bottom first) with an undo history.

    ``pixels_changed(region)`` fires when layer pixels change (``None`` = all),
    ``layers_changed()`` when the stack or a layer's properties change,
    ``selection_changed()`` when the selection changes.
    """

    pixels_changed = Signal(object)
    layers_changed = Signal()
    selection_changed = Signal()

    def __init__(self, width: int, height: int, name: str = "Untitled") -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"a document needs a positive size, not {width}x{height}")
        self.width = width
        self.height = height
        self.name = name
        self.uid = uuid.uuid4().hex
        self.layers: list[Layer] = []
        self.active_id: str | None = None
        self.print_spec: PrintSpec | None = None
        """The print this document is made for (guides, fitting, export dpi); None for screen work."""
        self.export_settings: ExportSettings | None = None
        """How the document was last exported; offered again by the export dialog."""
        self.file_path: Path | None = None
        """The picture or project this document was opened from or last saved as; None for a new one."""
        self.plugin_data: dict[str, Any] = {}
        """JSON values each plugin keeps in the project, keyed by plugin id; the plugin validates its own."""
        self.selection: np.ndarray | None = None
        """The selected pixels, uint8 (H, W), 255 = selected; None when nothing is selected. Not saved."""
        self.bit_depth = 8
        """Bits per channel of the raster layers the artist adds (8 or 16); plugin results keep 16 bits."""
        self.history: History[Document] = History(self)

    @classmethod
    def from_pixels(
        cls, pixels: np.ndarray | TiledImage, name: str = "Untitled", layer_name: str = "Background"
    ) -> Document:
        """A document with one raster layer holding ``pixels`` (RGBA uint8 or uint16), of the pixels' depth."""
        layer = Layer(layer_name, LayerKind.RASTER, pixels)
        doc = cls(layer.width, layer.height, name)
        doc.bit_depth = layer.bit_depth
        doc.insert_layer(layer)
        return doc

    def snapshot(self) -> Document:
        """A copy of the document as it is now, for a job, an export or an autosave to read on another thread:
        its layers are snapshots (:meth:`Layer.snapshot`), so it costs next to nothing and no later edit reaches it.
        It has no history of its own."""
        copy = Document(self.width, self.height, self.name)
        copy.uid = self.uid
        copy.layers = [layer.snapshot() for layer in self.layers]
        copy.active_id = self.active_id
        copy.print_spec = self.print_spec
        copy.export_settings = self.export_settings
        copy.file_path = self.file_path
        copy.plugin_data = dict(self.plugin_data)
        copy.selection = self.selection
        copy.bit_depth = self.bit_depth
        return copy

    # Structure. These methods change the document directly and are what
    # history commands call; user edits go through ``history.push``.

    def insert_layer(self, layer: Layer, index: int | None = None) -> None:
        if layer.size != (self.width, self.height):
            raise ValueError(f"layer {layer.name!r} is {layer.size}, the document is {(self.width, self.height)}")
        self.layers.insert(len(self.layers) if index is None else index, layer)
        self.active_id = layer.id
        self.layers_changed.emit()
        self.pixels_changed.emit(None)

    def remove_layer(self, layer_id: str) -> tuple[Layer, int]:
        index = self.index_of(layer_id)
        layer = self.layers.pop(index)
        if self.active_id == layer_id:
            self.active_id = self.layers[min(index, len(self.layers) - 1)].id if self.layers else None
        self.layers_changed.emit()
        self.pixels_changed.emit(None)
        return layer, index

    def move_layer(self, layer_id: str, index: int) -> None:
        layer = self.layers.pop(self.index_of(layer_id))
        self.layers.insert(index, layer)
        self.layers_changed.emit()
        self.pixels_changed.emit(None)

    def replace_layers(
        self, layer_ids: Collection[str], layers: Sequence[tuple[Layer, int]]
    ) -> list[tuple[Layer, int]]:
        """Remove the layers ``layer_ids``, then insert each ``(layer, index)`` in order, as one change; the last
        inserted layer becomes active. Returns the removed layers with their indices, which passed back (with the
        inserted layers' ids) undo this."""
        for layer, _index in layers:
            if layer.size != (self.width, self.height):
                raise ValueError(f"layer {layer.name!r} is {layer.size}, the document is {(self.width, self.height)}")
        removed = [(layer, i) for i, layer in enumerate(self.layers) if layer.id in layer_ids]
        self.layers = [layer for layer in self.layers if layer.id not in layer_ids]
        for layer, index in layers:
            self.layers.insert(index, layer)
        if layers:
            self.active_id = layers[-1][0].id
        elif self.active_id in layer_ids:
            self.active_id = self.layers[-1].id if self.layers else None
        self.layers_changed.emit()
        self.pixels_changed.emit(None)
        return removed

    def set_layer_properties(self, layer_id: str, **properties: Any) -> None:
        layer = self.layer(layer_id)
        for key in properties:
            if key not in ("name", "visible", "opacity", "blend_mode", "locked"):
                raise AttributeError(f"layer property {key!r} cannot be set")
        if "opacity" in properties:
            properties["opacity"] = clamp_opacity(properties["opacity"])
        if "name" in properties:
            properties["name"] = str(properties["name"])[:MAX_LAYER_NAME]
        if "blend_mode" in properties:
            properties["blend_mode"] = BlendMode(properties["blend_mode"])
        for key, value in properties.items():
            setattr(layer, key, value)
        self.layers_changed.emit()
        self.pixels_changed.emit(None)

    def resize_canvas(self, width: int, height: int, pixels: Mapping[str, np.ndarray | TiledImage]) -> None:
        """Give the document a new size, with new pixels for every layer (keyed by layer id)."""
        if width <= 0 or height <= 0:
            raise ValueError(f"a document needs a positive size, not {width}x{height}")
        if set(pixels) != {la.id for la in self.layers}:
            raise ValueError("resize_canvas needs new pixels for exactly the document's layers")
        images = {
            key: new if isinstance(new, TiledImage) else TiledImage.from_array(new) for key, new in pixels.items()
        }
        for layer in self.layers:
            new = images[layer.id]
            expected = (width, height, layer.image.channels, layer.image.dtype)
            if (new.width, new.height, new.channels, new.dtype) != expected:
                raise ValueError(
                    f"layer {layer.name!r}: new pixels {new.shape} {new.dtype} do not fit {width}x{height} "
                    f"{layer.image.dtype}"
                )
        for layer in self.layers:
            layer.image = images[layer.id]
        if (width, height) != (self.width, self.height):
            self.selection = None  # its owner (a ResizeCanvas) sets the new one
        self.width, self.height = width, height
        self.layers_changed.emit()
        self.pixels_changed.emit(None)

    def set_selection(self, selection: np.ndarray | None) -> None:
        """Select ``selection`` (uint8, the document's size; all zeros selects nothing), or nothing with None."""
        if selection is not None:
            if selection.dtype != np.uint8 or selection.shape != (self.height, self.width):
                shape = (self.height, self.width)
                raise ValueError(f"a selection must be uint8 of shape {shape}, not {selection.dtype} {selection.shape}")
            if not selection.any():
                selection = None
        self.selection = selection
        self.selection_changed.emit()

    def set_plugin_data(self, plugin_id: str, value: Any) -> None:
        """Keep ``value`` (JSON values) as plugin ``plugin_id``'s data, or drop its data when ``value`` is None;
        the document becomes unsaved. ``ValueError`` for an id that does not match ``PLUGIN_DATA_ID`` or a value a
        project could not hold (see :func:`encode_plugin_data`)."""
        if not PLUGIN_DATA_ID.fullmatch(plugin_id):
            raise ValueError(
                f"a plugin id for project data is a lowercase letter then up to 63 of a-z, 0-9 or _, not {plugin_id!r}"
            )
        if value is None:
            self.plugin_data.pop(plugin_id, None)
        else:
            encode_plugin_data(plugin_id, value)  # refused now, not when the project is saved
            self.plugin_data[plugin_id] = value
        self.history.mark_modified()

    def notify_pixels(self, region: Region | None = None) -> None:
        """Tell views that pixels in ``region`` changed."""
        self.pixels_changed.emit(region)

    # Queries

    def layer(self, layer_id: str) -> Layer:
        return self.layers[self.index_of(layer_id)]

    def index_of(self, layer_id: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise KeyError(f"no layer with id {layer_id}")

    @property
    def active_layer(self) -> Layer | None:
        return self.layer(self.active_id) if self.active_id else None

    def active_mask(self) -> Layer | None:
        """The mask a job uses: the active layer if it is a visible mask, else the topmost visible mask."""
        return self._active_of(LayerKind.MASK)

    def active_labels(self) -> Layer | None:
        """The label map a job uses: the active layer if it is a visible label map, else the topmost visible one."""
        return self._active_of(LayerKind.LABELS)

    def job_mask(self) -> tuple[str, np.ndarray] | None:
        """Where a job works, named and as uint8 pixels (255 = work here): the mask in use (:meth:`active_mask`),
        else the selection, else None (everywhere)."""
        mask = self.active_mask()
        if mask is not None:
            return f"“{mask.name}”", mask.pixels
        if self.selection is not None:
            return "the selection", self.selection
        return None

    def _active_of(self, kind: LayerKind) -> Layer | None:
        active = self.active_layer
        if active is not None and active.kind is kind and active.visible:
            return active
        return next((la for la in reversed(self.layers) if la.kind is kind and la.visible), None)

    def composite(self, region: Region | None = None, dtype: np.dtype[Any] | None = None) -> np.ndarray:
        """The visible raster layers laid over each other, bottom first, each with its opacity and blend mode
        (:func:`studio.core.blend.over`): what the canvas shows, exports write and plugins read.

        RGBA of ``dtype``; by default uint16 when a visible layer holds 16 bits, else uint8. Built tile by tile, so
        it reads only the tiles ``region`` touches and skips the transparent ones.
        """
        layers = [la for la in self.layers if la.kind is LayerKind.RASTER and la.visible and la.opacity > 0]
        if dtype is None:
            dtype = np.dtype(np.uint16 if any(la.bit_depth == 16 for la in layers) else np.uint8)
        x0, y0, x1, y1 = clip_region(region or (0, 0, self.width, self.height), self.width, self.height)
        out = np.zeros((y1 - y0, x1 - x0, 4), dtype)
        if not layers:
            return out
        for piece, key in layers[0].image.pieces((x0, y0, x1, y1)):
            patches = [
                (to_dtype(la.image.view(piece), dtype), la.opacity, la.blend_mode)
                for la in layers
                if la.image.stored(key)
            ]
            if patches:
                px0, py0, px1, py1 = piece
                out[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0] = _stack(patches)
        return out

    def composite_is_opaque(self, region: Region | None = None, dtype: np.dtype[Any] | None = None) -> bool:
        """True when :meth:`composite` of ``region`` and ``dtype`` has full alpha everywhere (an export then drops
        the alpha). Cheap for a document with an opaque background: a tile that a visible layer at full opacity
        covers opaquely is opaque whatever the layers above do; only the other tiles are composited."""
        layers = [la for la in self.layers if la.kind is LayerKind.RASTER and la.visible and la.opacity > 0]
        x0, y0, x1, y1 = clip_region(region or (0, 0, self.width, self.height), self.width, self.height)
        if not layers:
            return x0 == x1 or y0 == y1
        for piece, key in layers[0].image.pieces((x0, y0, x1, y1)):
            covered = any(
                la.opacity >= 1.0 and la.image.stored(key) and is_opaque(la.image.view(piece)) for la in layers
            )
            if not covered and not is_opaque(self.composite(piece, dtype)):
                return False
        return True

    def unique_layer_name(self, base: str) -> str:
        names = {la.name for la in self.layers}
        if base not in names:
            return base
        n = 2
        while f"{base} {n}" in names:
            n += 1
        return f"{base} {n}"


def _stack(patches: list[tuple[np.ndarray, float, BlendMode]]) -> np.ndarray:
    """``(pixels, opacity, blend mode)`` patches laid over each other, bottom first."""
    # Layers under a fully opaque normal one cannot show: start from the topmost such layer. Over nothing
    # every blend mode gives the layer itself.
    base = next(
        (
            i
            for i in range(len(patches) - 1, -1, -1)
            if patches[i][1] >= 1.0 and patches[i][2] is BlendMode.NORMAL and is_opaque(patches[i][0])
        ),
        0,
    )
    out = with_opacity(*patches[base][:2])
    for patch, opacity, mode in patches[base + 1 :]:
        out = over(out, patch, mode, opacity)
    return out
