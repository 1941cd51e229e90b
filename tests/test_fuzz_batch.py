"""Property tests: any job file handed to load_job loads as a job or raises JobFileError with a message."""

import datetime as dt
import math
import re
import tempfile
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.batch import JobFileError, load_job
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

REGISTRY = discover_plugins(
    [
        EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP),
        EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP),
    ]
)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOP_KEYS = ["inputs", "size", "output", "output_dir", "steps", "print", "export"]
STEP_KEYS = ["plugin", "mask", "labels", "seed", "rule", "tint", "image", "variant", "size", "palette", "background"]
WORDS = ["generative", "probe", "pic.png", "*.png", "mask.png", "{stem}.png", "{index}.png", "{index:03d}.tif",
         "{step1.seed}-{index}.png", "flow_field", "mondrian", "a4", "in", "png", "tiff", "../out", "/abs.png",
         "{", "}", "{stem!r}", "{step9.x}", "1x1", "8x8", "", "{index:>99999999999}.png", "~nouser/x.png",
         "{input_index:s}", "{stem[0]}", "masks/{stem}.png", "a\x00.png"]  # fmt: skip


def toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\' or not (0x20 <= ord(char) < 0x7F):
            out.append(f"\\U{ord(char):08X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return toml_string(key)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(data: dict) -> str:
    return "".join(f"{toml_key(key)} = {toml_value(value)}\n" for key, value in data.items())


scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(-3, 70000),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(WORDS),
    st.dates(),
    st.times(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(STEP_KEYS + TOP_KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
steps = st.dictionaries(
    st.sampled_from(STEP_KEYS),
    st.sampled_from(["generative", "probe"]) | values,
    max_size=5,
).map(lambda table: {"plugin": "generative", **table} if "plugin" not in table else table)
documents = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.sampled_from(["pic.png", "*.png", ["pic.png", "mask.png"], "missing.png", "notes.txt"]) | values,
        "size": st.tuples(st.integers(-1, 70000), st.integers(-1, 70000)).map(list) | values,
        "output": st.sampled_from(WORDS) | values,
        "output_dir": st.sampled_from(["out", "", "../elsewhere", "/tmp"]) | values,
        "steps": st.lists(steps, max_size=3) | values,
        "print": st.dictionaries(
            st.sampled_from(["preset", "width", "height", "unit", "bleed", "wrap", "ppi", "fit", "fill", "unsharp"]),
            values,
            max_size=4,
        )
        | values,
        "export": st.dictionaries(
            st.sampled_from(["format", "bit_depth", "quality", "dpi", "icc", "compression"]), values, max_size=3
        )
        | values,
    },
) | st.dictionaries(st.text(max_size=8), values, max_size=4)


def check_loads_or_refuses(text: str):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pic.png").write_bytes(b"not checked by load_job")
        (root / "mask.png").write_bytes(b"")
        (root / "notes.txt").write_text("x")
        path = root / "job.toml"
        path.write_text(text, encoding="utf-8")
        try:
            job = load_job(path, REGISTRY)
        except JobFileError as exc:
            assert exc.problems, "a JobFileError without problems"
            assert str(exc).strip()
            assert all(problem.message.strip() and problem.line >= 1 for problem in exc.problems), exc.problems
            return None
        assert job.items, "a job without items"
        for item in job.items:
            assert item.output.is_relative_to(job.output_dir), item.output
            assert "\x00" not in str(item.output), item.output
            assert item.steps
        return job


@FAST
@given(documents)
def test_random_job_documents_load_or_raise_job_file_error(data):
    check_loads_or_refuses(toml_document(data))


@FAST
@given(st.text(max_size=200) | st.lists(st.sampled_from(["[[steps]]", "[print]", "a = 1", "plugin = 'probe'",
                                                          'output = "{index}.png"', "size = [8, 8]", "[", "="]),
                                        max_size=8).map("\n".join))  # fmt: skip
def test_random_text_loads_or_raises_job_file_error(text):
    check_loads_or_refuses(text)


def test_a_valid_job_loads():
    document = {"size": [8, 8], "output": "{index}.png", "steps": [{"plugin": "generative", "seed": [1, 2]}]}
    job = check_loads_or_refuses(toml_document(document))
    assert job is not None and len(job.items) == 2


@pytest.mark.parametrize("data", [b"\xff\xfe not utf-8", b'a = "\x00"'])
def test_unreadable_bytes_raise_job_file_error(tmp_path, data):
    path = tmp_path / "job.toml"
    path.write_bytes(data)
    with pytest.raises(JobFileError):
        load_job(path, REGISTRY)


# Regressions found by the properties above (each escaped load_job as another exception, or loaded a bad job).

BASE = {"size": [8, 8], "output": "{index}.png", "steps": [{"plugin": "generative"}]}
PROBE_STEP = {"inputs": "pic.png", "output": "{index}.png"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**BASE, "size": [float("inf"), 1]}, "must be [width, height]"),  # OverflowError
        ({**BASE, "output": "{index:>99999999999}.png"}, "pads wider than 255"),  # MemoryError
        ({**PROBE_STEP, "steps": [{"plugin": "probe", "mask": "{stem:>999999999999}"}]}, "pads wider than 255"),
        ({**PROBE_STEP, "steps": [{"plugin": "probe", "mask": "{input_index:s}"}]}, "cannot be filled"),  # ValueError
        ({**PROBE_STEP, "steps": [{"plugin": "probe", "mask": "~nouser/x"}]}, "is not a file"),  # RuntimeError
        ({**BASE, "output": "a\x00.png"}, "NUL"),  # loaded, then failed when writing
        ({**BASE, "output_dir": "out\x00"}, "must be a folder name"),
    ],
)
def test_bad_job_files_raise_job_file_error(tmp_path, document, message):
    (tmp_path / "pic.png").write_bytes(b"x")
    path = tmp_path / "job.toml"
    path.write_text(toml_document(document), encoding="utf-8")
    with pytest.raises(JobFileError, match=re.escape(message)):
        load_job(path, REGISTRY)
