"""Worker processes: N copies of the server on one port (``vani serve --workers N``).

See docs/deployment.md. The parent (:class:`Supervisor`) reserves the port, forks ``N`` workers
and then only supervises: each worker binds its own listening socket on the same address with
``SO_REUSEPORT``, so the kernel spreads new connections over them, and each holds its own calls
and its own batched models (a call lives and dies with the process that serves its socket). The
kernel's spread knows nothing of calls, so a worker passes a new connection to a sibling holding
fewer calls (:mod:`vani.server.balance`).

The parent restarts a worker that dies (a crash, an out-of-memory kill, ``SIGKILL``), with a
backoff when one keeps dying at start; it forwards ``SIGTERM``/``SIGINT``/``SIGHUP`` to every
worker and, once they have all exited, exits itself: 0 when every worker ended cleanly. With
``SIGTERM`` the workers drain (see :mod:`vani.server.drain`), so the parent may take up to the
drain timeout to exit.

Workers are forked, so the parent must not have started an event loop or threads before
:meth:`Supervisor.run`: what it loaded (the bot file, vani itself) is shared copy-on-write; the
models load in each worker on its first call.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from vani.server.balance import WorkerBalance
    from vani.server.config import ServerConfig

__all__ = ["Supervisor", "WorkerInfo", "reserve_port", "serve_workers", "usable_cores"]

logger = logging.getLogger("vani.server")

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A worker that dies sooner than this after starting counts as a failed start.
_FAST_DEATH_SECS = 2.0
_MAX_BACKOFF_SECS = 10.0
# prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def usable_cores() -> int:
    """The number of CPUs this process may run on (its affinity mask; cgroup quotas aside)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` with ``SO_REUSEPORT`` without listening, so the port is held (and a
    port of 0 is chosen) while the workers bind and listen on it themselves. A bound socket
    that does not listen takes no connections."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigurationError("worker processes need SO_REUSEPORT, which this platform lacks")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    return sock


@dataclass(slots=True)
class WorkerInfo:
    """One worker slot: its current process, when it started, how often it was restarted."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    restarts: int = 0
    fast_deaths: int = 0
    exit_codes: list[int] = field(default_factory=list)


def _end_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the supervisor dies, however it dies.

    A supervisor killed with SIGKILL (or by the out-of-memory killer) cannot forward a signal,
    and its workers would go on holding the port, unsupervised, so a restarted server would
    share the port with them. With SIGTERM they drain as on any stop. Linux only; elsewhere the
    workers outlive a killed supervisor, as any forked server's do."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0
    except (OSError, AttributeError):
        failed = True
    if failed:
        logger.warning("worker cannot ask to end with its supervisor (prctl failed)")
        return
    # The supervisor may have died between the fork and the prctl: no signal would come then.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _child_entry(target: Callable[[int], int], index: int, parent: int) -> None:
    # Fresh signal dispositions: the worker's server installs its own handlers.
    for sig in _FORWARDED:
        signal.signal(sig, signal.SIG_DFL)
    _end_with_parent(parent)
    code = 1
    try:
        code = target(index)
    except KeyboardInterrupt:
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logger.exception("worker %d failed", index)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Supervisor:
    """Runs ``target(index)`` in ``workers`` forked processes and keeps them running.

    ``target`` returns the worker's exit code. ``on_exit(pid)`` is called in the parent after
    each worker process ends (the Prometheus multiprocess cleanup uses it).
    ``prometheus_dir``: set ``PROMETHEUS_MULTIPROC_DIR`` for the workers (a temporary
    directory by default) so that every worker's ``/metrics`` reports the whole server.
    ``balance``: the workers' shared call counts; a dead worker's is cleared.
    """

    def __init__(
        self,
        target: Callable[[int], int],
        workers: int,
        *,
        on_exit: Callable[[int], None] | None = None,
        prometheus_dir: str | None = None,
        restart: bool = True,
        balance: WorkerBalance | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigurationError(f"workers must be at least 1, got {workers}")
        self.target = target
        self.workers = [WorkerInfo(i) for i in range(workers)]
        self.on_exit = on_exit
        self.restart = restart
        self.balance = balance
        self._stopping: signal.Signals | None = None
        self._ctx = multiprocessing.get_context("fork")
        self._wakeup_r, self._wakeup_w = os.pipe()
        self._prometheus_dir = prometheus_dir
        self._own_prometheus_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process and w.process.pid is not None]

    def _spawn(self, worker: WorkerInfo) -> None:
        process = self._ctx.Process(
            target=_child_entry,
            args=(self.target, worker.index, os.getpid()),
            name=f"vani-worker-{worker.index}",
        )
        process.daemon = False
        process.start()
        worker.process = process
        worker.started_at = time.monotonic()
        logger.info("worker %d started (pid %s)", worker.index, process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self._stopping is None or sig is signal.SIGINT:
            self._stopping = sig
        for worker in self.workers:
            process = worker.process
            if process is not None and process.pid is not None and process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)
        with contextlib.suppress(OSError):
            os.write(self._wakeup_w, b"x")

    def _setup_prometheus(self) -> None:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            return
        directory = self._prometheus_dir
        if directory is None:
            self._own_prometheus_dir = tempfile.TemporaryDirectory(prefix="vani-prometheus-")
            directory = self._own_prometheus_dir.name
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values = sys.modules.get("prometheus_client.values")
        if values is not None:
            # Imported before the variable was set: metrics made from now on use the files.
            values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]

    def run(self) -> int:
        """Start the workers and supervise them until a signal stops them all; the exit code."""
        self._setup_prometheus()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _FORWARDED}
        try:
            for worker in self.workers:
                self._spawn(worker)
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._wakeup_r)
            os.close(self._wakeup_w)
            if self._own_prometheus_dir is not None:
                self._own_prometheus_dir.cleanup()

    def _supervise(self) -> int:
        pending_restart: dict[int, float] = {}
        while True:
            alive = [w for w in self.workers if w.process is not None]
            if self._stopping is not None and not alive:
                break
            sentinels: list[object] = [w.process.sentinel for w in alive if w.process]
            timeout = None
            if pending_restart:
                timeout = max(0.0, min(pending_restart.values()) - time.monotonic())
            multiprocessing.connection.wait([*sentinels, self._wakeup_r], timeout)  # type: ignore[list-item]
            with contextlib.suppress(BlockingIOError, OSError):
                os.set_blocking(self._wakeup_r, False)
                os.read(self._wakeup_r, 64)
            for worker in alive:
                process = worker.process
                assert process is not None
                if process.is_alive():
                    continue
                process.join()
                code = process.exitcode if process.exitcode is not None else 1
                worker.exit_codes.append(code)
                worker.process = None
                if self.balance is not None:
                    self.balance.worker_exited(worker.index)
                if process.pid is not None and self.on_exit is not None:
                    with contextlib.suppress(Exception):
                        self.on_exit(process.pid)
                if self._stopping is not None or not self.restart:
                    logger.info("worker %d (pid %s) exited: %s", worker.index, process.pid, code)
                    continue
                lived = time.monotonic() - worker.started_at
                worker.fast_deaths = worker.fast_deaths + 1 if lived < _FAST_DEATH_SECS else 0
                delay = min(_MAX_BACKOFF_SECS, 0.1 * (2 ** max(0, worker.fast_deaths - 1)))
                delay = 0.0 if worker.fast_deaths == 0 else delay
                logger.warning(
                    "worker %d (pid %s) died (exit %s); restarting it in %.1f s",
                    worker.index,
                    process.pid,
                    code,
                    delay,
                )
                pending_restart[worker.index] = time.monotonic() + delay
            if self._stopping is None:
                now = time.monotonic()
                for index, due in list(pending_restart.items()):
                    if due <= now:
                        del pending_restart[index]
                        worker = self.workers[index]
                        worker.restarts += 1
                        self._spawn(worker)
            else:
                pending_restart.clear()
        codes = [w.exit_codes[-1] if w.exit_codes else 0 for w in self.workers]
        return 0 if all(c == 0 for c in codes) else 1


def serve_workers(
    bot: Callable[..., Awaitable[None]],
    config: ServerConfig,
    *,
    name: str,
    warm_up: Callable[[], None] | None = None,
) -> int:
    """``vani run/serve --workers N``: reserve the port, fork ``config.workers`` servers on it
    and supervise them; returns the exit status (0 when every worker drained cleanly)."""
    import dataclasses

    from vani.server.balance import WorkerBalance
    from vani.server.serve import listen_socket, serve

    for warning in config.exposure_warnings():
        logger.warning("%s", warning)
        print(f"vani: warning: {warning}", file=sys.stderr, flush=True)
    # One secret for every worker: a token from one worker's /start must open a call on any.
    config.secret_bytes()
    held = reserve_port(config.host, config.port)
    port = int(held.getsockname()[1])
    worker_config = dataclasses.replace(config, workers=1, port=port)
    worker_config.secret_generated = config.secret_generated
    shown = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"vani: {config.workers} worker processes serving {name} on http://{shown}:{port}",
        flush=True,
    )

    # Made before forking: every worker inherits the shared counts and every channel.
    balance = WorkerBalance(config.workers)

    def worker(index: int) -> int:
        sock = listen_socket(config.host, port, reuse_port=True)
        label = f"{name} (worker {index}, pid {os.getpid()})"
        serve(
            bot,
            worker_config,
            name=label,
            warm_up=warm_up,
            sock=sock,
            balance=balance.member(index),
        )
        return 0

    def worker_exited(pid: int) -> None:
        from vani.observability.prometheus import VaniMetrics

        VaniMetrics.worker_exited(pid)

    try:
        return Supervisor(worker, config.workers, on_exit=worker_exited, balance=balance).run()
    finally:
        held.close()
        balance.close()
