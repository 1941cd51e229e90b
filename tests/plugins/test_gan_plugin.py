"""The GAN breeding plugin headless: a seed's picture, a grid of children and a walk, from the engine, `studio run`
and a batch job, with a tiny style-based generator trained "here" (registered in a temporary store)."""

import dataclasses
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence
from studio_plugins.gan_breeding.engine import fit, run, styles_to_text
from studio_plugins.gan_breeding.generators import from_store
from studio_plugins.gan_breeding.lineage import render_recipe
from studio_plugins.gan_breeding.models import weights_bytes
from studio_plugins.gan_breeding.params import BreedParams
from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator

from studio.core.batch import load_job, run_job
from studio.core.image import load_image, to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.params import ParamError
from studio.core.plugin import discover_plugins

STUDIO = Path(sys.executable).parent / "studio"
TINY = "tiny_gan"
SIDE = 16  # the tiny generator's pictures


@pytest.fixture(scope="module")
def registry():
    return discover_plugins()


@pytest.fixture(scope="module")
def cache(tmp_path_factory, registry) -> Path:
    """A user cache whose model store holds a tiny style-based generator trained from rules_gan64."""
    cache = tmp_path_factory.mktemp("cache")
    store = ModelStore(cache / "studio" / "models", registry.model_catalog())
    config = GeneratorConfig(resolution=SIDE, z_dim=8, w_dim=8, mapping_layers=1, channels=8, fine_channels=4)
    trained = dataclasses.replace(store.specs["rules_gan64"], id=TINY, title="Tiny", base="rules_gan64")
    store.register_trained(trained, weights_bytes(StyleGenerator(config)))
    return cache


@pytest.fixture(scope="module")
def store(cache, registry) -> ModelStore:
    return ModelStore(cache / "studio" / "models", registry.model_catalog())


def test_a_store_that_learns_the_plugins_models_later_finds_their_trained_models_without_a_message(
    cache, registry, caplog
):
    caplog.set_level(logging.INFO)
    store = ModelStore(cache / "studio" / "models")  # Studio's catalog only, as the window's store starts
    assert TINY not in store.specs
    store.extend_catalog(registry.model_catalog(store.specs))
    assert TINY in store.specs
    assert [record.getMessage() for record in caplog.records if record.name.startswith("studio")] == []


def breed(store: ModelStore, size: int = SIDE, **values):
    """The final frame and the outputs by name of a run on a square canvas of ``size``."""
    ctx = RunContext(device="cpu", models=store)
    final = drive(run(BreedParams(generator=TINY, **values), Inputs(size, size), ctx), ctx)
    return final, {output.name: output for output in final.outputs}


def pixels(frame) -> np.ndarray:
    return to_uint8(frame.image[..., :3]).astype(np.int16)


def alone(store: ModelStore, **values) -> np.ndarray:
    """The 8-bit picture (H, W, 3) of an image-mode run's recipe, rendered alone at the generator's size: what a
    child, a walk frame or a file of the same styles holds (the image mode's own picture keeps 16 bits)."""
    return render_recipe(from_store(store, TINY), breed(store, **values)[0].info["recipe"])


def test_the_manifest_is_discovered_with_its_models(registry):
    manifest = registry.get("gan_breeding")
    assert manifest.title == "GAN breeding" and manifest.inputs == ()
    assert manifest.panel == "studio_plugins.gan_breeding.panel:BreedPanel"
    assert set(manifest.models) == {"dcgan_faces64", "rules_gan64", "gan_generator"}
    assert "research use only" in manifest.description
    assert "rules_gan64" in registry.model_catalog()


def test_a_seed_gives_the_same_pixels_and_another_seed_others(store):
    first, outputs = breed(store, seed=3)
    again, _ = breed(store, seed=3)
    other, _ = breed(store, seed=4)
    assert first.image.shape == (SIDE, SIDE, 4) and first.image.dtype == np.uint16 and not outputs
    assert np.array_equal(first.image, again.image)
    assert np.abs(pixels(first) - pixels(other)).mean() > 1
    assert first.info["models"][0]["id"] == TINY, "the load is recorded for the recipe"
    generator = from_store(store, TINY)
    assert np.array_equal(render_recipe(generator, first.info["recipe"], 16), first.image[..., :3])


def test_the_styles_parameter_renders_a_bred_picture_exactly_and_refuses_styles_of_another_shape(store):
    recipe = breed(store, seed=5)[0].info["recipe"]
    styles = np.asarray(recipe["ws"], np.float32) * np.float32(1.1)
    final, _ = breed(store, seed=3, styles=styles_to_text(styles))
    expected = render_recipe(from_store(store, TINY), recipe | {"ws": styles.tolist(), "noise_seed": 3}, 16)
    assert np.array_equal(final.image[..., :3], expected), "the styles round-trip exactly, the seed is the noise"
    assert np.array_equal(np.asarray(final.info["recipe"]["ws"], np.float32), styles)
    with pytest.raises(ParamError, match=r"styles: 3 numbers, but tiny_gan takes .* choose that one"):
        breed(store, seed=3, styles="1, 2, 3")


def test_the_picture_is_scaled_to_the_size_and_fits_a_canvas_that_is_not_square(store):
    ctx = RunContext(device="cpu", models=store)
    final = drive(run(BreedParams(generator=TINY, seed=3, size=64), Inputs(48, 24), ctx), ctx)
    assert final.image.shape == (32, 64, 4)
    assert (final.image[:, :16, 3] == 0).all() and (final.image[:, 16:48, 3] == 65535).all()


def test_an_enlarged_picture_keeps_16_bits_so_its_colour_fields_do_not_band(store):
    final, _ = breed(store, size=8 * SIDE, seed=3)
    assert final.image.dtype == np.uint16
    levels = [len(np.unique(final.image[..., channel])) for channel in range(3)]
    assert min(levels) > 256, f"{levels} levels: an 8-bit picture has 256 at most"
    eight_bits = fit(alone(store, seed=3), (8 * SIDE, 8 * SIDE))
    # the 8-bit picture is quantized before it is enlarged, this one after: they may differ by a level
    assert np.abs(to_uint8(final.image).astype(int) - eight_bits.astype(int)).max() <= 1, "the same picture, finer"


def test_children_make_a_grid_and_a_file_each_that_stray_further_with_more_mutation(store):
    distances = []
    for mutation in (0.1, 0.5, 1.0):
        final, outputs = breed(store, seed=3, mode="children", children=3, mutation=mutation)
        assert sorted(outputs) == [f"children/child-{index:02d}.png" for index in range(1, 9)]
        assert final.image.shape == (SIDE, SIDE, 4) and len(final.info["children"]) == 8
        parent = alone(store, seed=3).astype(np.int16)
        kids = np.stack([output.image[..., :3] for output in outputs.values()]).astype(np.int16)
        distances.append(np.abs(kids - parent).mean())
    assert distances[0] < distances[1] < distances[2]

    big, _ = breed(store, size=3 * 17 + 1, seed=3, mode="children", children=3)
    cell = big.image[18:34, 18:34, :3]
    assert np.array_equal(cell, alone(store, seed=3)), "the parent is the middle cell"


def test_a_walk_goes_from_one_seed_to_the_other_and_makes_a_gif_and_webp(store):
    final, outputs = breed(store, seed=3, mode="walk", walk_seed=5, walk_steps=20, easing="ease-in-out", fps=10)
    frames = [outputs[f"walk/frame-{index:03d}.png"].image for index in range(1, 21)]
    assert np.array_equal(frames[0][..., :3], alone(store, seed=3)), "batched frames render as alone"
    assert np.array_equal(frames[-1][..., :3], alone(store, seed=5))
    assert np.array_equal(final.image, frames[0])
    with Image.open(io.BytesIO(outputs["walk/walk.gif"].data)) as gif:  # equal frames merge, keeping their time
        assert sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif)) == 20 * 100
    with Image.open(io.BytesIO(outputs["walk/walk.webp"].data)) as webp:
        assert webp.size == (SIDE, SIDE) and webp.n_frames > 2


def test_a_walk_is_also_an_mp4_with_its_frames_at_its_frame_rate(store, tmp_path):
    cv2 = pytest.importorskip("cv2")
    _, outputs = breed(store, size=63, seed=3, mode="walk", walk_seed=5, walk_steps=12, fps=8)
    video = tmp_path / "walk.mp4"
    video.write_bytes(outputs["walk/walk.mp4"].data)
    capture = cv2.VideoCapture(str(video))
    try:
        assert capture.isOpened()
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12 and capture.get(cv2.CAP_PROP_FPS) == 8
        read, first = capture.read()
    finally:
        capture.release()
    assert read and first.shape == (62, 62, 3), "an odd side loses its last pixel"
    expected = outputs["walk/frame-001.png"].image[:62, :62, :3].astype(np.int16)
    last = outputs["walk/frame-012.png"].image[:62, :62, :3].astype(np.int16)
    error = np.abs(first[..., ::-1].astype(np.int16) - expected).mean()
    assert error < 8 and error < np.abs(last - expected).mean() / 2, "the first frame is the walk's first"


def test_a_walk_to_bred_styles_and_a_loop_through_them_make_a_strip_and_return_to_the_start(store):
    recipes = [breed(store, seed=seed)[0].info["recipe"] for seed in (5, 6)]
    styles = [np.asarray(recipe["ws"], np.float32) for recipe in recipes]
    final, outputs = breed(store, seed=3, mode="walk", walk_styles=styles_to_text(styles[0]), walk_steps=4)
    assert np.array_equal(
        outputs["walk/frame-004.png"].image[..., :3], alone(store, seed=3, styles=styles_to_text(styles[0]))
    )
    strip = outputs["walk/strip.png"]
    assert strip.kind == "document" and strip.image.shape == (SIDE + 2, 4 * (SIDE + 1) + 1, 3)
    assert np.array_equal(strip.image[1 : SIDE + 1, 1 : SIDE + 1], final.image[..., :3]), (
        "the strip starts at the start"
    )
    np.testing.assert_array_equal(final.info["walk_end"]["ws"], styles[0])

    _, looped = breed(
        store, seed=3, mode="walk", walk_styles=styles_to_text(np.stack(styles)), walk_loop=True, walk_steps=3
    )
    frames = [looped[f"walk/frame-{index:03d}.png"].image for index in range(1, 10)]
    assert "walk/frame-010.png" not in looped and looped["walk/strip.png"].image.shape[1] == 9 * (SIDE + 1) + 1
    stops = [alone(store, seed=3, styles=text) for text in ("", *map(styles_to_text, styles))]
    for index, stop in zip((0, 3, 6), stops, strict=True):
        assert np.array_equal(frames[index][..., :3], stop), "each picture is a frame, the start first"
    start = stops[0].astype(np.int16)
    assert np.abs(frames[-1][..., :3] - start).mean() < np.abs(frames[6][..., :3] - start).mean(), "back to the start"
    with pytest.raises(ParamError, match="walk_styles: 2 pictures, but a walk that does not loop goes to one"):
        breed(store, seed=3, mode="walk", walk_styles=styles_to_text(np.stack(styles)))
    with pytest.raises(ParamError, match=r"walk_styles: 3 numbers, but tiny_gan takes .* for each picture"):
        breed(store, seed=3, mode="walk", walk_styles="1, 2, 3")


def studio_run(*args, env=None) -> subprocess.CompletedProcess:
    command = [STUDIO, "run", "gan_breeding", "--device", "cpu", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_studio_run_breeds_a_trained_generator(cache, tmp_path):
    out = tmp_path / "kids.png"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    result = studio_run("--set", f"generator={TINY}", "--set", "seed=3", "--set", "mode=children", "--size", "64x64",
                        "-o", out, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert load_image(out).pixels.shape[:2] == (64, 64)
    assert len(list((tmp_path / "kids" / "children").glob("child-*.png"))) == 8


def test_the_installed_faces_breed_from_studio_run_with_their_notice(registry, tmp_path):
    faces = ModelStore(specs=registry.model_catalog())
    if faces.record("dcgan_faces64") is None:
        pytest.skip("dcgan_faces64 is not installed: run `studio models install dcgan_faces64`")
    out = tmp_path / "out.png"
    result = studio_run("--set", "seed=3", "--size", "128x128", "-o", out)
    assert result.returncode == 0, result.stderr
    picture = load_image(out).pixels
    assert picture.shape[:2] == (128, 128) and picture[..., :3].std() > 10
    ctx = RunContext(device="cpu", models=faces)
    final = drive(run(BreedParams(seed=3), Inputs(64, 64), ctx), ctx)
    assert "research" in final.message and final.info["notice"] == final.message


def test_a_batch_job_breeds_without_inputs(cache, registry, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        f'size = [32, 32]\noutput = "breed-{{step1.seed}}.png"\n[[steps]]\nplugin = "gan_breeding"\n'
        f'generator = "{TINY}"\nseed = [1, 2]\n'
    )
    summary = run_job(load_job(job, registry), workers=1, registry=registry, models_root=cache / "studio" / "models")
    assert sorted(summary.done) == [1, 2]
    first, second = (load_image(tmp_path / f"breed-{seed}.png").pixels for seed in (1, 2))
    assert first.shape[:2] == (32, 32) and not np.array_equal(first, second)
