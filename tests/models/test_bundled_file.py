"""A model file shipped with Studio or a plugin (BundledFile): described, fetched verified, installed by the store."""

import hashlib
import re
from dataclasses import replace

import pytest
import torch
from probe_plugin.models import SPECS, WEIGHTS, WEIGHTS_SHA256

from studio.core.models.errors import ModelError
from studio.core.models.sources import SourceAvailability, availability, describe, fetch
from studio.core.models.spec import BundledFile
from studio.core.models.store import ModelStatus, ModelStore

(PROBE,) = SPECS


def test_the_shipped_probe_weights_are_the_ones_declared():
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == WEIGHTS_SHA256


def test_a_bundled_file_is_copied_and_verified(tmp_path):
    source = BundledFile(str(WEIGHTS), WEIGHTS_SHA256)
    assert describe(source) == f"file {WEIGHTS}" and availability(source) == SourceAvailability.READY
    files = fetch(source, tmp_path / "in", partial_dir=tmp_path / "partial", model_id="probe_net")
    assert files == {WEIGHTS.name: tmp_path / "in" / WEIGHTS.name}
    assert files[WEIGHTS.name].read_bytes() == WEIGHTS.read_bytes()


def test_a_damaged_or_missing_bundled_file_is_refused_with_its_path(tmp_path):
    damaged = tmp_path / "net.safetensors"
    damaged.write_bytes(WEIGHTS.read_bytes()[:-1] + b"!")
    with pytest.raises(ModelError, match=rf"probe_net: the file {re.escape(str(damaged))} failed verification.*"
                                         "reinstall Studio or the plugin that ships it"):  # fmt: skip
        fetch(
            BundledFile(str(damaged), WEIGHTS_SHA256), tmp_path / "in", partial_dir=tmp_path / "p", model_id="probe_net"
        )
    assert not (tmp_path / "in" / damaged.name).exists()
    missing = BundledFile(str(tmp_path / "gone.safetensors"), WEIGHTS_SHA256)
    assert availability(missing) == SourceAvailability.NEEDS_IMPORT
    with pytest.raises(ModelError, match=r"gone.safetensors is missing; reinstall Studio"):
        fetch(missing, tmp_path / "in", partial_dir=tmp_path / "p", model_id="probe_net")


def test_the_store_installs_and_loads_a_bundled_model(tmp_path):
    store = ModelStore(tmp_path / "models", {PROBE.id: PROBE})
    assert store.status(PROBE.id) == ModelStatus.CAN_INSTALL
    record = store.install(PROBE.id)
    assert record.source == f"file {WEIGHTS}" and record.inputs == {WEIGHTS.name: WEIGHTS_SHA256}
    net = store.load(PROBE.id)
    torch.manual_seed(0)
    fresh = type(net)()
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in net.state_dict().items())
    broken = replace(PROBE, id="broken", sources=(BundledFile(str(WEIGHTS), "0" * 64),))
    with pytest.raises(ModelError, match="broken could not be installed"):
        ModelStore(tmp_path / "models", {"broken": broken}).install("broken")
