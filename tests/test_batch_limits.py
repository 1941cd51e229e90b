"""Hostile job files: sweeps too large to count with fixed-width integers, globs that would walk the disk,
output names too long for the filesystem, output folders outside the job's folder."""

import time
import tracemalloc
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Annotated

import pytest
from test_batch import REGISTRY, problems_of, write_job, write_png

from studio.core.batch import JobFileError, jobfile, load_job
from studio.core.batch.jobfile import item_count
from studio.core.params import Param
from studio.core.plugin import ENTRY_POINT_GROUP, PluginManifest, discover_plugins

TINT = '[[steps]]\nplugin = "tint"\n'


def sweep(values: range) -> str:
    return "[" + ", ".join(map(str, values)) + "]"


def test_a_sweep_of_2_to_the_64_items_is_counted_exactly_and_refused(tmp_path):
    steps = "".join(f'[[steps]]\nplugin = "generative"\nseed = {sweep(range(256))}\n' for _ in range(8))
    started = time.monotonic()
    problems = problems_of(write_job(tmp_path, f'size = [8, 8]\noutput = "same.png"\n{steps}'))
    assert time.monotonic() - started < 10
    assert [p[1:] for p in problems] == [
        ("steps", "the sweeps make 18,446,744,073,709,551,616 items; split the job (at most 100,000)")
    ]
    assert item_count(3, [{"a": [1, 2], "b": [1, 2, 3]}, {}]) == 18


def test_a_large_sweep_is_refused_before_any_combination_is_built(tmp_path):
    text = (
        'size = [8, 8]\noutput = "{index}.png"\n[[steps]]\nplugin = "generative"\n'
        f"seed = {sweep(range(100))}\nmondrian_splits = {sweep(range(1, 101))}\n"
        f"ridgelines_count = {sweep(range(2, 102))}\n"
    )
    path = write_job(tmp_path, text)
    tracemalloc.start()
    try:
        problems = problems_of(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p[2] for p in problems] == ["the sweeps make 1,000,000 items; split the job (at most 100,000)"]
    assert peak < 20 * 2**20, f"{peak:,} bytes for refusing a job of 1,000,000 items"


@pytest.mark.parametrize("pattern", ["/**/*.x.png", "/*/*.png", "../../../../../../../../../../**/*.png"])
def test_a_glob_from_the_root_of_the_filesystem_is_refused_at_once(tmp_path, pattern):
    started = time.monotonic()
    problems = problems_of(write_job(tmp_path, f'inputs = ["{pattern}"]\noutput = "{{index}}.png"\n{TINT}'))
    assert time.monotonic() - started < 5
    assert (1, "inputs", f"{pattern!r} searches the whole filesystem from /; give the folder of the pictures "
            "(relative to the job file) and a pattern inside it") in problems  # fmt: skip


def test_a_glob_is_bounded_in_entries_and_time(tmp_path, monkeypatch):
    for index in range(30):
        folder = tmp_path / "photos" / f"day{index}"
        folder.mkdir(parents=True)
        write_png(folder / f"p{index}.png", size=(4, 4))
    job = write_job(tmp_path, f'inputs = "photos/**/*.png"\noutput = "{{index}}.png"\n{TINT}')
    assert len(load_job(job, REGISTRY).items) == 30
    monkeypatch.setattr(jobfile, "GLOB_MAX_ENTRIES", 40)
    message = "'photos/**/*.png' looks through more than 40 files and folders; give the folder of the pictures"
    assert problems_of(job) == [(1, "inputs", f"{message} (relative to the job file) and a pattern inside it")]
    monkeypatch.setattr(jobfile, "GLOB_MAX_ENTRIES", 1000)
    monkeypatch.setattr(jobfile, "GLOB_MAX_SECONDS", 0.0)
    assert "'photos/**/*.png' took more than 0 s to search" in problems_of(job)[0][2]


@dataclass
class TitleParams:
    title: Annotated[str, Param("A title, free text")] = "x/y"
    seed: Annotated[int, Param("Seed", min=0, max=10**9)] = 1000000000


TITLED = PluginManifest("titled", "Titled", params="test_batch_limits:TitleParams", engine="batch_plugins:run")
TITLED_REGISTRY = discover_plugins([EntryPoint("titled", "test_batch_limits:TITLED", ENTRY_POINT_GROUP)])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{index:>5000}.png", "{index:>5000}: pads wider than 255 characters, which no file name holds; shorten it"),
        ("{index:.300000000}.png", "pads wider than 255 characters"),
        ("{index:{step1.seed}}.png", "a format spec cannot hold another {field}; write the width as a number"),
        ("{index:>200}{index:>200}.png", "'{index:>200}{index:>200}.png' makes the file name '"),
        ("{step1.title}.png", "a field gives 'x/y', which holds '/' or NUL; a field may not make folders"),
        ("{index:>230}", "is 234 bytes; outputs are written under longer temporary names, so it may have at most 227"),
    ],
)
def test_an_output_name_that_no_filesystem_holds_is_refused_when_checked(tmp_path, template, message):
    job = write_job(tmp_path, f'size = [8, 8]\noutput = "{template}"\n[[steps]]\nplugin = "titled"\n')
    with pytest.raises(JobFileError) as info:
        load_job(job, TITLED_REGISTRY)
    assert any(message in p.message and p.key == "output" for p in info.value.problems), info.value.problems


def test_an_output_folder_beside_the_job_file_is_normalised_and_still_confines_the_outputs(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write_png(jobs / "a.png")
    job = load_job(write_job(jobs, f'inputs = "a.png"\noutput_dir = "../renders"\noutput = "{{stem}}.png"\n{TINT}'),
                   REGISTRY)  # fmt: skip
    assert job.output_dir == tmp_path / "renders"
    assert [(item.output, item.output_name) for item in job.items] == [(tmp_path / "renders" / "a.png", "a.png")]
    escape = f'inputs = "a.png"\noutput_dir = "../renders"\noutput = "../{{stem}}.png"\n{TINT}'
    assert problems_of(write_job(jobs, escape)) == [
        (3, "output", f"'../a.png' lies outside the output folder {tmp_path / 'renders'}")
    ]


def test_a_job_file_named_through_dot_dot_writes_beside_itself(tmp_path):
    write_png(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    write_job(tmp_path, f'inputs = "a.png"\noutput = "{{stem}}-out.png"\n{TINT}')
    job = load_job(tmp_path / "sub" / ".." / "job.toml", REGISTRY)
    assert job.output_dir == tmp_path and job.items[0].output == tmp_path / "a-out.png"
