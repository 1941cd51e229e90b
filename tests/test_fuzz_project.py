"""Property tests: any file handed to load_project opens as a document or raises ProjectError with a message."""

import io
import json
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.core.document import PLUGIN_DATA_ID, Document, Layer, LayerKind
from studio.core.project import ProjectError, load_project, save_project

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAYER_ID = "0123456789abcdef0123456789abcdef"
LAYER_FILE = f"layers/{LAYER_ID}.png"

TRICKY = [float("inf"), float("-inf"), float("nan"), 10**400, -(10**30), -1, 0, 1e308, "", [], {}, None, True, "x"]
tricky = st.sampled_from(TRICKY)
json_values = st.recursive(
    tricky
    | st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["raster", "mask", "labels", "studio-project", LAYER_ID, LAYER_FILE]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def some_of(keys):
    return st.dictionaries(st.sampled_from(keys), tricky | json_values, max_size=len(keys))


layer_entries = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"id": st.just(LAYER_ID), "file": st.just(LAYER_FILE)},
        optional={
            "kind": st.sampled_from(["raster", "mask", "labels"]) | tricky,
            "name": json_values,
            "visible": json_values,
            "opacity": json_values,
            "recipe": json_values
            | st.fixed_dictionaries(
                {"plugin_id": json_values},
                optional={"size": st.lists(tricky, max_size=3) | json_values, "inputs": json_values},
            ),
        },
    ),
)
manifests = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"format": st.just("studio-project")},
        optional={
            "version": st.sampled_from([1, 2]) | tricky | json_values,
            "width": st.integers(1, 6) | tricky,
            "height": st.integers(1, 6) | tricky,
            "layers": st.lists(layer_entries, max_size=3) | json_values,
            "name": json_values,
            "active": st.just(LAYER_ID) | json_values,
            "print_spec": json_values | some_of(["width_in", "height_in", "ppi", "bleed_in", "name"]),
            "export_settings": json_values | some_of(["format", "bit_depth", "quality", "dpi", "icc"]),
        },
    ),
)


def png(width, height, mode):
    buffer = io.BytesIO()
    bands = len(Image.new(mode, (1, 1)).getbands())
    Image.frombytes(mode, (width, height), bytes(width * height * bands)).save(buffer, "PNG")
    return buffer.getvalue()


members = st.one_of(
    st.builds(png, st.integers(1, 6), st.integers(1, 6), st.sampled_from(["RGBA", "L", "RGB", "1"])),
    st.binary(max_size=64),
)
plugin_members = st.dictionaries(
    st.sampled_from(["plugins/gan_breeding.json", "plugins/a.json", "plugins/Bad.json", "plugins/a.txt", "plugins/"]),
    st.one_of(
        json_values.map(lambda value: json.dumps(value).encode()),  # NaN and Infinity included
        st.integers(0, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.binary(max_size=64),
    ),
    max_size=2,
)


def assert_sane(doc):
    assert isinstance(doc, Document)
    assert doc.width > 0 and doc.height > 0
    for layer in doc.layers:
        channels = 4 if layer.kind is LayerKind.RASTER else None
        assert layer.pixels.shape[:2] == (doc.height, doc.width)
        assert layer.pixels.dtype == np.uint8
        if channels:
            assert layer.pixels.shape[2] == channels
        else:
            assert layer.pixels.ndim == 2
    assert doc.active_id is None or any(layer.id == doc.active_id for layer in doc.layers)
    for plugin_id, value in doc.plugin_data.items():
        assert PLUGIN_DATA_ID.fullmatch(plugin_id)
        json.dumps(value, allow_nan=False)


def check_opens_or_refuses(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.studio"
        path.write_bytes(data)
        try:
            doc = load_project(path)
        except ProjectError as exc:
            assert str(exc).strip() and "fuzz.studio" in str(exc), str(exc)
            return None
        assert_sane(doc)
        return doc


def zipped(files: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@FAST
@given(data=st.binary(max_size=1024))
def test_random_bytes_raise_project_error(data):
    check_opens_or_refuses(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    manifest=manifests,
    layer=st.none() | members,
    extra=st.dictionaries(st.sampled_from(["x.txt", "layers/a.png", "../evil", "document.json/"]), members, max_size=1),
    raw_manifest=st.none() | st.binary(max_size=64),
    plugins=plugin_members,
)
def test_random_manifests_and_members_open_or_raise_project_error(manifest, layer, extra, raw_manifest, plugins):
    files = {"document.json": raw_manifest if raw_manifest is not None else json.dumps(manifest).encode()}
    if layer is not None:
        files[LAYER_FILE] = layer
    files.update(extra)
    files.update(plugins)
    check_opens_or_refuses(zipped(files))


def saved_project() -> bytes:
    doc = Document(3, 2, "fuzz")
    doc.layers.append(Layer("paint", LayerKind.RASTER, np.full((2, 3, 4), 200, np.uint8)))
    doc.layers.append(Layer("mask", LayerKind.MASK, np.zeros((2, 3), np.uint8)))
    doc.set_plugin_data("gan_breeding", {"nodes": [{"ws": [[0.5, -1.25]], "parents": []}]})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.studio"
        save_project(doc, path)
        return path.read_bytes()


SAVED = saved_project()


@FAST
@given(plugins=plugin_members)
def test_a_saved_project_with_random_plugin_members_opens_or_raises_project_error(plugins):
    with zipfile.ZipFile(io.BytesIO(SAVED)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    check_opens_or_refuses(zipped({**files, **plugins}))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(SAVED) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.none() | st.integers(0, len(SAVED)))  # fmt: skip
def test_a_saved_project_with_mutated_bytes_opens_or_raises_project_error(edits, cut):
    data = bytearray(SAVED)
    for at, value in edits:
        data[at] = value
    check_opens_or_refuses(bytes(data[:cut]))


# Regressions found by the properties above (each escaped load_project as another exception).


def project_file(tmp_path, manifest, members=None, raw=None):
    files = {"document.json": raw if raw is not None else json.dumps(manifest).encode(), **(members or {})}
    path = tmp_path / "bad.studio"
    path.write_bytes(zipped(files))
    return path


GOOD_LAYER = {"id": LAYER_ID, "file": LAYER_FILE, "kind": "raster", "name": "a", "visible": True, "opacity": 1}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "not a Studio project"),  # AttributeError: 'NoneType' object has no attribute 'get'
        ([1], "not a Studio project"),
        ({"format": "studio-project", "version": 1, "width": float("inf"), "height": 1, "layers": []}, "malformed"),
        ({"format": "studio-project", "version": float("inf"), "width": 1, "height": 1, "layers": []}, "malformed"),
        (
            {"format": "studio-project", "version": 1, "width": 1, "height": 1,
             "layers": [{**GOOD_LAYER, "recipe": [1]}]},
            "layer entry is malformed",
        ),
        (
            {"format": "studio-project", "version": 1, "width": 1, "height": 1,
             "layers": [{**GOOD_LAYER, "recipe": {"plugin_id": "x", "size": [float("inf"), 1]}}]},
            "layer entry is malformed",
        ),
        (
            {"format": "studio-project", "version": 1, "width": 1, "height": 1, "layers": [],
             "print_spec": {"width_in": 1, "height_in": 1, "ppi": float("inf")}},
            "print spec is malformed",
        ),
    ],
)  # fmt: skip
def test_malformed_manifests_raise_project_error(tmp_path, manifest, message):
    path = project_file(tmp_path, manifest, {LAYER_FILE: png(1, 1, "RGBA")})
    with pytest.raises(ProjectError, match=message):
        load_project(path)


def open_damaged(tmp_path, data):
    path = tmp_path / "bad.studio"
    path.write_bytes(bytes(data))
    return load_project(path)


def test_a_damaged_deflate_stream_raises_project_error(tmp_path):
    data = bytearray(zipped({"document.json": b"{}" * 50}, zipfile.ZIP_DEFLATED))
    data[30 + len("document.json")] = 0  # zlib.error: invalid stored block lengths
    with pytest.raises(ProjectError, match="damaged"):
        open_damaged(tmp_path, data)


def test_an_unsupported_zip_version_raises_project_error(tmp_path):
    data = bytearray(zipped({"document.json": b"{}"}))
    data[data.find(b"PK\x01\x02") + 6] = 64  # NotImplementedError: zip file version 6.4
    with pytest.raises(ProjectError, match="damaged"):
        open_damaged(tmp_path, data)


def test_a_member_name_that_is_not_utf8_raises_project_error(tmp_path):
    data = bytearray(zipped({"document.json": b"{}", "é": b""}))
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)
    data[central + 46] = 0xA0  # UnicodeDecodeError: a name flagged UTF-8 that is not
    with pytest.raises(ProjectError, match="damaged"):
        open_damaged(tmp_path, data)


def test_an_encrypted_member_raises_project_error(tmp_path):
    data = bytearray(zipped({"document.json": b"{}"}))
    data[data.find(b"PK\x01\x02") + 8] |= 1  # RuntimeError: password required for extraction
    data[data.find(b"PK\x03\x04") + 6] |= 1
    path = tmp_path / "bad.studio"
    path.write_bytes(bytes(data))
    with pytest.raises(ProjectError, match="encrypted"):
        load_project(path)


def png_header_only(width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_layer_over_pillows_bomb_limit_is_read_within_the_projects_own_size(tmp_path):
    side = 20000  # 400 Mpx: within MAX_PROJECT_PIXELS, over Pillow's decompression-bomb limit
    manifest = {"format": "studio-project", "version": 1, "width": side, "height": side,
                "layers": [{**GOOD_LAYER, "kind": "mask"}]}  # fmt: skip
    with pytest.raises(ProjectError, match="is damaged"):  # its pixels are missing, but Pillow opened it
        load_project(project_file(tmp_path, manifest, {LAYER_FILE: png_header_only(side, side)}))


def test_a_layer_whose_header_claims_more_than_the_project_gives_is_a_size_mismatch(tmp_path):
    manifest = {"format": "studio-project", "version": 1, "width": 100, "height": 100,
                "layers": [{**GOOD_LAYER, "kind": "mask"}]}  # fmt: skip
    with pytest.raises(ProjectError, match="larger than 100x100, the size the project gives"):
        load_project(project_file(tmp_path, manifest, {LAYER_FILE: png_header_only(40000, 40000)}))


def test_what_studio_saves_it_opens_whatever_pillows_limit(tmp_path, monkeypatch):
    doc = Document.from_pixels(np.full((64, 80, 4), 200, np.uint8))
    save_project(doc, tmp_path / "big.studio")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # as if the layers were over Pillow's default
    again = load_project(tmp_path / "big.studio")
    assert (again.width, again.height) == (80, 64) and (again.layers[0].pixels == 200).all()
    assert Image.MAX_IMAGE_PIXELS == 1000, "the limit is only raised while the project loads"
