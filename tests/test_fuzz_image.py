"""Property tests: any file handed to load_image loads as RGBA or raises ImageError with a message."""

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.core.image import ImageError, load_image

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_loads_or_refuses(data: bytes, suffix: str = ".png"):
    """Write ``data`` to a file and load it: a sane RGBA image or an ImageError, nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            loaded = load_image(path, max_pixels=4_000_000)
        except ImageError as exc:
            assert str(exc).strip(), "an ImageError without a message"
            assert "fuzz" in str(exc), f"the message does not name the file: {exc}"
            return None
        pixels = loaded.pixels
        assert pixels.ndim == 3 and pixels.shape[2] == 4, pixels.shape
        assert pixels.shape[0] >= 1 and pixels.shape[1] >= 1
        assert pixels.dtype in (np.uint8, np.uint16), pixels.dtype
        assert loaded.bit_depth == (8 if pixels.dtype == np.uint8 else 16)
        assert pixels.flags.c_contiguous
        return loaded


def encoded(array: np.ndarray, mode: str, fmt: str) -> bytes:
    image = Image.fromarray(array)
    buffer = io.BytesIO()
    (image if mode == "I;16" else image.convert(mode)).save(buffer, fmt)
    return buffer.getvalue()


def small_png() -> bytes:
    return encoded(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "RGB", "PNG")


def small_jpeg() -> bytes:
    return encoded(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "RGB", "JPEG")


def small_tiff() -> bytes:
    return encoded(np.arange(64, dtype=np.uint8).reshape(4, 4, 4), "RGBA", "TIFF")


def small_png16() -> bytes:
    return encoded(np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000, "I;16", "PNG")


VALID_FILES = {"png": small_png(), "jpeg": small_jpeg(), "tiff": small_tiff(), "png16": small_png16()}
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "png16": ".png"}


@FAST
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".png", ".jpg", ".tif", ".webp", ".bmp", ".txt"]))
def test_random_bytes_load_or_raise_image_error(data, suffix):
    check_loads_or_refuses(data, suffix)


@FAST
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"RIFF\0\0\0\0WEBP"]),
    rest=st.binary(max_size=512),
)
def test_valid_signatures_with_random_bodies_load_or_raise_image_error(prefix, rest):
    check_loads_or_refuses(prefix + rest)


@st.composite
def mutated_files(draw):
    kind = draw(st.sampled_from(sorted(VALID_FILES)))
    data = bytearray(VALID_FILES[kind])
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return kind, bytes(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_valid_files_with_mutated_bytes_load_or_raise_image_error(kind_data):
    kind, data = kind_data
    check_loads_or_refuses(data, SUFFIXES[kind])


MODES = ["L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]
FORMATS_FOR_MODE = {
    "L": ["PNG", "TIFF", "JPEG", "BMP", "WEBP"],
    "LA": ["PNG", "TIFF"],
    "P": ["PNG", "TIFF", "BMP"],
    "RGB": ["PNG", "TIFF", "JPEG", "BMP", "WEBP"],
    "RGBA": ["PNG", "TIFF", "WEBP"],
    "I;16": ["PNG", "TIFF"],
    "CMYK": ["TIFF", "JPEG"],
}


@st.composite
def pillow_images(draw):
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(FORMATS_FOR_MODE[mode]))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    else:
        bands = len(Image.new(mode, (1, 1)).getbands())
        array = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
        if mode == "P":
            image = Image.fromarray(array[..., 0], "L").convert("P")
        elif bands == 1:
            image = Image.fromarray(array[..., 0], "L")
        else:
            image = Image.frombytes(mode, (width, height), array.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return mode, fmt, (width, height), buffer.getvalue()


@FAST
@given(pillow_images())
def test_pillow_written_images_load_as_rgba(case):
    mode, fmt, size, data = case
    suffix = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "BMP": ".bmp", "WEBP": ".webp"}[fmt]
    loaded = check_loads_or_refuses(data, suffix)
    assert loaded is not None, f"a {mode} {fmt} written by Pillow was refused"
    assert loaded.pixels.shape[:2] == (size[1], size[0])
    expected_depth = 16 if mode == "I;16" else 8
    assert loaded.bit_depth == expected_depth, (mode, fmt, loaded.bit_depth)
