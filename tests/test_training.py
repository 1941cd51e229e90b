"""The long-job lane: atomic checkpoints, resume, pause, cancel, the trained model in the store, `studio train`."""

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from probe_cli import STUDIO, plugin_site, probe_env, studio, training_pictures
from probe_plugin import MANIFEST

from studio.cli import main
from studio.core import training
from studio.core.cancel import Cancelled
from studio.core.jobs import JobQueue, JobState
from studio.core.models.store import ModelStore
from studio.core.plugin import PluginManifest, PluginRegistry, discover_plugins
from studio.core.training import (
    CHECKPOINT,
    TrainContext,
    TrainingError,
    TrainingQueue,
    load_checkpoint,
    new_run,
    open_run,
    saved_step,
    train_plugin,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def pictures(tmp_path):
    return training_pictures(tmp_path / "pictures")


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "models", PluginRegistry({"probe": MANIFEST}).model_catalog())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu9"], "--device: device 'tpu9' is not available on this machine; use one of: cpu"),
        (["--hours", "nan"], "must be finite numbers more than 0"),
        (["--checkpoint-every", "inf"], "must be finite numbers more than 0"),
    ],
)
def test_train_refuses_a_bad_device_or_time_before_it_starts(tmp_path, capsys, args, message):
    assert main(["train", "probe", "--data", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def probe_run(tmp_path, pictures, name="run", **values):
    params = MANIFEST.train_params_class()(**{"steps": 30, "batch": 2, "crop": 16, "sample_every": 10, **values})
    return new_run(MANIFEST, params, pictures, tmp_path / name)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


# -- checkpoints ----------------------------------------------------------------------------------------------------


def test_a_checkpoint_is_saved_and_read_back_and_replaces_the_older_one(tmp_path):
    ctx = TrainContext(tmp_path / "run")
    ctx.save_checkpoint({"w": torch.arange(6.0).reshape(2, 3)}, {"step": 3, "loss": 0.5})
    ctx.save_checkpoint({"w": torch.ones(2, 3)}, {"step": 5, "loss": 0.25})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint-00000005.safetensors", CHECKPOINT]
    state = TrainContext(tmp_path / "run").resume_state()
    assert state is not None and state.step == 5 and state.meta == {"step": 5, "loss": 0.25}
    assert torch.equal(state.tensors["w"], torch.ones(2, 3))
    assert TrainContext(tmp_path / "empty").resume_state() is None
    with pytest.raises(ValueError, match="step"):
        ctx.save_checkpoint({"w": torch.ones(1)}, {"loss": 1.0})


class Crash(BaseException):
    """The process dying at a chosen moment."""


def test_a_crash_between_the_two_writes_leaves_the_previous_checkpoint_usable(tmp_path, monkeypatch):
    ctx = TrainContext(tmp_path / "run")
    ctx.save_checkpoint({"w": torch.zeros(4)}, {"step": 3})
    real = training.atomic_write

    def crash_on_the_index(path, **kwargs):
        if Path(path).name == CHECKPOINT:
            raise Crash()
        return real(path, **kwargs)

    monkeypatch.setattr(training, "atomic_write", crash_on_the_index)
    with pytest.raises(Crash):
        ctx.save_checkpoint({"w": torch.ones(4)}, {"step": 8})
    assert (tmp_path / "run" / "checkpoint-00000008.safetensors").exists()  # written, never committed
    state = load_checkpoint(tmp_path / "run")
    assert state is not None and state.step == 3 and torch.equal(state.tensors["w"], torch.zeros(4))
    monkeypatch.setattr(training, "atomic_write", real)
    ctx.save_checkpoint({"w": torch.full((4,), 2.0)}, {"step": 9})
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-00000009.safetensors"]


def test_a_damaged_or_missing_checkpoint_is_a_clear_error(tmp_path):
    run_dir = tmp_path / "run"
    path = TrainContext(run_dir).save_checkpoint({"w": torch.zeros(64)}, {"step": 4})
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TrainingError) as info:
        TrainContext(run_dir).resume_state()
    message = str(info.value)
    assert str(path) in message and "sha256" in message and "--resume" in message and "start the run again" in message
    path.unlink()
    with pytest.raises(TrainingError, match=rf"{re.escape(str(path))} is missing.*--resume --run-dir"):
        load_checkpoint(run_dir)
    (run_dir / CHECKPOINT).write_text("{not json")
    with pytest.raises(TrainingError, match=rf"checkpoint index {re.escape(str(run_dir / CHECKPOINT))} is damaged"):
        saved_step(run_dir)


# -- time, pause and cancel --------------------------------------------------------------------------------------


def test_checkpoints_fall_due_and_time_runs_up_on_running_time_only(tmp_path):
    clock = FakeClock()
    ctx = TrainContext(tmp_path, checkpoint_interval_s=60, hours=0.5, clock=clock)
    assert not ctx.checkpoint_due() and not ctx.time_up()
    clock.now += 60
    assert ctx.checkpoint_due()
    ctx.save_checkpoint({"w": torch.zeros(1)}, {"step": 1})
    assert not ctx.checkpoint_due()
    ctx.pause()
    clock.now += 3600  # an hour paused counts for nothing
    ctx.resume_running()
    assert not ctx.checkpoint_due() and not ctx.time_up() and ctx.elapsed() == 60
    clock.now += 1740
    assert ctx.time_up() and ctx.checkpoint_due()
    assert not TrainContext(tmp_path, clock=clock).time_up()  # no --hours: never


def test_pause_blocks_the_job_until_it_resumes_and_cancel_still_stops_it(tmp_path):
    ctx = TrainContext(tmp_path)
    outcome = []

    def job():
        try:
            ctx.check_cancelled()
            outcome.append("went on")
        except Cancelled:
            outcome.append("cancelled")

    for stop in (ctx.resume_running, ctx.cancel):
        ctx.pause()
        assert ctx.paused
        worker = threading.Thread(target=job)
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and outcome == ([] if stop == ctx.resume_running else ["went on"])
        stop()
        worker.join(5)
        assert not worker.is_alive()
    assert outcome == ["went on", "cancelled"] and ctx.paused


# -- training to the end ------------------------------------------------------------------------------------------


def test_cancel_keeps_the_checkpoint_and_resume_ends_where_an_unbroken_run_ends(tmp_path, pictures, store):
    run = probe_run(tmp_path, pictures)

    def cancel_at_step_12(frame):
        if frame.info.get("step") == 12:
            ctx.cancel()

    ctx = TrainContext(run.run_dir, checkpoint_interval_s=0, preview_interval_s=0, models=store)
    with pytest.raises(Cancelled):
        train_plugin(MANIFEST, run, ctx, cancel_at_step_12)
    assert saved_step(run.run_dir) == 12
    assert sorted(p.name for p in (run.run_dir / "samples").iterdir()) == ["step-000010.png"]
    steps = []
    ctx = TrainContext(run.run_dir, checkpoint_interval_s=0, preview_interval_s=0, models=store)
    trained = train_plugin(MANIFEST, open_run(run.run_dir), ctx, lambda frame: steps.append(frame.info["step"]))
    assert steps == list(range(13, 31)) and trained.steps == 30
    assert trained.model_id == "probe_net-run" and open_run(run.run_dir).model_id == "probe_net-run"

    straight = probe_run(tmp_path, pictures, "straight")
    unbroken = train_plugin(MANIFEST, straight, TrainContext(straight.run_dir, models=store))
    resumed, reference = store.load(trained.model_id), store.load(unbroken.model_id)
    for (name, value), other in zip(resumed.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(value, other), name


def test_a_run_whose_time_ran_out_keeps_its_model_and_trains_on_when_resumed(tmp_path, pictures, store):
    run = probe_run(tmp_path, pictures)
    clock = FakeClock()

    def time_runs_out_at_step_12(frame):
        if frame.info.get("step") == 12:
            clock.now += 3600.0

    ctx = TrainContext(run.run_dir, hours=0.5, preview_interval_s=0, clock=clock, models=store)
    stopped = train_plugin(MANIFEST, run, ctx, time_runs_out_at_step_12)
    assert stopped.steps == 12 and "12 steps" in stopped.spec.provenance
    assert "stopped when its time was up" in stopped.spec.provenance
    assert open_run(run.run_dir).time_up and open_run(run.run_dir).resumable

    resumed = train_plugin(MANIFEST, open_run(run.run_dir), TrainContext(run.run_dir, models=store))
    assert resumed.model_id == stopped.model_id and resumed.steps == 30
    assert "30 steps" in store.spec(resumed.model_id).provenance and "finished" in resumed.spec.provenance
    assert not open_run(run.run_dir).time_up and not open_run(run.run_dir).resumable


def test_the_trained_model_is_a_store_entry_a_new_store_knows(tmp_path, pictures, store):
    run = probe_run(tmp_path, pictures, "evening", seed=7)
    trained = train_plugin(MANIFEST, run, TrainContext(run.run_dir, models=store))
    assert trained.model_id == "probe_net-evening" and store.load(trained.model_id) is not None
    again = ModelStore(store.root, PluginRegistry({"probe": MANIFEST}).model_catalog())
    spec = again.spec("probe_net-evening")
    assert spec.base == "probe_net" and spec.builder == again.spec("probe_net").builder
    assert str(pictures) in spec.provenance and "30 steps" in spec.provenance and "seed 7" in spec.provenance
    net = again.load("probe_net-evening")
    trained_weights = store.load("probe_net-evening").state_dict()
    assert all(torch.equal(v, trained_weights[k]) for k, v in net.state_dict().items())
    assert "probe_net-evening" not in ModelStore(store.root).specs  # without the plugin, its base is unknown


def no_model(params, data, ctx):
    yield ctx.frame(1.0, final=True)


def test_a_trainer_that_brings_no_model_is_a_clear_error(tmp_path, pictures, store):
    manifest = PluginManifest("bad", "Bad", MANIFEST.params, MANIFEST.engine, trainer="test_training:no_model",
                              train_params=MANIFEST.train_params)  # fmt: skip
    run = probe_run(tmp_path, pictures)
    with pytest.raises(TrainingError, match=r'Bad ended without its model.*Output\("model.safetensors"'):
        train_plugin(manifest, run, TrainContext(run.run_dir, models=store))


def test_the_training_lane_pauses_while_interactive_jobs_run(tmp_path, pictures, store):
    lane = TrainingQueue(store)
    interactive = JobQueue()
    events = []
    finished = threading.Event()

    def listen(event):
        events.append(event)
        if event.state != JobState.PREVIEW:
            finished.set()

    handle = lane.train(MANIFEST, probe_run(tmp_path, pictures), listen, device="cpu")
    handle.pause()
    quick = interactive.submit(lambda ctx: iter([ctx.frame(1.0, final=True)]), lambda event: None, device="cpu")
    assert quick.wait(10) and quick.state == JobState.FINISHED
    assert not finished.wait(0.3) and handle.paused and not any(e.frame and e.frame.final for e in events)
    handle.resume_running()
    assert finished.wait(60)
    final = events[-1]
    assert final.state == JobState.FINISHED, final.error
    assert final.frame.info["trained_model"] == "probe_net-run" and store.load("probe_net-run") is not None
    lane.shutdown()
    interactive.shutdown()


# -- the command line -----------------------------------------------------------------------------------------------


def test_studio_train_killed_then_resumed_registers_a_model_a_new_store_loads(tmp_path, pictures):
    env = probe_env(tmp_path)
    runs = tmp_path / "data-home" / "studio" / "training" / "probe"
    command = ["train", "probe", "--checkpoint-every", "0.2"]
    endless = ["--data", str(pictures), "--set", "steps=1000000", "--set", "crop=16"]
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        process = subprocess.Popen([STUDIO, *command, *endless], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not list(runs.glob(f"*/{CHECKPOINT}")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, log.read_text()
        assert list(runs.glob(f"*/{CHECKPOINT}")), "no checkpoint in 90 s"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    (run_dir,) = runs.iterdir()
    assert saved_step(run_dir) > 0 and open_run(run_dir).model_id is None

    resumed = studio(*command, "--resume", "--hours", "0.002", env=env)
    assert resumed.returncode == 0, resumed.stderr
    start = int(re.search(r"resuming .* from step (\d+)", resumed.stdout).group(1))
    model_id = re.search(r"^model: (\S+)$", resumed.stdout, re.MULTILINE).group(1)
    assert start > 0 and model_id == f"probe_net-{run_dir.name}"
    assert json.loads((run_dir / "run.json").read_text()).items() >= {"model_id": model_id, "time_up": True}.items()
    assert saved_step(run_dir) > start  # it trained on from there, until its time was up

    sys.path.insert(0, str(plugin_site(tmp_path)))
    try:
        registry = discover_plugins()
    finally:
        sys.path.remove(str(plugin_site(tmp_path)))
    fresh = ModelStore(tmp_path / "cache-home" / "studio" / "models", registry.model_catalog())
    spec = fresh.spec(model_id)
    assert spec.base == "probe_net" and f"{saved_step(run_dir)} steps" in spec.provenance
    assert "stopped when its time was up" in spec.provenance
    assert isinstance(fresh.load(model_id), torch.nn.Module)
    listing = studio("models", "list", env=env)
    assert re.search(rf"^{re.escape(model_id)}\s+installed\s.*\bprobe$", listing.stdout, re.MULTILINE), listing.stdout

    stopped = saved_step(run_dir)  # its time was up, not its steps: a resume trains on and replaces the model
    again = studio(*command, "--resume", "--hours", "0.001", env=env)
    assert again.returncode == 0 and f"its model {model_id} is replaced when it ends again" in again.stdout
    assert saved_step(run_dir) > stopped
    renewed = ModelStore(tmp_path / "cache-home" / "studio" / "models", registry.model_catalog()).spec(model_id)
    assert f"{saved_step(run_dir)} steps" in renewed.provenance

    copied = shutil.copytree(run_dir, run_dir.with_name("copied"))  # a copy trains on as a run of its own
    resumed_copy = studio(*command, "--resume", "--run-dir", str(copied), "--hours", "0.001", env=env)
    assert resumed_copy.returncode == 0 and "its model is registered when it ends again" in resumed_copy.stdout
    assert re.search(r"^model: (\S+)$", resumed_copy.stdout, re.MULTILINE).group(1) == "probe_net-copied"


def test_a_run_that_trained_all_its_steps_is_not_resumed(tmp_path, pictures):
    env, run_dir = probe_env(tmp_path), tmp_path / "run"
    trained = studio("train", "probe", "--data", pictures, "--set", "steps=2", "--run-dir", run_dir, env=env)
    assert trained.returncode == 0, trained.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["time_up"] is False and saved_step(run_dir) == 2
    again = studio("train", "probe", "--resume", "--run-dir", run_dir, env=env)
    assert again.returncode == 0 and f"finished already; its model is {record['model_id']}" in again.stdout
    assert saved_step(run_dir) == 2


def test_ctrl_c_exits_130_and_keeps_the_checkpoint(tmp_path, pictures):
    run_dir = tmp_path / "interrupted"
    args = ["train", "probe", "--data", pictures, "--run-dir", run_dir, "--set", "steps=1000000", "--checkpoint-every",
            "0.2"]  # fmt: skip
    # A shell without job control starts background commands with SIGINT ignored, and exec keeps that; Ctrl+C in a
    # terminal reaches a process whose SIGINT is the default, so studio is started with the default.
    with_default_sigint = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                           "os.execv(sys.argv[1], sys.argv[1:])")  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", with_default_sigint, STUDIO, *map(str, args)],
                               env=probe_env(tmp_path), stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (run_dir / CHECKPOINT).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    step = saved_step(run_dir)
    assert process.returncode == 130 and step is not None and step > 0, err
    assert f"cancelled; the checkpoint of step {step} is kept" in err and f"--resume --run-dir {run_dir}" in err
    assert load_checkpoint(run_dir).step == step


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--data FOLDER is required"),
        (["--data", "PICTURES", "--set", "steps=0"], "bad parameter for probe: steps"),
        (["--resume"], "no run of probe to resume"),
        (["--data", "PICTURES", "--address", "x:1"], "--address and --workers are for --engine ray"),
    ],
)
def test_studio_train_rejects_bad_requests_with_exit_code_2(tmp_path, pictures, args, message):
    args = [str(pictures) if arg == "PICTURES" else arg for arg in args]
    result = studio("train", "probe", *args, env=probe_env(tmp_path))
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_studio_train_reads_a_recorded_configuration_that_set_overrides(tmp_path, pictures):
    config = tmp_path / "training.toml"
    config.write_text("steps = 0\ncrop = 16\n")
    result = studio("train", "probe", "--data", pictures, "--config", config, env=probe_env(tmp_path))
    assert result.returncode == 2 and "bad parameter for probe: steps" in result.stderr, result.stderr
    run_dir = tmp_path / "run"
    args = ["--data", pictures, "--config", config, "--set", "steps=2", "--run-dir", run_dir]
    result = studio("train", "probe", *args, env=probe_env(tmp_path))
    assert result.returncode == 0, result.stderr
    params = json.loads((run_dir / "run.json").read_text())["params"]
    assert params["steps"] == 2 and params["crop"] == 16
    config.write_text("steps = [")
    result = studio("train", "probe", "--data", pictures, "--config", config, env=probe_env(tmp_path))
    assert result.returncode == 2 and f"{config}:" in result.stderr and "TOML" in result.stderr, result.stderr


def test_studio_train_on_ray_trains_and_registers(tmp_path, pictures, store, monkeypatch, capsys):
    import ray

    env = probe_env(tmp_path)
    for name in ("PYTHONPATH", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, env[name])  # Ray's workers inherit them
    monkeypatch.syspath_prepend(str(plugin_site(tmp_path)))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        code = main(["train", "probe", "--engine", "ray", "--data", str(pictures), "--run-dir", str(tmp_path / "ray"),
                     "--set", "steps=6", "--set", "sample_every=3", "--set", "crop=16"])  # fmt: skip
    finally:
        ray.shutdown()
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "model: probe_net-ray" in out.out and saved_step(tmp_path / "ray") == 6
    assert sorted(p.name for p in (tmp_path / "ray" / "samples").iterdir()) == ["step-000003.png", "step-000006.png"]
    fresh = ModelStore(tmp_path / "cache-home" / "studio" / "models", store.specs)
    assert isinstance(fresh.load("probe_net-ray"), torch.nn.Module)
