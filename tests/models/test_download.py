"""Downloads against a hub on 127.0.0.1: good file, wrong hash, dropped connections, cancel, errors."""

import hashlib
import os
import time

import pytest
from local_hub import closed_port_url

from studio.core.cancel import Cancelled
from studio.core.models.download import download, sha256_matches
from studio.core.models.errors import ModelError

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def leftovers(*folders):
    return sorted(str(p) for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def served(hub):
    hub.files["weights.bin"] = DATA
    return hub


def test_good_file_lands_verified_with_progress(served, tmp_path):
    dest = tmp_path / "cache" / "weights.bin"
    reports = []
    result = download(
        served.url("weights.bin"),
        dest,
        sha256=SHA,
        partial_dir=tmp_path / "partial",
        progress=lambda f, m: reports.append((f, m)),
    )
    assert result == dest and dest.read_bytes() == DATA
    assert leftovers(tmp_path / "partial") == []
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 1
    assert any("of 0.3 MB" in m for _, m in reports)


def test_a_hash_prefix_is_enough_and_must_match(served, tmp_path):
    dest = tmp_path / "weights.bin"
    download(served.url("weights.bin"), dest, sha256=SHA[:8].upper(), partial_dir=tmp_path / "p")
    assert dest.read_bytes() == DATA
    dest.unlink()
    wrong = format((int(SHA[:8], 16) + 1) % 16**8, "08x")
    with pytest.raises(ModelError):
        download(served.url("weights.bin"), dest, sha256=wrong, partial_dir=tmp_path / "p")
    assert not dest.exists()


def test_wrong_hash_is_refused_and_nothing_is_left(served, tmp_path):
    dest = tmp_path / "cache" / "weights.bin"
    expected = "0" * 64
    with pytest.raises(ModelError) as info:
        download(served.url("weights.bin"), dest, sha256=expected, partial_dir=tmp_path / "partial")
    message = str(info.value)
    assert served.url("weights.bin") in message and expected in message and SHA in message
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_dropped_connection_is_resumed_with_a_range_request(served, tmp_path):
    served.behaviour.drop_times = 1
    dest = tmp_path / "weights.bin"
    download(served.url("weights.bin"), dest, sha256=SHA, partial_dir=tmp_path / "p", backoff=0)
    assert dest.read_bytes() == DATA
    ranges = [r for _, r in served.behaviour.requests]
    assert ranges == [None, f"bytes={len(DATA) // 2}-"]
    assert leftovers(tmp_path / "p") == []


def test_dropped_connection_restarts_cleanly_when_the_server_ignores_ranges(served, tmp_path):
    served.behaviour.drop_times = 1
    served.behaviour.ignore_range = True
    dest = tmp_path / "weights.bin"
    download(served.url("weights.bin"), dest, sha256=SHA, partial_dir=tmp_path / "p", backoff=0)
    assert dest.read_bytes() == DATA
    assert len(served.behaviour.requests) == 2


def test_dropped_every_time_fails_and_leaves_nothing(served, tmp_path):
    served.behaviour.drop_times = 100
    dest = tmp_path / "cache" / "weights.bin"
    with pytest.raises(ModelError, match=r"after 3 tries") as info:
        download(served.url("weights.bin"), dest, sha256=SHA, partial_dir=tmp_path / "p", retries=2, backoff=0)
    assert "connection closed after" in str(info.value)
    assert len(served.behaviour.requests) == 3
    assert leftovers(tmp_path) == []


def test_retries_after_a_server_error(served, tmp_path):
    served.behaviour.fail_status, served.behaviour.fail_times = 503, 2
    dest = tmp_path / "weights.bin"
    download(served.url("weights.bin"), dest, sha256=SHA, partial_dir=tmp_path / "p", backoff=0)
    assert dest.read_bytes() == DATA and len(served.behaviour.requests) == 3


def test_missing_file_fails_at_once(served, tmp_path):
    with pytest.raises(ModelError, match="HTTP 404"):
        download(served.url("nope.bin"), tmp_path / "nope.bin", sha256=SHA, partial_dir=tmp_path / "p", backoff=5)
    assert len(served.behaviour.requests) == 1
    assert leftovers(tmp_path) == []


def test_unreachable_host_fails_fast(tmp_path):
    start = time.monotonic()
    with pytest.raises(ModelError, match="cannot connect"):
        download(closed_port_url(), tmp_path / "f.bin", sha256=SHA, partial_dir=tmp_path / "p", backoff=5)
    assert time.monotonic() - start < 2


def test_unknown_length_still_verified(served, tmp_path):
    served.behaviour.send_length = False
    reports = []
    dest = tmp_path / "weights.bin"
    download(
        served.url("weights.bin"), dest, sha256=SHA, partial_dir=tmp_path / "p", progress=lambda *a: reports.append(a)
    )
    assert dest.read_bytes() == DATA
    assert reports[0][0] == 0.0 and "MB" in reports[0][1]


def test_cancel_mid_download_leaves_nothing(served, tmp_path):
    served.behaviour.chunk_delay_s = 0.002
    seen = []
    dest = tmp_path / "cache" / "weights.bin"
    with pytest.raises(Cancelled):
        download(
            served.url("weights.bin"),
            dest,
            sha256=SHA,
            partial_dir=tmp_path / "partial",
            progress=lambda f, m: seen.append(f),
            cancelled=lambda: len(seen) >= 5,
        )
    assert 5 <= len(seen) < 50 and seen[-1] < 0.5
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_an_empty_hash_is_refused_before_any_request(served, tmp_path):
    with pytest.raises(ValueError, match="no sha256"):
        download(served.url("weights.bin"), tmp_path / "w.bin", sha256=" ", partial_dir=tmp_path / "p")
    assert served.behaviour.requests == []


def test_sha256_matches():
    full = hashlib.sha256(b"x").hexdigest()
    assert sha256_matches(full, full) and sha256_matches(full.upper(), full)
    assert sha256_matches(full[:8], full) and not sha256_matches("deadbeef", full)
    assert not sha256_matches("", full)
    assert not sha256_matches(full[:-1] + ("0" if full[-1] != "0" else "1"), full)
