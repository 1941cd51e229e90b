"""The plugin contract on the command line and in batch job files, with the probe plugin: a mask, a label map
and an extra picture as inputs, its own model from a file under tests/, and named outputs in the output folder."""

import json
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image
from probe_cli import probe_env, studio

from studio.core.batch import JobFileError, load_job, run_job
from studio.core.models.store import ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins

SIZE = (40, 24)


def write(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def picture(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)


def left_half_mask(size=SIZE):
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[:, : size[0] // 2] = 255
    return mask


def two_regions():
    labels = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    labels[: SIZE[1] // 2] = (255, 0, 0)
    labels[SIZE[1] // 2 :] = (0, 0, 255)
    return labels


@pytest.fixture
def env(tmp_path):
    env = probe_env(tmp_path)
    installed = studio("models", "install", "probe_net", env=env)
    assert installed.returncode == 0, installed.stderr
    return env


@pytest.fixture
def files(tmp_path):
    return {
        "input": write(tmp_path / "in" / "photo.png", picture()),
        "mask": write(tmp_path / "in" / "mask.png", left_half_mask()),
        "labels": write(tmp_path / "in" / "labels.png", two_regions()),
        "tint": write(tmp_path / "in" / "tint.png", np.full((4, 4, 3), 90, np.uint8)),
    }


def test_plugins_and_models_list_show_what_the_probe_declares_and_brings(env):
    plugins = studio("plugins", env=env)
    assert "probe" in plugins.stdout
    assert "inputs: --input FILE (picture), --mask FILE (mask), --labels FILE (label map, optional), " in plugins.stdout
    assert "--extra tint=FILE (tint picture, optional)" in plugins.stdout
    listing = studio("models", "list", env=env).stdout
    row = next(line for line in listing.splitlines() if line.startswith("probe_net"))
    assert "installed" in row and row.rstrip().endswith("probe")


def test_studio_run_reads_mask_labels_and_extra_and_writes_the_named_outputs(env, files, tmp_path):
    out = tmp_path / "out" / "result.png"
    result = studio(
        "run", "probe", "--input", files["input"], "--mask", files["mask"], "--labels", files["labels"],
        "--extra", f"tint={files['tint']}", "--set", "swatches=true", "-o", out, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    painted = np.asarray(Image.open(out).convert("RGB"))
    changed = np.any(painted != picture(), axis=2)
    assert changed[:, : SIZE[0] // 2].mean() > 0.9 and not changed[:, SIZE[0] // 2 :].any()
    folder = tmp_path / "out" / "result"
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == [
        "Region outlines.png",
        "Region swatches.png",
        "regions.json",
        "regions/region-0000ff.png",
        "regions/region-ff0000.png",
    ]
    assert f"wrote 5 more file(s) in {folder}" in result.stdout
    summary = json.loads((folder / "regions.json").read_text())
    assert [s["pixels"] for s in summary] == [SIZE[0] * SIZE[1] // 2] * 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mask": None}, "Probe needs mask (where the network repaints): add --mask FILE"),
        ({"mask": "small"}, "small-mask.png is 20x12 but the picture is 40x24; make the mask the picture's size"),
        ({"extra": "style=x.png"}, "Probe takes no input 'style'; its inputs: image, mask, labels, tint"),
        ({"labels": "missing"}, "missing.png"),
    ],
)
def test_studio_run_explains_a_missing_wrong_sized_or_unknown_input(env, files, tmp_path, change, message):
    mask = files["mask"]
    if "mask" in change:
        mask = change["mask"] and write(tmp_path / "small-mask.png", left_half_mask((20, 12)))
    labels = tmp_path / "missing.png" if "labels" in change else files["labels"]
    args = ["run", "probe", "--input", files["input"], "--labels", labels, "-o", tmp_path / "out.png"]
    args += ["--mask", mask] if mask else []
    args += ["--extra", change["extra"]] if "extra" in change else []
    result = studio(*args, env=env)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr
    assert not (tmp_path / "out.png").exists()


PROBE = [EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP)]


def job_folder(tmp_path, mask_key='mask = "masks/{stem}.png"'):
    for seed in (1, 2):
        write(tmp_path / "job" / "photos" / f"p{seed}.png", picture(seed))
        write(tmp_path / "job" / "masks" / f"p{seed}.png", left_half_mask())
    write(tmp_path / "job" / "labels.png", two_regions())
    path = tmp_path / "job" / "probe.toml"
    path.write_text(
        'inputs = ["photos/*.png"]\noutput = "{stem}-probe.png"\n\n'
        f'[[steps]]\nplugin = "probe"\n{mask_key}\nlabels = "labels.png"\nvariant = 3\n'
    )
    return path


def test_a_batch_job_reads_per_item_masks_and_records_every_named_output(tmp_path):
    registry = discover_plugins(PROBE)
    models = tmp_path / "models"
    ModelStore(models, registry.model_catalog()).install("probe_net")
    job = load_job(job_folder(tmp_path), registry)
    masks = tmp_path / "job" / "masks"
    assert [item.steps[0].inputs["mask"] for item in job.items] == [str(masks / "p1.png"), str(masks / "p2.png")]
    summary = run_job(job, registry=registry, models_root=models)
    assert summary.exit_code == 0
    manifest = json.loads(job.manifest_path.read_text())
    entry = manifest["items"]["p1-probe.png"]
    assert sorted(entry["outputs"]) == ["Region outlines.png", "regions.json", "regions/region-0000ff.png",
                                        "regions/region-ff0000.png"]  # fmt: skip
    folder = job.output_dir / "p1-probe"
    for name, sha in entry["outputs"].items():
        assert (folder / name).is_file() and len(sha) == 64
    painted = np.asarray(Image.open(job.output_dir / "p1-probe.png").convert("RGB"))
    assert not np.any(painted[:, SIZE[0] // 2 :] != picture(1)[:, SIZE[0] // 2 :])

    (folder / "regions.json").write_text("tampered")
    again = run_job(load_job(job.path, registry), registry=registry, models_root=models)
    assert len(again.done) == 1 and len(again.skipped) == 1, "only the tampered item renders"
    assert json.loads((folder / "regions.json").read_text())[0]["colour"] == "#0000ff"


def test_a_job_file_naming_a_missing_mask_or_an_unknown_field_is_refused_before_anything_runs(tmp_path):
    registry = discover_plugins(PROBE)
    with pytest.raises(JobFileError, match=r"masks/nope-p1.png.*is not a file"):
        load_job(job_folder(tmp_path, 'mask = "masks/nope-{stem}.png"'), registry)
    with pytest.raises(JobFileError, match=r"\{size\} is not a field of an input file's name"):
        load_job(job_folder(tmp_path, 'mask = "masks/{size}.png"'), registry)
    with pytest.raises(JobFileError, match=r"Probe needs its mask: add mask = \"FILE\" to this step"):
        load_job(job_folder(tmp_path, ""), registry)
