"""The Training dock of the real main window: train the probe plugin's network, pause, resume, cancel, resume
from the checkpoint, and use the trained model at once."""

from importlib.metadata import EntryPoint

import pytest
from probe_cli import training_pictures
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.core.jobs import JobEvent, JobState
from studio.core.models.store import ModelStore
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.core.training import TrainContext, new_run, open_run, saved_step, train_plugin

PROBE = [EntryPoint("probe", "probe_plugin:MANIFEST", ENTRY_POINT_GROUP)]
TRAIN_TIMEOUT_MS = 90000
SMALL = {"batch": 2, "crop": 16, "sample_every": 50}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """The probe plugin's runs folder, under this test's own data home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    return tmp_path / "data-home" / "studio" / "training" / "probe"


@pytest.fixture
def pictures(tmp_path):
    return training_pictures(tmp_path / "pictures")


@pytest.fixture
def window(open_window, tmp_path, runs):
    window = open_window(discover_plugins(PROBE), ModelStore(tmp_path / "models", {}))
    window.training_dock.raise_()
    return window


def start(window, qtbot, pictures, **values):
    """Fill in the Training dock and press Start; the events of the run are collected in the list returned."""
    panel = window.training_panel
    panel.data_edit.setText(str(pictures))
    panel.form("probe").set_values({**SMALL, **values})
    events: list[JobEvent] = []
    panel.bridge.event.connect(events.append)
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.running, panel.status_label.text()
    return events


def wait_for_the_end(qtbot, panel, events: list[JobEvent]) -> None:
    """Wait until the run's last event (finished | cancelled | failed) reached both the panel and ``events``."""
    qtbot.waitUntil(lambda: bool(events) and events[-1].state is not JobState.PREVIEW, timeout=TRAIN_TIMEOUT_MS)
    assert not panel.running


def test_training_pauses_resumes_and_the_plugin_can_use_the_model_at_once(window, qtbot, pictures, runs):
    panel = window.training_panel
    assert [panel.plugin_box.itemText(i) for i in range(panel.plugin_box.count())] == ["Probe"]
    assert panel.isVisible() and not panel.resume_check.isEnabled() and "no run yet" in panel.last_run_label.text()
    models = window.models_dialog()  # open before training: it must pick up the new model
    events = start(window, qtbot, pictures, steps=1500)
    assert not panel.start_button.isEnabled() and panel.params_box.isHidden()

    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=TRAIN_TIMEOUT_MS)
    QTest.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Resume" and panel.eta_label.text() == "paused"
    qtbot.wait(300)  # frames already on their way arrive
    held = (len(events), panel.progress.value())
    qtbot.wait(800)
    assert (len(events), panel.progress.value()) == held and panel.running and held[1] < 1000

    QTest.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Pause"
    wait_for_the_end(qtbot, panel, events)
    final = events[-1]
    assert final.state is JobState.FINISHED, final.error
    assert [e.frame.info["step"] for e in events if e.frame is not None][-1] == 1500
    assert panel.progress.value() == 1000 and not panel.sample_label.pixmap().isNull()

    model_id = final.frame.info["trained_model"]
    run_dir = next(runs.iterdir())
    assert model_id == f"probe_net-{run_dir.name}" and open_run(run_dir).model_id == model_id
    assert model_id in panel.status_label.text() and model_id in window.statusBar().currentMessage()
    assert window.store.load(model_id) is not None
    assert models.table.item(models.row_of(model_id), 0).text().endswith(f"({model_id})")
    assert panel.start_button.isEnabled() and not panel.resume_check.isEnabled()
    assert f"its model is {model_id}" in panel.last_run_label.text()


def test_a_cancelled_run_keeps_its_checkpoint_and_resume_goes_on_from_it(window, qtbot, pictures, runs):
    panel = window.training_panel
    panel.queue.checkpoint_interval_s = 0.05
    events = start(window, qtbot, pictures, steps=2000, seed=7)
    qtbot.waitUntil(lambda: bool(list(runs.glob("*/checkpoint.json"))), timeout=TRAIN_TIMEOUT_MS)
    QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelling" in panel.status_label.text() and not panel.pause_button.isEnabled()
    wait_for_the_end(qtbot, panel, events)
    assert events[-1].state is JobState.CANCELLED

    (run_dir,) = runs.iterdir()
    kept = saved_step(run_dir)
    assert kept is not None and 0 < kept < 2000
    assert f"The checkpoint of step {kept} is kept" in panel.status_label.text()
    assert f"checkpoint at step {kept}" in panel.last_run_label.text()

    panel.form("probe").set_values({"steps": 5, "seed": 0})
    QTest.mouseClick(panel.resume_check, Qt.MouseButton.LeftButton)
    assert panel.resume_check.isChecked() and not panel.params_box.isEnabled()
    assert panel.form("probe").values()["steps"] == 2000 and panel.form("probe").values()["seed"] == 7  # the run's
    events.clear()
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert f"from step {kept}" in panel.status_label.text()
    wait_for_the_end(qtbot, panel, events)
    assert events[-1].state is JobState.FINISHED, events[-1].error
    steps = [e.frame.info["step"] for e in events if e.frame is not None]
    assert steps[0] > kept and steps[-1] == 2000
    assert [p.name for p in runs.iterdir()] == [run_dir.name]  # the same run went on
    model_id = events[-1].frame.info["trained_model"]
    assert window.store.load(model_id) is not None and "2000 steps" in window.store.spec(model_id).provenance


def test_a_run_that_stopped_when_its_time_was_up_trains_on_from_the_dock(window, qtbot, pictures, runs):
    manifest = discover_plugins(PROBE).get("probe")
    run = new_run(manifest, manifest.train_params_class()(**SMALL, steps=40), pictures)
    stopped = train_plugin(manifest, run, TrainContext(run.run_dir, hours=1e-9, models=window.store))
    panel = window.training_panel
    panel.refresh_last_run()
    assert "stopped when its time was up" in panel.last_run_label.text()
    assert stopped.model_id in panel.last_run_label.text() and panel.resume_check.isEnabled()

    QTest.mouseClick(panel.resume_check, Qt.MouseButton.LeftButton)
    events: list[JobEvent] = []
    panel.bridge.event.connect(events.append)
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    wait_for_the_end(qtbot, panel, events)
    assert events[-1].state is JobState.FINISHED, events[-1].error
    assert events[-1].frame.info["trained_model"] == stopped.model_id and saved_step(run.run_dir) == 40
    assert "40 steps" in window.store.spec(stopped.model_id).provenance
    assert f"finished: its model is {stopped.model_id}" in panel.last_run_label.text()
    assert not panel.resume_check.isEnabled()


def test_closing_the_window_cancels_the_training_and_leaves_it_resumable(window, qtbot, pictures, runs):
    panel = window.training_panel
    panel.queue.checkpoint_interval_s = 0.05
    start(window, qtbot, pictures, steps=100000)
    handle = panel.handle
    qtbot.waitUntil(lambda: bool(list(runs.glob("*/checkpoint.json"))), timeout=TRAIN_TIMEOUT_MS)
    assert window.doc is None, "no document to ask about: Studio starts on the welcome view"
    assert window.close()
    assert handle.wait(10) and handle.state is JobState.CANCELLED
    (run_dir,) = runs.iterdir()
    assert open_run(run_dir).model_id is None and saved_step(run_dir) > 0
