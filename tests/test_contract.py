"""The plugin contract in the core: manifests, declared inputs, roles, models the framework records, outputs."""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated

import numpy as np
import pytest
from PIL import Image
from probe_plugin import MANIFEST as PROBE
from probe_plugin.models import SPECS

from studio.core.inputs import IMAGE, LABELS, MASK, InputError, Inputs, InputSpec, label_colours
from studio.core.jobs import Frame, RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.outputs import Output, OutputError, OutputFolder, safe_name
from studio.core.params import Param, check_roles, mask_reach, output_size
from studio.core.plugin import PluginManifest, PluginRegistry
from studio.core.run import build_inputs, make_recipe, result_picture


@dataclass
class Params:
    variant: Annotated[int, Param("the seed, whatever its name", min=0, max=99, role="seed")] = 4
    long_side: Annotated[int, Param("the size", min=0, max=4096, role="size")] = 0


@dataclass
class TwoSeeds:
    a: Annotated[int, Param(role="seed")] = 0
    b: Annotated[int, Param(role="seed")] = 0


@dataclass
class FloatSize:
    size: Annotated[float, Param(role="size")] = 0.0


def manifest(**fields) -> PluginManifest:
    base = PluginManifest("t", "Test", params=f"{__name__}:Params", engine=f"{__name__}:engine", inputs=(IMAGE, MASK))
    return replace(base, **fields)


def engine(params: Params, inputs: Inputs, ctx: RunContext) -> Iterator[Frame]:
    ctx.models.load("probe_net")
    ctx.emit(Output("kept.json", data=b"{}"))
    ctx.emit(Output("note", kind="layer", image=np.zeros((2, 2, 3), np.uint8)))
    yield ctx.frame(1.0, inputs.image, final=True)


# Manifests


def test_a_manifest_is_checked_for_roles_inputs_and_trainer():
    manifest().check()
    with pytest.raises(TypeError, match="more than one parameter has the role 'seed'"):
        check_roles(TwoSeeds)
    with pytest.raises(TypeError, match="a size parameter must be an int"):
        check_roles(FloatSize)
    with pytest.raises(ValueError, match="declares an input twice"):
        manifest(inputs=(IMAGE, IMAGE)).check()
    with pytest.raises(ValueError, match="document input 'mask' must be of kind 'mask'"):
        manifest(inputs=(InputSpec("mask", "image"),)).check()
    with pytest.raises(ValueError, match="trainer and train_params are declared together"):
        manifest(trainer=f"{__name__}:engine").check()


def test_models_plugins_bring_join_the_catalog_and_unknown_or_clashing_ids_are_load_errors():
    registry = PluginRegistry(
        {
            "probe": PROBE,
            "unknown": manifest(id="unknown", models=("no_such_model",)),
            "clash": manifest(id="clash", model_specs="probe_plugin.models:SPECS"),
        }
    )
    specs = registry.model_catalog({})
    assert set(specs) == {"probe_net"} and specs["probe_net"] is SPECS[0]
    assert list(registry.plugins) == ["probe"]
    errors = {error.name: error.error for error in registry.errors}
    assert "models no catalog entry provides: no_such_model" in errors["unknown"]
    assert "id is already taken: probe_net" in errors["clash"]
    assert registry.users_of("probe_net") == ["probe"]


# Inputs


def test_build_inputs_loads_and_converts_each_kind(tmp_path):
    picture = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "p.png")
    grey = np.full((6, 8), 51, np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey-mask.png")
    alpha = np.zeros((6, 8, 4), np.uint8)
    alpha[..., 3] = 255
    alpha[:, :4, 3] = 0
    Image.fromarray(alpha).save(tmp_path / "alpha-mask.png")
    labels = np.array([[0, 1], [2, 1]], np.uint8).repeat(3, 0).repeat(4, 1)
    spec = manifest(inputs=(IMAGE, MASK, LABELS, InputSpec("style", "image")))

    inputs = build_inputs(spec, {"image": tmp_path / "p.png", "mask": tmp_path / "grey-mask.png", "labels": labels})
    assert inputs.image.shape == (6, 8, 4) and (inputs.image[..., :3] == picture).all()
    np.testing.assert_allclose(inputs.mask, 0.2, atol=1e-6)
    assert (inputs.labels[0, 0] == 0).all() and tuple(inputs.labels[0, 7]) == tuple(label_colours(np.uint8([1]))[0])
    assert inputs.files == {"image": str(tmp_path / "p.png"), "mask": str(tmp_path / "grey-mask.png")}

    transparent = build_inputs(spec, {"image": tmp_path / "p.png", "mask": tmp_path / "alpha-mask.png"})
    assert transparent.mask[:, :4].max() == 0 and transparent.mask[:, 4:].min() == 1, "a picture's alpha wins"
    styled = build_inputs(spec, {"image": picture, "style": tmp_path / "p.png"})
    assert styled.extra("style").shape == (6, 8, 4) and styled.mask is None
    assert set(styled.digests()) == {"image", "style"}


def test_build_inputs_explains_what_is_wrong():
    picture = np.zeros((6, 8, 3), np.uint8)
    with pytest.raises(InputError, match="Test needs picture"):
        build_inputs(manifest(), {"mask": np.zeros((6, 8), np.uint8)})
    with pytest.raises(InputError, match="Test takes no input 'labels'; its inputs: image, mask"):
        build_inputs(manifest(), {"image": picture, "labels": picture})
    with pytest.raises(InputError, match="the mask is 4x6 but the picture is 8x6; make the mask the picture's size"):
        build_inputs(manifest(), {"image": picture, "mask": np.zeros((6, 4), np.uint8)})
    canvas = build_inputs(manifest(inputs=()), {"image": picture}, (100, 100))
    assert (canvas.width, canvas.height, canvas.image) == (8, 6, None), "a picture it does not read sets the size"


def test_resized_inputs_keep_label_colours_exact_and_masks_in_range():
    labels = label_colours(np.uint8([[1, 2], [3, 4]]).repeat(8, 0).repeat(8, 1))
    mask = np.zeros((16, 16), np.float32)
    mask[:, 8:] = 1
    inputs = Inputs(16, 16, np.zeros((16, 16, 4), np.uint8), mask, labels).resized((40, 40))
    colours = {tuple(c) for c in inputs.labels.reshape(-1, 3)}
    assert colours == {tuple(c) for c in label_colours(np.uint8([1, 2, 3, 4]))}
    assert inputs.mask.min() >= 0 and inputs.mask.max() <= 1 and inputs.image.shape == (40, 40, 4)


def test_the_size_role_scales_the_output_and_the_seed_role_names_the_recipes_seed(tmp_path):
    assert output_size(300, 200, Params()) == (300, 200)
    assert output_size(300, 200, Params(long_side=600)) == (600, 400)
    inputs = Inputs(2, 2, np.zeros((2, 2, 4), np.uint8))
    recipe = make_recipe(manifest(), Params(variant=9), inputs, Frame(0, 1.0, final=True))
    assert recipe.seed == 9


# Models and outputs the framework handles


def test_the_framework_records_the_models_a_job_loaded_and_keeps_what_no_sink_took(tmp_path):
    store = ModelStore(tmp_path / "models", {spec.id: spec for spec in SPECS})
    store.install("probe_net")
    inputs = Inputs(2, 2, np.zeros((2, 2, 4), np.uint8))
    files = OutputFolder(tmp_path / "out", kinds=("file",))
    ctx = RunContext(models=store, outputs=files)
    final = drive(engine(Params(), inputs, ctx), ctx)
    assert final.info["models"] == [{"id": "probe_net", "sha256": store.record("probe_net").files["model.safetensors"]}]
    assert [w.name for w in files.written] == ["kept.json"]
    assert [(o.name, o.kind) for o in final.outputs] == [("note", "layer")]


@pytest.mark.parametrize("name", ["", ".", "..", "../x.png", "a/../../b", "/etc/passwd", "a\\b", "a//b", "-x", "a/./b"])
def test_an_output_name_that_could_leave_its_folder_is_refused(name):
    with pytest.raises(OutputError):
        safe_name(name)


def test_an_output_folder_never_writes_through_a_link_outside_it(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "frames").symlink_to(tmp_path / "elsewhere")
    folder = OutputFolder(tmp_path / "out")
    with pytest.raises(OutputError, match="outside"):
        folder.write(Output("frames/f.png", image=np.zeros((2, 2, 3), np.uint8)))
    assert not any((tmp_path / "elsewhere").iterdir())
    written = folder.write(Output("frames 2/f", image=np.zeros((2, 2, 3), np.uint8)))
    assert written.path == tmp_path / "out" / "frames 2" / "f.png" and written.name == "frames 2/f.png"


def test_an_output_holds_an_image_or_data_and_data_only_as_a_file():
    with pytest.raises(OutputError, match="either an image or file data"):
        Output("x")
    with pytest.raises(OutputError, match="its kind must be 'file'"):
        Output("x", kind="layer", data=b"1")


def test_the_reach_role_lets_a_result_change_pixels_that_near_the_mask_and_no_farther():
    @dataclass
    class Feathered:
        feather: Annotated[int, Param("pixels the fill blends into", role="reach")] = 2

    picture = np.full((9, 9, 4), 255, np.uint8)
    mask = np.zeros((9, 9), np.float32)
    mask[4, 4] = 1.0
    black = np.zeros((9, 9, 3), np.uint8)
    result = result_picture(black, Inputs(9, 9, picture, mask), mask_reach(Feathered()))
    changed = (result[..., 0] == 0).astype(int)
    y, x = np.mgrid[0:9, 0:9]
    assert np.array_equal(changed, ((y - 4) ** 2 + (x - 4) ** 2 <= 4).astype(int)), changed
    assert mask_reach(Feathered(feather=0)) == 0 and mask_reach(Params()) == 0  # no reach parameter: none
    assert (result_picture(black, Inputs(9, 9, picture, mask))[..., 0] == 0).sum() == 1


def test_a_result_as_a_file_keeps_the_inputs_transparency_and_the_picture_outside_the_mask():
    picture = np.zeros((4, 6, 4), np.uint8)
    picture[..., 2] = 200
    picture[..., 3] = 255
    picture[0, 0, 3] = 0  # erased
    mask = np.zeros((4, 6), np.float32)
    mask[:, :3] = 1.0
    inputs = Inputs(6, 4, picture, mask)
    red = np.zeros((4, 6, 3), np.uint8)
    red[..., 0] = 255  # an engine that paints everything, ignoring alpha and mask
    result = result_picture(red, inputs)
    assert result[0, 0, 3] == 0, "erased stays erased"
    assert (result[1:, :3] == [255, 0, 0, 255]).all(), "inside the mask: the result"
    assert (result[:, 3:] == picture[:, 3:]).all(), "outside the mask: the picture, untouched"
    bigger = result_picture(np.zeros((8, 12, 3), np.uint8), inputs)
    assert bigger.shape == (8, 12, 4) and (bigger[:, 8:] == picture[0, 5]).all()
