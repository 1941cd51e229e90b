"""The catalog itself: every entry resolves, its taps exist, and hub-only entries accept a torchvision file."""

import pytest
import torch
from torchvision.models import googlenet, inception_v3, resnet50

from studio.core.dynamic import import_object
from studio.core.models.catalog import catalog
from studio.core.models.spec import HubFile, UserFile
from studio.core.models.store import ModelStatus, ModelStore
from studio.core.nets.vgg import vgg19_features

TORCH_SPECS = [spec for spec in catalog().values() if spec.format == "torch"]


@pytest.mark.parametrize("spec", TORCH_SPECS, ids=lambda spec: spec.id)
def test_every_entry_builds_and_its_taps_are_submodules(spec):
    model = import_object(spec.builder)()
    modules = dict(model.named_modules())
    missing = [tap for tap, path in spec.taps.items() if path not in modules]
    assert missing == []
    for source in spec.sources:
        assert source.converter is None or callable(import_object(source.converter))
        if isinstance(source, HubFile):
            assert source.url.startswith("https://") and source.url.endswith(source.filename)
            assert 8 <= len(source.sha256) <= 64 and int(source.sha256, 16) >= 0


def test_every_entry_says_where_it_comes_from_and_under_which_license():
    for spec in catalog().values():
        assert spec.license and spec.provenance and spec.size_mb > 0
        assert spec.sources, f"{spec.id} has no source"


def torchvision_file(tmp_path, state):
    path = tmp_path / "download.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("model_id", "make_state"),
    [
        ("vgg19", lambda: {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}),
        ("googlenet", lambda: googlenet(weights=None, aux_logits=True, init_weights=False).state_dict()),
        ("resnet50", lambda: resnet50(weights=None).state_dict()),
        ("inception_v3", lambda: inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()),
    ],
)
def test_hub_only_entries_import_a_torchvision_checkpoint(tmp_path, model_id, make_state):
    spec = catalog()[model_id]
    assert any(isinstance(s, UserFile) for s in spec.sources)
    store = ModelStore(tmp_path / "models")
    assert store.status(model_id) in (ModelStatus.NEEDS_INTERNET, ModelStatus.CAN_INSTALL)
    state = make_state()
    store.import_file(model_id, torchvision_file(tmp_path, state))
    assert store.status(model_id) is ModelStatus.INSTALLED
    model = store.load(model_id)
    loaded = model.state_dict()
    # (inception_v3's first convolution is rescaled on import: see the input-range test below)
    some_key = next(k for k in loaded if k.endswith("weight") and not k.startswith("Conv2d_1a_3x3"))
    original = state.get(some_key, state.get(f"features.{some_key}"))
    assert torch.equal(loaded[some_key], original)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 96, 96))
    assert torch.isfinite(out).all()


def test_hub_inception_weights_take_the_same_input_range_as_the_npm_source(tmp_path):
    from studio.core.models.convert.torchvision_hub import inception_backbone

    torch.manual_seed(0)
    original = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False).eval()
    with torch.no_grad():
        original.Conv2d_1a_3x3.bn.running_mean.normal_()
        original.Conv2d_1a_3x3.bn.running_var.uniform_(0.5, 2.0)
    state = inception_backbone({"hub.pth": torchvision_file(tmp_path, original.state_dict())})
    converted = import_object(catalog()["inception_v3"].builder)()
    converted.load_state_dict(state)
    converted.eval()
    x = torch.rand(1, 3, 75, 75)
    with torch.no_grad():
        expected = original.Conv2d_1a_3x3(2 * x - 1)
        got = converted.Conv2d_1a_3x3(x)
    assert torch.allclose(got, expected, atol=1e-4)
