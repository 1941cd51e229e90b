"""Project files: round trip, atomic writes, and refusal of damaged or hostile files."""

import errno
import io
import json
import zipfile

import numpy as np
import pytest

from studio.core import atomic
from studio.core.autosave import Autosaver
from studio.core.document import Document, Layer, LayerKind, Recipe
from studio.core.project import ProjectError, load_project, save_project


def sample_document():
    rng = np.random.default_rng(3)
    doc = Document.from_pixels(rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), name="sample")
    doc.insert_layer(Layer("mask", LayerKind.MASK, rng.integers(0, 256, (24, 32), dtype=np.uint8), opacity=0.5))
    doc.insert_layer(Layer("labels", LayerKind.LABELS, rng.integers(0, 5, (24, 32), dtype=np.uint8), visible=False))
    recipe = Recipe("generative", {"rule": "mondrian", "seed": 4}, seed=4, size=(32, 24))
    doc.insert_layer(Layer("made", LayerKind.RASTER, rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), recipe=recipe))
    return doc


def test_round_trip_keeps_every_layer_exactly(tmp_path):
    doc = sample_document()
    path = tmp_path / "work.studio"
    save_project(doc, path)
    loaded = load_project(path)
    assert (loaded.width, loaded.height, loaded.name) == (32, 24, "sample")
    assert len(loaded.layers) == len(doc.layers)
    for before, after in zip(doc.layers, loaded.layers, strict=True):
        assert (after.id, after.name, after.kind, after.visible, after.opacity) == (
            before.id,
            before.name,
            before.kind,
            before.visible,
            before.opacity,
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
