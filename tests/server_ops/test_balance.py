"""Worker balance (``vani.server.balance``) with real sockets in one process: which sibling a
connection goes to, a TCP connection passed over the channel keeps working after the passing
worker drops its handle, a dead worker's queued connections are closed, admission publishes
the counts, and two servers sharing a balance pass a whole call between them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.server.client import CallClient
from tests.server_ops import tone_bot
from tests.server_ops.live import say
from vani.server.admission import Admission
from vani.server.app import VaniServer
from vani.server.balance import NOT_TAKING, WorkerBalance, _received_sockets
from vani.server.config import ServerConfig
from vani.server.serve import RunningServer, listen_socket


@pytest.fixture
def balance() -> Iterator[WorkerBalance]:
    made = WorkerBalance(3)
    yield made
    made.close()


def _tcp_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    """A listener, a client connected to it, and the accepted server-side socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname(), timeout=5)
    accepted, _ = listener.accept()
    return listener, client, accepted


def test_a_connection_goes_to_the_sibling_holding_fewest_calls(balance: WorkerBalance) -> None:
    zero, one, two = (balance.member(i) for i in range(3))
    balance.counts[:] = [3, 1, 2]
    assert zero.target() == 1
    assert two.target() == 1
    assert one.target() is None  # fewest already: served where it was accepted
    balance.counts[:] = [2, 2, 2]
    assert zero.target() is None  # a tie stays
    balance.counts[:] = [2, NOT_TAKING, 5]
    assert zero.target() is None  # a sibling taking no calls is never chosen
    assert two.target() == 0
    balance.counts[:] = [NOT_TAKING, 4, 3]
    assert zero.target() == 2  # a worker taking no calls passes to one that does
    balance.counts[:] = [NOT_TAKING] * 3
    assert zero.target() is None
    with pytest.raises(ValueError, match="out of range"):
        balance.member(3)


def test_a_passed_connection_keeps_working_after_the_passer_drops_it(
    balance: WorkerBalance,
) -> None:
    zero = balance.member(0)
    balance.counts[:] = [1, 0, 5]
    listener, client, accepted = _tcp_pair()
    with listener, client:
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # bytes waiting before the pass are kept
        assert zero.pass_on(accepted)
        accepted.close()  # the passer's handle: closing it must not end the connection
        (taken,) = _received_sockets(balance.channels[1][1])
        with taken:
            taken.settimeout(5)
            assert taken.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
            taken.sendall(b"pong")
            assert client.recv(100) == b"pong"
        assert client.recv(100) == b""  # closed by the taker, not before
    assert zero.passed == 1
    assert _received_sockets(balance.channels[1][1]) == []


def test_a_dead_workers_queued_connections_are_closed(balance: WorkerBalance) -> None:
    two = balance.member(2)
    balance.counts[:] = [0, 3, 3]
    listener, client, accepted = _tcp_pair()
    with listener, client:
        assert two.pass_on(accepted)
        accepted.close()
        balance.worker_exited(0)  # it died before taking the connection
        assert balance.counts[0] == NOT_TAKING
        client.settimeout(5)
        assert client.recv(100) == b""  # the client sees its connection close, and retries
        assert two.target() is None


def test_passing_never_raises_and_falls_back_when_the_channel_is_full(
    balance: WorkerBalance,
) -> None:
    zero = balance.member(0)
    balance.counts[:] = [1, 0, NOT_TAKING]
    listener, client, accepted = _tcp_pair()
    with listener, client, accepted:
        passes = 0
        while zero.pass_on(accepted):  # nobody reads worker 1's channel
            passes += 1
            assert passes < 100_000, "the channel never filled"
        assert passes > 0
        balance.worker_exited(1)
        assert _received_sockets(balance.channels[1][1]) == []
        # The worker's own handle still works: the connection is served where it was accepted.
        accepted.sendall(b"local")
        client.settimeout(5)
        assert client.recv(100) == b"local"


def test_admission_publishes_calls_and_whether_it_takes_more(balance: WorkerBalance) -> None:
    one = balance.member(1)
    admission = Admission(max_calls=2)
    admission.on_change = one.publish
    one.publish(admission)
    assert one.calls() == [NOT_TAKING, 0, NOT_TAKING]
    assert admission.try_admit()
    assert balance.counts[1] == 1
    assert admission.try_admit()
    assert balance.counts[1] == NOT_TAKING  # full: no sibling passes it a connection
    admission.release()
    assert balance.counts[1] == 1
    admission.drain()
    assert balance.counts[1] == NOT_TAKING


async def test_two_servers_sharing_a_balance_pass_a_whole_call(balance: WorkerBalance) -> None:
    # Only the first server's socket gets connections; once it holds a call, the next call and
    # the HTTP requests after it are passed to the second, which serves them whole.
    config = ServerConfig(port=0, secret="balance-test-secret-" + "z" * 20)

    first, second = VaniServer(tone_bot.bot, config), VaniServer(tone_bot.bot, config)
    sock_a = listen_socket("127.0.0.1", 0)
    sock_b = listen_socket("127.0.0.1", 0)
    async with (
        RunningServer(first, sock_a, balance=balance.member(0)) as running,
        RunningServer(second, sock_b, balance=balance.member(1)),
    ):
        clients: list[CallClient] = []
        try:
            async with httpx.AsyncClient() as http:
                for expected in ([1, 0, NOT_TAKING], [1, 1, NOT_TAKING]):
                    started = (await http.post(running.url + "/start", json={})).json()
                    client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
                    clients.append(client)
                    await client.client_ready()
                    await client.wait_for("bot-ready", timeout=10)
                    assert list(balance.counts) == expected
                assert (len(first.sessions), len(second.sessions)) == (1, 1)
                await say(clients[1], "hello")  # the passed call is a whole call
                assert first.balance is not None and first.balance.passed >= 1
                assert second.balance is not None and second.balance.taken >= 1
                # With the calls even, a request stays where the kernel put it.
                health = (await http.get(running.url + "/health")).json()
                assert health["worker"] == 0 and health["worker_calls"] == [1, 1, NOT_TAKING]
        finally:
            for client in clients:
                await client.close()
    assert balance.counts[0] == NOT_TAKING and balance.counts[1] == NOT_TAKING
