"""Property tests: mask, label-map and extra input pictures load or raise InputError/ImageError with a message."""

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.core.image import ImageError
from studio.core.inputs import IMAGE, LABELS, MASK, InputError, InputSpec, read_input
from studio.core.plugin import PluginManifest
from studio.core.run import build_inputs

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EXTRA = InputSpec("style", "image", title="Style picture")
EXTRA_MASK = InputSpec("hint", "mask")
EXTRA_LABELS = InputSpec("style_labels", "labels")
MANIFEST = PluginManifest(
    id="fuzz",
    title="Fuzz",
    params="probe_plugin.engine:ProbeParams",
    engine="probe_plugin.engine:run",
    inputs=(IMAGE, MASK, LABELS, EXTRA, EXTRA_MASK, EXTRA_LABELS),
)
NO_PICTURE = PluginManifest(
    id="fuzz_canvas",
    title="Fuzz canvas",
    params="probe_plugin.engine:ProbeParams",
    engine="probe_plugin.engine:run",
    inputs=(MASK, LABELS, EXTRA),
)


def png_bytes(width: int, height: int, mode: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    array = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
    if bands == 1:
        image = Image.fromarray(array[..., 0], "L")
    else:
        image = Image.frombytes(mode, (width, height), array.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


pictures = st.builds(
    png_bytes,
    st.integers(1, 10),
    st.integers(1, 10),
    st.sampled_from(["L", "LA", "RGB", "RGBA"]),
    st.integers(0, 2**32 - 1),
)
file_contents = st.one_of(pictures, st.binary(max_size=256), pictures.map(lambda b: b[: len(b) // 2]))


def assert_readable(exc):
    assert isinstance(exc, InputError | ImageError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


def check_kind(array, kind):
    if kind == "mask":
        assert array.ndim == 2 and array.dtype == np.float32
        assert np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0
    elif kind == "labels":
        assert array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8
    else:
        assert array.ndim == 3 and array.shape[2] == 4 and array.dtype == np.uint8


@FAST
@given(kind=st.sampled_from(["image", "mask", "labels"]), data=file_contents)
def test_read_input_loads_or_raises_its_errors(kind, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.png"
        path.write_bytes(data)
        try:
            array = read_input(InputSpec("x", kind), path)
        except Exception as exc:
            assert_readable(exc)
            return
        check_kind(array, kind)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    manifest=st.sampled_from([MANIFEST, NO_PICTURE]),
    given_files=st.dictionaries(
        st.sampled_from(["image", "mask", "labels", "style", "hint", "style_labels", "unknown"]),
        st.one_of(st.none(), file_contents),
        max_size=5,
    ),
    canvas=st.one_of(st.none(), st.tuples(st.integers(1, 10), st.integers(1, 10))),
    missing=st.booleans(),
)
def test_build_inputs_loads_or_raises_its_errors(manifest, given_files, canvas, missing):
    with tempfile.TemporaryDirectory() as folder:
        provided = {}
        for name, data in given_files.items():
            if data is None:
                provided[name] = None
                continue
            path = Path(folder) / f"{name}.png"
            if not missing:
                path.write_bytes(data)
            provided[name] = path
        try:
            inputs = build_inputs(manifest, provided, canvas)
        except Exception as exc:
            assert_readable(exc)
            return
    declared = {spec.name: spec for spec in manifest.inputs}
    assert inputs.width >= 1 and inputs.height >= 1
    for name in ("mask", "labels"):
        array = getattr(inputs, name)
        if array is not None:
            check_kind(array, declared[name].kind)
            assert array.shape[:2] == (inputs.height, inputs.width)
    if inputs.image is not None:
        check_kind(inputs.image, "image")
        assert inputs.image.shape[:2] == (inputs.height, inputs.width)
    for name, array in inputs.extras.items():
        check_kind(array, declared[name].kind)


@FAST
@given(
    kind=st.sampled_from(["image", "mask", "labels"]),
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
    dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int64, np.bool_]),
)
def test_arrays_of_any_shape_build_or_raise_input_error(kind, shape, dtype):
    name = {"image": "image", "mask": "mask", "labels": "labels"}[kind]
    array = np.zeros(shape, dtype)
    try:
        inputs = build_inputs(MANIFEST, {name: array}, (4, 3))
    except Exception as exc:
        assert_readable(exc)
        return
    value = inputs.image if name == "image" else getattr(inputs, name)
    check_kind(value, kind)
