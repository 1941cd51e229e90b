"""Property tests: checkpoint.json, run.json and tensors files load or raise TrainingError with a message."""

import hashlib
import json
import tempfile
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.training import CHECKPOINT, RUN, Checkpoint, TrainingError, TrainingRun, load_checkpoint, open_run

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TENSORS = safetensors.torch.save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)})
TENSORS_SHA = hashlib.sha256(TENSORS).hexdigest()
FILE = "checkpoint-00000003.safetensors"

TRICKY = [float("inf"), float("-inf"), float("nan"), 10**400, -1, 0, "", [], {}, None, True, "x", "\x00"]
json_values = st.recursive(
    st.sampled_from(TRICKY) | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
tricky = st.sampled_from(TRICKY)
index_records = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "file": st.sampled_from([FILE, "checkpoint-missing.safetensors", "../checkpoint-x", "checkpoint-\x00",
                                     "other.bin", "checkpoint-" + "9" * 300]) | tricky,
            "sha256": st.sampled_from([TENSORS_SHA, "0" * 64]) | tricky,
            "step": st.integers(-1, 10) | tricky,
            "meta": st.dictionaries(st.text(max_size=4), json_values, max_size=2) | tricky,
        },
        optional={"trained_s": st.floats() | tricky},
    ),
)  # fmt: skip
tensor_files = st.one_of(st.just(TENSORS), st.binary(max_size=128), st.just(TENSORS[:-3]))


def write_document(path: Path, document, raw: bytes | None):
    path.write_bytes(raw if raw is not None else json.dumps(document).encode())


@FAST
@given(record=index_records, raw=st.none() | st.binary(max_size=64), tensors=st.none() | tensor_files)
def test_a_checkpoint_loads_or_raises_training_error(record, raw, tensors):
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        write_document(run_dir / CHECKPOINT, record, raw)
        if tensors is not None:
            (run_dir / FILE).write_bytes(tensors)
        try:
            state = load_checkpoint(run_dir)
        except TrainingError as exc:
            assert str(exc).strip()
            return
    assert isinstance(state, Checkpoint)
    assert isinstance(state.step, int) and isinstance(state.meta, dict)
    assert state.path.parent == run_dir and state.path.name.startswith("checkpoint-")
    assert all(isinstance(value, torch.Tensor) for value in state.tensors.values())


@FAST
@given(
    record=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "plugin": st.just("probe") | json_values,
                "data": st.just("pictures") | json_values,
                "params": st.dictionaries(st.text(max_size=4), json_values, max_size=2) | json_values,
                "created": json_values,
                "model_id": json_values,
            },
        ),
    ),
    raw=st.none() | st.binary(max_size=64),
)
def test_a_run_opens_or_raises_training_error(record, raw):
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        write_document(run_dir / RUN, record, raw)
        try:
            run = open_run(run_dir)
        except TrainingError as exc:
            assert str(exc).strip()
            return
    assert isinstance(run, TrainingRun)
    assert isinstance(run.plugin, str) and isinstance(run.params, dict) and isinstance(run.data, Path)


def index(file=FILE, sha256=TENSORS_SHA, step=3):
    return {"file": file, "sha256": sha256, "step": step, "meta": {"step": step}, "trained_s": 1.0}


def test_a_good_checkpoint_loads(tmp_path):
    (tmp_path / CHECKPOINT).write_text(json.dumps(index()))
    (tmp_path / FILE).write_bytes(TENSORS)
    state = load_checkpoint(tmp_path)
    assert state is not None and state.step == 3 and torch.equal(state.tensors["w"][1], torch.tensor([3.0, 4, 5]))


@pytest.mark.parametrize(
    ("record", "tensors", "message"),
    [
        (index(), None, "is missing"),
        (index(), TENSORS[:-1] + b"!", "damaged"),  # tampered: the hash does not match
        (index(sha256=hashlib.sha256(b"junk").hexdigest()), b"junk", "cannot be read"),  # hash fits, not safetensors
        (index(file="../checkpoint-1"), TENSORS, "not a checkpoint file"),
    ],
)
def test_a_missing_or_tampered_tensors_file_raises_training_error(tmp_path, record, tensors, message):
    (tmp_path / CHECKPOINT).write_text(json.dumps(record))
    if tensors is not None:
        (tmp_path / record["file"]).write_bytes(tensors) if "/" not in record["file"] else None
    with pytest.raises(TrainingError, match=message):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "record",
    [
        index(step=float("inf")),  # OverflowError: cannot convert float infinity to integer
        {**index(), "trained_s": 10**400},  # OverflowError: int too large to convert to float
        index(file="checkpoint-\x00"),  # ValueError: embedded null byte
    ],
)
def test_a_malformed_checkpoint_index_raises_training_error(tmp_path, record):
    (tmp_path / CHECKPOINT).write_text(json.dumps(record))
    (tmp_path / FILE).write_bytes(TENSORS)
    with pytest.raises(TrainingError, match="checkpoint"):
        load_checkpoint(tmp_path)
