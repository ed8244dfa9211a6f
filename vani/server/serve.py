"""Running a :class:`~vani.server.app.VaniServer` under uvicorn. See ``docs/server.md``.

:func:`listen_socket` opens the listening socket (with ``SO_REUSEPORT`` when asked, so several
worker processes can accept on one port); :class:`RunningServer` starts and stops the server
inside an event loop (tests and embedding); :func:`serve` is what ``vani run`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import cast

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from vani.errors import ConfigurationError
from vani.server.app import VaniServer
from vani.server.balance import BalancedMember
from vani.server.config import ServerConfig

__all__ = ["RunningServer", "listen_socket", "serve"]

logger = logging.getLogger("vani.server")


def listen_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening TCP socket. ``reuse_port``: set ``SO_REUSEPORT`` so that other
    processes may bind the same port and the kernel spreads connections between them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on accepted
    # sockets whose protocol says TCP. With it on, each small message (RTVI events, the first
    # audio chunk after silence) waited for the client's ACK, which a client streaming 20 ms
    # audio frames sends with its next frame: up to ~20 ms added to every reply.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited where supported
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise ConfigurationError("SO_REUSEPORT is not available on this platform")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when the server stops
    (``serve`` on SIGINT/SIGTERM, ending the calls first; tests and embedding by ``stop``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _balanced_http(member: BalancedMember) -> type[H11Protocol]:
    """uvicorn's h11 protocol, passing a new connection to a sibling worker holding fewer calls
    before reading from it (:mod:`vani.server.balance`). Connections a sibling passed here
    (``passed_in``) are served, never passed on again."""

    class BalancedH11Protocol(H11Protocol):
        passed_in = False
        _passed_on = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            sock = transport.get_extra_info("socket")
            if not self.passed_in and sock is not None and member.pass_on(sock):
                # The sibling holds the connection now: dropping this handle closes only the
                # descriptor (no shutdown), and nothing was read from it.
                self._passed_on = True
                transport.abort()
                return
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self._passed_on:
                super().connection_lost(exc)

    return BalancedH11Protocol


def _uvicorn_config(server: VaniServer, member: BalancedMember | None = None) -> uvicorn.Config:
    # Upgrades go to the websockets library, not through ASGI (see vani.server.wsbridge).
    ws = cast("type[asyncio.Protocol]", server.bridge.protocol_factory)
    http: type[asyncio.Protocol] | str = "h11" if member is None else _balanced_http(member)
    return uvicorn.Config(
        server.app,
        http=http,
        ws=ws,
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=1,
    )


class RunningServer:
    """``async with RunningServer(server) as running:`` serves ``server`` on
    ``running.url`` until the block ends (then the calls are ended and the socket closed)."""

    def __init__(
        self,
        server: VaniServer,
        sock: socket.socket | None = None,
        *,
        balance: BalancedMember | None = None,
    ) -> None:
        self.server = server
        self._sock = sock
        self._balance = balance
        self._passed_in: set[asyncio.Task[object]] = set()
        self._uvicorn: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0 if sock is None else int(sock.getsockname()[1])

    @property
    def port(self) -> int:
        """The port listened on (the real one when the config asked for port 0)."""
        return self._port

    @property
    def url(self) -> str:
        host = self.server.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    async def start(self) -> None:
        config = self.server.config
        if self._sock is None:
            self._sock = listen_socket(config.host, config.port)
        self._port = int(self._sock.getsockname()[1])
        self._uvicorn = _Uvicorn(_uvicorn_config(self.server, self._balance))
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[self._sock]))
        while not self._uvicorn.started:
            if self._task.done():
                self._task.result()
                raise ConfigurationError("the server stopped while starting")
            await asyncio.sleep(0.005)
        if self._balance is not None:
            self.server.balance = self._balance
            self.server.admission.on_change = self._balance.publish
            self._balance.publish(self.server.admission)
            self._balance.start(asyncio.get_running_loop(), self._take_passed)

    def _take_passed(self, sock: socket.socket) -> None:
        """Serve a connection a sibling worker accepted and passed here."""
        uv = self._uvicorn
        if uv is None or uv.should_exit:
            sock.close()
            return
        loop = asyncio.get_running_loop()
        config = uv.config

        def protocol() -> asyncio.Protocol:
            made = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=uv.server_state, app_state=uv.lifespan.state, _loop=loop
            )
            made.passed_in = True  # type: ignore[attr-defined]
            return made

        sock.setblocking(False)
        task = loop.create_task(_serve_passed(loop, protocol, sock))
        self._passed_in.add(task)
        task.add_done_callback(self._passed_in.discard)

    async def stop(self) -> None:
        if self._balance is not None:
            self._balance.stop()
        await self.server.shutdown()
        if self._uvicorn is not None and self._task is not None:
            self._uvicorn.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()

    async def wait(self) -> None:
        """Until the server stops (uvicorn's own signal handling ends it)."""
        if self._task is not None:
            await self._task

    async def __aenter__(self) -> RunningServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _serve_passed(
    loop: asyncio.AbstractEventLoop,
    protocol: Callable[[], asyncio.Protocol],
    sock: socket.socket,
) -> None:
    try:
        await loop.connect_accepted_socket(protocol, sock)
    except OSError as exc:  # the client left while the connection was being passed
        logger.debug("a passed connection failed: %s", exc)
        sock.close()


def _warm(warm_up: Callable[[], None]) -> None:
    started = time.perf_counter()
    try:
        warm_up()
    except Exception:
        logger.exception("warming up failed (the first call will load what it needs)")
    else:
        logger.info("warmed up in %.0f ms", (time.perf_counter() - started) * 1000)


def serve(
    bot: Callable[..., Awaitable[None]],
    config: ServerConfig,
    *,
    name: str = "bot",
    on_ready: Callable[[RunningServer], None] | None = None,
    warm_up: Callable[[], None] | None = None,
    sock: socket.socket | None = None,
    balance: BalancedMember | None = None,
) -> None:
    """Serve ``bot`` until a signal; prints the URL to open. ``vani run`` calls this.

    ``SIGTERM`` drains, ``SIGINT`` stops (see :mod:`vani.server.drain`). With
    ``config.workers > 1`` this process supervises that many workers on one port
    (:mod:`vani.server.workers`) and exits with their status. ``warm_up``: blocking work that
    makes the first call faster (importing engines, loading models), run in a thread once the
    server listens (in each worker); a call that comes first waits only for what it needs.
    ``sock``: a listening socket to serve on instead of opening one. ``balance``: this
    worker's share of :class:`~vani.server.balance.WorkerBalance` (set by the supervisor).
    """
    if config.workers > 1:
        from vani.server.workers import serve_workers

        raise SystemExit(serve_workers(bot, config, name=name, warm_up=warm_up))
    if sock is None:
        for warning in config.exposure_warnings():
            logger.warning("%s", warning)
            print(f"vani: warning: {warning}", file=sys.stderr, flush=True)
        sock = listen_socket(config.host, config.port)
    listening = sock

    async def main() -> None:
        server = VaniServer(bot, config)
        running = RunningServer(server, listening, balance=balance)
        await running.start()
        assert running._uvicorn is not None
        print(
            f"vani: serving {name} on {running.url}  (open it in a browser; POST /start for a"
            f" call token, then connect to /ws)",
            flush=True,
        )
        if on_ready is not None:
            on_ready(running)
        if warm_up is not None:
            threading.Thread(
                target=_warm, args=(warm_up,), name="vani-warm-up", daemon=True
            ).start()
        from vani.server.drain import serve_until_signalled

        await serve_until_signalled(running)

    asyncio.run(main())
