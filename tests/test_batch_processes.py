"""The processes a render starts: they die with it, and a Ray address is checked before Ray is started.

Real `studio` processes and real Ray instances, on 127.0.0.1 only; every wait is bounded and every
process a test starts is killed in its teardown. Linux only: processes are found through /proc.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from probe_cli import STUDIO, probe_env
from test_batch import generative_job

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")

RAY = Path(sys.executable).parent / "ray"
SLOWER_FLOW = 'rule = "flow_field"\nflow_particles = 20000\nflow_steps = 1000'  # about 3 s per 64 px item


def stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent does not run)."""
    state = stat(pid)
    return state is not None and state[1] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> dict[int, str]:
    """The live processes under ``root``: pid -> command line."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state := stat(int(entry.name))) is not None:
            parents[int(entry.name)] = state[0]
    found: set[int] = set()
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if (parent == root or parent in found) and pid not in found:
                found.add(pid)
                grew = True
    return {pid: cmdline(pid) for pid in found if alive(pid)}


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Driver:
    """A `studio` command in a session of its own; its stderr is collected as it comes."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            args, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.err = bytearray()
        self.tree: dict[int, str] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := self.process.stderr.read1(4096):
            self.err += chunk

    def follow(self) -> dict[int, str]:
        """Every process seen under the driver so far."""
        self.tree.update(descendants(self.process.pid))
        return self.tree

    def kill_all(self) -> None:
        """Teardown: kill the driver's session and whatever it left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid, command in self.tree.items():
            if alive(pid) and cmdline(pid) == command:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait(30)


@pytest.fixture
def drivers() -> Iterator[list[Driver]]:
    started: list[Driver] = []
    yield started
    for driver in started:
        driver.kill_all()


# --------------------------------------------------------------------------- item 8: an address with no cluster


@pytest.mark.parametrize("command", ["render", "train"])
def test_an_address_with_no_ray_cluster_fails_within_seconds_with_a_clear_message(tmp_path, command):
    if command == "render":
        args = ["render", generative_job(tmp_path, 2), "--engine", "ray"]
    else:
        (tmp_path / "pictures").mkdir()
        args = ["train", "probe", "--engine", "ray", "--data", tmp_path / "pictures"]
    started = time.monotonic()
    result = subprocess.run(
        [STUDIO, *map(str, args), "--address", "127.0.0.1:1"],
        env=probe_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    assert time.monotonic() - started < 25  # the command itself (torch, Ray imports) takes a few seconds
    assert result.returncode != 0
    assert "no Ray cluster at 127.0.0.1:1: Connection refused" in result.stderr
    assert "rpc_client" not in result.stderr and "gcs_client" not in result.stderr, result.stderr
    assert "manifest" not in result.stderr


# --------------------------------------------------------------------------- item 10: pool workers die with the driver


def test_pool_workers_die_with_a_killed_render_and_leave_no_unrecorded_output(tmp_path, drivers):
    path = generative_job(tmp_path, 8, SLOWER_FLOW)
    driver = Driver([sys.executable, "-m", "studio.cli", "render", str(path), "--workers", "2"])
    drivers.append(driver)

    def rendering() -> bool:
        workers = [pid for pid, command in driver.follow().items() if "spawn_main" in command]
        return len(workers) == 2 and b"#" in driver.err  # the current-item bar names an item that started

    assert wait_for(rendering, 120), bytes(driver.err).decode(errors="replace")
    driver.follow()
    os.kill(driver.process.pid, signal.SIGKILL)
    driver.process.wait(30)
    assert wait_for(lambda: not any(alive(pid) for pid in driver.tree), 5), {
        pid: command for pid, command in driver.tree.items() if alive(pid)
    }
    time.sleep(4)  # longer than an item: a surviving worker would have written its output by now
    items = json.loads((tmp_path / "out" / "job.manifest.json").read_text())["items"]
    recorded = {name for name, entry in items.items() if entry["status"] == "done"}
    outputs = {p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".png" and not p.name.startswith(".")}
    assert outputs <= recorded, f"outputs the manifest does not list: {sorted(outputs - recorded)}"


# --------------------------------------------------------------------------- item 11: a local Ray dies with the driver


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_local_ray_of_a_killed_render_stops_with_it(tmp_path, drivers, sig):
    path = generative_job(tmp_path, 40, SLOWER_FLOW)
    driver = Driver([sys.executable, "-m", "studio.cli", "render", str(path), "--engine", "ray"])
    drivers.append(driver)

    def running() -> bool:
        commands = " ".join(driver.follow().values())
        return all(name in commands for name in ("raylet", "DashboardAgent", "RuntimeEnvAgent")) and b"#" in driver.err

    assert wait_for(running, 120), bytes(driver.err).decode(errors="replace")
    os.kill(driver.process.pid, sig)
    driver.process.wait(30)
    assert wait_for(lambda: not any(alive(pid) for pid in driver.tree), 10), {
        pid: command[:80] for pid, command in driver.tree.items() if alive(pid)
    }


# --------------------------------------------------------------------------- item 16: a cluster with token auth


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def token_cluster(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A one-CPU Ray head on 127.0.0.1 started as the README says, with token authentication: (address, token)."""
    home = tmp_path / "head-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    made = subprocess.run(
        [RAY, "get-auth-token", "--generate"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    token = made.stdout.strip()
    port = free_port()
    temp = tempfile.mkdtemp(prefix="sr", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen(
        [RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--node-ip-address=127.0.0.1",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
        env=env | {"RAY_AUTH_MODE": "token"},
        start_new_session=True,  # its processes share its group: teardown stops exactly this cluster
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        up = wait_for(lambda: head.poll() is None and _listening(port) and _ray_ready(env, port, token), 60)
        assert up, f"the Ray head did not start in 60 s (exit code {head.poll()})"
        yield f"127.0.0.1:{port}", token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # the raylet and GCS ignore SIGTERM for a while
        head.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _ray_ready(env: dict[str, str], port: int, token: str) -> bool:
    """True once `ray status` sees the head's one CPU."""
    status = subprocess.run(
        [RAY, "status", f"--address=127.0.0.1:{port}"],
        env=env | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "/1.0 CPU" in status.stdout


def test_a_cluster_with_token_authentication_renders_with_the_token_and_says_what_is_missing_without(
    tmp_path, token_cluster
):
    address, token = token_cluster
    path = generative_job(tmp_path, 2)
    home = tmp_path / "driver-home"  # no ~/.ray/auth_token here
    home.mkdir()
    env = {k: v for k, v in probe_env(tmp_path).items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    command = [STUDIO, "render", path, "--engine", "ray", "--address", address]

    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2
    assert f"the Ray cluster at {address} uses token authentication" in refused.stderr
    assert "RAY_AUTH_MODE=token" in refused.stderr and "ray get-auth-token" in refused.stderr
    assert "cannot write the manifest" not in refused.stderr and not (tmp_path / "out" / "item-1.png").exists()

    wrong = subprocess.run(
        command, env=env | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and "refused this machine's authentication token" in wrong.stderr

    rendered = subprocess.run(
        command, env=env | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}, capture_output=True, text=True,
        timeout=90, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert "2 done, 0 skipped, 0 failed" in rendered.stdout
    assert (tmp_path / "out" / "item-1.png").is_file() and (tmp_path / "out" / "item-2.png").is_file()
