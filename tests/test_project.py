"""Project files: round trip, atomic writes, and refusal of damaged or hostile files."""

import errno
import io
import json
import math
import zipfile

import numpy as np
import pytest

from studio.core import atomic
from studio.core.autosave import Autosaver
from studio.core.blend import BlendMode
from studio.core.document import MAX_LAYER_NAME, Document, Layer, LayerKind, Recipe
from studio.core.project import FORMAT_VERSION, ProjectError, load_project, save_project


def sample_document():
    rng = np.random.default_rng(3)
    doc = Document.from_pixels(rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), name="sample")
    doc.insert_layer(Layer("mask", LayerKind.MASK, rng.integers(0, 256, (24, 32), dtype=np.uint8), opacity=0.5))
    doc.insert_layer(Layer("labels", LayerKind.LABELS, rng.integers(0, 5, (24, 32), dtype=np.uint8), visible=False))
    recipe = Recipe("generative", {"rule": "mondrian", "seed": 4}, seed=4, size=(32, 24))
    doc.insert_layer(Layer("made", LayerKind.RASTER, rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), recipe=recipe))
    doc.layers[0].locked = True
    doc.layers[-1].blend_mode = BlendMode.SOFT_LIGHT
    return doc


def test_round_trip_keeps_every_layer_exactly(tmp_path):
    doc = sample_document()
    path = tmp_path / "work.studio"
    save_project(doc, path)
    loaded = load_project(path)
    assert (loaded.width, loaded.height, loaded.name) == (32, 24, "sample")
    assert len(loaded.layers) == len(doc.layers)
    for before, after in zip(doc.layers, loaded.layers, strict=True):
        assert (after.id, after.name, after.kind, after.visible, after.opacity, after.blend_mode, after.locked) == (
            before.id,
            before.name,
            before.kind,
            before.visible,
            before.opacity,
            before.blend_mode,
            before.locked,
        )
        np.testing.assert_array_equal(after.pixels, before.pixels)
        assert after.recipe == before.recipe
    assert loaded.active_id == doc.active_id


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "work.studio"
    save_project(sample_document(), path)
    original = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_project(sample_document(), path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["work.studio"]


def rewrite(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def read_members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("evil", ["../escape.png", "/abs/path.png", "layers/../../x.png", "layers/a.png"])
def test_members_outside_the_layout_are_refused(tmp_path, evil):
    path = tmp_path / "evil.studio"
    save_project(sample_document(), path)
    members = read_members(path)
    members[evil] = b"x"
    rewrite(path, members)
    with pytest.raises(ProjectError, match="unexpected member"):
        load_project(path)
    assert not (tmp_path.parent / "escape.png").exists()


def test_layer_of_wrong_size_is_refused(tmp_path):
    path = tmp_path / "p.studio"
    doc = sample_document()
    save_project(doc, path)
    members = read_members(path)
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(buffer, "PNG")
    members[f"layers/{doc.layers[0].id}.png"] = buffer.getvalue()
    rewrite(path, members)
    with pytest.raises(ProjectError, match="8x8, expected 32x24"):
        load_project(path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04broken"])
def test_garbage_is_refused_with_the_file_name(tmp_path, content):
    path = tmp_path / "junk.studio"
    path.write_bytes(content)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert "junk.studio" in str(info.value)


def test_malformed_manifest_and_truncated_file(tmp_path):
    path = tmp_path / "p.studio"
    save_project(sample_document(), path)
    data = path.read_bytes()
    (tmp_path / "cut.studio").write_bytes(data[: len(data) // 2])
    with pytest.raises(ProjectError):
        load_project(tmp_path / "cut.studio")
    members = read_members(path)
    manifest = json.loads(members["document.json"])
    manifest["layers"][0]["kind"] = "hologram"
    members["document.json"] = json.dumps(manifest)
    rewrite(path, members)
    with pytest.raises(ProjectError, match="malformed"):
        load_project(path)


def test_autosave_is_offered_only_for_dead_sessions(tmp_path):
    saver = Autosaver(tmp_path)
    doc = sample_document()
    saver.save(doc)
    assert saver.recoverable() == [], "our own live session is not offered"
    info = next(tmp_path.glob("*.json"))
    record = json.loads(info.read_text())
    record["pid"] = 2**22 + 12345
    info.write_text(json.dumps(record))
    [recovery] = saver.recoverable()
    assert recovery.name == "sample"
    restored = load_project(recovery.project)
    np.testing.assert_array_equal(restored.layers[-1].pixels, doc.layers[-1].pixels)
    saver.remove(recovery)
    assert list(tmp_path.iterdir()) == []


def test_discard_removes_the_autosave(tmp_path):
    saver = Autosaver(tmp_path)
    doc = sample_document()
    saver.save(doc)
    saver.discard(doc)
    assert list(tmp_path.iterdir()) == []


# Hostile document.json: every fault is a ProjectError that names the file and the field.


def manifest_project(tmp_path, manifest=None, raw=None, layers=()):
    """A project whose document.json is ``manifest`` (or the bytes ``raw``), with a 2x2 PNG for each layer id."""
    from PIL import Image

    path = tmp_path / "hostile.studio"
    members = {"document.json": raw if raw is not None else json.dumps(manifest).encode()}
    for layer_id in layers:
        buffer = io.BytesIO()
        Image.new("RGBA", (2, 2)).save(buffer, "PNG")
        members[f"layers/{layer_id}.png"] = buffer.getvalue()
    rewrite(path, members)
    return path


LAYER_ID = "0123456789abcdef0123456789abcdef"
ENTRY = {"id": LAYER_ID, "file": f"layers/{LAYER_ID}.png", "kind": "raster", "name": "a", "visible": True,
         "opacity": 1.0, "recipe": None}  # fmt: skip
HEAD = {"format": "studio-project", "version": 1, "width": 2, "height": 2}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"format": "studio-project", "version": 1, "width": 2, "height": 2, "layers": ' + b"[" * 5000
         + b"]" * 5000 + b"}", "not valid JSON"),  # RecursionError from json.loads
        (b"[1, 2]", "not a Studio project"),
        (b'{"format": "studio-project", "version": 1, "width": 1e400, "height": 2, "layers": []}', r"width"),
        (b'{"format": "studio-project", "version": 1e400, "width": 2, "height": 2, "layers": []}', r"version"),
        (b'{"format": "studio-project", "version": 1, "width": 2, "height": 2, "layers": [], "name": 1e400}',
         r"name"),
        (b'{"format": "studio-project", "version": 1, "width": true, "height": 2, "layers": []}', r"width"),
    ],
)  # fmt: skip
def test_hostile_manifest_text_raises_project_error_naming_the_field(tmp_path, raw, message):
    with pytest.raises(ProjectError, match=message) as info:
        load_project(manifest_project(tmp_path, raw=raw))
    assert "hostile.studio" in str(info.value)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({**ENTRY, "opacity": float("nan")}, r"layers\[0\]\.opacity"),  # was accepted: a blank composite
        ({**ENTRY, "opacity": 1.5}, r"layers\[0\]\.opacity"),
        ({**ENTRY, "visible": "yes"}, r"layers\[0\]\.visible"),
        ({**ENTRY, "name": "n" * 20_000}, r"layers\[0\]\.name"),
        ({**ENTRY, "kind": "hologram"}, r"layers\[0\]\.kind"),
        ({**ENTRY, "blend_mode": "dissolve"}, r"layers\[0\]\.blend_mode"),
        ({**ENTRY, "locked": "yes"}, r"layers\[0\]\.locked"),
        ({**ENTRY, "recipe": {"plugin_id": "x", "params": {"deep": json.loads("[" * 40 + "]" * 40)}}},
         r"layers\[0\]\.recipe\.params"),
        ({**ENTRY, "recipe": {"plugin_id": "x", "params": {"many": list(range(20_000))}}},
         r"layers\[0\]\.recipe\.params"),
        ({**ENTRY, "recipe": {"plugin_id": "x", "params": {"x": float("inf")}}}, r"layers\[0\]\.recipe\.params"),
        ({**ENTRY, "recipe": {"plugin_id": "x", "size": [0, 5]}}, r"layers\[0\]\.recipe\.size"),
    ],
)  # fmt: skip
def test_hostile_layer_entries_raise_project_error_naming_the_field(tmp_path, layer, message):
    path = manifest_project(tmp_path, {**HEAD, "layers": [layer]}, layers=[LAYER_ID])
    with pytest.raises(ProjectError, match=message):
        load_project(path)


def test_more_layers_than_studio_allows_are_refused(tmp_path):
    entries = [{**ENTRY, "id": f"{i:032x}", "file": f"layers/{i:032x}.png"} for i in range(10_001)]
    with pytest.raises(ProjectError, match="layers"):
        load_project(manifest_project(tmp_path, {**HEAD, "width": 1, "height": 1, "layers": entries}))


def test_print_settings_are_validated_and_kept(tmp_path):
    doc = sample_document()
    from studio.core.export import ExportSettings
    from studio.core.print_size import PrintSpec

    doc.print_spec = PrintSpec(10, 8, 3, name="tiny")
    doc.export_settings = ExportSettings("png", dpi=None)
    save_project(doc, tmp_path / "p.studio")
    again = load_project(tmp_path / "p.studio")
    assert (again.print_spec, again.export_settings) == (doc.print_spec, doc.export_settings)
    bad = manifest_project(tmp_path, {**HEAD, "layers": [], "export_settings": {"dpi": "many"}})
    with pytest.raises(ProjectError, match=r"export settings are malformed \(export_settings\.dpi"):
        load_project(bad)


def test_a_project_as_the_first_studio_wrote_it_opens(tmp_path):
    # Format 1 as first released: no print spec or export settings, recipes without input files.
    recipe = {
        "plugin_id": "generative",
        "params": {"rule": "mondrian"},
        "seed": 4,
        "models": [],
        "inputs": {},
        "size": [2, 2],
        "studio_version": "0.1.0",
        "created": "2025-01-01T00:00:00+00:00",
    }
    manifest = {**HEAD, "studio_version": "0.1.0", "name": "old", "active": LAYER_ID,
                "layers": [{**ENTRY, "opacity": 1, "recipe": recipe}]}  # fmt: skip
    doc = load_project(manifest_project(tmp_path, manifest, layers=[LAYER_ID]))
    assert (doc.name, doc.print_spec, doc.export_settings) == ("old", None, None)
    assert doc.layers[0].recipe == Recipe("generative", {"rule": "mondrian"}, seed=4, size=(2, 2),
                                          studio_version="0.1.0", created="2025-01-01T00:00:00+00:00")  # fmt: skip


def test_the_largest_project_studio_allows_saves_reopens_and_recovers(tmp_path):
    # Whatever Studio can save, it can open: one mask layer (1 byte a pixel) at MAX_PROJECT_PIXELS,
    # over Pillow's decompression-bomb limit; and its autosave recovers too.
    from studio.core.project import MAX_PROJECT_PIXELS

    side = math.isqrt(MAX_PROJECT_PIXELS)
    doc = Document(side, side, "huge")
    pixels = np.zeros((side, side), np.uint8)
    pixels[::97, :] = 255
    pixels[:, ::89] = 128
    doc.insert_layer(Layer("mask", LayerKind.MASK, pixels))
    path = tmp_path / "huge.studio"
    save_project(doc, path)
    again = load_project(path)
    assert (again.width, again.height) == (side, side)
    assert np.array_equal(again.layers[0].pixels, pixels)
    del again
    saver = Autosaver(tmp_path / "autosave")
    recovered = load_project(saver.save(doc))
    assert np.array_equal(recovered.layers[0].pixels, pixels)


def test_a_layer_renamed_at_any_length_still_saves_a_project_that_reopens(tmp_path):
    doc = Document.from_pixels(np.zeros((4, 4, 4), np.uint8))
    doc.set_layer_properties(doc.layers[0].id, name="n" * 50_000)
    doc.insert_layer(Layer("m" * 20_000, LayerKind.MASK, np.zeros((4, 4), np.uint8)))
    save_project(doc, tmp_path / "long.studio")
    names = [layer.name for layer in load_project(tmp_path / "long.studio").layers]
    assert names == ["n" * MAX_LAYER_NAME, "m" * MAX_LAYER_NAME]


# Plugin data: each plugin's JSON values as a member plugins/<id>.json, opaque to Studio.


def lineage_like():
    """Nested like the breeding plugin's lineage, with floats that only round-trip if written exactly."""
    rng = np.random.default_rng(5)
    styles = rng.standard_normal((3, 8)).astype(np.float32).tolist()
    params = {"psi": 0.7, "tags": ["a", 1, True]}
    node = {"id": LAYER_ID, "parents": [], "operation": "sample", "params": params, "ws": styles,
            "truncation": 1 / 3, "noise_seed": 2**62, "favourite": False, "created": "2026-01-01"}  # fmt: skip
    return {
        "format": "studio-gan-lineage",
        "version": 1,
        "nodes": [node, {**node, "ws": [[5e-324, -1.7976931348623157e308]]}],
    }


def test_plugin_data_round_trips_exactly_and_marks_the_document_unsaved(tmp_path):
    doc = sample_document()
    doc.history.set_clean()
    doc.set_plugin_data("gan_breeding", lineage_like())
    doc.set_plugin_data("other", [1, "two", None])
    assert not doc.history.is_clean
    save_project(doc, tmp_path / "p.studio")
    assert sorted(n for n in read_members(tmp_path / "p.studio") if n.startswith("plugins/")) == [
        "plugins/gan_breeding.json",
        "plugins/other.json",
    ]
    again = load_project(tmp_path / "p.studio")
    assert again.plugin_data == {"gan_breeding": lineage_like(), "other": [1, "two", None]}
    doc.set_plugin_data("other", None)
    assert list(doc.plugin_data) == ["gan_breeding"]


@pytest.mark.parametrize("bad", ["", "Gan", "1gan", "gan-breeding", "../x", "a" * 65, "gan\n"])
def test_a_plugin_id_that_cannot_name_a_member_is_refused(bad):
    doc = Document(2, 2)
    with pytest.raises(ValueError, match="plugin id"):
        doc.set_plugin_data(bad, {})
    assert doc.plugin_data == {} and doc.history.is_clean


@pytest.mark.parametrize(
    "value",
    [float("nan"), [float("inf")], {"set": {1}}, json.loads("[" * 65 + "]" * 65)],
    ids=["nan", "inf", "set", "deep"],
)
def test_plugin_data_that_would_not_open_again_is_refused_when_set_and_never_saved(tmp_path, value):
    path = tmp_path / "p.studio"
    save_project(sample_document(), path)
    original = path.read_bytes()
    doc = sample_document()
    with pytest.raises(ValueError, match="'gan_breeding'"):
        doc.set_plugin_data("gan_breeding", value)
    assert doc.plugin_data == {}
    doc.plugin_data["gan_breeding"] = value  # changed in place behind set_plugin_data's back
    with pytest.raises(ValueError, match="'gan_breeding'"):
        save_project(doc, path)
    assert path.read_bytes() == original


def test_a_version_1_project_opens_without_plugin_data(tmp_path):
    doc = load_project(manifest_project(tmp_path, {**HEAD, "layers": [ENTRY]}, layers=[LAYER_ID]))
    assert doc.plugin_data == {} and len(doc.layers) == 1
    assert (doc.layers[0].blend_mode, doc.layers[0].locked) == (BlendMode.NORMAL, False)


def test_a_project_of_a_newer_studio_still_says_so(tmp_path):
    with pytest.raises(ProjectError, match="newer Studio"):
        load_project(manifest_project(tmp_path, {**HEAD, "version": FORMAT_VERSION + 1, "layers": []}))


def sixteen_bit_document():
    """A document whose default is 16 bits: a 16-bit ramp of 4096 levels over an 8-bit layer."""
    ramp = np.linspace(0, 65535, 4096).round().astype(np.uint16)
    pixels = np.empty((3, 4096, 4), np.uint16)
    pixels[..., 0], pixels[..., 1], pixels[..., 2], pixels[..., 3] = ramp, ramp[::-1], 40000, 65535
    doc = Document.from_pixels(np.full((3, 4096, 4), 200, np.uint8), name="deep")
    doc.insert_layer(Layer("ramp", LayerKind.RASTER, pixels, opacity=0.75))
    doc.bit_depth = 16
    return doc


def test_a_16_bit_layer_reopens_with_16_bits_and_the_document_keeps_its_default(tmp_path):
    doc = sixteen_bit_document()
    path = tmp_path / "deep.studio"
    save_project(doc, path)
    loaded = load_project(path)
    assert loaded.bit_depth == 16
    assert [layer.bit_depth for layer in loaded.layers] == [8, 16]
    ramp = loaded.layers[1].pixels
    assert ramp.dtype == np.uint16 and len(np.unique(ramp[..., 0])) == 4096
    np.testing.assert_array_equal(ramp, doc.layers[1].pixels)
    np.testing.assert_array_equal(loaded.layers[0].pixels, doc.layers[0].pixels)
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("document.json"))["version"] == FORMAT_VERSION


def test_a_version_3_project_opens_as_8_bit(tmp_path):
    manifest = {**HEAD, "version": 3, "layers": [{**ENTRY, "blend_mode": "multiply", "locked": True}]}
    doc = load_project(manifest_project(tmp_path, manifest, layers=[LAYER_ID]))
    assert doc.bit_depth == 8
    assert (doc.layers[0].bit_depth, doc.layers[0].pixels.dtype) == (8, np.uint8)
    assert doc.layers[0].blend_mode == BlendMode.MULTIPLY


@pytest.mark.parametrize(
    ("entry", "member", "message"),
    [
        ({"bit_depth": 16}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "'a' is damaged"),
        ({"bit_depth": 16}, None, "'a' is damaged .*16-bit"),
        ({"bit_depth": 16, "kind": "mask"}, None, "'a' is a mask with 16 bits"),
        ({"bit_depth": 12}, None, r"layers\[0\]\.bit_depth"),
    ],
)
def test_a_bad_16_bit_layer_is_refused_naming_the_file(tmp_path, entry, member, message):
    path = manifest_project(tmp_path, {**HEAD, "version": 4, "layers": [{**ENTRY, **entry}]}, layers=[LAYER_ID])
    if member is not None:
        with zipfile.ZipFile(path) as archive:
            manifest = archive.read("document.json")
        rewrite(path, {"document.json": manifest, f"layers/{LAYER_ID}.png": member})
    with pytest.raises(ProjectError, match=message) as caught:
        load_project(path)
    assert "hostile.studio" in str(caught.value)


@pytest.mark.parametrize(
    "member", ["plugins/Gan.json", "plugins/gan.txt", "plugins/../gan.json", "plugins/a/b.json", "plugins/", "gan.json",
               "plugins/gan.json\n", "other/gan.json"]
)  # fmt: skip
def test_members_outside_plugins_or_misnamed_are_refused(tmp_path, member):
    path = manifest_project(tmp_path, {**HEAD, "version": 2, "layers": []})
    members = {**read_members(path), member: b"{}"}
    rewrite(path, members)
    with pytest.raises(ProjectError, match="unexpected member"):
        load_project(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"nodes": [1, 2', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"x": NaN}', "NaN, not a finite number"),
        (b"[-Infinity]", "Infinity, not a finite number"),
        (b"[1e400]", "1e400, not a finite number"),
        (b"[" * 65 + b"]" * 65, "nests deeper than 64"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64"),  # RecursionError from json.loads
    ],
)
def test_a_broken_plugin_member_is_a_project_error_naming_it(tmp_path, raw, message):
    path = manifest_project(tmp_path, {**HEAD, "version": 2, "layers": []})
    rewrite(path, {**read_members(path), "plugins/gan_breeding.json": raw})
    with pytest.raises(ProjectError, match=message) as info:
        load_project(path)
    assert "hostile.studio" in str(info.value) and "plugins/gan_breeding.json" in str(info.value)
    assert "backup" in str(info.value)


def test_an_oversized_plugin_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from studio.core import project

    path = manifest_project(tmp_path, {**HEAD, "version": 2, "layers": []})
    rewrite(path, {**read_members(path), "plugins/gan_breeding.json": b"[" + b"0," * 600 + b"0]"})
    monkeypatch.setattr(project, "MAX_PLUGIN_DATA_BYTES", 1000)
    read = zipfile.ZipFile.read

    def read_but_plugin_data(archive, name, pwd=None):
        assert not str(name).startswith("plugins/"), "read an oversized member"
        return read(archive, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", read_but_plugin_data)
    with pytest.raises(ProjectError, match=r"'plugins/gan_breeding.json' is over 1000 bytes"):
        load_project(path)
