"""Property tests: the store's record.json, trained-model entries, weights and pickles load or raise ModelError."""

import hashlib
import io
import json
import pickle
import tempfile
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.models.errors import ModelError
from studio.core.models.safe_pickle import load_numpy_pickle
from studio.core.models.spec import ModelSpec, UserFile
from studio.core.models.store import RECORD, TRAINED, WEIGHTS, InstallRecord, ModelStatus, ModelStore

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = ModelSpec(
    id="tiny",
    title="Tiny",
    description="a test network",
    builder="tiny_models:build",
    sources=(UserFile("tiny.npz", "a test file", "tiny_models:convert_npz"),),
    license="MIT",
    provenance="the tests",
    size_mb=0.001,
)
SPECS = {"tiny": BASE}
GOOD_WEIGHTS = safetensors.torch.save({name: torch.zeros(shape) for name, shape in
                                       {"0.weight": (4, 3, 3, 3), "0.bias": (4,), "2.weight": (2, 4, 1, 1),
                                        "2.bias": (2,)}.items()})  # fmt: skip

TRICKY = [float("inf"), float("-inf"), float("nan"), 10**400, -1, 0, "", [], {}, None, True, "x", "\x00", "..", "/"]
tricky = st.sampled_from(TRICKY)
json_values = st.recursive(
    tricky | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
records = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "model_id": st.just("tiny") | tricky,
            "source": st.just("import") | tricky,
            "files": st.dictionaries(st.sampled_from([WEIGHTS, "other.bin", "..", "a/b", RECORD]) | st.text(max_size=6),
                                     st.sampled_from([hashlib.sha256(GOOD_WEIGHTS).hexdigest()]) | tricky,
                                     max_size=2) | tricky,
        },
        optional={"inputs": json_values, "converter": json_values, "studio_version": json_values,
                  "installed_at": json_values},
    ),
)  # fmt: skip
trained_entries = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "id": st.just("mine") | tricky,
            "base": st.sampled_from(["tiny", "unknown"]) | tricky,
            "title": st.just("Mine") | tricky,
            "description": st.just("") | tricky,
            "provenance": st.just("") | tricky,
            "sha256": st.just("0" * 64) | tricky,
            "size_mb": st.floats() | tricky,
        }
    ),
)
documents = st.one_of(records.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64))


@FAST
@given(record=documents, weights=st.none() | st.just(GOOD_WEIGHTS) | st.binary(max_size=64))
def test_a_store_reads_any_install_record_or_raises_model_error(record, weights):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "tiny").mkdir()
        (root / "tiny" / RECORD).write_bytes(record)
        if weights is not None:
            (root / "tiny" / WEIGHTS).write_bytes(weights)
        store = ModelStore(root, SPECS)
        assert store.status("tiny") in set(ModelStatus)
        try:
            found = store.record("tiny")
        except ModelError as exc:
            assert str(exc).strip() and "tiny" in str(exc)
            assert store.status("tiny") is ModelStatus.BROKEN
            return
        assert isinstance(found, InstallRecord) and found.model_id == "tiny"
        try:
            store.load("tiny")
        except ModelError as exc:
            assert str(exc).strip()


@FAST
@given(text=documents)
def test_install_record_from_json_parses_or_raises_value_error(text):
    try:
        record = InstallRecord.from_json(text.decode("utf-8", "replace"))
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in record.files.items())


@FAST
@given(entry=st.one_of(trained_entries.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64)),
       name=st.sampled_from(["mine", "tiny", "other"]))  # fmt: skip
def test_a_store_constructs_with_any_trained_entry(entry, name):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / TRAINED).mkdir()
        (root / TRAINED / f"{name}.json").write_bytes(entry)
        try:
            store = ModelStore(root, SPECS)
        except ModelError as exc:
            assert str(exc).strip()
            return
        for model_id in store.specs:
            assert store.status(model_id) in set(ModelStatus)
        assert store.specs["tiny"] is BASE


@FAST
@given(data=st.binary(max_size=256) | st.just(GOOD_WEIGHTS[:40]) | st.just(GOOD_WEIGHTS[:-1] + b"x"))
def test_random_weights_in_the_cache_raise_model_error(data):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "tiny").mkdir()
        (root / "tiny" / WEIGHTS).write_bytes(data)
        record = InstallRecord("tiny", "import", files={WEIGHTS: hashlib.sha256(data).hexdigest()})
        (root / "tiny" / RECORD).write_text(record.to_json())
        store = ModelStore(root, SPECS)
        assert store.status("tiny") is ModelStatus.INSTALLED
        try:
            model = store.load("tiny")
        except ModelError as exc:
            assert "tiny" in str(exc)
            return
        assert isinstance(model, torch.nn.Module) and not model.training


def pickle_prefixes():
    buffer = io.BytesIO()
    pickle.dump({"a": [1, 2.0, "x"]}, buffer, protocol=4)
    return buffer.getvalue()


def mutated_pickle(at, value):
    data = pickle_prefixes()
    return data[:at] + bytes([value]) + data[at + 1 :]


# CPython's C unpickler sometimes reports "SystemError: deallocated bytearray object has exported buffers" as an
# unraisable exception after a damaged BYTEARRAY8 length (not reproducible input by input); pytest-qt would turn
# that report into a failure. What the loader raises is still checked.
@pytest.mark.qt_no_exception_capture
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=128) | st.binary(max_size=64).map(lambda b: b"\x80\x04" + b)
       | st.builds(mutated_pickle, st.integers(0, 40), st.integers(0, 255)))  # fmt: skip
def test_the_restricted_unpickler_loads_or_raises_model_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.ckpt"
        path.write_bytes(data)
        try:
            load_numpy_pickle(path, model_id="tiny")
        except ModelError as exc:
            assert str(exc).strip() and "weights.ckpt" in str(exc)


# Regressions found by the properties above.


def test_a_record_that_is_not_utf8_makes_the_model_broken(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / RECORD).write_bytes(b"\x80")  # UnicodeDecodeError escaped record() and status()
    store = ModelStore(tmp_path, SPECS)
    assert store.status("tiny") is ModelStatus.BROKEN
    try:
        store.record("tiny")
    except ModelError as exc:
        assert "not UTF-8" in str(exc)
    else:
        raise AssertionError("no ModelError")


def test_a_trained_entry_with_a_huge_size_is_ignored(tmp_path):
    entry = {"id": "mine", "base": "tiny", "title": "Mine", "description": "", "provenance": "",
             "sha256": "0" * 64, "size_mb": 10**400}  # fmt: skip
    (tmp_path / TRAINED).mkdir()
    (tmp_path / TRAINED / "mine.json").write_text(json.dumps(entry))  # OverflowError escaped ModelStore()
    assert set(ModelStore(tmp_path, SPECS).specs) == {"tiny"}


def test_pickles_claiming_huge_sizes_raise_model_error(tmp_path):
    import warnings

    for data in (
        b"\x80\x00\x95\x00\x00\x00\x00\x00\x00\x00\x80",  # OverflowError: FRAME length exceeds the maximum
        b"\x80\x00\x95\x00\x00\x00\x00\x00\x00\x00\x01",  # MemoryError
        bytes.fromhex("8004951b000000000000007d948c0161949694284b014740000000000000008c01789465732e"),  # bytearray8
    ):
        path = tmp_path / "weights.ckpt"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                load_numpy_pickle(path, model_id="tiny")
            except ModelError as exc:
                assert "weights.ckpt" in str(exc)
            else:
                raise AssertionError("no ModelError")
