"""Property tests: an output name is refused with OutputError, or its file lands inside the output folder."""

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.outputs import Output, OutputError, OutputFolder, safe_name

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = ["..", ".", "/", "\\", "a", "b.png", " ", "~", "$HOME", "\x00", "\n", "C:", "//", "é", "ß", "frames", "-"]
names = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5).map("/".join),
    st.text(st.characters(codec="utf-8"), min_size=150, max_size=210),
    st.text(st.sampled_from("aé字😀 .-_(),+/\n"), min_size=1, max_size=210),
    # folders of repeated letters (one to four bytes each in UTF-8), maybe ending in a space, dot or newline
    st.lists(
        st.builds(
            lambda letter, count, end: letter * count + end,
            st.sampled_from(["a", "é", "字", "😀"]),
            st.integers(1, 110),
            st.sampled_from(["", "", "\n", " ", ".", ".png"]),
        ),
        min_size=1,
        max_size=3,
    ).map("/".join),
)
ALLOWED_PART = re.compile(r"[\w][\w .,+()\-]*")


def inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def files_under(folder: Path) -> set[Path]:
    return {Path(root) / name for root, _, files in os.walk(folder) for name in files}


@FAST
@given(name=names, as_image=st.booleans())
def test_an_output_name_is_refused_or_written_inside_the_folder(name, as_image):
    with tempfile.TemporaryDirectory() as parent:
        folder = Path(parent) / "out"
        folder.mkdir()
        try:
            if as_image:
                output = Output(name, "layer", image=np.zeros((2, 3, 4), np.uint8))
            else:
                output = Output(name, data=b"data")
            written = OutputFolder(folder).write(output)
        except OutputError as exc:
            assert str(exc).strip()
            assert files_under(Path(parent)) == set(), "a refused output left a file behind"
            return
        assert inside(folder, written.path), f"{name!r} was written to {written.path}"
        assert written.path.is_file()
        assert files_under(Path(parent)) == {written.path}
        assert written.name == output.filename


@FAST
@given(name=names)
def test_safe_name_refuses_or_returns_a_relative_path_without_dot_dot(name):
    try:
        path = safe_name(name)
    except OutputError as exc:
        assert str(exc).strip()
        return
    assert not path.is_absolute()
    assert ".." not in path.parts and "." not in path.parts
    assert "\\" not in name and "\x00" not in name
    assert all(ALLOWED_PART.fullmatch(part) for part in path.parts), f"{name!r} has a character not allowed"
    assert all(len(part.encode("utf-8")) <= 255 for part in path.parts), f"{name!r} is too long for a file system"


# Regressions found by the properties above.


def test_a_name_ending_in_a_newline_is_refused():
    # `$` matched before a trailing newline, so "a\n" passed as a plain name.
    for name in ("a\n", "frames\n/a.png", "a.png\n"):
        with pytest.raises(OutputError, match="plain relative path"):
            safe_name(name)


def test_a_name_too_long_for_the_file_system_is_refused_not_a_write_error(tmp_path):
    # 85 three-byte letters are 255 bytes: under MAX_NAME characters, over the file system's limit.
    name = "字" * 85
    with pytest.raises(OutputError, match="longer than 240 bytes"):
        OutputFolder(tmp_path).write(Output(name, data=b"x"))
    assert list(tmp_path.iterdir()) == []
    OutputFolder(tmp_path).write(Output("字" * 80, data=b"x"))  # 240 bytes still fit
