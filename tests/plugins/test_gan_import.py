"""A generator an artist brings: a TorchScript or ONNX file with its JSON sidecar, imported into the model store
(``studio models import gan_generator FILE``), hash-checked on every load, and bred from by id like any model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from studio_plugins.gan_breeding import generators
from studio_plugins.gan_breeding.engine import fit
from studio_plugins.gan_breeding.generators import from_store, open_file
from studio_plugins.gan_breeding.models import IMPORTED_ID
from test_gan_breeding import onnx_generator
from torch import nn

from studio import cli
from studio.core.image import load_image
from studio.core.models.errors import ModelError
from studio.core.models.store import ModelStore
from studio.core.nets.onnx_runtime import CPU_PROVIDER, GPU_PROVIDER
from studio.core.plugin import discover_plugins

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDIO = Path(sys.executable).parent / "studio"
SIDECAR = {"latent_size": 4, "output_range": [-1, 1]}


class Faces(nn.Module):
    """Latents (N, 4) to pictures (N, 3, 8, 8) in -1..1."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).reshape(-1, 3, 8, 8)


def torchscript_generator(folder: Path, sidecar: dict = SIDECAR) -> Path:
    torch.manual_seed(0)
    folder.mkdir(exist_ok=True)
    torch.jit.script(Faces()).save(folder / "faces.pt")
    (folder / "faces.json").write_text(json.dumps(sidecar))
    return folder / "faces.pt"


@pytest.fixture(scope="module")
def catalog():
    return discover_plugins().model_catalog()


@pytest.fixture
def store(tmp_path, catalog) -> ModelStore:
    return ModelStore(tmp_path / "cache" / "studio" / "models", catalog)


def test_an_imported_torchscript_generator_breeds_from_studio_run(tmp_path, store):
    path = torchscript_generator(tmp_path / "mine")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    imported = subprocess.run([STUDIO, "models", "import", IMPORTED_ID, path], capture_output=True, text=True,
                              env=env, timeout=120, check=False)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert store.record(IMPORTED_ID).files.keys() == {"faces.pt", "faces.json"}
    out = tmp_path / "out.png"
    command = [STUDIO, "run", "gan_breeding", "--device", "cpu", "--set", f"generator={IMPORTED_ID}", "--set",
               "seed=3", "--size", "32x32", "-o", out]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    own = open_file(path)
    assert from_store(store, IMPORTED_ID).hash == own.hash, "a recipe names the same generator either way"
    ws = own.styles(own.sample_latents(np.random.default_rng(3), 1))
    expected = fit(own.render(ws, 3, 0.7, 16)[0], (32, 32))
    saved = load_image(out)
    # the picture keeps 16 bits in the file; torch in another process may round a level or two differently
    assert saved.bit_depth == 16 and np.abs(saved.pixels.astype(int) - expected.astype(int)).max() <= 2


def test_a_generator_with_a_mapping_is_imported_with_it_and_keeps_its_levels(tmp_path, store):
    folder = tmp_path / "styled"
    folder.mkdir()
    torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(12, 3 * 4 * 4), nn.Unflatten(1, (3, 4, 4)))).save(
        folder / "styled.pt"
    )
    torch.jit.script(nn.Linear(4, 4)).save(folder / "map.pt")
    sidecar = {"latent_size": 4, "output_range": [-1, 1], "num_ws": 3, "w_dim": 4, "mapping": "map.pt"}
    (folder / "styled.json").write_text(json.dumps(sidecar))
    store.import_file(IMPORTED_ID, folder / "styled.pt")
    assert store.record(IMPORTED_ID).files.keys() == {"styled.pt", "styled.json", "map.pt"}
    generator = from_store(store, IMPORTED_ID)
    assert (generator.space, generator.num_ws, generator.size) == ("w", 3, (4, 4))
    assert generator.levels == {"coarse": slice(0, 1), "middle": slice(1, 2), "fine": slice(2, 3)}


def test_several_generators_live_side_by_side_under_their_own_ids(tmp_path, store, catalog, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_model_store", lambda registry=None: ModelStore(store.root, catalog))
    first = torchscript_generator(tmp_path / "first")
    second = torchscript_generator(tmp_path / "second", {"latent_size": 4, "output_range": [0, 1]})
    assert cli.main(["models", "import", IMPORTED_ID, str(first), "--as", "mine"]) == 0
    assert cli.main(["models", "import", IMPORTED_ID, str(second), "--as", "other"]) == 0
    assert "other: imported from" in capsys.readouterr().out
    reopened = ModelStore(store.root, catalog)
    assert reopened.spec("mine").base == IMPORTED_ID and reopened.record(IMPORTED_ID) is None
    assert from_store(reopened, "mine").hash == open_file(first).hash != from_store(reopened, "other").hash
    assert cli.main(["models", "import", IMPORTED_ID, str(first), "--as", "dcgan_faces64"]) == 1
    assert "dcgan_faces64 is already the id of another model" in capsys.readouterr().err
    assert cli.main(["models", "import", IMPORTED_ID, str(first), "--as", "../up"]) == 1
    assert "'../up' cannot be a model id" in capsys.readouterr().err
    reopened.remove("mine")
    assert "mine" not in ModelStore(store.root, catalog).specs


def test_an_imported_generator_is_opened_on_the_device_asked_for(tmp_path, store, monkeypatch):
    store.import_file(IMPORTED_ID, torchscript_generator(tmp_path / "mine"))
    asked = []
    opened = generators._torchscript
    monkeypatch.setattr(generators, "_torchscript", lambda path, device: asked.append(device) or opened(path, "cpu"))
    from_store(store, IMPORTED_ID, "cpu")
    from_store(store, IMPORTED_ID, "meta")  # never used to render here: the device only has to reach the file
    assert asked == ["cpu", "meta"]


def test_an_imported_onnx_generator_runs_on_cuda_when_asked_and_onnxruntime_has_it(tmp_path, store, monkeypatch):
    path = tmp_path / "artist.onnx"
    onnx_generator(path, np.random.default_rng(0).standard_normal((4, 3 * 6 * 6)).astype(np.float32), 6)
    path.with_suffix(".json").write_text(json.dumps(SIDECAR))
    store.import_file(IMPORTED_ID, path)
    asked = []
    session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [GPU_PROVIDER, CPU_PROVIDER])
    monkeypatch.setattr(
        onnxruntime,
        "InferenceSession",
        lambda file, providers: asked.append(providers) or session(file, providers=[CPU_PROVIDER]),
    )
    for device in ("cpu", "cuda", "cuda:1", "mps"):
        from_store(store, IMPORTED_ID, device)
    assert asked == [[CPU_PROVIDER], [GPU_PROVIDER, CPU_PROVIDER], [GPU_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]]


@pytest.mark.parametrize("name", ["faces.pt", "faces.json"])
def test_a_tampered_imported_file_is_refused(tmp_path, store, catalog, name):
    store.import_file(IMPORTED_ID, torchscript_generator(tmp_path / "mine"))
    cached = store.cached_path(IMPORTED_ID) / name
    cached.write_bytes(cached.read_bytes() + b" ")
    with pytest.raises(ModelError, match=rf"{name} failed verification") as refused:
        from_store(ModelStore(store.root, catalog), IMPORTED_ID)
    assert IMPORTED_ID in str(refused.value)


def test_an_onnx_generator_imports_and_a_wrong_sidecar_is_refused_at_import(tmp_path, store, monkeypatch, capsys):
    path = tmp_path / "artist.onnx"
    onnx_generator(path, np.random.default_rng(0).standard_normal((4, 3 * 6 * 6)).astype(np.float32), 6)
    path.with_suffix(".json").write_text(json.dumps(SIDECAR))
    store.import_file(IMPORTED_ID, path)
    assert from_store(store, IMPORTED_ID).size == (6, 6)
    installed = store.record(IMPORTED_ID)

    path.with_suffix(".json").write_text('{"latent_size": 5, "output_range": [-1, 1]}')
    monkeypatch.setattr(cli, "_model_store", lambda registry=None: store)
    assert cli.main(["models", "import", IMPORTED_ID, str(path)]) == 1
    message = capsys.readouterr().err
    assert f"{IMPORTED_ID}: {path} takes inputs of shape ['N', 4]" in message
    assert "artist.json says ['N', 5]: correct latent_size" in message
    assert store.record(IMPORTED_ID) == installed, "the earlier import is untouched"


@pytest.mark.parametrize(
    ("sidecar", "expected"),
    [
        (None, r"cannot read the generator sidecar .*faces\.json"),
        ('{"latent_size": 7, "output_range": [-1, 1]}',
         r"faces\.pt does not work as its sidecar faces\.json describes it \(RuntimeError: mat1 and mat2 shapes"),
        ('{"latent_size": 4, "output_range": [0, 255]}', r"faces\.json is wrong \(output_range must be"),
        ('{"latent_size": 4, "output_range": [-1, 1], "num_ws": 3, "w_dim": 4, "mapping": "gone.pt"}',
         r"gone\.pt \(named by .*faces\.json\) does not exist"),
    ],
)  # fmt: skip
def test_a_torchscript_generator_with_a_wrong_sidecar_is_refused_at_import(tmp_path, store, sidecar, expected):
    path = torchscript_generator(tmp_path / "mine")
    if sidecar is None:
        path.with_suffix(".json").unlink()
    else:
        path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ModelError, match=expected) as refused:
        store.import_file(IMPORTED_ID, path)
    assert "\n" not in str(refused.value) and store.record(IMPORTED_ID) is None


def test_a_pickled_file_is_refused_at_import_and_never_loaded(tmp_path, store):
    folder = tmp_path / "mine"
    folder.mkdir()
    torch.save(nn.Linear(4, 4), folder / "pickled.pt")
    (folder / "pickled.json").write_text(json.dumps(SIDECAR))
    with pytest.raises(ModelError, match=r"pickled\.pt is not a TorchScript file.*torch\.jit\.save"):
        store.import_file(IMPORTED_ID, folder / "pickled.pt")
    assert store.record(IMPORTED_ID) is None
