"""16-bit documents in the window: the New Document choice, a 16-bit plugin result shown on the 8-bit canvas, saved,
reopened and exported with its 16 bits."""

from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from batch_plugins import RampParams
from PySide6.QtCore import QCoreApplication, QEvent

from studio.core.document import LayerKind
from studio.core.image import load_image, save_image
from studio.core.plugin import ENTRY_POINT_GROUP, discover_plugins
from studio.qt.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RAMP = [EntryPoint("ramp", "batch_plugins:RAMP", ENTRY_POINT_GROUP)]
SHOTS = Path("/tmp/helpers")


@pytest.fixture
def window(open_window) -> MainWindow:
    return open_window(discover_plugins(RAMP), size=(1100, 720))


def shot(widget, name: str) -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


def test_a_new_16_bit_document_from_the_welcome_view(window):
    form = window.welcome.form
    assert form.depth.currentData() == 8, "8 bits unless the artist asks for 16"
    form.width_spin.setValue(48)
    form.height_spin.setValue(32)
    form.depth.setCurrentIndex(form.depth.findData(16))
    shot(window, "sixteen_bit_welcome")
    window.welcome.create_button.click()
    doc = window.doc
    assert doc.bit_depth == 16 and doc.layers[0].bit_depth == 16
    assert tuple(doc.layers[0].pixels[0, 0]) == (65535, 65535, 65535, 65535)
    assert window.add_layer(LayerKind.RASTER).bit_depth == 16, "new layers take the document's depth"
    assert window.add_layer(LayerKind.MASK).bit_depth == 8


def test_a_16_bit_result_is_shown_saved_reopened_and_exported_with_16_bits(window, qtbot, tmp_path):
    ramp = np.linspace(0, 65535, 1024).round().astype(np.uint16)
    picture = np.empty((8, 1024, 4), np.uint16)
    picture[...] = 65535
    picture[..., 1] = ramp
    save_image(picture, tmp_path / "deep.png", bit_depth=16)
    assert window.open_path(tmp_path / "deep.png")
    assert window.doc.bit_depth == 16 and window.doc.layers[0].bit_depth == 16

    assert window.run_plugin(window.registry.plugins["ramp"], RampParams(red=0.5)) is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=30_000)
    result = window.doc.layers[-1]
    assert result.name == "Ramp" and result.bit_depth == 16
    assert len(np.unique(result.pixels[..., 1])) > 256
    for x, expected in ((0, (0, 255, 128)), (1023, (128, 0, 128))):  # the canvas shows it in 8 bits
        colour = window.canvas._image.pixelColor(x, 0)
        assert np.abs(np.subtract((colour.red(), colour.green(), colour.blue()), expected)).max() <= 1
    shot(window, "sixteen_bit_result")

    assert window.save_project_to(tmp_path / "deep.studio")
    assert window.open_path(tmp_path / "deep.studio")
    np.testing.assert_array_equal(window.doc.layers[-1].pixels, result.pixels)
    assert window.export_to(tmp_path / "out.tif")
    written = load_image(tmp_path / "out.tif")
    assert written.bit_depth == 16 and len(np.unique(written.pixels[..., 1])) > 256


def test_a_live_preview_of_a_16_bit_result_shows_its_colours(window, qtbot):
    window.welcome.create_button.click()
    manifest = window.registry.plugins["ramp"]
    window.live_preview.schedule(manifest)
    assert window.live_preview.start() is not None
    qtbot.waitUntil(lambda: not window.live_preview.running and window.canvas.has_preview, timeout=30_000)
    colour = window.canvas._preview.pixelColor(0, 0)
    assert np.abs(np.subtract((colour.red(), colour.green(), colour.blue()), (0, 255, 128))).max() <= 1
    assert window.doc.layers[0].bit_depth == 8 and len(window.doc.layers) == 1, "a preview changes nothing"
