"""A model file shipped with Studio or a plugin (BundledFile): described, fetched verified, installed by the store."""

import hashlib
import re
from dataclasses import replace

import pytest
import safetensors.torch
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


def test_a_model_installed_from_weights_an_update_no_longer_ships_is_refused_until_installed_again(tmp_path):
    shipped = tmp_path / "assets" / WEIGHTS.name
    shipped.parent.mkdir()
    shipped.write_bytes(WEIGHTS.read_bytes())
    store = ModelStore(
        tmp_path / "models", {PROBE.id: replace(PROBE, sources=(BundledFile(str(shipped), WEIGHTS_SHA256),))}
    )
    store.install(PROBE.id)
    torch.manual_seed(1)
    newer = type(store.load(PROBE.id))()
    safetensors.torch.save_file(newer.state_dict(), shipped)  # the update ships other weights under the same name
    repinned = replace(PROBE, sources=(BundledFile(str(shipped), hashlib.sha256(shipped.read_bytes()).hexdigest()),))
    updated = ModelStore(tmp_path / "models", {PROBE.id: repinned})
    assert updated.status(PROBE.id) == ModelStatus.CAN_INSTALL
    stale = "probe_net in the cache is older than the weights shipped now; install it with `studio models install"
    with pytest.raises(ModelError, match=stale):
        updated.load(PROBE.id)
    with pytest.raises(ModelError, match=stale):
        updated.verify(PROBE.id)
    updated.install(PROBE.id)
    assert updated.status(PROBE.id) == ModelStatus.INSTALLED
    loaded = updated.load(PROBE.id).state_dict()
    assert all(torch.equal(value, loaded[key]) for key, value in newer.state_dict().items())
