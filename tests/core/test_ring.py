"""Contract of SPSCRing, run on the compiled class and its pure-Python reference.

The threaded tests use two real threads, one writing and one reading in random chunk sizes,
and check that the consumer receives exactly the producer's bytes, in order.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from vani._core import ring as compiled
from vani._core.reference import ring as reference
from vani.errors import ConfigurationError

IMPLEMENTATIONS = {"compiled": compiled.SPSCRing, "reference": reference.SPSCRing}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> type[compiled.SPSCRing]:
    return IMPLEMENTATIONS[request.param]  # type: ignore[return-value]


class TestSPSCRingContract:
    @pytest.mark.parametrize("capacity", [0, -4, 3, 100, 1000])
    def test_capacity_must_be_a_power_of_two(
        self, make: type[compiled.SPSCRing], capacity: int
    ) -> None:
        with pytest.raises(ConfigurationError, match=f"power of two, got {capacity}"):
            make(capacity)

    def test_a_new_ring_is_empty(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(64)
        assert (ring.capacity, ring.readable, ring.writable, len(ring)) == (64, 0, 64, 0)
        assert ring.read() == b"" and ring.read(10) == b""
        assert ring.read_into(bytearray(8)) == 0

    def test_write_accepts_only_what_fits(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(16)
        assert ring.write(b"0123456789") == 10
        assert ring.write(b"abcdefghij") == 6
        assert (ring.readable, ring.writable) == (16, 0)
        assert ring.write(b"x") == 0
        assert ring.read() == b"0123456789abcdef"

    def test_reads_wrap_around_the_end(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(8)
        out = bytearray()
        data = bytes(range(100))
        pos = 0
        while pos < len(data):
            pos += ring.write(data[pos : pos + 5])
            out += ring.read(3)
        out += ring.read()
        assert bytes(out) == data

    def test_read_takes_at_most_n(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(32)
        ring.write(b"hello world")
        assert ring.read(5) == b"hello"
        assert ring.read(0) == b""
        assert ring.read(100) == b" world"

    def test_read_into_fills_a_writable_buffer(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(32)
        ring.write(b"abcdef")
        buf = bytearray(4)
        assert ring.read_into(buf) == 4 and buf == bytearray(b"abcd")
        view = memoryview(bytearray(10))
        assert ring.read_into(view[2:]) == 2 and bytes(view) == b"\0\0ef" + bytes(6)
        with pytest.raises((BufferError, TypeError)):
            ring.read_into(b"readonly")

    def test_any_bytes_like_can_be_written(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(32)
        ring.write(bytearray(b"ab"))
        ring.write(memoryview(b"xcdx")[1:3])
        assert ring.read() == b"abcd"

    def test_reset_empties_the_ring(self, make: type[compiled.SPSCRing]) -> None:
        ring = make(16)
        ring.write(b"abc")
        ring.reset()
        assert (ring.readable, ring.writable) == (0, 16)
        ring.write(b"z")
        assert ring.read() == b"z"


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    # The reference ring only interleaves at GIL switches; switch often so that the two
    # threads really race. (The compiled ring releases the GIL for every copy anyway.)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def run_producer_and_consumer(
    ring: compiled.SPSCRing, data: bytes, seed: int, use_read_into: bool
) -> bytes:
    received = bytearray()
    errors: list[BaseException] = []
    max_chunk = 3 * ring.capacity // 2  # sometimes larger than the free space

    def produce() -> None:
        rng = random.Random(seed)
        pos = 0
        try:
            while pos < len(data):
                written = ring.write(data[pos : pos + rng.randint(1, max_chunk)])
                pos += written
                if written == 0:
                    time.sleep(0)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def consume() -> None:
        rng = random.Random(seed + 1)
        buf = bytearray(max_chunk)
        try:
            while len(received) < len(data):
                n = rng.randint(1, max_chunk)
                if use_read_into:
                    got = ring.read_into(memoryview(buf)[:n])
                    received.extend(buf[:got])
                else:
                    chunk = ring.read(n)
                    got = len(chunk)
                    received.extend(chunk)
                if got == 0:
                    time.sleep(0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "producer or consumer got stuck"
    assert not errors
    return bytes(received)


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize("use_read_into", [False, True], ids=["read", "read_into"])
@pytest.mark.parametrize("capacity", [256, 1 << 22])
@pytest.mark.parametrize("seed", [1, 2])
def test_two_threads_pass_every_byte_once_and_in_order(
    make: type[compiled.SPSCRing], seed: int, use_read_into: bool, capacity: int
) -> None:
    # Small rings wrap constantly; large ones make each copy long, so that a consumer reading
    # bytes before the producer has finished copying them would see stale data.
    num_bytes = 2_000_000 if make is compiled.SPSCRing else 200_000
    num_bytes = max(num_bytes, 6 * capacity)
    # A pattern that does not repeat with any period a ring capacity could hide.
    data = random.Random(seed).randbytes(num_bytes)
    ring = make(capacity)
    assert run_producer_and_consumer(ring, data, seed, use_read_into) == data
    assert ring.readable == 0
