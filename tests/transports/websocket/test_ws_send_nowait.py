"""``WebsocketsConnection.send_nowait`` on a real ``websockets`` server and client: it sends only
where the library's own send would not have to wait, and says so otherwise."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from vani.transports.websocket import WebsocketsConnection


async def test_send_nowait_writes_at_once_while_the_socket_is_open_and_not_backed_up() -> None:
    results: list[bool] = []
    handler_done = asyncio.Event()
    may_close = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        conn = WebsocketsConnection(ws)
        results.append(conn.send_nowait("hello"))
        results.append(conn.send_nowait(b"\x00\x01pcm"))
        # The transport says its buffer is over the high-water mark: a send would wait.
        ws.pause_writing()
        results.append(conn.send_nowait("held"))
        ws.resume_writing()
        results.append(conn.send_nowait("again"))
        await may_close.wait()
        await ws.wait_closed()
        results.append(conn.send_nowait("too late"))
        handler_done.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            received = [await client.recv() for _ in range(3)]
            may_close.set()
        await asyncio.wait_for(handler_done.wait(), 5)
    assert received == ["hello", b"\x00\x01pcm", "again"]
    assert results == [True, True, False, True, False]
