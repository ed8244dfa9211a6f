"""vani's keep-alive HTTP/1.1 client (``vani.services._http``) against raw servers on 127.0.0.1
that answer byte for byte as scripted: body framings, broken and malformed answers, timeouts,
back-pressure, reuse and the closed-while-idle race."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from vani.services._http import ConnectError, HTTPClient, Origin, ReadError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Runs ``handler`` on every connection; counts connections and requests read."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.accepted = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.closing = asyncio.Event()  # handlers that hold a connection wait on this

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.closing.set()
        for writer in self._writers:  # handlers waiting for a next request on a kept connection
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def origin(self) -> Origin:
        assert self._server is not None
        return Origin("http", "127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()


def client(keepalive_secs: float = 60.0) -> HTTPClient:
    return HTTPClient(keepalive_secs=keepalive_secs, ssl_context=ssl.create_default_context)


HEAD = b"X-Test: 1\r\nContent-Type: application/json\r\n"


async def body_of(http: HTTPClient, origin: Origin, timeout_secs: float = 5.0) -> bytes:
    response = await http.post(origin, "/v1/chat/completions", HEAD, b"{}", timeout_secs)
    try:
        return b"".join([part async for part in response.aiter_bytes()])
    finally:
        await response.aclose()


@pytest.fixture
async def http() -> AsyncIterator[HTTPClient]:
    c = client()
    yield c
    await c.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", id="content-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
            id="chunked",
        ),
    ],
)
async def test_framed_bodies_arrive_whole_and_the_connection_is_reused(
    http: HTTPClient, answer: bytes
) -> None:
    server: RawServer

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            # Byte by byte: every parser state sees a boundary.
            for i in range(len(answer)):
                writer.write(answer[i : i + 1])
                await writer.drain()

    async with RawServer(handler) as server:
        assert await body_of(http, server.origin) == b"hello"
        assert await body_of(http, server.origin) == b"hello"
        assert server.accepted == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"X-Test: 1\r\n" in first and first.endswith(b"Content-Length: 2\r\n\r\n{}")


async def test_a_body_ended_by_the_close_is_complete_and_its_connection_not_reused(
    http: HTTPClient,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")

    async with RawServer(handler) as server:
        assert await body_of(http, server.origin) == b"until the end"
        assert await body_of(http, server.origin) == b"until the end"
        assert server.accepted == 2


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal", "closed", id="cut"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed", id="bad"
        ),
    ],
)
async def test_a_cut_or_malformed_body_raises_after_what_arrived(
    http: HTTPClient, answer: bytes, match: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with RawServer(handler) as server:
        response = await http.post(server.origin, "/", HEAD, b"{}", 5.0)
        got: list[bytes] = []

        async def read_all() -> None:
            async for part in response.aiter_bytes():
                got.append(part)

        with pytest.raises(ReadError, match=match):
            await read_all()
        await response.aclose()
    assert b"".join(got) == (b"hal" if match == "closed" else b"")
    assert not http._open  # the broken connection was closed, not pooled


async def test_a_malformed_status_line_and_a_silent_server_raise_read_errors(
    http: HTTPClient,
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await server.closing.wait()

    async with RawServer(garbage) as server:
        with pytest.raises(ReadError, match="malformed"):
            await body_of(http, server.origin)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await server.closing.wait()

    async with RawServer(silent) as server:
        with pytest.raises(ReadError, match=r"within 0\.1 s"):
            await body_of(http, server.origin, timeout_secs=0.1)
    assert not http._open


async def test_nobody_listening_is_a_connect_error(http: HTTPClient) -> None:
    async with RawServer(lambda r, w: asyncio.sleep(0)) as server:
        origin = server.origin
    with pytest.raises(ConnectError, match="could not connect"):
        await body_of(http, origin)


async def test_a_connection_closed_as_the_request_went_out_is_retried_once_on_a_new_one(
    http: HTTPClient,
) -> None:
    # The race a keep-alive client meets: the server drops the idle connection just as the
    # next request is written. That request never reached it, so it goes again.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if server.accepted == 1:
            await server.read_request(reader)  # read, then closed without an answer

    async with RawServer(handler) as server:
        assert await body_of(http, server.origin) == b"ok"
        assert await body_of(http, server.origin) == b"ok"
        assert server.accepted == 2
        assert len(server.requests) == 3


async def test_an_idle_connection_past_keepalive_is_not_reused() -> None:
    http = client(keepalive_secs=0.05)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with RawServer(handler) as server:
        await body_of(http, server.origin)
        await asyncio.sleep(0.1)
        await body_of(http, server.origin)
        assert server.accepted == 2
    await http.aclose()


async def test_a_consumer_that_lags_stops_the_socket_being_read_and_gets_every_byte(
    http: HTTPClient,
) -> None:
    size = 4 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + payload)
        await writer.drain()

    async with RawServer(handler) as server:
        response = await http.post(server.origin, "/", HEAD, b"{}", 5.0)
        await asyncio.sleep(0.2)  # the server writes as fast as it can meanwhile
        connection = response._connection
        assert connection is not None
        assert connection.paused
        assert connection.buffered < 1024 * 1024  # bounded, not the whole 4 MiB
        parts = [part async for part in response.aiter_bytes()]
        await response.aclose()
    assert b"".join(parts) == payload


async def test_lines_split_at_any_ending_even_across_chunks(http: HTTPClient) -> None:
    pieces = [b"a\r", b"\nb\n", b"c\rd\r", b"\r\ne\xe2\x80", b"\xa8f\n", b"tail"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 7):
            writer.write(body[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0)

    async with RawServer(handler) as server:
        response = await http.post(server.origin, "/", HEAD, b"{}", 5.0)
        lines = [line async for line in response.aiter_lines()]
        await response.aclose()
    # U+2028 inside a line is text, not a line break.
    assert lines == ["a", "b", "c", "d", "", "e\u2028f", "tail"]


async def test_line_batches_hold_what_arrived_together(http: HTTPClient) -> None:
    # Two reads' worth, the server waiting for the client's first batch before the second:
    # each batch is the whole lines of one burst, a line split across bursts in the second.
    first_taken = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"a\nb\r\nc\nhal", b"f\nd\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await first_taken.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as server:
        response = await http.post(server.origin, "/", HEAD, b"{}", 5.0)
        batches = []
        async for batch in response.aiter_line_batches():
            batches.append(batch)
            first_taken.set()
        await response.aclose()
    assert batches == [["a", "b", "c"], ["half", "d", ""]]


def _self_signed(tmp_path: object) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    root = Path(str(tmp_path))
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def test_https_is_spoken_and_an_untrusted_certificate_is_refused(tmp_path: object) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await tls.read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")

    tls = RawServer(handler)
    tls._server = await asyncio.start_server(tls._serve, "127.0.0.1", 0, ssl=server_side)
    port = tls._server.sockets[0].getsockname()[1]
    origin = Origin("https", "127.0.0.1", port)

    def trusting() -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cert)

    trusted = HTTPClient(keepalive_secs=60, ssl_context=trusting)
    untrusted = client()  # the system's CAs only
    try:
        assert await body_of(trusted, origin) == b"secret"
        assert await body_of(trusted, origin) == b"secret"  # the TLS connection is kept
        assert trusted.connections_made == 1
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await body_of(untrusted, origin)
    finally:
        await trusted.aclose()
        await untrusted.aclose()
        await tls.__aexit__(None, None, None)
