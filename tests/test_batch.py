"""Batch rendering: job-file validation with lines and keys, sweeps, resuming after SIGKILL, Ray == local."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.core.batch import BatchError, BatchEvent, JobFileError, load_job, run_job
from studio.core.image import load_image
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

REGISTRY = discover_plugins(
    [
        EntryPoint("generative", "studio_plugins.generative:MANIFEST", ENTRY_POINT_GROUP),
        EntryPoint("tint", "batch_plugins:MANIFEST", ENTRY_POINT_GROUP),
    ]
)
SLOW_FLOW = 'rule = "flow_field"\nflow_particles = 6000\nflow_steps = 400'  # about 0.5 s per 64 px item


def write_png(path: Path, size=(40, 30), colour=(200, 40, 10)) -> Path:
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[...] = colour
    pixels[::3, ::2] = (10, 220, 90)
    Image.fromarray(pixels).save(path)
    return path


def write_job(folder: Path, text: str, name: str = "job.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(JobFileError) as info:
        load_job(path, REGISTRY)
    assert all(str(path) in line for line in str(info.value).splitlines())
    return [(p.line, p.key, p.message) for p in info.value.problems]


# --------------------------------------------------------------------------- validation


BROKEN = {
    "syntax error": ('size = [64, 64]\noutput = "a.png"\n[[steps]\nplugin = "generative"\n', 3, "syntax"),
    "unknown plugin": (
        'size = [64, 64]\noutput = "{index}.png"\n\n[[steps]]\nplugin = "generative"\n\n[[steps]]\n'
        'plugin = "no_such_plugin"\n',
        8,
        "steps[2].plugin",
    ),
    "unknown parameter in the second step table": (
        'size = [64, 64]\noutput = "{index}.png"\n[[steps]]\nplugin = "generative"\nseed = 1\n'
        '[[steps]]\nplugin = "generative"\n# seed = 1 in a comment\nsede = 2\n',
        9,
        "steps[2].sede",
    ),
    "bad value in a multi-line sweep, after a multi-line string": (
        'size = [64, 64]\nnote = """\nrule = "no"\n"""\noutput = "{index}.png"\n[[steps]]\nplugin = "generative"\n'
        'rule = [\n  "mondrian",\n  "spirals",\n]\nseed = 3\n',
        8,
        "steps[1].rule",
    ),
    "out-of-range value": (
        'size = [64, 64]\noutput = "{index}.png"\n[[steps]]\nplugin = "generative"\n"seed" = [1, -5]\n',
        5,
        "steps[1].seed",
    ),
    "missing input": (
        'inputs = ["photos/*.png"]\noutput = "{stem}.png"\n[[steps]]\nplugin = "generative"\n',
        1,
        "inputs",
    ),
    "template key that does not exist": (
        'size = [64, 64]\n\noutput = "{stem}-{step1.styel}.png"\n[[steps]]\nplugin = "generative"\n',
        3,
        "output",
    ),
    "two items on one output": (
        'size = [64, 64]\noutput = "{step1.rule}.png"\n[[steps]]\nplugin = "generative"\nrule = "mondrian"\n'
        "seed = [1, 2]\n",
        2,
        "output",
    ),
    "bad export setting": (
        'size = [64, 64]\noutput = "{index}.tif"\n[[steps]]\nplugin = "generative"\n[export]\ndpi = 300\n'
        "bit_depth = 12\n",
        7,
        "export.bit_depth",
    ),
    "unknown print preset": (
        'size = [64, 64]\noutput = "{index}.tif"\n[[steps]]\nplugin = "generative"\n[print]\npreset = "A0"\n',
        6,
        "print.preset",
    ),
    "a parameter that is not a finite number": (
        'inputs = "a.png"\noutput = "{index}.png"\n[[steps]]\nplugin = "tint"\namount = [0.5, nan]\n',
        5,
        "steps[1].amount",
    ),
    "missing guide file": (
        'inputs = "a.png"\noutput = "{index}.png"\n[[steps]]\nplugin = "tint"\nguide = ["a.png", "gone.png"]\n',
        5,
        "steps[1].guide",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_job_file_names_the_line_and_the_key(tmp_path, case):
    write_png(tmp_path / "a.png")
    text, line, key = BROKEN[case]
    problems = problems_of(write_job(tmp_path, text))
    assert (line, key) in [(p[0], p[1]) for p in problems], problems


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        'inputs = "missing.png"\noutput = "{nope}.png"\ncolour = 1\n[[steps]]\nplugin = "generative"\n'
        'rule = "spirals"\n[export]\nquality = 500\n'
    )
    problems = problems_of(write_job(tmp_path, text))
    assert [(p[0], p[1]) for p in problems] == [
        (1, "inputs"),
        (2, "output"),
        (3, "colour"),
        (6, "steps[1].rule"),
        (8, "export.quality"),
    ]
    assert "spirals" in problems[3][2] and "mondrian" in problems[3][2]


# --------------------------------------------------------------------------- sweeps and names


def test_the_sweep_is_the_cross_product_in_order_with_names_from_the_template(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("b", "a"):
        write_png(tmp_path / "photos" / f"{name}.png")
    guides = [write_png(tmp_path / f"guide{i}.png", colour=(i * 80, 0, 0)) for i in range(3)]
    text = (
        'inputs = ["photos/*.png"]\noutput_dir = "out"\n'
        'output = "{stem}-{step1.guide}-{step1.amount}-{index:03d}.tif"\n'
        '[[steps]]\nplugin = "tint"\nguide = ["guide0.png", "guide1.png", "guide2.png"]\namount = [0.25, 1.0]\n'
    )
    job = load_job(write_job(tmp_path, text), REGISTRY)
    assert len(job.items) == 2 * 3 * 2
    names = [item.output_name for item in job.items]
    assert names[:3] == ["a-guide0-0.25-001.tif", "a-guide0-1.0-002.tif", "a-guide1-0.25-003.tif"]
    assert names[-1] == "b-guide2-1.0-012.tif"
    assert all(item.output.parent == tmp_path / "out" for item in job.items)
    first = job.items[0].steps[0].params
    assert first["guide"] == str(guides[0]) and first["amount"] == 0.25  # relative paths resolved to the job file

    summary = run_job(job, workers=1, registry=REGISTRY)
    assert sorted(summary.done) == list(range(1, 13)) and not summary.failed
    tinted = load_image(job.items[1].output).pixels  # amount 1.0: every pixel becomes the guide's mean colour
    guide_mean = np.asarray(Image.open(guides[0]).convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
    assert tinted.shape == (30, 40, 4) and np.array_equal(
        tinted[..., :3], np.broadcast_to(np.rint(guide_mean), (30, 40, 3))
    )
    manifest = json.loads(job.manifest_path.read_text())
    entry = manifest["items"]["a-guide0-1.0-002.tif"]
    assert entry["recipe"]["steps"][0]["params"]["amount"] == 1.0
    assert set(entry["inputs"]) == {str(tmp_path / "photos" / "a.png"), str(guides[0])}


def test_a_changed_guide_image_renders_its_items_again(tmp_path):
    write_png(tmp_path / "a.png")
    guide = write_png(tmp_path / "guide.png", colour=(0, 0, 0))
    text = 'inputs = "a.png"\noutput = "{stem}-{step1.amount}.png"\n[[steps]]\nplugin = "tint"\n'
    text += 'guide = "guide.png"\namount = [0.5, 1.0]\n'
    path = write_job(tmp_path, text)
    run_job(load_job(path, REGISTRY), workers=1, registry=REGISTRY)
    write_png(guide, colour=(255, 255, 255))
    summary = run_job(load_job(path, REGISTRY), workers=1, registry=REGISTRY)
    assert sorted(summary.done) == [1, 2] and not summary.skipped
    assert int(load_image(tmp_path / "a-1.0.png").pixels[..., :3].min()) > 200  # tinted towards white now


# --------------------------------------------------------------------------- resuming


def generative_job(
    folder: Path, count: int, extra: str = "", name: str = "job.toml", output_dir: str = "out", output: str = ""
) -> Path:
    output = output or "item-{step1.seed}.png"
    text = (
        f'size = [64, 48]\noutput_dir = "{output_dir}"\noutput = "{output}"\n'
        f'[[steps]]\nplugin = "generative"\nseed = {list(range(1, count + 1))}\n{extra}\n'
    )
    return write_job(folder, text, name)


def test_a_batch_killed_with_sigkill_resumes_without_redoing_finished_items(tmp_path):
    path = generative_job(tmp_path, 12, SLOW_FLOW)
    manifest_path = tmp_path / "out" / "job.manifest.json"
    command = [sys.executable, "-m", "studio.cli", "render", str(path), "--workers", "1"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if manifest_path.exists():
                items = json.loads(manifest_path.read_text())["items"]
                if sum(entry["status"] == "done" for entry in items.values()) >= 4:
                    break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL, "the batch finished before it could be killed"

    items = json.loads(manifest_path.read_text())["items"]
    finished = {name for name, entry in items.items() if entry["status"] == "done"}
    assert 4 <= len(finished) < 12
    before = {name: (tmp_path / "out" / name).stat() for name in finished}

    result = subprocess.run([*command[:-2], "--workers", "2"], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{12 - len(finished)} done, {len(finished)} skipped, 0 failed" in result.stdout

    items = json.loads(manifest_path.read_text())["items"]
    assert len(items) == 12 and all(entry["status"] == "done" for entry in items.values())
    for name, entry in items.items():
        output = tmp_path / "out" / name
        assert load_image(output).pixels.shape == (48, 64, 4)
        assert entry["sha256"] == __import__("hashlib").sha256(output.read_bytes()).hexdigest()
    for name, stat in before.items():
        now = (tmp_path / "out" / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), f"{name} was rendered again"
    assert not list((tmp_path / "out").glob(".*.part")), "a partial file was left behind"


def test_a_corrupt_output_is_detected_and_rendered_again(tmp_path, capsys):
    job = load_job(generative_job(tmp_path, 3), REGISTRY)
    run_job(job, workers=1, registry=REGISTRY)
    assert main(["render", str(job.path), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "3 items" in listing and "    3  done     64x48 canvas -> generative -> item-3.png" in listing
    good = job.items[1].output.read_bytes()
    job.items[1].output.write_bytes(good[: len(good) // 2])  # truncated, as a crashed copy would leave it
    untouched = job.items[0].output.stat().st_mtime_ns

    summary = run_job(job, workers=1, registry=REGISTRY)
    assert summary.done == [2] and sorted(summary.skipped) == [1, 3]
    assert job.items[1].output.read_bytes() == good
    assert job.items[0].output.stat().st_mtime_ns == untouched

    job.items[2].output.unlink()
    summary = run_job(job, workers=1, registry=REGISTRY)
    assert summary.done == [3] and job.items[2].output.is_file()


def test_one_failing_item_is_reported_and_the_rest_are_done(tmp_path):
    for name in ("a", "c"):
        write_png(tmp_path / f"{name}.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature and nothing else
    text = 'inputs = "*.png"\noutput_dir = "out"\noutput = "{stem}.png"\n[[steps]]\nplugin = "generative"\n'
    path = write_job(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "studio.cli", "render", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "2 done, 0 skipped, 1 failed" in result.stdout
    assert "b.png" in result.stderr and "corrupt" in result.stderr
    assert load_image(tmp_path / "out" / "a.png").pixels.shape == (30, 40, 4)
    assert load_image(tmp_path / "out" / "c.png").pixels.shape == (30, 40, 4)
    assert not (tmp_path / "out" / "b.png").exists()
    manifest = json.loads((tmp_path / "out" / "job.manifest.json").read_text())
    assert manifest["items"]["b.png"]["status"] == "failed" and "b.png" in manifest["items"]["b.png"]["error"]


def test_outputs_this_job_did_not_make_are_not_overwritten(tmp_path):
    job = load_job(generative_job(tmp_path, 2), REGISTRY)
    job.output_dir.mkdir()
    job.items[0].output.write_bytes(b"someone else's picture")
    with pytest.raises(BatchError, match="--force"):
        run_job(job, workers=1, registry=REGISTRY)
    assert job.items[0].output.read_bytes() == b"someone else's picture"
    summary = run_job(job, workers=1, force=True, registry=REGISTRY)
    assert sorted(summary.done) == [1, 2] and load_image(job.items[0].output).pixels.shape == (48, 64, 4)


def test_a_bad_job_file_exits_2_before_anything_runs(tmp_path, capsys):
    path = generative_job(tmp_path, 2, 'rule = "spirals"')
    assert main(["render", str(path)]) == 2
    assert f"{path}:7: steps[1].rule" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_byte_identical_outputs_to_the_local_engine(tmp_path, ray_cluster):
    extra = 'rule = ["ridgelines", "mondrian"]\n[export]\nformat = "png"\ndpi = 150'
    name = "{step1.rule}-{step1.seed}.png"
    local = load_job(generative_job(tmp_path, 3, extra, "local.toml", "local", name), REGISTRY)
    remote = load_job(generative_job(tmp_path, 3, extra, "ray.toml", "ray", name), REGISTRY)
    assert len(local.items) == 6
    assert run_job(local, workers=1, registry=REGISTRY).exit_code == 0
    summary = run_job(remote, engine="ray", registry=REGISTRY)
    assert sorted(summary.done) == list(range(1, 7)) and not summary.failed
    assert run_job(remote, engine="ray", registry=REGISTRY).skipped == list(range(1, 7))
    for a, b in zip(local.items, remote.items, strict=True):
        assert np.array_equal(load_image(a.output).pixels, load_image(b.output).pixels), a.output_name
    for a, b in zip(local.items, remote.items, strict=True):
        assert a.output.read_bytes() == b.output.read_bytes(), a.output_name


def test_ray_tasks_report_when_they_start_and_how_far_they_are(tmp_path, ray_cluster):
    job = load_job(generative_job(tmp_path, 4, "", "ray.toml", "ray", "{index}.png"), REGISTRY)
    events: list[BatchEvent] = []
    assert run_job(job, engine="ray", registry=REGISTRY, on_event=events.append).exit_code == 0
    for item in job.items:
        kinds = [(e.kind, e.fraction) for e in events if e.item is not None and e.item.index == item.index]
        assert kinds[0] == ("started", 0.0) and ("progress", 0.0) in kinds, kinds
        assert kinds.index(("progress", 0.0)) < kinds.index(next(k for k in kinds if k[0] == "done")), kinds
