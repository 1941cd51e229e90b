"""Plugins › Models…: a readable license column, and Import, Verify and Remove for the selected model."""

import dataclasses
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontMetrics
from PySide6.QtWidgets import QFileDialog, QMessageBox
from test_gan_import import torchscript_generator
from tiny_models import pth_bytes, spec

from studio.core.models.spec import UserFile
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.plugin import discover_plugins
from studio.qt.models_dialog import ModelsDialog

pytestmark = pytest.mark.gui

LONG_LICENSE = (
    "Apache-2.0 (the converted weights); the training data is research-only: the faces data set it was trained on "
    "may not be used commercially, see its provenance"
)


@pytest.fixture
def store(tmp_path):
    imported = dataclasses.replace(
        spec("imported", UserFile("i.pth", "a state dict of the tiny network", "tiny_models:convert_pth")),
        license=LONG_LICENSE,
    )
    other = spec("other", UserFile("o.pth", "a state dict", "tiny_models:convert_pth"))
    return ModelStore(tmp_path / "models", {"imported": imported, "other": other})


@pytest.fixture
def dialog(open_window, store, qtbot):
    window = open_window(discover_plugins([]), store, size=(1000, 700))
    action = next(a for a in window.findChildren(QAction) if a.text() == "&Models…")
    action.trigger()
    models = window.findChildren(ModelsDialog)[-1]
    assert models.isVisible()
    yield models
    models.close()


def select(dialog, model_id):
    dialog.table.selectRow(dialog.row_of(model_id))
    assert dialog.selected() == model_id


def import_through_the_button(dialog, qtbot, monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))
    assert dialog.import_button.isEnabled()
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=20_000)


def test_the_license_column_shows_the_whole_license(dialog):
    row = dialog.row_of("imported")
    rect = dialog.table.visualRect(dialog.table.model().index(row, 3))
    needed = QFontMetrics(dialog.table.font()).boundingRect(
        0, 0, rect.width() - 8, 10_000, Qt.TextFlag.TextWordWrap, LONG_LICENSE
    )
    assert needed.height() > QFontMetrics(dialog.table.font()).height()  # it takes several lines here
    assert dialog.table.rowHeight(row) >= needed.height()
    assert dialog.table.item(row, 3).text() == LONG_LICENSE


def test_import_runs_as_a_job_and_verify_and_remove_act_on_that_model_only(dialog, store, qtbot, monkeypatch, tmp_path):
    threads = []
    real_import = store.import_file
    monkeypatch.setattr(store, "import_file", lambda *a: threads.append(threading.current_thread()) or real_import(*a))
    weights = tmp_path / "downloaded.pth"
    weights.write_bytes(pth_bytes(0))
    select(dialog, "imported")
    assert not dialog.verify_button.isEnabled() and not dialog.remove_button.isEnabled()  # nothing on disk yet
    installed = []
    dialog.installed.connect(installed.append)
    import_through_the_button(dialog, qtbot, monkeypatch, weights)
    assert threads and threads[0] is not threading.main_thread()
    assert store.status("imported") is ModelStatus.INSTALLED and installed == ["imported"]
    assert dialog.table.item(dialog.row_of("imported"), 1).text() == "installed"
    assert f"Imported from {weights}" in dialog.details.toPlainText()
    select(dialog, "other")
    import_through_the_button(dialog, qtbot, monkeypatch, weights)

    select(dialog, "imported")
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=20_000)
    assert "Verified: 1 file matches the record." in dialog.details.toPlainText()
    cached = store.cached_path("imported") / "model.safetensors"
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=20_000)
    text = dialog.details.toPlainText()
    assert "Failed:" in text and str(cached) in text and "Verified" not in text
    assert dialog.table.item(dialog.row_of("imported"), 1).text() == "failed"

    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.No)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert cached.exists()  # not without a yes
    asked = []

    def yes(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert str(store.cached_path("imported")) in asked[0]
    assert not store.cached_path("imported").exists()
    assert store.status("other") is ModelStatus.INSTALLED  # the other model's files are untouched
    assert store.status("imported") is not ModelStatus.INSTALLED
    assert "Removed its files" in dialog.details.toPlainText()
    assert not dialog.remove_button.isEnabled() and dialog.import_button.isEnabled()


def test_a_file_that_is_not_the_model_is_refused_readably(dialog, store, qtbot, monkeypatch, tmp_path):
    wrong = tmp_path / "holiday.pth"
    wrong.write_bytes(b"this is not a state dict")
    select(dialog, "imported")
    import_through_the_button(dialog, qtbot, monkeypatch, wrong)
    row = dialog.row_of("imported")
    assert dialog.table.item(row, 1).text() == "failed"
    text = dialog.details.toPlainText()
    assert "Failed: imported: " in text and "holiday.pth" in text
    assert "choose i.pth: a state dict of the tiny network" in text
    assert "Traceback" not in text and store.status("imported") is not ModelStatus.INSTALLED


@pytest.fixture
def gan_dialog(open_window, tmp_path):
    catalog = discover_plugins().model_catalog()
    store = ModelStore(tmp_path / "models", {"gan_generator": catalog["gan_generator"]})
    window = open_window(discover_plugins([]), store, size=(1000, 700))
    next(a for a in window.findChildren(QAction) if a.text() == "&Models…").trigger()
    models = window.findChildren(ModelsDialog)[-1]
    yield models
    models.close()


def test_a_generator_imports_from_torchscript_under_an_id_of_its_own(gan_dialog, qtbot, monkeypatch, tmp_path):
    dialog, store = gan_dialog, gan_dialog.store
    path = torchscript_generator(tmp_path / "mine")
    filters = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: filters.append(args[3]) or (str(path), ""))
    select(dialog, "gan_generator")
    assert dialog.import_id.isEnabled() and dialog.import_id.placeholderText() == "gan_generator"
    dialog.import_id.setText("faces")
    installed = []
    dialog.installed.connect(installed.append)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.jobs, timeout=20_000)

    assert filters == ["Generator you bring: TorchScript or ONNX (*.onnx *.pt *.pth *.ts *.torchscript);;All files (*)"]
    assert installed == ["faces"] and store.spec("faces").base == "gan_generator"
    assert store.status("faces") is ModelStatus.INSTALLED and store.record("gan_generator") is None
    assert f"Imported from {path} as faces." in dialog.details.toPlainText()
    select(dialog, "faces")
    assert dialog.table.item(dialog.row_of("faces"), 1).text() == "installed"
    assert not dialog.import_id.isEnabled(), "an import under its own id is not imported again under another"


def test_a_single_file_model_offers_its_own_ending(dialog, store, qtbot, monkeypatch):
    select(dialog, "imported")
    filters = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: filters.append(args[3]) or ("", ""))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert filters == ["i.pth (*.pth);;All files (*)"] and not dialog.jobs
