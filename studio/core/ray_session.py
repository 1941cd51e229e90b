"""Ray for one run: a cluster at an address, checked first, or a local instance that dies with this process.

``python -m studio.core.ray_session PID ROOT...`` is the reaper of a local
instance: it follows the processes under ROOT (the ones ``ray.init`` started
for process PID) and kills those left when PID is gone. Ray's own processes
die with their parent on Linux, but its dashboard and runtime-env agents
(children of the raylet) linger for a minute trying to report to a dead GCS.
Nothing here imports Ray until a session starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from studio.core.errors import ReadableError

CONNECT_TIMEOUT_S = 3.0  # a TCP connect to the head's GCS port
PROBE_TIMEOUT_S = 10.0  # asking the GCS for the cluster id, which is refused at once without the right token
_PROC = Path("/proc")


class RayClusterError(ReadableError):
    """Ray cannot be used: no cluster at the address, or it refused this machine; the message says what to do."""


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Ray initialised for the ``with`` block: the cluster at ``address`` (``HOST:PORT``), else a local instance.

    Nothing is started or shut down when Ray is initialised already. A
    cluster is checked before ``ray.init`` (RayClusterError within seconds if
    nothing listens there, or if it wants an authentication token this
    machine does not give). A local instance is shut down at the end and,
    on Linux, its processes are killed when this process dies (SIGTERM,
    SIGKILL) too.
    """
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # no raw C++ retry warnings on the terminal
    import ray

    if ray.is_initialized():
        yield
        return
    reaper = None
    if address:
        check_cluster(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise RayClusterError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    else:
        before = _children(os.getpid())
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        reaper = _start_reaper(sorted(_children(os.getpid()) - before))
    try:
        yield
    finally:
        ray.shutdown()
        if reaper is not None:
            _stop_reaper(reaper)


def check_cluster(address: str) -> None:
    """Raise RayClusterError unless a Ray head answers at ``address`` (``HOST:PORT``) and accepts this machine."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayClusterError(f"the Ray address {address!r} is not HOST:PORT (for example 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayClusterError(
            f"no Ray cluster at {address}: {exc.strerror or exc}. Start one there with `ray start --head "
            f"--port={port}` (see the README, Engines), or check the address and the firewall"
        ) from exc
    error = _probe_gcs(address)
    if error is None:
        return
    from ray.exceptions import AuthenticationError

    if not isinstance(error, AuthenticationError):
        raise RayClusterError(
            f"no Ray cluster at {address}: something listens there but does not answer as a Ray head ({error})"
        )
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        raise RayClusterError(
            f"the Ray cluster at {address} uses token authentication and this machine gives no token: run "
            "`ray get-auth-token` on the head and start studio with RAY_AUTH_MODE=token and "
            "RAY_AUTH_TOKEN=<that token> (or the token in ~/.ray/auth_token); see the README, Engines"
        )
    raise RayClusterError(
        f"the Ray cluster at {address} refused this machine's authentication token (RAY_AUTH_TOKEN, the file "
        "RAY_AUTH_TOKEN_PATH names, or ~/.ray/auth_token): give the head's token, which `ray get-auth-token` "
        "prints there; see the README, Engines"
    )


def _probe_gcs(address: str) -> BaseException | None:
    """The error asking the GCS at ``address`` for its cluster id raised (TimeoutError after PROBE_TIMEOUT_S)."""
    from ray._raylet import GcsClient

    outcome: list[BaseException | None] = []

    def probe() -> None:
        try:
            GcsClient(address=address, cluster_id=None)
        except Exception as exc:  # the caller tells the artist what it means
            outcome.append(exc)
        else:
            outcome.append(None)

    # A daemon thread: a port that accepts but never answers keeps the client waiting; it is left behind
    thread = threading.Thread(target=probe, name="studio-ray-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return outcome[0] if outcome else TimeoutError(f"no answer in {PROBE_TIMEOUT_S:.0f} s")


# -- the reaper of a local instance (Linux: it reads /proc) ------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of a live process, None when it is gone (or a zombie)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[1]), int(fields[19])) if fields[0] != "Z" else None


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, start time)."""
    result = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            result[int(entry.name)] = stat
    return result


def _children(pid: int) -> set[int]:
    return {child for child, (parent, _) in _processes().items() if parent == pid}


def _descendants(roots: set[int]) -> dict[int, int]:
    """The live processes in the trees under ``roots`` (roots included): pid -> start time."""
    table = _processes()
    found = {pid: table[pid][1] for pid in roots if pid in table}
    grew = True
    while grew:
        grew = False
        for pid, (parent, started) in table.items():
            if parent in found and pid not in found:
                found[pid] = started
                grew = True
    return found


def _start_reaper(roots: list[int]) -> subprocess.Popen[bytes] | None:
    """Start the reaper of ``roots`` (the local Ray processes); None where there is no /proc."""
    if not roots or not _PROC.is_dir():
        return None
    command = [sys.executable, "-m", "studio.core.ray_session", str(os.getpid()), *map(str, roots)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, start_new_session=True)


def _stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    """Tell the reaper this process is done (it kills what is left) and wait for it."""
    assert reaper.stdin is not None
    reaper.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        reaper.wait(10)


def _reap(driver: int, roots: set[int]) -> None:
    """Follow the trees under ``roots`` until ``driver`` is gone or stdin closes, then kill what is left of them."""
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), closed.set()), daemon=True).start()
    seen: dict[int, int] = {}
    while _stat(driver) is not None and not closed.wait(0.25):
        seen.update(_descendants(roots | set(seen)))
    for pid, started in seen.items():
        stat = _stat(pid)
        if stat is not None and stat[1] == started:  # the same process, not a new one with a reused pid
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    _driver, *_roots = map(int, sys.argv[1:])
    _reap(_driver, set(_roots))
