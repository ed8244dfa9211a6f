"""close_abandoned: a socket the TTS drops mid-reply ends, gracefully when it can, never half-open.

Real sockets on 127.0.0.1: a websockets server that keeps streaming, and a bare TCP peer that
finishes the opening handshake and then ignores the close.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from vani.services.sarvam._common import close_abandoned

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def test_a_peer_still_streaming_gets_our_close_and_answers_it() -> None:
    # The peer sends far more than the socket buffers hold. Unread, its writes would block and
    # it would never see the close frame; the handshake finishes only if we keep reading.
    closed_with: list[int | None] = []

    async def stream(conn: ServerConnection) -> None:
        chunk = "x" * 65536
        try:
            for _ in range(400):
                await conn.send(chunk)
            await conn.wait_closed()
        except ConnectionClosed:
            pass
        closed_with.append(conn.close_code)

    async with serve(stream, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None)
        await ws.recv()
        await asyncio.sleep(0.2)  # the peer fills the buffers and blocks
        await close_abandoned(ws, grace_s=10.0)
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000  # a close handshake, not an abort
        for _ in range(100):
            if closed_with:
                break
            await asyncio.sleep(0.01)
        assert closed_with == [1000]


async def test_a_peer_that_never_answers_the_close_is_cut_off_after_the_grace() -> None:
    peer_saw_eof = asyncio.Event()

    async def mute_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest()).decode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        await writer.drain()
        while await reader.read(4096):  # read our close frame, never answer it
            pass
        peer_saw_eof.set()
        writer.close()

    server = await asyncio.start_server(mute_peer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}", compression=None, close_timeout=60)
        await close_abandoned(ws, grace_s=0.3)
        # Before, a cancelled close() left the socket CLOSING until the peer gave up.
        assert ws.state is State.CLOSED
        await asyncio.wait_for(peer_saw_eof.wait(), 5.0)
    finally:
        server.close()
        await server.wait_closed()


async def test_closing_an_already_closed_socket_is_quiet() -> None:
    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            await conn.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}")
        await ws.close()
        await close_abandoned(ws)
        assert ws.state is State.CLOSED
