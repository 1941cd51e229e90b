"""inception_v3 from the nsfwjs TF.js bundle, with the real weights when they are installed."""

import numpy as np
import pytest
import torch

from studio.core.models.store import ModelStatus, ModelStore


@pytest.fixture(scope="module")
def backbone():
    store = ModelStore()
    if store.status("inception_v3") is not ModelStatus.INSTALLED:
        pytest.skip("inception_v3 is not installed: run `studio models install inception_v3`")
    return store.load("inception_v3")


def chelsea(size=160):
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.chelsea()[:, 50:350]
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
    return torch.nn.functional.interpolate(tensor, size=(size, size), mode="area")


def test_features_are_finite_and_respond_to_the_picture(backbone):
    photo = chelsea()
    with torch.no_grad():
        on_photo = backbone(photo)
        on_grey = backbone(torch.full_like(photo, 0.5))
    assert on_photo.shape == (1, 2048) and torch.isfinite(on_photo).all()
    assert (on_photo - on_grey).abs().mean() > 0.1 * on_photo.abs().mean()


def test_gradient_ascent_raises_a_mixed_layer(backbone):
    captured = {}
    hook = backbone.Mixed_5d.register_forward_hook(lambda module, args, output: captured.update(out=output))
    try:
        image = chelsea().requires_grad_(True)
        energies = []
        for _ in range(10):
            backbone(image)
            energy = captured["out"].pow(2).mean()
            energies.append(float(energy.detach()))
            (grad,) = torch.autograd.grad(energy, image)
            with torch.no_grad():
                image += 0.02 * grad / (grad.abs().mean() + 1e-8)
                image.clamp_(0, 1)
    finally:
        hook.remove()
    assert energies[-1] > 1.5 * energies[0]


def test_the_bundle_reader_takes_data_literals_and_refuses_code():
    from studio.core.models.convert.tfjs_inception import TfjsFormatError, exported_literal

    bundle = 'wrap(function(){e.exports={format:"layers-model",n:[1,.5,-2e3],ok:!0,no:!1,s:"a\\nb"}})'
    assert exported_literal(bundle) == {"format": "layers-model", "n": [1, 0.5, -2000.0], "ok": True, "no": False,
                                        "s": "a\nb"}  # fmt: skip
    for hostile in ('e.exports={a:require("fs").writeFileSync("x","y")}', "e.exports={a:(function(){return 1})()}"):
        with pytest.raises(TfjsFormatError):
            exported_literal(hostile)
    with pytest.raises(TfjsFormatError, match="expected one"):
        exported_literal("module.exports=a()")
