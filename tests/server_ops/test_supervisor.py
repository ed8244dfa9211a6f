"""The worker supervisor with a minimal worker: N processes accept on one port (SO_REUSEPORT),
a killed worker is replaced, signals reach every worker and the parent exits with their code."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

WORKER = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    from vani.server.workers import Supervisor, reserve_port

    host, workers = "127.0.0.1", int(sys.argv[1])
    held = reserve_port(host, 0)
    port = held.getsockname()[1]

    def worker(index: int) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.settimeout(0.05)
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        while not stop:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, InterruptedError):
                continue
            conn.sendall(f"{os.getpid()}\\n".encode())
            conn.close()
        return int(os.environ.get("EXIT_CODE", "0"))

    print(port, flush=True)
    sys.exit(Supervisor(worker, workers).run())
    """
)


def _ask(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        return int(conn.makefile().readline())


def _start(tmp_path: Path, workers: int, **env: str) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "workers.py"
    script.write_text(WORKER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(workers)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


def _pids_answering(port: int, want: int, timeout: float = 20.0) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        try:
            seen.add(_ask(port))
        except OSError:
            time.sleep(0.02)
    return seen


def test_workers_share_the_port_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, 3)
    try:
        pids = _pids_answering(port, 3)
        assert len(pids) == 3, pids
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        # The others keep answering at once; a new worker joins them.
        after = _pids_answering(port, 3)
        assert victim not in after
        assert len(after) == 3
        assert len(after & pids) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_sigterm_reaches_every_worker_and_the_exit_code_is_theirs(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, 2, EXIT_CODE="3")
    pids = _pids_answering(port, 2)
    assert len(pids) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 1  # a worker exited non-zero: so does the parent
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        _ask(port)


def test_usable_cores_follows_the_affinity_mask() -> None:
    from vani.server.workers import usable_cores

    assert usable_cores() == len(os.sched_getaffinity(0))
