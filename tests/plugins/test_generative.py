"""The generative-rules plugin: streaming, determinism, cancel, parameters and discovery."""

import itertools
import threading
import time
import typing

import cv2
import numpy as np
import pytest
from PIL import Image
from studio_plugins.generative.engine import run
from studio_plugins.generative.params import GenerativeParams, LSystemPreset, Palette, Rule
from studio_plugins.generative.rules import lsystem

from studio.core.cancel import Cancelled
from studio.core.inputs import Inputs
from studio.core.jobs import Frame, RunContext, drive
from studio.core.params import ParamError, make_params, param_fields
from studio.core.plugin import discover_plugins

RULES = typing.get_args(Rule)


def render(values=None, size=(96, 64), interval=0.0) -> tuple[Frame, list[Frame]]:
    """Run the engine to the end; return the final frame and the previews."""
    params = make_params(GenerativeParams, values or {})
    ctx = RunContext(preview_interval_s=interval)
    previews: list[Frame] = []
    final = drive(run(params, Inputs(*size), ctx), ctx, previews.append)
    return final, previews


def content(image: np.ndarray) -> tuple[int, float]:
    """Distinct colours, and the share of pixels that differ from the most common colour."""
    flat = image.reshape(-1, image.shape[-1])
    colors, counts = np.unique(flat, axis=0, return_counts=True)
    return len(colors), 1.0 - counts.max() / len(flat)


@pytest.mark.parametrize("rule", RULES)
def test_final_frame_is_rgba_with_content_at_a_non_square_size(rule):
    final, _ = render({"rule": rule})
    assert final.final and final.progress == 1.0
    assert final.image.shape == (64, 96, 4) and final.image.dtype == np.uint8
    assert (final.image[..., 3] == 255).all()
    distinct, inked = content(final.image)
    assert distinct > 2
    assert inked > 0.03, "more than the background"
    assert final.info["seed"] == 1 and final.info["rule"] == rule


@pytest.mark.parametrize("rule", RULES)
def test_previews_stream_before_the_final_frame_with_increasing_progress(rule):
    final, previews = render({"rule": rule})
    assert len(previews) >= 3
    progress = [f.progress for f in previews]
    assert all(a < b for a, b in itertools.pairwise(progress))
    assert progress[0] >= 0.0 and progress[-1] < 1.0
    assert not any(f.final for f in previews)
    for frame in previews:
        assert frame.image.shape == (64, 96, 4) and frame.image.dtype == np.uint8
        assert not np.shares_memory(frame.image, final.image), "previews are owned copies"
    assert not np.array_equal(previews[0].image, final.image), "the picture grows"


@pytest.mark.parametrize("rule", RULES)
def test_same_seed_gives_the_same_pixels_and_another_seed_others(rule):
    a, _ = render({"rule": rule, "seed": 11})
    b, _ = render({"rule": rule, "seed": 11}, interval=0.1)
    c, _ = render({"rule": rule, "seed": 12})
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("rule", RULES)
def test_cancel_after_the_first_preview_raises_cancelled(rule):
    params = make_params(GenerativeParams, {"rule": rule})
    ctx = RunContext(preview_interval_s=0.0)
    seen = []

    def on_frame(frame):
        seen.append(frame)
        ctx.cancel()

    with pytest.raises(Cancelled):
        drive(run(params, Inputs(96, 64), ctx), ctx, on_frame)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "values",
    [
        {"rule": "flow_field", "flow_steps": 1000, "flow_particles": 5000},
        {"rule": "lsystem", "lsystem_preset": "fractal_plant", "lsystem_iterations": 16},
    ],
    ids=["flow_field", "lsystem"],
)
def test_cancel_from_another_thread_stops_a_big_render_quickly(values):
    params = make_params(GenerativeParams, values)
    ctx = RunContext()
    outcome = {}

    def work():
        try:
            drive(run(params, Inputs(4096, 4096), ctx), ctx)
        except Cancelled:
            outcome["cancelled_at"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.4)
    asked = time.perf_counter()
    ctx.cancel()
    thread.join(5.0)
    assert not thread.is_alive()
    assert outcome["cancelled_at"] - asked < 0.5


def test_bad_parameters_are_rejected():
    with pytest.raises(ParamError, match="rule"):
        make_params(GenerativeParams, {"rule": "bogus"})
    with pytest.raises(ParamError, match="background"):
        make_params(GenerativeParams, {"background": "red"})
    with pytest.raises(ParamError, match="out of range"):
        make_params(GenerativeParams, {"lsystem_iterations": 40})
    with pytest.raises(ParamError, match="seed"):
        make_params(GenerativeParams, {"seed": -1})


def test_every_parameter_has_help_and_a_valid_default():
    fields = param_fields(GenerativeParams)
    names = [f.name for f in fields]
    for required in ("rule", "seed", "lsystem_preset", "lsystem_iterations", "jitter", "mondrian_splits"):
        assert required in names
    for required in ("ridgelines_count", "ridge_height", "flow_particles", "flow_steps", "flow_scale"):
        assert required in names
    for required in ("line_width", "background", "ink", "palette"):
        assert required in names
    for field in fields:
        assert field.meta.help, f"{field.name} needs help text"
        if field.kind in (int, float):
            assert field.meta.min is not None and field.meta.max is not None
    defaults = make_params(GenerativeParams, {f.name: f.default for f in fields})
    assert defaults == GenerativeParams()


@pytest.mark.parametrize("preset", typing.get_args(LSystemPreset))
def test_every_lsystem_preset_draws(preset):
    final, _ = render({"rule": "lsystem", "lsystem_preset": preset}, size=(80, 80))
    distinct, inked = content(final.image)
    assert distinct > 2 and inked > 0.02


@pytest.mark.parametrize("palette", typing.get_args(Palette))
def test_every_palette_draws_every_rule(palette):
    for rule in RULES:
        final, _ = render({"rule": rule, "palette": palette, "seed": 3}, size=(48, 40))
        assert content(final.image)[0] > 2, rule


def test_custom_palette_uses_the_chosen_colours():
    values = {"rule": "mondrian", "palette": "custom", "background": "#102030", "ink": "#f0e0d0"}
    final, _ = render(values, size=(200, 150))
    pixels = final.image[..., :3].reshape(-1, 3)
    assert (pixels == (0x10, 0x20, 0x30)).all(axis=1).any()
    assert (pixels == (0xF0, 0xE0, 0xD0)).all(axis=1).any()


@pytest.mark.parametrize("size", [(16, 16), (16, 100), (100, 16), (1, 1)])
def test_tiny_and_extreme_canvases(size):
    for rule in RULES:
        final, _ = render({"rule": rule}, size=size)
        assert final.image.shape == (size[1], size[0], 4)


def structure(image: np.ndarray) -> np.ndarray:
    """Blurred, mean-free grey levels: the layout of a picture without its finest detail."""
    grey = cv2.GaussianBlur(image[..., :3].mean(axis=2).astype(np.float32), (0, 0), 2.0).ravel()
    return grey - grey.mean()


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = structure(a), structure(b)
    return float((sa * sb).sum() / np.sqrt((sa * sa).sum() * (sb * sb).sum()))


@pytest.mark.parametrize("rule", RULES)
def test_a_big_render_is_the_same_artwork_as_a_small_one(rule):
    small, _ = render({"rule": rule, "seed": 4}, size=(384, 288))
    big, _ = render({"rule": rule, "seed": 4}, size=(1152, 864))
    other, _ = render({"rule": rule, "seed": 5}, size=(384, 288))
    shrunk = np.asarray(Image.fromarray(big.image).resize((384, 288), Image.Resampling.BOX))
    same = correlation(shrunk, small.image)
    assert same > 0.99
    assert same > correlation(other.image, small.image) + 0.03


def test_small_canvases_are_drawn_larger_and_reduced():
    small, _ = render({"rule": "flow_field", "seed": 2}, size=(150, 100))
    big, _ = render({"rule": "flow_field", "seed": 2}, size=(600, 400))
    reduced = cv2.resize(big.image, (150, 100), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(small.image, reduced)


def test_lsystem_expansion_stops_before_the_string_explodes():
    text, steps = lsystem.expand(lsystem.PRESETS["fractal_plant"], 16, np.random.default_rng(0))
    assert steps < 16
    assert len(text) <= lsystem.MAX_SYMBOLS and text.count("F") <= lsystem.MAX_SEGMENTS


@pytest.mark.parametrize("rule", RULES)
def test_default_render_at_2048_completes(rule):
    final, previews = render({"rule": rule}, size=(2048, 2048), interval=0.1)
    assert final.image.shape == (2048, 2048, 4)
    assert previews, "at least one preview on the way"


def test_plugin_loads_through_its_entry_point():
    registry = discover_plugins()
    assert "generative" in registry.plugins
    assert not [e for e in registry.errors if e.name == "generative"]
    manifest = registry.get("generative")
    assert manifest.params_class() is GenerativeParams
    assert manifest.engine_function() is run
